//! mnist-mlp: multilayer perceptrons trained on MNIST on the CPU, every
//! batched product an OpenBLAS sgemm into buffers allocated once. The
//! default network is the one-hidden-layer network of Nielsen's "Neural
//! Networks and Deep Learning", vectorised over mini-batches.
//!
//! The `mnist-mlp` program is a client of this library: [`train`] is the
//! one call that trains, for both. With `default-features = false` the
//! crate trains, evaluates, saves and loads models, and writes ONNX and
//! TensorBoard files without the program's dependencies; the features
//! `images` ([`Model::classify_picture`]), `fetch` ([`Mnist::fetch`]),
//! `plot` and `cli` (the program) add theirs. `docs/library.md` has more.
//!
//! Shapes and units: an image is 784 bytes ([`PIXELS`], 28×28 row by row,
//! 0..255), a model has 10 outputs ([`CLASSES`]); accuracies are fractions
//! in 0..1, losses mean costs per image, learning rates per optimiser
//! ([`Optimizer::default_lr`]).
//!
//! The tutorial's network (784-30-10 sigmoid, SGD, 30 epochs):
//!
//! ```no_run
//! use mnist_mlp::{on_epoch, train, Mnist, TrainConfig, TrainOptions};
//!
//! # fn main() -> mnist_mlp::Result<()> {
//! let data = Mnist::load_default()?; // $MNIST_DIR, else ./data/mnist
//! let mut print = on_epoch(|report| {
//!     println!("{}", report.line());
//!     Ok(())
//! });
//! let summary = train(TrainConfig::default(), &data, TrainOptions::default(), &mut print)?;
//! println!("test accuracy {:.4}", summary.last().test_acc);
//! # Ok(())
//! # }
//! ```
//!
//! A deeper network from a preset, with a validation split and early
//! stopping; the model kept is the best epoch's on validation, saved,
//! loaded back and evaluated:
//!
//! ```no_run
//! use mnist_mlp::{train, Mnist, Model, Preset, TrainConfig, TrainOptions};
//!
//! # fn main() -> mnist_mlp::Result<()> {
//! let data = Mnist::load_default()?;
//! let config = TrainConfig {
//!     validation: 10_000, // the last 10 000 training images
//!     early_stop: 2,
//!     ..Preset::Fast.config() // 784-512-10 ReLU/softmax, Adam, one cycle
//! };
//! let summary = train(config, &data, TrainOptions::default(), &mut ())?;
//! summary.model.save("fast.safetensors")?;
//! let model = Model::load("fast.safetensors")?;
//! let report = model.evaluate(&data.test);
//! println!("{}", report.text());
//! # Ok(())
//! # }
//! ```
//!
//! Classifying one image, a 784-byte slice (or, with `images`, a picture
//! with [`Model::classify_picture`]):
//!
//! ```no_run
//! # fn main() -> mnist_mlp::Result<()> {
//! let model = mnist_mlp::Model::load("fast.safetensors")?;
//! let test = mnist_mlp::Mnist::load_default()?.test;
//! let answer = model.classify(test.image(0))?;
//! println!("{} (label {}), outputs {:?}", answer.digit, test.label(0), answer.outputs);
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
pub mod eval;
pub mod io;
mod model;
pub mod nn;
pub mod optim;
pub mod random;
pub mod train;

pub use data::batch::Normalisation;
pub use data::dataset::{load_mnist, Dataset, Mnist, CLASSES, PIXELS};
pub use error::{Error, Result};
pub use eval::EvalReport;
pub use io::metrics::EpochReport;
pub use io::model::ModelInfo;
pub use model::{Classification, Model};
pub use nn::arch::{Activation, Arch, Cost, Hidden, Init, Output};
pub use nn::params::{Layer, Params};
pub use optim::schedule::Schedule;
pub use optim::Optimizer;
pub use train::config::Normalise;
pub use train::preset::Preset;
pub use train::{
    on_epoch, run, train, BestEpoch, Resume, RunStart, RunSummary, TrainConfig, TrainObserver,
    TrainOptions, Trainer,
};
