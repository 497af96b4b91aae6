//! The integration tests, one module per subject, built as one test binary:
//! each binary links the whole crate with the release profile's LTO, so
//! thirty of them cost CI ten minutes of linking. The allocation tests keep
//! binaries of their own, since each installs a counting global allocator.

#[path = "../common/mod.rs"]
mod common;

mod affinity;
mod aligned;
mod augment;
mod barrier;
mod blas_check;
mod cli;
mod committee;
mod fastmath;
mod fetch;
mod forms;
mod gradients;
mod idx;
mod inputs;
mod library;
mod matmul;
mod model;
mod numerics;
mod onnx;
mod optim_blocks;
mod outputs;
mod parallel;
mod plot;
mod practice;
mod predict;
mod subnormals;
mod sweep;
mod tensorboard;
mod trace;
