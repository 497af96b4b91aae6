//! `mnist-mlp train`: the settings from the flags (over a resumed model's),
//! a line per epoch, the metrics file and the saved model.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use indicatif::ProgressBar;

use crate::app::{cap_threads, check_output_folder, progress_bar, DataLocation};
use crate::error::{Error, Result};
use crate::io::metrics::{count, MetricsWriter};
use crate::io::model::{self, ModelInfo};
use crate::io::tensorboard::{self, EventWriter};
use crate::train::checkpoint;
use crate::train::config::{AUTO_THREADS, MAX_EPOCHS};
use crate::train::observer::Observer;
use crate::train::preset;
use crate::train::{run, RunSummary, TrainConfig, Trainer};

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

/// Advances a progress bar on stderr, when there is one.
struct Progress(Option<ProgressBar>);

impl Observer for Progress {
    type Helper = ();
    fn helper(&mut self, _thread: usize) {}

    fn epoch_started(&mut self, epoch: usize, last: usize, samples: usize) {
        if let Some(bar) = &self.0 {
            bar.reset();
            bar.set_length(samples as u64);
            bar.set_message(format!("epoch {epoch}/{last}"));
        }
    }

    fn trained(&mut self, samples: usize) {
        if let Some(bar) = &self.0 {
            bar.inc(samples as u64);
        }
    }
}

/// Loads the data, trains, prints a line per epoch to `out` and, if asked,
/// writes the JSONL metrics, TensorBoard events, checkpoints and the model.
pub fn train(options: &TrainOptions, out: &mut impl Write) -> Result<RunSummary> {
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
    let resumed = options
        .resume
        .as_ref()
        .map(|p| model::load_resumable(p))
        .transpose()?;
    let mut notes = Vec::new();
    let mut config = match (&resumed, &options.resume) {
        (Some((_, info, resumable)), Some(path)) => {
            // Epochs and threads are about this run, not the model; a
            // checkpoint goes on to the end of the run it interrupted.
            let epochs = match resumable {
                Some(r) => checkpoint::epochs_left(r, info.epochs_trained, path)?,
                None => TrainConfig::default().epochs,
            };
            let base = TrainConfig {
                epochs,
                threads: TrainConfig::default().threads,
                ..info.config.clone()
            };
            let name = path.display().to_string();
            let config = apply_overrides(base, &options.overrides, Some(&name), &mut notes)?;
            if config.epochs == 0 {
                return Err(Error::Config(format!(
                    "{name} has trained all {} epochs of its run; pass --epochs N to train N more",
                    info.epochs_trained
                )));
            }
            if info.epochs_trained + config.epochs > MAX_EPOCHS {
                return Err(Error::Config(format!(
                    "{name} has trained {} epochs; {} more would pass the {MAX_EPOCHS}-epoch limit",
                    info.epochs_trained, config.epochs
                )));
            }
            config
        }
        _ => apply_overrides(TrainConfig::default(), &options.overrides, None, &mut notes)?,
    };
    config.validate()?;
    notes.extend(cap_threads(&mut config));
    let mut data = options.data.load()?;
    config.validate_split(data.train.len())?;
    data.hold_out(config.validation);
    let mut trainer = Trainer::new(config.clone(), &data.train)?;
    let mut resuming = String::new();
    if let (Some((params, info, resumable)), Some(path)) = (resumed, &options.resume) {
        trainer.params = params;
        trainer.normalisation = info.normalisation;
        trainer.epochs_done = info.epochs_trained;
        let what = match resumable {
            Some(resumable) => {
                checkpoint::restore(&mut trainer, resumable, path)?;
                "checkpoint"
            }
            None => "model",
        };
        resuming = format!(
            " | resuming {what} {} after {}",
            path.display(),
            count(info.epochs_trained, "epoch")
        );
    }
    let epochs_before = trainer.epochs_done;
    let mut metrics = options
        .metrics_out
        .as_deref()
        .map(MetricsWriter::create)
        .transpose()?;
    let held_out = match &data.validation {
        Some(v) => format!(" / {} validation", v.len()),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{} | {} train{held_out} / {} test images from {}{resuming}",
        describe(&config),
        data.train.len(),
        data.test.len(),
        options.data.dir.display()
    );
    for note in notes {
        let _ = writeln!(out, "{note}");
    }
    // The settings at the step the run starts from: a resumed run's text
    // at step 0 would make TensorBoard drop the first run's (it discards a
    // tag's later steps when an earlier one arrives).
    let mut events = match &options.tensorboard {
        Some(dir) => {
            let mut writer = EventWriter::create(dir)?;
            writer.config(epochs_before, &describe(&config), &config)?;
            let _ = writeln!(out, "tensorboard: {}", writer.path().display());
            Some(writer)
        }
        None => None,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        progress_bar(
            data.train.len() as u64,
            "{msg} {bar:40} {pos}/{len} images {per_sec}",
        )
    });
    let mut progress = Progress(bar.clone());
    let last_epoch = epochs_before + config.epochs;
    let mut checkpointed = epochs_before;
    let summary = run(&mut trainer, &data, &mut progress, |trainer, report| {
        // Suspend the bar so the line lands on stdout, wherever that goes.
        let line = report.line(last_epoch);
        match &bar {
            Some(bar) => bar.suspend(|| writeln!(out, "{line}")),
            None => writeln!(out, "{line}"),
        }
        .ok();
        if let Some(path) = &options.checkpoint {
            if trainer.epochs_done % options.checkpoint_every == 0 {
                checkpoint::save(path, trainer, report.test_acc)?;
                checkpointed = trainer.epochs_done;
            }
        }
        if let Some(events) = events.as_mut() {
            events.epoch(report)?;
        }
        match metrics.as_mut() {
            Some(m) => m.write(report),
            None => Ok(()),
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let last_test_acc = summary.reports.last().map_or(f64::NAN, |r| r.test_acc);
    if let Some(path) = &options.checkpoint {
        if checkpointed != trainer.epochs_done {
            checkpoint::save(path, &trainer, last_test_acc)?;
        }
        let _ = writeln!(
            out,
            "checkpoint {} holds epoch {}",
            path.display(),
            trainer.epochs_done
        );
    }
    if let Some(m) = metrics {
        m.finish()?;
    }
    if summary.stopped_early {
        if let Some(best) = &trainer.best {
            let _ = writeln!(
                out,
                "early stop: validation accuracy has not improved for {} since epoch {} ({:.2}%)",
                count(config.early_stop, "epoch"),
                best.epoch,
                100.0 * best.val_acc
            );
        }
    }
    if let Some(path) = &options.save {
        match &trainer.best {
            Some(best) => {
                let info = ModelInfo {
                    epochs_trained: best.epoch,
                    ..checkpoint::model_info(&trainer, best.test_acc)
                };
                model::save(path, &best.params, &info)?;
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
                model::save(
                    path,
                    &trainer.params,
                    &checkpoint::model_info(&trainer, last_test_acc),
                )?;
                let _ = writeln!(out, "saved {}", path.display());
            }
        }
    }
    Ok(summary)
}
