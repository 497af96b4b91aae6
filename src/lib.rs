//! mnist-mlp: multilayer perceptrons trained on MNIST on the CPU, every
//! batched product an OpenBLAS sgemm into buffers allocated once. The
//! default network is the one-hidden-layer network of Nielsen's "Neural
//! Networks and Deep Learning", vectorised over mini-batches.
//!
//! Data flows data (idx → dataset → batch, into a workspace) → nn (the
//! layers' stages) → optim (each rule's step) → train (the threads' shared
//! step, the epochs); io writes what comes out; app wires them for the CLI.
//!
//! Training from Rust:
//!
//! ```no_run
//! use mnist_mlp::{load_mnist, run, TrainConfig, Trainer};
//!
//! # fn main() -> mnist_mlp::Result<()> {
//! let data = load_mnist("data/mnist".as_ref())?;
//! let mut config = TrainConfig::default(); // the tutorial's run
//! config.set("hidden", "256-128")?;
//! config.set("activation", "relu")?;
//! config.set("output", "softmax")?;
//! config.set("optimizer", "adam")?;
//! config.epochs = 3;
//! let mut trainer = Trainer::new(config, &data.train)?;
//! let summary = run(&mut trainer, &data, &mut (), |_, report| {
//!     println!("{}", report.line(3));
//!     Ok(())
//! })?;
//! println!("test accuracy {:.4}", summary.reports.last().unwrap().test_acc);
//! # Ok(())
//! # }
//! ```

// Links OpenBLAS's cblas symbols, which ndarray's `blas` feature calls.
extern crate blas_src;

#[cfg(feature = "cli")]
pub mod app;
pub mod blas;
pub mod data;
pub mod error;
pub mod io;
pub mod nn;
pub mod optim;
pub mod random;
pub mod train;

pub use data::dataset::{load_mnist, Dataset, Mnist};
pub use error::{Error, Result};
pub use io::model::ModelInfo;
pub use nn::arch::{Activation, Arch, Cost, Hidden, Init, Output};
pub use nn::params::{Layer, Params};
pub use optim::schedule::Schedule;
pub use optim::Optimizer;
pub use train::{run, RunSummary, TrainConfig, Trainer};
