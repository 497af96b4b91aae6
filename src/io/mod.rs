//! Files the program writes and reads back: models, metrics, plots, all
//! written through a temporary name and a rename, and every file read whole
//! read through one bounded reader. TensorBoard's event files are the
//! exception: appended to in place, as TensorBoard reads them while they grow.

pub mod atomic_file;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod onnx;
#[cfg(feature = "plot")]
pub mod plot;
pub mod read;
pub mod tensorboard;
