//! `mnist-mlp train`: the settings from the flags (over a resumed model's),
//! a line per epoch, the metrics file and the saved model.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use indicatif::ProgressBar;

use crate::app::{cap_threads, check_output_folder, progress_bar, DataLocation};
use crate::error::{Error, Result};
use crate::io::metrics::{count, EpochReport, MetricsWriter};
use crate::io::tensorboard::{self, EventWriter};
use crate::train::config::AUTO_THREADS;
use crate::train::fit::{self, Resume, RunStart, TrainObserver, TrainOptions as LibraryOptions};
use crate::train::preset;
use crate::train::{RunSummary, TrainConfig};

/// The `train` subcommand's settings.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The settings given on the command line, as (name, value), applied
    /// over the defaults or over a resumed model's settings.
    pub overrides: Vec<(String, String)>,
    pub data: DataLocation,
    pub metrics_out: Option<PathBuf>,
    /// Write the trained model here (safetensors).
    pub save: Option<PathBuf>,
    /// Start from this saved model or checkpoint instead of fresh weights.
    pub resume: Option<PathBuf>,
    /// Write a resumable checkpoint here every `checkpoint_every` epochs
    /// and after the last.
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_every: usize,
    /// Write a TensorBoard event file into this folder as the run goes.
    pub tensorboard: Option<PathBuf>,
}

/// The settings that make up a model's architecture: a resumed model keeps
/// its own.
const ARCHITECTURE: [&str; 4] = ["hidden", "activation", "output", "cost"];

/// Settings about this run rather than the model: given afresh each time.
const THIS_RUN: [&str; 2] = ["epochs", "threads"];

/// `base` with `overrides` (presets first) applied. Over a resumed model's
/// settings (`resumed` names it), a flag that would change the architecture
/// is an error and one that changes another setting is reported in `notes`.
pub fn apply_overrides(
    base: TrainConfig,
    overrides: &[(String, String)],
    resumed: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<TrainConfig> {
    let mut config = base.clone();
    for (key, value) in &preset::expand(overrides)? {
        config.set(key, value)?;
        let Some(model) = resumed else { continue };
        let before = serde_json::to_value(&base).expect("configs serialise")[key].clone();
        let after = serde_json::to_value(&config).expect("configs serialise")[key].clone();
        if before == after || THIS_RUN.contains(&key.as_str()) {
            continue;
        }
        let flag = key.replace('_', "-");
        if ARCHITECTURE.contains(&key.as_str()) {
            return Err(Error::Config(format!(
                "--{flag} {value} contradicts {model}, which is {}: leave --{flag} out to resume it",
                base.arch().describe()
            )));
        }
        notes.push(format!("--{flag} {value} overrides the model's {before}"));
    }
    Ok(config)
}

/// One line saying what is about to train.
pub fn describe(config: &TrainConfig) -> String {
    let mut line = format!(
        "{} {} | {} lr {} {} schedule",
        config.arch().describe(),
        config.init,
        config.optimizer,
        config.lr(),
        config.schedule,
    );
    if config.schedule == crate::optim::schedule::Schedule::Tutorial {
        line.push_str(&format!(" decay {}", config.lr_decay));
    }
    if config.weight_decay > 0.0 {
        line.push_str(&format!(" | weight decay {}", config.weight_decay));
    }
    if config.dropout > 0.0 {
        line.push_str(&format!(" | dropout {}", config.dropout));
    }
    if config.label_smoothing > 0.0 {
        line.push_str(&format!(" | label smoothing {}", config.label_smoothing));
    }
    if config.average_epochs > 0 {
        line.push_str(&format!(
            " | weights averaged over the last {} epochs",
            config.average_epochs
        ));
    }
    if let Some(a) = config.augment() {
        line.push_str(&format!(
            " | augment shift {} rotate {} scale {} elastic {} (sigma {})",
            a.shift, a.rotate_degrees, a.scale, a.elastic_alpha, a.elastic_sigma
        ));
    }
    if config.validation > 0 {
        line.push_str(&format!(" | validation {}", config.validation));
        if config.early_stop > 0 {
            line.push_str(&format!(" early stop {}", config.early_stop));
        }
    }
    line.push_str(&format!(
        " | normalise {} | batch {} | {} | seed {} | threads {}",
        config.normalise,
        config.batch_size,
        count(config.epochs, "epoch"),
        config.seed,
        match config.threads {
            AUTO_THREADS => "auto".to_string(),
            n => n.to_string(),
        }
    ));
    line
}

/// What `train` shows and writes as the run goes: the opening line and
/// notes, a progress bar on a terminal, a line per epoch, the metrics file
/// and TensorBoard events.
struct Cli<'a, W> {
    out: &'a mut W,
    options: &'a TrainOptions,
    notes: Vec<String>,
    /// " | resuming checkpoint X after N epochs", or nothing.
    resuming: String,
    bar: Option<ProgressBar>,
    metrics: Option<MetricsWriter>,
    events: Option<EventWriter>,
}

impl<W: Write + Send> TrainObserver for Cli<'_, W> {
    fn started(&mut self, start: &RunStart) -> Result<()> {
        let (config, data) = (start.config, start.data);
        let held_out = match &data.validation {
            Some(v) => format!(" / {} validation", v.len()),
            None => String::new(),
        };
        let _ = writeln!(
            self.out,
            "{} | {} train{held_out} / {} test images from {}{}",
            describe(config),
            data.train.len(),
            data.test.len(),
            self.options.data.dir.display(),
            self.resuming
        );
        for note in self.notes.drain(..) {
            let _ = writeln!(self.out, "{note}");
        }
        // The settings at the step the run starts from: a resumed run's text
        // at step 0 would make TensorBoard drop the first run's (it discards a
        // tag's later steps when an earlier one arrives).
        if let Some(dir) = &self.options.tensorboard {
            let mut writer = EventWriter::create(dir)?;
            writer.config(start.epochs_before, &describe(config), config)?;
            let _ = writeln!(self.out, "tensorboard: {}", writer.path().display());
            self.events = Some(writer);
        }
        self.bar = std::io::stderr().is_terminal().then(|| {
            progress_bar(
                data.train.len() as u64,
                "{msg} {bar:40} {pos}/{len} images {per_sec}",
            )
        });
        Ok(())
    }

    fn epoch_started(&mut self, epoch: usize, last: usize, samples: usize) {
        if let Some(bar) = &self.bar {
            bar.reset();
            bar.set_length(samples as u64);
            bar.set_message(format!("epoch {epoch}/{last}"));
        }
    }

    fn trained(&mut self, samples: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(samples as u64);
        }
    }

    fn epoch_ended(&mut self, report: &EpochReport) -> Result<()> {
        // Suspend the bar so the line lands on stdout, wherever that goes.
        let line = report.line();
        let out = &mut *self.out;
        match &self.bar {
            Some(bar) => bar.suspend(|| writeln!(out, "{line}")),
            None => writeln!(out, "{line}"),
        }
        .ok();
        if let Some(events) = self.events.as_mut() {
            events.epoch(report)?;
        }
        match self.metrics.as_mut() {
            Some(m) => m.write(report),
            None => Ok(()),
        }
    }
}

/// Loads the data, trains, prints a line per epoch to `out` and, if asked,
/// writes the JSONL metrics, TensorBoard events, checkpoints and the model.
pub fn train(options: &TrainOptions, out: &mut (impl Write + Send)) -> Result<RunSummary> {
    for path in [&options.save, &options.metrics_out, &options.checkpoint]
        .into_iter()
        .flatten()
    {
        check_output_folder(path)?;
    }
    if let Some(dir) = &options.tensorboard {
        tensorboard::create_folder(dir)?;
    }
    if options.checkpoint_every == 0 {
        return Err(Error::Config(
            "--checkpoint-every must be at least 1".into(),
        ));
    }
    let resume = options.resume.as_ref().map(Resume::load).transpose()?;
    let mut notes = Vec::new();
    let mut config = match &resume {
        Some(resume) => {
            let info = &resume.model.info;
            // Epochs and threads are about this run, not the model; a
            // checkpoint goes on to the end of the run it interrupted.
            let epochs = resume
                .epochs_left()?
                .unwrap_or(TrainConfig::default().epochs);
            let base = TrainConfig {
                epochs,
                threads: TrainConfig::default().threads,
                ..info.config.clone()
            };
            let name = resume.path().display().to_string();
            let config = apply_overrides(base, &options.overrides, Some(&name), &mut notes)?;
            if config.epochs == 0 {
                return Err(Error::Config(format!(
                    "{name} has trained all {} epochs of its run; pass --epochs N to train N more",
                    info.epochs_trained
                )));
            }
            config
        }
        None => apply_overrides(TrainConfig::default(), &options.overrides, None, &mut notes)?,
    };
    config.validate()?;
    notes.extend(cap_threads(&mut config));
    let resuming = match &resume {
        Some(resume) => format!(
            " | resuming {} {} after {}",
            if resume.is_checkpoint() {
                "checkpoint"
            } else {
                "model"
            },
            resume.path().display(),
            count(resume.model.info.epochs_trained, "epoch")
        ),
        None => String::new(),
    };
    let data = options.data.load()?;
    let mut cli = Cli {
        out,
        options,
        notes,
        resuming,
        bar: None,
        metrics: None,
        events: None,
    };
    let run_options = LibraryOptions {
        resume,
        checkpoint: options.checkpoint.clone(),
        checkpoint_every: options.checkpoint_every,
    };
    let early_stop = config.early_stop;
    cli.metrics = options
        .metrics_out
        .as_deref()
        .map(MetricsWriter::create)
        .transpose()?;
    let summary = fit::train(config, &data, run_options, &mut cli);
    let (bar, metrics) = (cli.bar, cli.metrics);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = summary?;
    if let Some(path) = &options.checkpoint {
        let _ = writeln!(
            out,
            "checkpoint {} holds epoch {}",
            path.display(),
            summary.epochs_trained
        );
    }
    if let Some(m) = metrics {
        m.finish()?;
    }
    if summary.stopped_early {
        if let Some(best) = &summary.best {
            let _ = writeln!(
                out,
                "early stop: validation accuracy has not improved for {} since epoch {} ({:.2}%)",
                count(early_stop, "epoch"),
                best.epoch,
                100.0 * best.val_acc
            );
        }
    }
    if let Some(path) = &options.save {
        summary.model.save(path)?;
        match &summary.best {
            Some(best) => {
                let _ = writeln!(
                    out,
                    "saved {}: the best epoch on validation, {} ({:.2}% validation, {:.2}% test)",
                    path.display(),
                    best.epoch,
                    100.0 * best.val_acc,
                    100.0 * best.test_acc
                );
            }
            None => {
                let _ = writeln!(out, "saved {}", path.display());
            }
        }
    }
    Ok(summary)
}
