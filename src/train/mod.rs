//! Running the epochs: the one config and its presets, the trainer, the
//! threads that share out each step, what a step reports, checkpoints.

pub mod barrier;
pub mod checkpoint;
pub mod config;
pub mod fit;
pub mod observer;
pub mod preset;
pub mod team;
pub mod trace;
pub mod trainer;

pub use config::TrainConfig;
pub use fit::{on_epoch, train, Resume, RunStart, TrainObserver, TrainOptions};
pub use trainer::{run, BestEpoch, RunSummary, Trainer};
