//! Files the program writes and reads back: models, metrics, plots, all
//! written through a temporary name and a rename, and every file read whole
//! read through one bounded reader. TensorBoard's event files are the
//! exception: appended to in place, as TensorBoard reads them while they grow.

#[allow(missing_docs)] // internal: reached through `internals` only
pub mod atomic_file;
pub mod metrics;
pub mod model;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod npy;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod onnx;
#[cfg(feature = "plot")]
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod plot;
pub(crate) mod protobuf;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod read;
pub mod tensorboard;
