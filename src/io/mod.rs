//! Files the program writes and reads back: models, metrics, plots, all
//! written through a temporary name and a rename, and every file read whole
//! read through one bounded reader.

pub mod atomic_file;
pub mod metrics;
pub mod model;
#[cfg(feature = "plot")]
pub mod plot;
pub mod read;
