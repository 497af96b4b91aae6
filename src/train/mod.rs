//! Running the epochs: the one config, the trainer, the threads that
//! share out each step, and what a step reports.

pub mod barrier;
pub mod config;
pub mod observer;
pub mod team;
pub mod trainer;

pub use config::TrainConfig;
pub use trainer::{run, RunSummary, Trainer};
