//! The training loop: epochs of shuffled mini-batches, evaluation in file
//! order, divergence detection.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

use crate::data::batch::{gather, pixel_stats, Normalisation};
use crate::data::dataset::{Dataset, Mnist};
use crate::error::{Error, Result};
use crate::io::metrics::EpochReport;
use crate::io::model::ModelInfo;
use crate::model::Model;
use crate::nn::arch::Arch;
use crate::nn::gemm::Form;
use crate::nn::network::{forward, score, Score};
use crate::nn::params::Params;
use crate::nn::subnormals::flush_subnormals;
use crate::nn::workspace::Workspace;
use crate::train::config::{Normalise, TrainConfig, AUTO_THREADS};
use crate::train::observer::Observer;
use crate::train::team::{team_floats, OptimState, Pass, Team};

/// The most threads an automatic choice considers: two where the machine
/// has two cores or more, else one. One and two threads give the same
/// results bit for bit (team.rs), so choosing between them changes only
/// the speed. More than two are never chosen: they cut the layers into
/// more slices, which rounds differently, and that is for the user to ask.
fn most_auto_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// Samples trained on each thread count when an epoch measures which is
/// faster: about 100 batches of 20, or 2 batches of 1000. Small next to an
/// epoch, large next to the cost of starting a thread.
const PROBE_SAMPLES: usize = 2_000;

/// Share of saturated output units (|z| > 15) in an epoch beyond which the
/// run has diverged. The default run stays under 0.2; a lr of 100 drives
/// nearly every unit there within the first epoch.
pub const DIVERGED_SATURATION: f64 = 0.9;

/// Test accuracy at or below which a network has learned nothing useful:
/// chance is 10%, and a network stuck on one digit scores about 11%.
pub const NEAR_CHANCE: f64 = 0.15;

/// Updates after which a training loss still worse than know-nothing's is
/// divergence whatever the accuracy: before them a young network's loss
/// (one update of a 60 000-image batch) can be that bad while it learns.
pub const FEW_UPDATES: u64 = 100;

/// What went wrong in an epoch, if anything.
#[derive(Debug, Clone, PartialEq)]
pub enum Trouble {
    /// The run blew up: it says why.
    Diverged(String),
    /// The weights did not move: the rate is too small to learn.
    Stalled(String),
}

/// Judges an epoch: diverged if a loss or weight is no longer finite, the
/// outputs are stuck in saturation, or the training loss is worse than a
/// network that has learned nothing, unless the network is young (fewer
/// than `FEW_UPDATES` updates in all) and its test accuracy beats chance;
/// stalled if no layer's weights moved at all (the weight norms before and
/// after the epoch, compared bit for bit).
pub fn judge(
    train: &Score,
    test_acc: f64,
    params: &Params,
    arch: &Arch,
    norms_before: &[f32],
    norms_after: &[f32],
    updates: u64,
) -> Option<Trouble> {
    let loss = train.mean_loss();
    let know_nothing = arch.output.know_nothing_loss(arch.cost);
    let diverged = |why: String| Some(Trouble::Diverged(why));
    if !loss.is_finite() {
        return diverged("the training loss is not finite".into());
    }
    if !params.is_finite() {
        return diverged("the weights are not finite".into());
    }
    if train.saturated_share() > DIVERGED_SATURATION {
        return diverged(format!(
            "{:.0}% of output units are saturated (|z| > 15)",
            100.0 * train.saturated_share()
        ));
    }
    // Not a single weight norm changed by one rounding step: every update
    // was too small to change a weight. An annealed rate's last epoch
    // (cosine ends near lr · 1e-6) still moves them.
    if norms_after == norms_before {
        return Some(Trouble::Stalled(
            "the weights did not move: the learning rate is too small to learn".into(),
        ));
    }
    let young = updates < FEW_UPDATES && test_acc > NEAR_CHANCE;
    if loss > know_nothing && !young {
        return diverged(format!(
            "training loss {loss:.3} is worse than the {know_nothing:.3} of a network that has learned nothing"
        ));
    }
    None
}

/// Bytes of memory this machine can still give, where /proc says.
fn available_memory() -> Option<u128> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The network with its optimiser state, buffers and random stream.
pub struct Trainer {
    /// The run's settings.
    pub config: TrainConfig,
    /// The weights being trained.
    pub params: Params,
    /// The optimiser's state per parameter.
    pub state: OptimState,
    /// How pixels become inputs.
    pub normalisation: Normalisation,
    /// Epochs trained so far: the schedule's position.
    pub epochs_done: usize,
    /// Batches trained so far over the whole run.
    pub batches_done: u64,
    /// Epochs of the whole run, for the schedules that end somewhere.
    pub total_epochs: usize,
    /// The training threads and their buffers (which evaluation borrows).
    team: Team,
    /// Threads the last pass trained on (for most of its batches).
    threads_used: usize,
    /// Each evaluation batch's score, summed in batch order afterwards so
    /// the total does not depend on how the batches were shared out.
    eval_scores: Vec<Score>,
    order: Vec<usize>,
    /// Draws the initial weights, then each epoch's order. ChaCha12 is
    /// rand's StdRng; named so its position can be checkpointed.
    pub rng: ChaCha12Rng,
    /// The best epoch on the validation set so far, when there is one.
    pub best: Option<Best>,
    /// The mean of the weights over the epochs averaged so far, once
    /// `config.average_epochs` has started counting.
    pub average: Option<Average>,
}

/// A running mean of the weights at the ends of epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct Average {
    /// Epochs averaged.
    pub epochs: usize,
    /// Their mean weights.
    pub params: Params,
}

/// The average when there is one, else the weights: the model as it is
/// evaluated and kept.
fn averaged_or<'a>(params: &'a Params, average: &'a Option<Average>) -> &'a Params {
    average.as_ref().map_or(params, |a| &a.params)
}

impl Average {
    /// Takes `params` into the mean: m += (p − m) / n, so the mean needs
    /// no second copy and stays in range however many epochs it holds.
    fn add(&mut self, params: &Params) {
        self.epochs += 1;
        let share = 1.0 / self.epochs as f32;
        for (mean, layer) in self.params.layers.iter_mut().zip(&params.layers) {
            mean.w
                .zip_mut_with(&layer.w, |m, &p| *m += (p - *m) * share);
            mean.b
                .zip_mut_with(&layer.b, |m, &p| *m += (p - *m) * share);
        }
    }
}

/// The epoch with the highest validation accuracy so far, and its weights.
#[derive(Debug, Clone)]
pub struct Best {
    /// Its number, from 1.
    pub epoch: usize,
    /// Its validation accuracy, a fraction.
    pub val_acc: f64,
    /// Its test accuracy, a fraction.
    pub test_acc: f64,
    /// Its weights.
    pub params: Params,
}

/// The team that trains `config` on up to `threads` threads.
fn team_for(config: &TrainConfig, threads: usize, input_form: Form) -> Team {
    Team::new(
        threads,
        config.batch_size,
        &config.hidden.sizes(),
        config.optimizer,
        config.dropout > 0.0,
        config.augment().as_ref(),
        input_form,
    )
}

impl Trainer {
    /// The model as `train --save` writes it: the rate it trained at, whatever
    /// the optimiser's default later, and the epochs of its whole run (a
    /// resumed run's config holds only the epochs that were left).
    pub fn model_info(&self, test_accuracy: f64) -> ModelInfo {
        let config = &self.config;
        ModelInfo {
            config: TrainConfig {
                lr: Some(config.lr()),
                epochs: self.total_epochs,
                ..config.clone()
            },
            normalisation: self.normalisation,
            epochs_trained: self.epochs_done,
            test_accuracy,
        }
    }

    /// Checks `config`, refuses buffers that would not fit in memory, then
    /// draws the initial weights from the seed. Dataset normalisation takes
    /// its figures from `train`.
    pub fn new(config: TrainConfig, train: &Dataset) -> Result<Self> {
        config.validate()?;
        let most = match config.threads {
            AUTO_THREADS => most_auto_threads(),
            fixed => fixed,
        };
        let sizes = config.hidden.sizes();
        let floats = team_floats(
            &sizes,
            config.batch_size,
            most,
            config.optimizer,
            config.dropout > 0.0,
        );
        let needed = floats * 4;
        if let Some(available) = available_memory().filter(|&a| needed > a) {
            return Err(Error::Config(format!(
                "784-{}-10 at batch {} on {most} thread{} needs {:.1} GB for its buffers; this machine has {:.1} GB available",
                config.hidden,
                config.batch_size,
                if most == 1 { "" } else { "s" },
                needed as f64 / 1e9,
                available as f64 / 1e9
            )));
        }
        let mut rng = ChaCha12Rng::seed_from_u64(config.seed);
        let params = Params::new(&sizes, config.init, &mut rng);
        let normalisation = match config.normalise {
            Normalise::Batch => Normalisation::PerBatch,
            Normalise::Dataset => {
                let (mean, std) = pixel_stats(train);
                Normalisation::Fixed { mean, std }
            }
        };
        Ok(Self {
            state: OptimState::zeros(&sizes, config.optimizer),
            team: team_for(
                &config,
                most,
                Form::input_forward_for(&crate::blas::core_name(), config.batch_size, sizes[1]),
            ),
            total_epochs: config.epochs,
            config,
            params,
            normalisation,
            epochs_done: 0,
            batches_done: 0,
            threads_used: most,
            eval_scores: Vec::new(),
            order: Vec::new(),
            rng,
            best: None,
            average: None,
        })
    }

    /// How the input layer's forward product is computed.
    pub fn input_form(&self) -> Form {
        self.team.input_form()
    }

    /// The products of one training step at batch `b`, each at the shape
    /// of one slice, for `bench`.
    pub fn products(&self, b: usize) -> Vec<crate::train::team::Product> {
        self.team.products(b, &self.config.hidden.sizes())
    }

    /// Computes the input layer's forward product in `form` from now on,
    /// whatever the kernels' table chose: for the tests and benches that
    /// compare the forms.
    #[doc(hidden)]
    pub fn force_input_form(&mut self, form: Form) {
        self.team = team_for(&self.config, self.team.threads(), form);
    }

    /// One epoch over `data` in a fresh random order. The score is the
    /// running one: each batch is scored just before its update.
    pub fn train_epoch(&mut self, data: &Dataset, observer: &mut impl Observer) -> Score {
        self.order.clear();
        self.order.extend(0..data.len());
        self.order.shuffle(&mut self.rng);
        let order = std::mem::take(&mut self.order);
        let score = self.train_on(data, &order, observer);
        self.order = order;
        self.epochs_done += 1;
        score
    }

    /// Trains on the items `order` of `data`, in that order, in batches of
    /// the batch size (the last may be shorter), as the current epoch.
    ///
    /// With `threads` = `AUTO_THREADS` on a machine with two cores, the
    /// first `PROBE_SAMPLES` train on one thread, the next on two, and the
    /// rest on whichever was faster. So two threads are used where they pay,
    /// which on a quiet machine is every shape measured, and one where they
    /// do not, as when another process holds a core and every batch would
    /// wait for the thread that lost it. Measured afresh on each pass, as
    /// the load changes; the results are the same either way.
    pub fn train_on(
        &mut self,
        data: &Dataset,
        order: &[usize],
        observer: &mut impl Observer,
    ) -> Score {
        // Weights read from a model or checkpoint since the last pass sit
        // wherever their Vec was put; the products want them on a line.
        self.params.realign();
        let mut total = Score::default();
        let batch_size = self.config.batch_size;
        let batches = order.len().div_ceil(batch_size);
        let most = self.team.threads();
        let probe = PROBE_SAMPLES.div_ceil(batch_size) * batch_size;
        if self.config.threads != AUTO_THREADS || most == 1 || order.len() < 4 * probe {
            self.train_part(
                self.threads_used,
                &mut total,
                data,
                order,
                (0, batches),
                observer,
            );
            return total;
        }
        let (on_one, rest) = order.split_at(probe);
        let (on_two, rest) = rest.split_at(probe);
        let probe_batches = probe / batch_size;
        let one = self.train_part(1, &mut total, data, on_one, (0, batches), observer);
        let two = self.train_part(
            2,
            &mut total,
            data,
            on_two,
            (probe_batches, batches),
            observer,
        );
        self.threads_used = if two < one { 2 } else { 1 };
        self.train_part(
            self.threads_used,
            &mut total,
            data,
            rest,
            (2 * probe_batches, batches),
            observer,
        );
        total
    }

    /// Trains on `order` with `threads` threads, `place` = (its first
    /// batch's number within the epoch, the epoch's batches); returns the
    /// time it took.
    fn train_part(
        &mut self,
        threads: usize,
        total: &mut Score,
        data: &Dataset,
        order: &[usize],
        place: (usize, usize),
        observer: &mut impl Observer,
    ) -> Duration {
        let started = Instant::now();
        let config = &self.config;
        let arch = config.arch();
        let pass = Pass {
            data,
            order,
            batch_size: config.batch_size,
            arch: &arch,
            normalisation: self.normalisation,
            schedule: config.lr_schedule(self.total_epochs),
            epoch: self.epochs_done,
            first_batch_in_epoch: place.0,
            batches_in_epoch: place.1,
            batches_before: self.batches_done,
            optimizer: config.optimizer,
            momentum: config.momentum,
            weight_decay: config.weight_decay,
            dropout: config.dropout,
            augment: config.augment(),
            label_smoothing: config.label_smoothing,
            seed: config.seed,
        };
        self.team.train(
            threads,
            &pass,
            &mut self.params,
            &mut self.state,
            total,
            observer,
        );
        self.batches_done += order.len().div_ceil(config.batch_size) as u64;
        started.elapsed()
    }

    /// Threads the last pass trained on (for most of its batches).
    pub fn threads(&self) -> usize {
        self.threads_used
    }

    /// Scores the model (the average, when averaging has started) on
    /// `data` in file order, in batches of the training batch size
    /// (standardisation may be per batch, so evaluation batches like
    /// training), on as many threads as the last pass trained on, each
    /// taking a run of consecutive batches.
    pub fn evaluate(&mut self, data: &Dataset) -> Score {
        let batch_size = self.config.batch_size;
        let batches = data.len().div_ceil(batch_size);
        self.eval_scores.resize(batches, Score::default());
        let threads = self.threads_used;
        let per_thread = batches.div_ceil(threads).max(1);
        let arch = self.config.arch();
        let params = averaged_or(&self.params, &self.average);
        let (normalisation, arch) = (self.normalisation, &arch);
        let mut parts = self
            .team
            .workspaces_mut()
            .zip(self.eval_scores.chunks_mut(per_thread).enumerate());
        let evaluate_part = |(ws, (part, scores)): (&mut Workspace, (usize, &mut [Score]))| {
            for (i, slot) in scores.iter_mut().enumerate() {
                let start = (part * per_thread + i) * batch_size;
                gather(
                    ws,
                    data,
                    start..(start + batch_size).min(data.len()),
                    normalisation,
                );
                forward(params, arch, ws);
                *slot = score(ws, arch);
            }
        };
        let _flush = flush_subnormals();
        if threads == 1 {
            parts.for_each(evaluate_part);
        } else {
            // The first part on this thread, the others each on its own.
            let first = parts.next();
            std::thread::scope(|scope| {
                for part in parts {
                    scope.spawn(move || {
                        let _flush = flush_subnormals();
                        evaluate_part(part)
                    });
                }
                first.into_iter().for_each(evaluate_part);
            });
        }
        let mut total = Score::default();
        for batch_score in &self.eval_scores {
            total.add(*batch_score);
        }
        total
    }
}

impl Trainer {
    /// Keeps the model of `epoch` if its validation accuracy is the best so
    /// far.
    fn note_validation(&mut self, epoch: usize, val_acc: f64, test_acc: f64) {
        let params = averaged_or(&self.params, &self.average);
        match &mut self.best {
            Some(best) if val_acc <= best.val_acc => {}
            Some(best) => {
                best.params.clone_from(params);
                (best.epoch, best.val_acc, best.test_acc) = (epoch, val_acc, test_acc);
            }
            None => {
                self.best = Some(Best {
                    epoch,
                    val_acc,
                    test_acc,
                    params: params.clone(),
                })
            }
        }
    }

    /// Takes the epoch just trained into the average if it is one of the
    /// run's last `average_epochs`.
    fn note_average(&mut self) {
        let window = self.config.average_epochs;
        if window == 0 || self.epochs_done + window <= self.total_epochs {
            return;
        }
        match &mut self.average {
            Some(average) => average.add(&self.params),
            None => {
                let mut params = self.params.clone();
                params.realign();
                self.average = Some(Average { epochs: 1, params });
            }
        }
    }

    /// The model as it is evaluated and kept: the average of the weights
    /// once averaging has started, else the weights.
    pub fn model_params(&self) -> &Params {
        averaged_or(&self.params, &self.average)
    }

    /// Whether `early_stop` epochs have passed since the best one.
    fn patience_ran_out(&self) -> bool {
        let patience = self.config.early_stop;
        patience > 0
            && self
                .best
                .as_ref()
                .is_some_and(|best| self.epochs_done >= best.epoch + patience)
    }
}

/// How a run ended, and the model it made.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The model to keep: with a validation set, the best epoch's weights
    /// on it; without, the last epoch's.
    pub model: Model,
    /// Each epoch's figures, in order.
    pub reports: Vec<EpochReport>,
    /// The epoch with the highest validation accuracy, when the run had a
    /// validation set.
    pub best: Option<BestEpoch>,
    /// Epochs trained in all: the last epoch's number, counting a resumed
    /// model's epochs.
    pub epochs_trained: usize,
    /// Why the last epoch counts as diverged, if it does.
    pub diverged: Option<String>,
    /// Why the last epoch did not learn, if its weights did not move.
    pub stalled: Option<String>,
    /// The run stopped early: validation accuracy had not improved for
    /// `early_stop` epochs.
    pub stopped_early: bool,
}

/// The best epoch on the validation set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestEpoch {
    /// Its number, from 1.
    pub epoch: usize,
    /// Its validation accuracy, a fraction in 0..1.
    pub val_acc: f64,
    /// Its test accuracy, a fraction in 0..1.
    pub test_acc: f64,
}

impl RunSummary {
    /// The last epoch's figures (a run trains at least one epoch).
    pub fn last(&self) -> &EpochReport {
        self.reports
            .last()
            .expect("a run trains at least one epoch")
    }
}

/// The model a run keeps: the best epoch's weights on validation, else
/// the last epoch's.
fn kept_model(trainer: &Trainer, last_test_acc: f64) -> Model {
    match &trainer.best {
        Some(best) => Model {
            params: best.params.clone(),
            info: ModelInfo {
                epochs_trained: best.epoch,
                ..trainer.model_info(best.test_acc)
            },
        },
        None => Model {
            params: trainer.model_params().clone(),
            info: trainer.model_info(last_test_acc),
        },
    }
}

/// Trains `trainer.config.epochs` more epochs, calling `on_epoch` with the
/// trainer after each (to report or checkpoint it). An epoch that ends
/// diverged says so in its report; training goes on (the decaying rate may
/// yet rescue a saturated network) unless the weights are no longer
/// finite, when nothing more can be learned. The run counts as diverged if
/// its last epoch did. With a validation set and `early_stop`, it stops
/// when validation accuracy has not improved for that many epochs.
pub fn run(
    trainer: &mut Trainer,
    data: &Mnist,
    observer: &mut impl Observer,
    mut on_epoch: impl FnMut(&Trainer, &EpochReport) -> Result<()>,
) -> Result<RunSummary> {
    let epochs = trainer.config.epochs;
    trainer.total_epochs = trainer.epochs_done + epochs;
    // Threads share out the layers (team.rs); OpenBLAS threading does not
    // pay at these shapes, so each product stays on its caller's thread.
    crate::blas::set_threads(1);
    let mut reports = Vec::with_capacity(epochs);
    let (mut diverged_at_end, mut stalled_at_end, mut stopped_early) = (None, None, false);
    let arch = trainer.config.arch();
    for _ in 0..epochs {
        let epoch = trainer.epochs_done;
        let lr = trainer
            .config
            .lr_schedule(trainer.total_epochs)
            .rate(epoch, 0.0);
        observer.epoch_started(epoch + 1, trainer.total_epochs, data.train.len());
        let norms_before = trainer.params.weight_norms();
        let started = Instant::now();
        let train = trainer.train_epoch(&data.train, observer);
        let train_seconds = started.elapsed().as_secs_f64();
        trainer.note_average();
        let started = Instant::now();
        let validation = data.validation.as_ref().map(|v| trainer.evaluate(v));
        let test = trainer.evaluate(&data.test);
        let eval_seconds = started.elapsed().as_secs_f64();
        if let Some(validation) = &validation {
            trainer.note_validation(epoch + 1, validation.accuracy(), test.accuracy());
        }

        let norms_after = trainer.params.weight_norms();
        let trouble = judge(
            &train,
            test.accuracy(),
            &trainer.params,
            &arch,
            &norms_before,
            &norms_after,
            trainer.batches_done,
        );
        let diverged = match &trouble {
            Some(Trouble::Diverged(why)) => Some(why.clone()),
            _ => None,
        };
        let report = EpochReport {
            epoch: epoch + 1,
            last_epoch: trainer.total_epochs,
            lr,
            train_loss: train.mean_loss(),
            train_acc: train.accuracy(),
            val_loss: validation.map(|v| v.mean_loss()),
            val_acc: validation.map(|v| v.accuracy()),
            test_loss: test.mean_loss(),
            test_acc: test.accuracy(),
            train_seconds,
            eval_seconds,
            diverged: diverged.is_some(),
            output_saturation: train.saturated_share(),
            weight_norms: norms_after,
            averaged_epochs: trainer.average.as_ref().map_or(0, |a| a.epochs),
        };
        observer.epoch_ended(&report)?;
        on_epoch(trainer, &report)?;
        reports.push(report);
        diverged_at_end = diverged;
        stalled_at_end = match trouble {
            Some(Trouble::Stalled(why)) => Some(why),
            _ => None,
        };
        if !trainer.params.is_finite() {
            break;
        }
        if trainer.patience_ran_out() {
            stopped_early = true;
            break;
        }
    }
    let last_test_acc = reports
        .last()
        .map_or(f64::NAN, |r: &EpochReport| r.test_acc);
    Ok(RunSummary {
        model: kept_model(trainer, last_test_acc),
        reports,
        best: trainer.best.as_ref().map(|best| BestEpoch {
            epoch: best.epoch,
            val_acc: best.val_acc,
            test_acc: best.test_acc,
        }),
        epochs_trained: trainer.epochs_done,
        diverged: diverged_at_end,
        stalled: stalled_at_end,
        stopped_early,
    })
}
