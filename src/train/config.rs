//! The one description of a training run. Its defaults, written once here,
//! are the tutorial's run; the command line, sweep grids and saved models
//! all fill or read this struct, and `set` changes one field by name, so a
//! new setting is one field here plus its flag.

use serde::{Deserialize, Serialize};

use crate::data::augment::{Augment, MAX_ROTATE_DEGREES};
use crate::error::{Error, Result};
use crate::nn::arch::{Activation, Arch, Cost, Hidden, Init, Output};
use crate::optim::schedule::{LrSchedule, Schedule};
use crate::optim::Optimizer;

/// How pixels are scaled to inputs (see `data/batch.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Normalise {
    /// Each batch to mean 0, std 1 (the tutorial).
    Batch,
    /// The training set's mean and std, kept in the model.
    Dataset,
}

crate::nn::arch::display_as_value_name!(Normalise);

/// Everything that defines a training run: the network, the optimiser and
/// its schedule, the data handling, the epochs. `Default` is the
/// tutorial's run (784-30-10 sigmoid, cross-entropy, SGD at lr 1 decaying
/// as lr / (1 + 0.1·epoch), batches of 20, 30 epochs); change fields with
/// struct-update syntax, or start from a [`Preset`](crate::Preset):
///
/// ```
/// use mnist_mlp::{Activation, Hidden, Optimizer, Output, TrainConfig};
///
/// let config = TrainConfig {
///     hidden: Hidden(vec![256, 128]),
///     activation: Activation::Relu,
///     output: Output::Softmax,
///     optimizer: Optimizer::Adam,
///     epochs: 3,
///     ..TrainConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
///
/// Every field is also a setting by name for [`TrainConfig::set`], which
/// the command line's flags and sweep grids use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Hidden layer widths, input side first: `Hidden(vec![800, 800])` is
    /// 784-800-800-10.
    pub hidden: Hidden,
    /// The hidden layers' activation.
    pub activation: Activation,
    /// The output units: sigmoid (each 0..1) or softmax (probabilities).
    pub output: Output,
    /// The cost per sample the gradients come from.
    pub cost: Cost,
    /// How the initial weights are drawn.
    pub init: Init,
    /// The update rule.
    pub optimizer: Optimizer,
    /// The learning rate; `None` takes the optimiser's default
    /// (`Optimizer::default_lr`: 1 for SGD, 0.1 with momentum, 0.001 for
    /// Adam), each for the mean gradient of a batch.
    pub lr: Option<f32>,
    /// The momentum and Nesterov optimisers' μ, in [0, 1).
    pub momentum: f32,
    /// L2 weight decay per step, scaled by the rate (decoupled for AdamW).
    pub weight_decay: f32,
    /// Probability of dropping each hidden unit while training, in [0, 1).
    pub dropout: f32,
    /// How pixels are scaled to inputs.
    pub normalise: Normalise,
    /// How the learning rate changes over the run.
    pub schedule: Schedule,
    /// The tutorial schedule's decay: epoch e runs at lr / (1 + decay·e).
    pub lr_decay: f32,
    /// The step schedule's period, in epochs.
    pub step_every: usize,
    /// The step schedule's factor at each step, in (0, 1].
    pub step_factor: f32,
    /// Epochs (fractions allowed) over which constant, step and cosine
    /// rates ramp up linearly from 0, and onecycle's rises (0: its first
    /// 30% of the run).
    pub warmup_epochs: f32,
    /// Epochs to train, 1 to `MAX_EPOCHS`.
    pub epochs: usize,
    /// Images per mini-batch (the last of an epoch may be shorter).
    pub batch_size: usize,
    /// Seeds the initial weights, the shuffling, dropout and augmentation:
    /// the same seed gives the same run bit for bit.
    pub seed: u64,
    /// Training threads; `AUTO_THREADS` (0) lets each epoch measure one thread
    /// against two and keep the faster (see `Trainer::train_on`). One and
    /// two threads give identical results.
    pub threads: usize,
    /// Training images held out, from the end of the training set, to
    /// validate on; 0 holds none out.
    pub validation: usize,
    /// Stop when validation accuracy has not improved for this many
    /// epochs; 0 never stops early. Needs `validation`.
    pub early_stop: usize,
    /// Augmentation: the largest shift of a training image, in pixels
    /// (0 to 9).
    pub augment_shift: usize,
    /// Augmentation: the largest rotation, in degrees.
    pub augment_rotate: f32,
    /// Augmentation: the largest relative change of scale, in [0, 0.5).
    pub augment_scale: f32,
    /// Augmentation: elastic distortion's strength α, in pixels (0 for
    /// none).
    pub augment_elastic: f32,
    /// Augmentation: elastic distortion's smoothness σ, in pixels.
    pub augment_elastic_sigma: f32,
    /// Label smoothing ε, in [0, 1): training targets are 1 − ε + ε/10 for
    /// the true digit and ε/10 for the others (0 for none). Evaluation
    /// always scores against the true digit alone.
    pub label_smoothing: f32,
    /// Weight averaging (Izmailov et al. 2018's SWA, one snapshot an
    /// epoch): the model that is evaluated, kept and saved is the mean of
    /// the weights at the ends of the run's last `average_epochs` epochs,
    /// while training goes on from the weights themselves; 0 for none.
    pub average_epochs: usize,
}

/// `threads` value that chooses the thread count while training.
pub const AUTO_THREADS: usize = 0;

/// The default decay; see the README for how it was chosen.
pub const DEFAULT_LR_DECAY: f32 = 0.1;

/// The default seed. Final accuracy varies by about ±0.4% with the seed (the
/// README gives the spread over seeds 1 to 5); this one lands near the
/// middle at H=90 and above it at H=30.
pub const DEFAULT_SEED: u64 = 3;

/// The widest translation accepted: a third of the image.
pub const MAX_AUGMENT_SHIFT: usize = 9;

/// More epochs than anyone trains for; beyond it a number is a typo.
pub const MAX_EPOCHS: usize = 100_000;

/// A batch larger than MNIST's training set many times over: beyond it a
/// number is a typo, and its buffers would not fit anywhere.
pub const MAX_BATCH_SIZE: usize = 1_000_000;

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            hidden: Hidden(vec![30]),
            activation: Activation::Sigmoid,
            output: Output::Sigmoid,
            cost: Cost::CrossEntropy,
            init: Init::Kaiming,
            optimizer: Optimizer::Sgd,
            lr: None,
            momentum: 0.9,
            weight_decay: 0.0,
            dropout: 0.0,
            normalise: Normalise::Batch,
            schedule: Schedule::Tutorial,
            lr_decay: DEFAULT_LR_DECAY,
            step_every: 10,
            step_factor: 0.1,
            warmup_epochs: 0.0,
            epochs: 30,
            batch_size: 20,
            seed: DEFAULT_SEED,
            threads: AUTO_THREADS,
            validation: 0,
            early_stop: 0,
            augment_shift: 0,
            augment_rotate: 0.0,
            augment_scale: 0.0,
            augment_elastic: 0.0,
            augment_elastic_sigma: 4.0,
            label_smoothing: 0.0,
            average_epochs: 0,
        }
    }
}

impl TrainConfig {
    /// The network's shape: hidden widths, activation, output and cost.
    pub fn arch(&self) -> Arch {
        Arch {
            hidden: self.hidden.clone(),
            activation: self.activation,
            output: self.output,
            cost: self.cost,
        }
    }

    /// Takes the architecture of `arch`.
    pub fn set_arch(&mut self, arch: &Arch) {
        self.hidden = arch.hidden.clone();
        self.activation = arch.activation;
        self.output = arch.output;
        self.cost = arch.cost;
    }

    /// What to redraw each training image with, if anything.
    pub fn augment(&self) -> Option<Augment> {
        let augment = Augment {
            shift: self.augment_shift,
            rotate_degrees: self.augment_rotate,
            scale: self.augment_scale,
            elastic_alpha: self.augment_elastic,
            elastic_sigma: self.augment_elastic_sigma,
        };
        (augment.shift > 0
            || augment.rotate_degrees > 0.0
            || augment.scale > 0.0
            || augment.elastic())
        .then_some(augment)
    }

    /// The learning rate: `lr`, or the optimiser's default.
    pub fn lr(&self) -> f32 {
        self.lr.unwrap_or(self.optimizer.default_lr())
    }

    /// The schedule for a run of `total_epochs` epochs in all.
    pub fn lr_schedule(&self, total_epochs: usize) -> LrSchedule {
        LrSchedule {
            schedule: self.schedule,
            lr: self.lr(),
            decay: self.lr_decay,
            step_every: self.step_every,
            step_factor: self.step_factor,
            warmup_epochs: self.warmup_epochs,
            total_epochs,
        }
    }

    /// Sets the field `key` from its text, as a flag or a sweep axis
    /// would give it. The keys are the field names, with `-` or `_`
    /// (`batch-size` or `batch_size`, a leading `--` allowed): `hidden`
    /// (`800-800`), `activation`, `output`, `cost`, `init`, `optimizer`,
    /// `lr`, `momentum`, `weight_decay`, `dropout`, `normalise`,
    /// `schedule`, `lr_decay`, `step_every`, `step_factor`,
    /// `warmup_epochs`, `epochs`, `batch_size`, `seed`, `threads` (a
    /// number or `auto`), `validation`, `early_stop`, `augment_shift`,
    /// `augment_rotate`, `augment_scale`, `augment_elastic`,
    /// `augment_elastic_sigma`, `label_smoothing`, `average_epochs`. Names
    /// of values are as the command line takes them (`relu`, `adam`,
    /// `onecycle`). An unknown key or a value that does not parse is an
    /// error naming it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let field = key.trim_start_matches("--").replace('-', "_");
        let mut object = serde_json::to_value(&*self).expect("configs serialise");
        let slot = object
            .get_mut(&field)
            .ok_or_else(|| Error::Config(format!("unknown setting '{key}'")))?;
        *slot = match (field.as_str(), value) {
            ("threads", "auto") => AUTO_THREADS.into(),
            _ if slot.is_string() => value.into(),
            // Numbers as JSON reads them (integers stay integers); names as text.
            _ => serde_json::from_str(value).unwrap_or_else(|_| value.into()),
        };
        *self = serde_json::from_value(object)
            .map_err(|e| Error::Config(format!("--{}: {}", key.replace('_', "-"), clean(&e))))?;
        Ok(())
    }

    /// Rejects settings that cannot train, naming the flag at fault.
    pub fn validate(&self) -> Result<()> {
        self.arch().validate()?;
        let bad = |flag: &str, what: String| Err(Error::Config(format!("--{flag} {what}")));
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return bad(
                "epochs",
                format!("must be from 1 to {MAX_EPOCHS}, got {}", self.epochs),
            );
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return bad(
                "batch-size",
                format!(
                    "must be from 1 to {MAX_BATCH_SIZE}, got {}",
                    self.batch_size
                ),
            );
        }
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return bad("lr", format!("must be a positive finite number, got {lr}"));
        }
        let in_range = |flag: &str, v: f32, ok: bool, range: &str| {
            if v.is_finite() && ok {
                Ok(())
            } else {
                bad(flag, format!("must be {range}, got {v}"))
            }
        };
        in_range("lr-decay", self.lr_decay, self.lr_decay >= 0.0, ">= 0")?;
        in_range(
            "label-smoothing",
            self.label_smoothing,
            (0.0..1.0).contains(&self.label_smoothing),
            "in [0, 1)",
        )?;
        in_range(
            "momentum",
            self.momentum,
            (0.0..1.0).contains(&self.momentum),
            "in [0, 1)",
        )?;
        in_range(
            "weight-decay",
            self.weight_decay,
            self.weight_decay >= 0.0,
            ">= 0",
        )?;
        in_range(
            "dropout",
            self.dropout,
            (0.0..1.0).contains(&self.dropout),
            "in [0, 1)",
        )?;
        in_range(
            "warmup-epochs",
            self.warmup_epochs,
            self.warmup_epochs >= 0.0,
            ">= 0",
        )?;
        in_range(
            "step-factor",
            self.step_factor,
            self.step_factor > 0.0 && self.step_factor <= 1.0,
            "in (0, 1]",
        )?;
        if self.step_every == 0 {
            return bad("step-every", "must be at least 1".into());
        }
        if self.augment_shift > MAX_AUGMENT_SHIFT {
            return bad(
                "augment-shift",
                format!(
                    "must be from 0 to {MAX_AUGMENT_SHIFT} pixels, got {}",
                    self.augment_shift
                ),
            );
        }
        in_range(
            "augment-rotate",
            self.augment_rotate,
            (0.0..=MAX_ROTATE_DEGREES).contains(&self.augment_rotate),
            &format!("from 0 to {MAX_ROTATE_DEGREES} degrees"),
        )?;
        in_range(
            "augment-scale",
            self.augment_scale,
            (0.0..0.5).contains(&self.augment_scale),
            "in [0, 0.5)",
        )?;
        in_range(
            "augment-elastic",
            self.augment_elastic,
            (0.0..=100.0).contains(&self.augment_elastic),
            "from 0 to 100 pixels",
        )?;
        in_range(
            "augment-elastic-sigma",
            self.augment_elastic_sigma,
            (0.5..=14.0).contains(&self.augment_elastic_sigma),
            "from 0.5 to 14 pixels",
        )?;
        if self.early_stop > 0 && self.validation == 0 {
            return bad(
                "early-stop",
                "needs a validation set to watch: add --validation N (e.g. --validation 10000)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Rejects a validation split that does not fit `train_images`.
    pub fn validate_split(&self, train_images: usize) -> Result<()> {
        if self.validation == 0 {
            return Ok(());
        }
        if self.validation >= train_images {
            return Err(Error::Config(format!(
                "--validation {} must be less than the {train_images} training images",
                self.validation
            )));
        }
        let left = train_images - self.validation;
        if left < self.batch_size {
            return Err(Error::Config(format!(
                "--validation {} leaves {left} training images, fewer than one batch of {}",
                self.validation, self.batch_size
            )));
        }
        Ok(())
    }
}

/// serde's message without its " at line 1 column 40" tail.
fn clean(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
