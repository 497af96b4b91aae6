//! Files the program writes and reads back: models, metrics, plots, all
//! written through a temporary name and a rename.

pub mod atomic_file;
pub mod metrics;
pub mod model;
pub mod plot;
