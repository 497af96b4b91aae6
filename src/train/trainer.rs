//! The training loop: epochs of shuffled mini-batches, evaluation in file
//! order, divergence detection.

use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::data::batch::gather;
use crate::data::dataset::{Dataset, Mnist};
use crate::error::{Error, Result};
use crate::io::metrics::EpochReport;
use crate::nn::cost::Cost;
use crate::nn::network::{forward, score, Init, Params, Score};
use crate::nn::sgd::learning_rate;
use crate::nn::workspace::Workspace;
use crate::train::profile::Laps;
use crate::train::team::Team;

/// Everything that defines a run. The defaults are the tutorial's best
/// setting.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainConfig {
    pub hidden: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    /// lr(epoch) = lr / (1 + lr_decay · epoch).
    pub lr_decay: f32,
    pub cost: Cost,
    pub init: Init,
    pub seed: u64,
    /// Training threads; 0 (`AUTO_THREADS`) lets each epoch measure one
    /// thread against two and keep the faster (see `Trainer::train_on`).
    pub threads: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            hidden: 30,
            epochs: 30,
            batch_size: 20,
            lr: 1.0,
            lr_decay: DEFAULT_LR_DECAY,
            cost: Cost::CrossEntropy,
            init: Init::Kaiming,
            seed: DEFAULT_SEED,
            threads: AUTO_THREADS,
        }
    }
}

/// `threads` value that chooses the thread count while training.
pub const AUTO_THREADS: usize = 0;

/// The most threads an automatic choice considers: two where the machine
/// has two cores or more, else one. One and two threads give the same
/// results bit for bit (slices.rs), so choosing between them changes only
/// the speed. More than two are never chosen: they cut the input layer into
/// more slices, which rounds differently, and that is for the user to ask.
fn most_auto_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// Samples trained on each thread count when an epoch measures which is
/// faster: about 100 batches of 20, or 2 batches of 1000. Small next to an
/// epoch, large next to the cost of starting a thread.
const PROBE_SAMPLES: usize = 2_000;

/// The default decay; see the README for how it was chosen.
pub const DEFAULT_LR_DECAY: f32 = 0.1;

/// The default seed. Final accuracy varies by about ±0.4% with the seed (the
/// README gives the spread over seeds 1 to 5); this one lands near the
/// middle at H=90 and above it at H=30.
pub const DEFAULT_SEED: u64 = 3;

impl TrainConfig {
    /// Rejects settings that cannot train, naming the flag at fault.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, value: usize| {
            if value == 0 {
                Err(Error::Config(format!("--{name} must be at least 1")))
            } else {
                Ok(())
            }
        };
        positive("hidden", self.hidden)?;
        positive("epochs", self.epochs)?;
        positive("batch-size", self.batch_size)?;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::Config(format!(
                "--lr must be a positive finite number, got {}",
                self.lr
            )));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay >= 0.0) {
            return Err(Error::Config(format!(
                "--lr-decay must be a finite number >= 0, got {}",
                self.lr_decay
            )));
        }
        Ok(())
    }
}

/// Share of saturated output units (|z| > 15) in an epoch beyond which the
/// run has diverged. The default run stays under 0.2; a lr of 100 drives
/// nearly every unit there within the first epoch.
pub const DIVERGED_SATURATION: f64 = 0.9;

/// Why an epoch counts as diverged, if it does: a loss or weight that is no
/// longer finite, a training loss worse than a network that answers 0.5 on
/// every output (it knows less than nothing), or outputs stuck in saturation.
pub fn divergence(train: &Score, params: &Params, cost: Cost) -> Option<String> {
    let loss = train.mean_loss();
    let know_nothing = cost.know_nothing_loss();
    if !loss.is_finite() {
        Some("the training loss is not finite".into())
    } else if !params.is_finite() {
        Some("the weights are not finite".into())
    } else if loss > know_nothing {
        Some(format!(
            "training loss {loss:.3} is worse than the {know_nothing:.3} of answering 0.5 everywhere"
        ))
    } else if train.saturated_share() > DIVERGED_SATURATION {
        Some(format!(
            "{:.0}% of output units are saturated (|z| > 15)",
            100.0 * train.saturated_share()
        ))
    } else {
        None
    }
}

/// The network with its buffers and random stream.
pub struct Trainer {
    pub config: TrainConfig,
    pub params: Params,
    /// Advanced through each epoch's batches when set (the CLI sets it when
    /// stderr is a terminal).
    pub progress: Option<ProgressBar>,
    /// The training threads and their buffers (which evaluation borrows).
    team: Team,
    /// Threads the last pass trained on (for most of its batches).
    threads_used: usize,
    /// Each evaluation batch's score, summed in batch order afterwards so
    /// the total does not depend on how the batches were shared out.
    eval_scores: Vec<Score>,
    order: Vec<usize>,
    rng: StdRng,
}

impl Trainer {
    /// Draws the initial weights from the seed. `config` must be valid.
    pub fn new(config: TrainConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let params = Params::new(config.hidden, config.init, &mut rng);
        let most = match config.threads {
            AUTO_THREADS => most_auto_threads(),
            fixed => fixed,
        };
        let team = Team::new(most, config.batch_size, config.hidden);
        Self {
            config,
            params,
            progress: None,
            team,
            threads_used: most,
            eval_scores: Vec::new(),
            order: Vec::new(),
            rng,
        }
    }

    /// One pass over `data` in a fresh random order at rate `lr`. The score
    /// is the running one: each batch is scored just before its update.
    pub fn train_epoch(&mut self, data: &Dataset, lr: f32) -> Score {
        self.train_epoch_timed(data, lr, &mut ())
    }

    /// `train_epoch`, reporting where the time goes to `laps`.
    pub fn train_epoch_timed(
        &mut self,
        data: &Dataset,
        lr: f32,
        laps: &mut (impl Laps + Send),
    ) -> Score {
        self.order.clear();
        self.order.extend(0..data.len());
        self.order.shuffle(&mut self.rng);
        let order = std::mem::take(&mut self.order);
        let score = self.train_on(data, &order, lr, laps);
        self.order = order;
        score
    }

    /// Trains on the items `order` of `data`, in that order, in batches of
    /// the batch size (the last may be shorter).
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
        lr: f32,
        laps: &mut (impl Laps + Send),
    ) -> Score {
        let mut total = Score::default();
        let most = self.team.threads();
        let probe = PROBE_SAMPLES.div_ceil(self.config.batch_size) * self.config.batch_size;
        if self.config.threads != AUTO_THREADS || most == 1 || order.len() < 4 * probe {
            self.train_part(self.threads_used, &mut total, data, order, lr, laps);
            return total;
        }
        let (on_one, rest) = order.split_at(probe);
        let (on_two, rest) = rest.split_at(probe);
        let one = self.train_part(1, &mut total, data, on_one, lr, laps);
        let two = self.train_part(2, &mut total, data, on_two, lr, laps);
        self.threads_used = if two < one { 2 } else { 1 };
        self.train_part(self.threads_used, &mut total, data, rest, lr, laps);
        total
    }

    /// Trains on `order` with `threads` threads; returns the time it took.
    fn train_part(
        &mut self,
        threads: usize,
        total: &mut Score,
        data: &Dataset,
        order: &[usize],
        lr: f32,
        laps: &mut (impl Laps + Send),
    ) -> Duration {
        let started = Instant::now();
        self.team.train(
            threads,
            total,
            &mut self.params,
            data,
            order,
            self.config.batch_size,
            self.config.cost,
            lr,
            laps,
            self.progress.as_ref(),
        );
        started.elapsed()
    }

    /// Threads the last pass trained on (for most of its batches).
    pub fn threads(&self) -> usize {
        self.threads_used
    }

    /// Scores `data` in file order, in batches of the training batch size
    /// (standardisation is per batch, so evaluation batches like training),
    /// on as many threads as the last pass trained on, each taking a run of
    /// consecutive batches.
    pub fn evaluate(&mut self, data: &Dataset) -> Score {
        let batch_size = self.config.batch_size;
        let batches = data.len().div_ceil(batch_size);
        self.eval_scores.resize(batches, Score::default());
        let threads = self.threads_used;
        let per_thread = batches.div_ceil(threads).max(1);
        let (params, cost) = (&self.params, self.config.cost);
        let mut parts = self
            .team
            .workspaces_mut()
            .iter_mut()
            .zip(self.eval_scores.chunks_mut(per_thread).enumerate());
        let evaluate_part = |(ws, (part, scores)): (&mut Workspace, (usize, &mut [Score]))| {
            for (i, slot) in scores.iter_mut().enumerate() {
                let start = (part * per_thread + i) * batch_size;
                gather(ws, data, start..(start + batch_size).min(data.len()));
                forward(params, ws);
                *slot = score(ws, cost);
            }
        };
        if threads == 1 {
            parts.for_each(evaluate_part);
        } else {
            // The first part on this thread, the others each on its own.
            let first = parts.next();
            std::thread::scope(|scope| {
                for part in parts {
                    scope.spawn(move || evaluate_part(part));
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

/// Batches between progress-bar updates: often enough to look live, rare
/// enough to cost nothing.
pub(crate) const PROGRESS_EVERY: usize = 64;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub reports: Vec<EpochReport>,
    /// Why the last epoch counts as diverged, if it does.
    pub diverged: Option<String>,
}

/// Trains for `config.epochs` epochs, calling `on_epoch` after each. An
/// epoch that ends diverged says so in its report; training goes on (the
/// decaying rate may yet rescue a saturated network) unless the weights are
/// no longer finite, when nothing more can be learned. The run counts as
/// diverged if its last epoch did.
pub fn run(
    config: &TrainConfig,
    data: &Mnist,
    progress: Option<ProgressBar>,
    on_epoch: impl FnMut(&EpochReport) -> Result<()>,
) -> Result<(Trainer, RunSummary)> {
    config.validate()?;
    let mut trainer = Trainer::new(config.clone());
    trainer.progress = progress;
    run_from(trainer, 0, data, on_epoch)
}

/// `run` for a trainer that may hold trained weights: epochs are numbered,
/// and the learning rate scheduled, from `epochs_done` on.
pub fn run_from(
    mut trainer: Trainer,
    epochs_done: usize,
    data: &Mnist,
    mut on_epoch: impl FnMut(&EpochReport) -> Result<()>,
) -> Result<(Trainer, RunSummary)> {
    let config = trainer.config.clone();
    config.validate()?;
    // Threads share out the input layer (slices.rs); OpenBLAS threading does
    // not pay at these shapes, so each product stays on its caller's thread.
    crate::blas::set_threads(1);
    let mut summary = RunSummary {
        reports: Vec::with_capacity(config.epochs),
        diverged: None,
    };
    for epoch in epochs_done..epochs_done + config.epochs {
        let lr = learning_rate(config.lr, config.lr_decay, epoch);
        let started = Instant::now();
        if let Some(bar) = &trainer.progress {
            bar.reset();
            bar.set_length(data.train.len() as u64);
            bar.set_message(format!(
                "epoch {}/{}",
                epoch + 1,
                epochs_done + config.epochs
            ));
        }
        let train = trainer.train_epoch(&data.train, lr);
        let train_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let test = trainer.evaluate(&data.test);
        let eval_seconds = started.elapsed().as_secs_f64();

        let diverged = divergence(&train, &trainer.params, config.cost);
        let (w1_norm, w2_norm) = trainer.params.weight_norms();
        let report = EpochReport {
            epoch: epoch + 1,
            lr,
            train_loss: train.mean_loss(),
            train_acc: train.accuracy(),
            test_loss: test.mean_loss(),
            test_acc: test.accuracy(),
            train_seconds,
            eval_seconds,
            diverged: diverged.is_some(),
            output_saturation: train.saturated_share(),
            w1_norm,
            w2_norm,
        };
        on_epoch(&report)?;
        summary.reports.push(report);
        summary.diverged = diverged;
        if !trainer.params.is_finite() {
            break;
        }
    }
    Ok((trainer, summary))
}
