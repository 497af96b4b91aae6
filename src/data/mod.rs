//! Getting the pixels in: IDX parsing, the in-memory data set, batches
//! gathered (and augmented) into the workspace, downloads, and pictures from disk.

#[allow(missing_docs)] // internal: reached through `internals` only
pub mod augment;
pub mod batch;
pub mod dataset;
#[cfg(feature = "fetch")]
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod fetch;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod idx;
#[cfg(feature = "images")]
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod picture;
