//! Checkpoints: a model file that also holds everything the trainer needs
//! to go on as if it had never stopped: the optimiser state, the batch and
//! epoch counts (the schedule's position, Adam's step, the dropout and
//! augmentation draws), the shuffling stream's position, the best epoch on
//! validation with its weights, and the weight average so far. See
//! `io/model.rs` for the file.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::model::{self, NamedTensor, Resumable};
use crate::nn::params::Params;
use crate::optim::Optimizer;
use crate::train::trainer::{Average, Best, Trainer};

const FORMAT: &str = "mnist-mlp-checkpoint/1";

/// The training state kept as JSON beside the tensors.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainingState {
    format: String,
    /// The optimiser whose state the `optimizer.*` tensors hold.
    optimizer: Optimizer,
    batches_done: u64,
    /// Epochs the interrupted run was to train in all.
    total_epochs: usize,
    /// The shuffling stream's position (ChaCha12 words), as text: JSON
    /// numbers stop short of u128.
    rng_word_pos: String,
    best: Option<BestEpoch>,
    /// Epochs in the weight average; absent in checkpoints from before
    /// averaging, which had none.
    #[serde(default)]
    average_epochs: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BestEpoch {
    epoch: usize,
    val_acc: f64,
    test_acc: f64,
}

fn state_name(layer: usize, part: &str, k: usize) -> String {
    format!("optimizer.{layer}.{part}.{k}")
}

/// Each layer's weight and bias, named `{prefix}.layers.{l}.weight` and
/// `.bias`, as tensors to save.
fn params_tensors(prefix: &str, params: &Params) -> Vec<NamedTensor> {
    let mut tensors = Vec::new();
    for (l, layer) in params.layers.iter().enumerate() {
        let name = |part: &str| format!("{prefix}.layers.{l}.{part}");
        tensors.push((name("weight"), layer.w.shape().to_vec(), flat(&layer.w)));
        tensors.push((name("bias"), layer.b.shape().to_vec(), flat(&layer.b)));
    }
    tensors
}

/// The weights `params_tensors(prefix, _)` saved, for layer widths `sizes`.
fn take_params(
    resumable: &mut Resumable,
    prefix: &str,
    sizes: &[usize],
) -> std::result::Result<Params, String> {
    let mut params = Params::zeros(sizes);
    for (l, layer) in params.layers.iter_mut().enumerate() {
        let name = |part: &str| format!("{prefix}.layers.{l}.{part}");
        let w = resumable.take(&name("weight"), layer.w.shape())?;
        let b = resumable.take(&name("bias"), layer.b.shape())?;
        layer
            .w
            .as_slice_mut()
            .expect("contiguous")
            .copy_from_slice(&w);
        layer
            .b
            .as_slice_mut()
            .expect("contiguous")
            .copy_from_slice(&b);
    }
    Ok(params)
}

fn flat<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>) -> Vec<f32> {
    a.as_slice().expect("parameters are contiguous").to_vec()
}

/// Writes `trainer`'s state to `path` through a temporary file.
pub fn save(path: &Path, trainer: &Trainer, test_accuracy: f64) -> Result<()> {
    let mut tensors: Vec<NamedTensor> = Vec::new();
    for (l, layer) in trainer.state.layers.iter().enumerate() {
        for (k, w) in layer.w.iter().enumerate() {
            tensors.push((state_name(l, "weight", k), w.shape().to_vec(), flat(w)));
        }
        for (k, b) in layer.b.iter().enumerate() {
            tensors.push((state_name(l, "bias", k), b.shape().to_vec(), flat(b)));
        }
    }
    if let Some(best) = &trainer.best {
        tensors.extend(params_tensors("best", &best.params));
    }
    if let Some(average) = &trainer.average {
        tensors.extend(params_tensors("average", &average.params));
    }
    let state = TrainingState {
        format: FORMAT.into(),
        optimizer: trainer.config.optimizer,
        batches_done: trainer.batches_done,
        total_epochs: trainer.total_epochs,
        rng_word_pos: trainer.rng.get_word_pos().to_string(),
        best: trainer.best.as_ref().map(|b| BestEpoch {
            epoch: b.epoch,
            val_acc: b.val_acc,
            test_acc: b.test_acc,
        }),
        average_epochs: trainer.average.as_ref().map(|a| a.epochs),
    };
    let resumable = Resumable {
        state: serde_json::to_string(&state).expect("states serialise"),
        tensors,
    };
    model::save_resumable(
        path,
        &trainer.params,
        &trainer.model_info(test_accuracy),
        Some(&resumable),
    )
}

/// The epochs the checkpointed run had still to train.
pub fn epochs_left(resumable: &Resumable, epochs_trained: usize, path: &Path) -> Result<usize> {
    let state = parse(resumable, path)?;
    Ok(state.total_epochs.saturating_sub(epochs_trained))
}

fn parse(resumable: &Resumable, path: &Path) -> Result<TrainingState> {
    let state: TrainingState = serde_json::from_str(&resumable.state).map_err(|e| {
        Error::Data(format!(
            "{}: the checkpoint's training state is unreadable ({e})",
            path.display()
        ))
    })?;
    if state.format != FORMAT {
        return Err(Error::Data(format!(
            "{}: checkpoint format {} is not {FORMAT}",
            path.display(),
            state.format
        )));
    }
    Ok(state)
}

/// Puts the state saved in `resumable` into `trainer`, whose weights and
/// epoch count already come from the same file. The optimiser state is
/// left fresh when the run now uses another optimiser.
pub fn restore(trainer: &mut Trainer, mut resumable: Resumable, path: &Path) -> Result<()> {
    let bad = |what: String| Error::Data(format!("{}: {what}", path.display()));
    let state = parse(&resumable, path)?;
    if state.optimizer == trainer.config.optimizer {
        for (l, layer) in trainer.state.layers.iter_mut().enumerate() {
            for (k, w) in layer.w.iter_mut().enumerate() {
                let values = resumable
                    .take(&state_name(l, "weight", k), w.shape())
                    .map_err(bad)?;
                w.as_slice_mut()
                    .expect("contiguous")
                    .copy_from_slice(&values);
            }
            for (k, b) in layer.b.iter_mut().enumerate() {
                let values = resumable
                    .take(&state_name(l, "bias", k), b.shape())
                    .map_err(bad)?;
                b.as_slice_mut()
                    .expect("contiguous")
                    .copy_from_slice(&values);
            }
        }
    }
    let sizes = trainer.params.sizes();
    trainer.best = match state.best {
        None => None,
        Some(best) => Some(Best {
            epoch: best.epoch,
            val_acc: best.val_acc,
            test_acc: best.test_acc,
            params: take_params(&mut resumable, "best", &sizes).map_err(bad)?,
        }),
    };
    trainer.average = match state.average_epochs {
        None => None,
        Some(epochs) => Some(Average {
            epochs,
            params: take_params(&mut resumable, "average", &sizes).map_err(bad)?,
        }),
    };
    let word_pos: u128 = state.rng_word_pos.parse().map_err(|_| {
        bad(format!(
            "rng position \"{}\" is not a number",
            state.rng_word_pos
        ))
    })?;
    trainer.rng = ChaCha12Rng::seed_from_u64(trainer.config.seed);
    trainer.rng.set_word_pos(word_pos);
    trainer.batches_done = state.batches_done;
    Ok(())
}
