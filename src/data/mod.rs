//! Getting the pixels in: IDX parsing, the in-memory data set, batches
//! gathered (and augmented) into the workspace, downloads, and pictures from disk.

pub mod augment;
pub mod batch;
pub mod dataset;
pub mod fetch;
pub mod idx;
pub mod picture;
