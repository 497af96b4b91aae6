//! mnist-mlp: the one-hidden-layer network of Nielsen's "Neural Networks and
//! Deep Learning", vectorised over mini-batches, every batched product an
//! OpenBLAS sgemm into buffers allocated once.
//!
//! Data flows idx → dataset → batch (into a workspace) → network → sgd, each
//! step run by slices (the input layer shared out between threads) and the
//! epochs by train; metrics reports each epoch; commands wires them for the
//! CLI.

// Links OpenBLAS's cblas symbols, which ndarray's `blas` feature calls.
extern crate blas_src;

pub mod atomic_file;
pub mod barrier;
pub mod batch;
pub mod bench;
pub mod blas;
pub mod commands;
pub mod cost;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod fastmath;
pub mod fetch;
pub mod idx;
pub mod metrics;
pub mod model;
pub mod naive;
pub mod network;
pub mod plot;
pub mod predict;
pub mod profile;
pub mod sgd;
pub mod slices;
pub mod sweep;
pub mod train;
pub mod workspace;

pub use error::{Error, Result};
