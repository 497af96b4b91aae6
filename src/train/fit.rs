//! The one call that trains, for library users and the command line alike:
//! the validation split and early stopping from the config, resuming a
//! saved model or checkpoint, checkpoints as it goes, an observer told of
//! progress and of each epoch's figures.

use std::path::{Path, PathBuf};

use crate::data::dataset::Mnist;
use crate::error::{Error, Result};
use crate::io::metrics::EpochReport;
use crate::io::model::{self, Resumable};
use crate::model::Model;
use crate::train::checkpoint;
use crate::train::config::{TrainConfig, MAX_EPOCHS};
use crate::train::observer::Observer;
use crate::train::trainer::{run, RunSummary, Trainer};

/// What [`train`] does beyond the config: where it starts from and where
/// it writes checkpoints.
#[derive(Debug, Default)]
pub struct TrainOptions {
    /// Go on from this saved model or checkpoint instead of fresh weights.
    pub resume: Option<Resume>,
    /// Write a resumable checkpoint here every `checkpoint_every` epochs
    /// and after the last.
    pub checkpoint: Option<PathBuf>,
    /// Epochs between checkpoints; 0 writes one only after the last epoch.
    pub checkpoint_every: usize,
}

/// A saved model or checkpoint to train on from: its weights, input
/// normalisation and epoch count, and for a checkpoint the optimiser
/// state, the random stream's position and the best epoch so far, so the
/// run goes on as if it had never stopped.
#[derive(Debug)]
pub struct Resume {
    /// The weights and what they were trained as.
    pub model: Model,
    state: Option<Resumable>,
    path: PathBuf,
}

impl Resume {
    /// Reads the model or checkpoint at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Resume> {
        let path = path.as_ref();
        let (params, info, state) = model::load_resumable(path)?;
        Ok(Resume {
            model: Model { params, info },
            state,
            path: path.to_owned(),
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it is a checkpoint (rather than a plain model).
    pub fn is_checkpoint(&self) -> bool {
        self.state.is_some()
    }

    /// For a checkpoint, the epochs its interrupted run had still to
    /// train; `None` for a plain model, whose run had ended.
    pub fn epochs_left(&self) -> Result<Option<usize>> {
        self.state
            .as_ref()
            .map(|state| checkpoint::epochs_left(state, self.model.info.epochs_trained, &self.path))
            .transpose()
    }
}

/// What a run is about to train, told to the observer once every check
/// has passed.
#[derive(Debug, Clone, Copy)]
pub struct RunStart<'a> {
    /// The settings it trains with.
    pub config: &'a TrainConfig,
    /// The data as split: `config.validation` training images held out as
    /// `validation`.
    pub data: &'a Mnist,
    /// Epochs a resumed model had trained before; 0 for fresh weights.
    pub epochs_before: usize,
}

/// Told what a [`train`] run does as it goes; every method has a default
/// that does nothing, and `()` observes nothing.
pub trait TrainObserver {
    /// Called once, after every check and before the first epoch. An
    /// error stops the run before it trains.
    fn started(&mut self, _start: &RunStart) -> Result<()> {
        Ok(())
    }

    /// Epoch `epoch` (from 1) of `last` starts, over `samples` images.
    fn epoch_started(&mut self, _epoch: usize, _last: usize, _samples: usize) {}

    /// `samples` more images have been trained on (called for each batch
    /// from the training thread; keep it cheap).
    fn trained(&mut self, _samples: usize) {}

    /// An epoch has ended with these figures ([`EpochReport::line`] is the
    /// line the program prints). An error stops the run and is returned.
    fn epoch_ended(&mut self, _report: &EpochReport) -> Result<()> {
        Ok(())
    }
}

impl TrainObserver for () {}

/// A [`TrainObserver`] that calls `f` with each epoch's report, as made by
/// [`on_epoch`].
pub struct OnEpoch<F>(F);

/// Observes only each epoch's report: `on_epoch(|r| { println!("{}",
/// r.line()); Ok(()) })`.
pub fn on_epoch<F: FnMut(&EpochReport) -> Result<()>>(f: F) -> OnEpoch<F> {
    OnEpoch(f)
}

impl<F: FnMut(&EpochReport) -> Result<()>> TrainObserver for OnEpoch<F> {
    fn epoch_ended(&mut self, report: &EpochReport) -> Result<()> {
        (self.0)(report)
    }
}

/// The training step's observer, passing on what a library user sees.
struct Relay<'a, O>(&'a mut O);

impl<O: TrainObserver + Send> Observer for Relay<'_, O> {
    type Helper = ();
    fn helper(&mut self, _thread: usize) {}

    fn epoch_started(&mut self, epoch: usize, last: usize, samples: usize) {
        self.0.epoch_started(epoch, last, samples);
    }

    fn trained(&mut self, samples: usize) {
        self.0.trained(samples);
    }

    fn epoch_ended(&mut self, report: &EpochReport) -> Result<()> {
        self.0.epoch_ended(report)
    }
}

/// Trains `config.epochs` epochs on `data` and returns the figures and the
/// model, as `mnist-mlp train` does.
///
/// - With `config.validation` = n, the last n training images are held
///   out to validate on (unless `data.validation` already holds exactly
///   n), each epoch reports validation figures, the returned model is the
///   best epoch's on validation, and with `config.early_stop` = k the run
///   stops once k epochs have passed without a better one.
/// - `options` resume a saved model or checkpoint and write checkpoints.
/// - `observer` hears of progress and each epoch's report; `&mut ()` for
///   none.
///
/// An epoch that ends diverged says so in its report (and
/// `RunSummary::diverged`); it is not an error.
pub fn train<O: TrainObserver + Send>(
    config: TrainConfig,
    data: &Mnist,
    options: TrainOptions,
    observer: &mut O,
) -> Result<RunSummary> {
    config.validate()?;
    if let Some(resume) = &options.resume {
        let trained = resume.model.info.epochs_trained;
        if trained + config.epochs > MAX_EPOCHS {
            return Err(Error::Config(format!(
                "{} has trained {trained} epochs; {} more would pass the {MAX_EPOCHS}-epoch limit",
                resume.path.display(),
                config.epochs
            )));
        }
    }
    let split;
    let data = match (&data.validation, config.validation) {
        (None, 0) => data,
        (None, n) => {
            config.validate_split(data.train.len())?;
            split = data.holding_out(n);
            &split
        }
        (Some(v), n) if v.len() == n => data,
        (Some(v), n) => {
            return Err(Error::Config(format!(
            "the data already holds out {} validation images but the config's validation is {n}",
            v.len()
        )))
        }
    };
    let mut trainer = Trainer::new(config, &data.train)?;
    if let Some(resume) = options.resume {
        trainer.params = resume.model.params;
        trainer.normalisation = resume.model.info.normalisation;
        trainer.epochs_done = resume.model.info.epochs_trained;
        if let Some(state) = resume.state {
            checkpoint::restore(&mut trainer, state, &resume.path)?;
        }
    }
    let epochs_before = trainer.epochs_done;
    observer.started(&RunStart {
        config: &trainer.config,
        data,
        epochs_before,
    })?;
    let mut checkpointed = epochs_before;
    let every = options.checkpoint_every;
    let summary = run(
        &mut trainer,
        data,
        &mut Relay(observer),
        |trainer, report| {
            if let Some(path) = &options.checkpoint {
                if every > 0 && trainer.epochs_done % every == 0 {
                    checkpoint::save(path, trainer, report.test_acc)?;
                    checkpointed = trainer.epochs_done;
                }
            }
            Ok(())
        },
    )?;
    if let Some(path) = &options.checkpoint {
        if checkpointed != trainer.epochs_done {
            checkpoint::save(path, &trainer, summary.last().test_acc)?;
        }
    }
    Ok(summary)
}
