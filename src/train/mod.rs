//! Running the epochs: the one config and its presets, the trainer, the
//! threads that share out each step, what a step reports, checkpoints.

#[allow(missing_docs)] // internal: reached through `internals` only
pub mod affinity;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod barrier;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod checkpoint;
pub mod config;
pub mod fit;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod observer;
pub mod preset;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod team;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod trace;
pub mod trainer;

pub use config::TrainConfig;
pub use fit::{on_epoch, train, OnEpoch, Resume, RunStart, TrainObserver, TrainOptions};
pub use trainer::{run, BestEpoch, RunSummary, Trainer};
