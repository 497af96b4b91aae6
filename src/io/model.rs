//! Saved models in the safetensors format, readable from Python's
//! `safetensors`/PyTorch and from candle.
//!
//! Tensors (f32, little-endian, row-major), named as in `network.rs`:
//!   w1 [H, 784]   b1 [H]   w2 [10, H]   b2 [10]
//! so that outputs = σ(w2 · σ(w1 · x + b1) + b2) for a standardised x.
//! `__metadata__` (all strings): format, hidden, cost, init, normalisation,
//! batch_size, epochs_trained, test_accuracy, seed, lr, lr_decay,
//! crate_version.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::data::dataset::{CLASSES, PIXELS};
use crate::error::{Error, Result};
use crate::io::atomic_file::write_atomically;
use crate::nn::cost::Cost;
use crate::nn::network::{Init, Params};

pub const FORMAT: &str = "mnist-mlp/1";

/// What a model was trained as, kept beside its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub cost: Cost,
    pub init: Init,
    /// Standardisation is per batch, so predictions use batches of this size.
    pub batch_size: usize,
    pub epochs_trained: usize,
    pub test_accuracy: f64,
    pub seed: u64,
    pub lr: f32,
    pub lr_decay: f32,
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes `params` and `info` to `path` through a temporary file.
pub fn save(path: &Path, params: &Params, info: &ModelInfo) -> Result<()> {
    let contiguous = |a: Option<&[f32]>| le_bytes(a.expect("parameters are contiguous"));
    let tensors = [
        (
            "w1",
            params.w1.shape().to_vec(),
            contiguous(params.w1.as_slice()),
        ),
        (
            "b1",
            params.b1.shape().to_vec(),
            contiguous(params.b1.as_slice()),
        ),
        (
            "w2",
            params.w2.shape().to_vec(),
            contiguous(params.w2.as_slice()),
        ),
        (
            "b2",
            params.b2.shape().to_vec(),
            contiguous(params.b2.as_slice()),
        ),
    ];
    let views = tensors.iter().map(|(name, shape, bytes)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("shape matches data");
        (*name, view)
    });
    let metadata: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("hidden", params.hidden().to_string()),
        ("cost", info.cost.to_string()),
        ("init", info.init.to_string()),
        (
            "normalisation",
            format!(
                "per batch: each batch of {} images scaled to mean 0, std 1 over all its pixels",
                info.batch_size
            ),
        ),
        ("batch_size", info.batch_size.to_string()),
        ("epochs_trained", info.epochs_trained.to_string()),
        ("test_accuracy", info.test_accuracy.to_string()),
        ("seed", info.seed.to_string()),
        ("lr", info.lr.to_string()),
        ("lr_decay", info.lr_decay.to_string()),
        ("crate_version", env!("CARGO_PKG_VERSION").to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Data(format!("{}: cannot encode the model: {e}", path.display())))?;
    write_atomically(path, &bytes)
}

/// Reads a model written by [`save`], checking every tensor's type and shape.
pub fn load(path: &Path) -> Result<(Params, ModelInfo)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let bad = |what: String| Error::Data(format!("{}: {what}", path.display()));
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let field = |key: &str| {
        meta.get(key).ok_or_else(|| {
            bad(format!(
                "metadata has no \"{key}\": not a model saved by mnist-mlp"
            ))
        })
    };
    let parse = |key: &str| -> Result<String> { field(key).cloned() };
    let number = |key: &str| -> Result<f64> {
        parse(key)?
            .parse::<f64>()
            .map_err(|_| bad(format!("metadata \"{key}\" is not a number")))
    };

    let tensor = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
        let view = tensors
            .tensor(name)
            .map_err(|_| bad(format!("has no tensor \"{name}\"")))?;
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor \"{name}\" is {:?}, expected F32",
                view.dtype()
            )));
        }
        if view.shape() != shape {
            return Err(bad(format!(
                "tensor \"{name}\" has shape {:?}, expected {shape:?}",
                view.shape()
            )));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    let hidden = tensors
        .tensor("b1")
        .map_err(|_| bad("has no tensor \"b1\"".into()))?
        .shape()
        .first()
        .copied()
        .filter(|&h| h > 0)
        .ok_or_else(|| bad("tensor \"b1\" is empty".into()))?;
    let params = Params {
        w1: Array2::from_shape_vec((hidden, PIXELS), tensor("w1", &[hidden, PIXELS])?)
            .expect("checked shape"),
        b1: Array1::from(tensor("b1", &[hidden])?),
        w2: Array2::from_shape_vec((CLASSES, hidden), tensor("w2", &[CLASSES, hidden])?)
            .expect("checked shape"),
        b2: Array1::from(tensor("b2", &[CLASSES])?),
    };
    let info = ModelInfo {
        cost: parse("cost")?.parse().map_err(bad)?,
        init: parse("init")?.parse().map_err(bad)?,
        batch_size: (number("batch_size")? as usize).max(1),
        epochs_trained: number("epochs_trained")? as usize,
        test_accuracy: number("test_accuracy")?,
        seed: number("seed")? as u64,
        lr: number("lr")? as f32,
        lr_decay: number("lr_decay")? as f32,
    };
    Ok((params, info))
}
