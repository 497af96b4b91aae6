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

pub mod app;
pub mod blas;
pub mod data;
pub mod error;
pub mod io;
pub mod nn;
pub mod optim;
pub mod train;

pub use error::{Error, Result};
