//! Saved models in the safetensors format, readable from Python's
//! `safetensors`/PyTorch and from candle.
//!
//! Tensors (f32, little-endian, row-major), for layers i = 0..L−1:
//!   layers.{i}.weight [out, in]   layers.{i}.bias \[out\]
//! so that each layer computes f(W·x + b) for a normalised x, f the hidden
//! activation, the output units on the last.
//! `__metadata__` (all strings): format, hidden (`800-800`), activation,
//! output, cost, init, normalisation (`batch` or `dataset`), mean and std
//! (dataset normalisation, on the 0..255 pixel scale), batch_size,
//! epochs_trained, test_acc (a fraction; models before 0.2 say test_accuracy), seed, lr, lr_decay, optimizer,
//! crate_version, and config: the whole training config as JSON.
//!
//! Models saved before the network was general (tensors w1, b1, w2, b2;
//! one sigmoid hidden layer) still load.
//!
//! A checkpoint is a model with more in it: the metadata key
//! `training_state` (JSON) and the tensors it names (optimiser state, the
//! best weights so far). Everything that reads a model reads a checkpoint.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::data::batch::Normalisation;
use crate::data::dataset::{CLASSES, PIXELS};
use crate::error::{Error, Result};
use crate::io::atomic_file::write_atomically;
use crate::io::read::read_capped;
use crate::nn::arch::{Arch, Hidden};
use crate::nn::params::{Layer, Params};
use crate::train::config::{Normalise, TrainConfig};

/// The format the metadata names.
pub const FORMAT: &str = "mnist-mlp/2";

/// Larger than any model worth keeping (784-4096-4096-4096-10 is 180 MB),
/// small enough that a symlink to /dev/zero cannot exhaust memory.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// What a model was trained as, kept beside its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The settings it was trained with, its architecture among them.
    pub config: TrainConfig,
    /// How pixels were scaled to inputs when it trained.
    pub normalisation: Normalisation,
    /// Epochs it was trained for.
    pub epochs_trained: usize,
    /// Its test accuracy when saved, a fraction in 0..1.
    pub test_accuracy: f64,
}

impl ModelInfo {
    /// Its architecture.
    pub fn arch(&self) -> Arch {
        self.config.arch()
    }
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A tensor beyond the model's layers: (name, shape, values row-major).
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// What a checkpoint keeps beyond the model.
#[derive(Debug, Clone, Default)]
pub struct Resumable {
    /// The training state, as JSON.
    pub state: String,
    /// The extra tensors, by name.
    pub tensors: Vec<NamedTensor>,
}

impl Resumable {
    /// The tensor `name`, which must have `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> std::result::Result<Vec<f32>, String> {
        let i = self
            .tensors
            .iter()
            .position(|t| t.0 == name)
            .ok_or_else(|| format!("has no tensor \"{name}\""))?;
        let (_, found, values) = self.tensors.swap_remove(i);
        if found != shape {
            return Err(format!(
                "tensor \"{name}\" has shape {found:?}, expected {shape:?}"
            ));
        }
        Ok(values)
    }
}

/// Writes `params` and `info` to `path` through a temporary file.
pub fn save(path: &Path, params: &Params, info: &ModelInfo) -> Result<()> {
    save_resumable(path, params, info, None)
}

/// `save`, with a checkpoint's training state and tensors when given.
pub fn save_resumable(
    path: &Path,
    params: &Params,
    info: &ModelInfo,
    resumable: Option<&Resumable>,
) -> Result<()> {
    let contiguous = |a: Option<&[f32]>| le_bytes(a.expect("parameters are contiguous"));
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = params
        .layers
        .iter()
        .enumerate()
        .flat_map(|(i, layer)| {
            [
                (
                    format!("layers.{i}.weight"),
                    layer.w.shape().to_vec(),
                    contiguous(layer.w.as_slice()),
                ),
                (
                    format!("layers.{i}.bias"),
                    layer.b.shape().to_vec(),
                    contiguous(layer.b.as_slice()),
                ),
            ]
        })
        .collect();
    if let Some(resumable) = resumable {
        tensors.extend(
            resumable
                .tensors
                .iter()
                .map(|(name, shape, values)| (name.clone(), shape.clone(), le_bytes(values))),
        );
    }
    let views = tensors.iter().map(|(name, shape, bytes)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("shape matches data");
        (name.clone(), view)
    });
    let c = &info.config;
    let mut metadata: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("hidden", c.hidden.to_string()),
        ("activation", c.activation.to_string()),
        ("output", c.output.to_string()),
        ("cost", c.cost.to_string()),
        ("init", c.init.to_string()),
        ("batch_size", c.batch_size.to_string()),
        ("epochs_trained", info.epochs_trained.to_string()),
        ("test_acc", info.test_accuracy.to_string()),
        ("seed", c.seed.to_string()),
        ("lr", c.lr().to_string()),
        ("lr_decay", c.lr_decay.to_string()),
        ("optimizer", c.optimizer.to_string()),
        ("crate_version", env!("CARGO_PKG_VERSION").to_string()),
        (
            "config",
            serde_json::to_string(c).expect("configs serialise"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(resumable) = resumable {
        metadata.insert(TRAINING_STATE.into(), resumable.state.clone());
    }
    match info.normalisation {
        Normalisation::PerBatch => {
            metadata.insert("normalisation".into(), "batch".into());
        }
        Normalisation::Fixed { mean, std } => {
            metadata.insert("normalisation".into(), "dataset".into());
            metadata.insert("mean".into(), mean.to_string());
            metadata.insert("std".into(), std.to_string());
        }
    }
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Data(format!("{}: cannot encode the model: {e}", path.display())))?;
    write_atomically(path, &bytes)
}

/// The metadata key of a checkpoint's training state.
const TRAINING_STATE: &str = "training_state";

/// Reads a model written by [`save`] (or by the versions before it),
/// checking every tensor's type, shape and values.
pub fn load(path: &Path) -> Result<(Params, ModelInfo)> {
    load_resumable(path).map(|(params, info, _)| (params, info))
}

/// `load`, with what a checkpoint keeps beyond the model, if it is one.
pub fn load_resumable(path: &Path) -> Result<(Params, ModelInfo, Option<Resumable>)> {
    let bytes = read_capped(path, MAX_MODEL_BYTES, "model")?;
    let bad = |what: String| Error::Data(format!("{}: {what}", path.display()));
    let unreadable =
        |e: safetensors::SafeTensorError| bad(format!("not a readable safetensors file ({e})"));
    let tensors = SafeTensors::deserialize(&bytes).map_err(unreadable)?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(unreadable)?;
    let meta = header.metadata().clone().unwrap_or_default();
    let field = |key: &str| -> Result<&String> {
        meta.get(key).ok_or_else(|| {
            bad(format!(
                "metadata has no \"{key}\": not a model saved by mnist-mlp"
            ))
        })
    };
    let number = |key: &str| -> Result<f64> {
        field(key)?
            .parse::<f64>()
            .map_err(|_| bad(format!("metadata \"{key}\" is not a number")))
    };
    let tensor = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
        let view = tensors
            .tensor(name)
            .map_err(|_| bad(format!("has no tensor \"{name}\"")))?;
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor \"{name}\" is {:?}, expected F32",
                view.dtype()
            )));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if !values.iter().all(|v| v.is_finite()) {
            return Err(bad(format!(
                "tensor \"{name}\" holds values that are not finite (NaN or infinity): the run that saved it had diverged"
            )));
        }
        Ok((view.shape().to_vec(), values))
    };
    let legacy = meta.get("format").is_some_and(|f| f == "mnist-mlp/1");
    let mut config = if legacy {
        // One sigmoid hidden layer; the settings as separate keys.
        let mut config = TrainConfig::default();
        for key in ["cost", "init", "batch_size", "seed", "lr", "lr_decay"] {
            config
                .set(key, field(key)?)
                .map_err(|e| bad(format!("metadata: {e}")))?;
        }
        config
    } else {
        serde_json::from_str::<TrainConfig>(field("config")?).map_err(|e| {
            bad(format!(
                "metadata \"config\" is not a training config ({e})"
            ))
        })?
    };
    let names = |i: usize| {
        if legacy {
            (format!("w{}", i + 1), format!("b{}", i + 1))
        } else {
            (format!("layers.{i}.weight"), format!("layers.{i}.bias"))
        }
    };
    let layer_count = if legacy { 2 } else { config.hidden.0.len() + 1 };
    let mut layers = Vec::with_capacity(layer_count);
    let mut inputs = PIXELS;
    for i in 0..layer_count {
        let (w_name, b_name) = names(i);
        let (w_shape, w) = tensor(&w_name)?;
        let outputs = match w_shape.as_slice() {
            [out, width] if *width == inputs && *out > 0 => *out,
            _ => {
                return Err(bad(format!(
                    "tensor \"{w_name}\" has shape {w_shape:?}, expected [units, {inputs}]"
                )))
            }
        };
        let (b_shape, b) = tensor(&b_name)?;
        if b_shape != [outputs] {
            return Err(bad(format!(
                "tensor \"{b_name}\" has shape {b_shape:?}, expected [{outputs}]"
            )));
        }
        layers.push(Layer {
            w: Array2::from_shape_vec((outputs, inputs), w).expect("checked shape"),
            b: Array1::from(b),
        });
        inputs = outputs;
    }
    if inputs != CLASSES {
        return Err(bad(format!(
            "the last layer has {inputs} outputs, expected {CLASSES}"
        )));
    }
    let params = Params { layers };
    let hidden = Hidden(params.hidden());
    if legacy {
        config.hidden = hidden;
    } else if hidden != config.hidden {
        return Err(bad(format!(
            "tensors make hidden layers {hidden} but the metadata says {}",
            config.hidden
        )));
    }
    config
        .validate()
        .map_err(|e| bad(format!("metadata: {e}")))?;
    let normalisation = match config.normalise {
        Normalise::Batch => Normalisation::PerBatch,
        Normalise::Dataset => {
            let (mean, std) = (number("mean")? as f32, number("std")? as f32);
            if !(mean.is_finite() && std.is_finite() && std > 0.0) {
                return Err(bad(format!(
                    "metadata mean {mean} and std {std} cannot normalise pixels"
                )));
            }
            Normalisation::Fixed { mean, std }
        }
    };
    let info = ModelInfo {
        config,
        normalisation,
        epochs_trained: number("epochs_trained")? as usize,
        test_accuracy: match meta.contains_key("test_acc") {
            true => number("test_acc")?,
            false => number("test_accuracy")?,
        },
    };
    let resumable = match meta.get(TRAINING_STATE) {
        None => None,
        Some(state) => {
            let layer_tensor =
                |name: &str| name.starts_with("layers.") || (legacy && name.len() == 2);
            let mut extra = Vec::new();
            for name in tensors.names() {
                if !layer_tensor(name) {
                    let (shape, values) = tensor(name)?;
                    extra.push((name.to_string(), shape, values));
                }
            }
            Some(Resumable {
                state: state.clone(),
                tensors: extra,
            })
        }
    };
    Ok((params, info, resumable))
}
