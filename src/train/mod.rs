//! Running the epochs: the trainer, the threads that share out each step,
//! and what a step reports.

pub mod barrier;
pub mod profile;
pub mod team;
pub mod trainer;
