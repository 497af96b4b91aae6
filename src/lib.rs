//! mnist-mlp: multilayer perceptrons trained on MNIST on the CPU, every
//! batched product an OpenBLAS sgemm into buffers allocated once. The
//! default network is the one-hidden-layer network of Nielsen's "Neural
//! Networks and Deep Learning", vectorised over mini-batches.
//!
//! The `mnist-mlp` program is a client of this library: [`train`] is the
//! one call that trains, for both. With `default-features = false` the
//! crate trains, evaluates, saves and loads models, and writes ONNX and
//! TensorBoard files without the program's dependencies; the features
//! `images` (`Model::classify_picture`), `fetch` (`Mnist::fetch`),
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
//! with `Model::classify_picture`):
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
//!
//! A [`Committee`] of models (say, one per seed) averages their ten
//! outputs; it evaluates and classifies as a model does, and reports each
//! member alone too. A folder stands for the models in it, a sweep's
//! `--out` for the models its runs saved:
//!
//! ```no_run
//! use mnist_mlp::{Committee, Mnist};
//!
//! # fn main() -> mnist_mlp::Result<()> {
//! let committee = Committee::load(&["seed1.safetensors", "seed2.safetensors"])?;
//! let report = committee.evaluate(&Mnist::load_default()?.test);
//! let alone: Vec<f64> = report.members.iter().map(|m| m.accuracy).collect();
//! println!("committee {:.4}, members {alone:?}", report.committee.accuracy);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

// Links OpenBLAS's cblas symbols, which ndarray's `blas` feature calls.
extern crate blas_src;

// The modules are private: what a user needs is re-exported below, and
// the rest is reachable only through `internals`.
#[cfg(feature = "cli")]
#[allow(missing_docs)] // the program's plumbing
mod app;
#[allow(missing_docs)] // BLAS checks and settings, for the program
mod blas;
mod committee;
mod data;
mod error;
mod eval;
mod io;
mod model;
mod nn;
mod optim;
#[allow(missing_docs)] // the trainer's random draws
mod random;
mod train;

pub use committee::{Committee, CommitteeReport};
pub use data::batch::Normalisation;
pub use data::dataset::{Dataset, Mnist, CLASSES, PIXELS};
pub use error::{Error, IdxProblem, Result};
pub use eval::EvalReport;
pub use io::metrics::EpochReport;
pub use io::model::ModelInfo;
pub use io::tensorboard::EventWriter;
pub use model::{Classification, Model};
pub use nn::arch::{Activation, Arch, Cost, Hidden, Init, Output};
pub use nn::params::{Layer, Params};
pub use optim::schedule::Schedule;
pub use optim::Optimizer;
pub use train::config::{Normalise, TrainConfig};
pub use train::preset::Preset;
pub use train::{
    on_epoch, train, BestEpoch, OnEpoch, Resume, RunStart, RunSummary, TrainObserver, TrainOptions,
};

/// The program's own parts (threads, barrier, workspaces, BLAS checks,
/// the command line's plumbing), public for its binary, tests and benches
/// only: not the library's API, and free to change in any release.
#[doc(hidden)]
pub mod internals {
    /// The subcommands.
    #[cfg(feature = "cli")]
    pub mod app {
        pub use crate::app::*;
    }
    /// BLAS checks.
    pub mod blas {
        pub use crate::blas::*;
    }
    /// Data.
    pub mod data {
        pub use crate::data::*;
    }
    /// The error type.
    pub mod error {
        pub use crate::error::*;
    }
    /// Evaluation.
    pub mod eval {
        pub use crate::eval::*;
    }
    /// Files.
    pub mod io {
        pub use crate::io::*;
    }
    /// The network.
    pub mod nn {
        pub use crate::nn::*;
    }
    /// Optimisers.
    pub mod optim {
        pub use crate::optim::*;
    }
    /// Random draws.
    pub mod random {
        pub use crate::random::*;
    }
    /// Training.
    pub mod train {
        pub use crate::train::*;
    }
}
