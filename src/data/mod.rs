//! Getting the pixels in: IDX parsing, the in-memory data set, batches
//! gathered (and augmented) into the workspace, downloads, and pictures from disk.

pub mod augment;
pub mod batch;
pub mod dataset;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod idx;
#[cfg(feature = "images")]
pub mod picture;
