//! `mnist-mlp train`: the settings from the flags (over a resumed model's),
//! a line per epoch, the metrics file and the saved model.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use indicatif::ProgressBar;

use crate::app::{check_output_folder, progress_bar, DataLocation};
use crate::error::{Error, Result};
use crate::io::metrics::MetricsWriter;
use crate::io::model::{self, ModelInfo};
use crate::train::config::AUTO_THREADS;
use crate::train::observer::Observer;
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
    /// Start from this saved model instead of fresh weights.
    pub resume: Option<PathBuf>,
}

/// The settings that make up a model's architecture: a resumed model keeps
/// its own.
const ARCHITECTURE: [&str; 4] = ["hidden", "activation", "output", "cost"];

/// Settings about this run rather than the model: given afresh each time.
const THIS_RUN: [&str; 2] = ["epochs", "threads"];

/// `base` with `overrides` applied. Over a resumed model's settings
/// (`resumed` names it), a flag that would change the architecture is an
/// error and one that changes another setting is reported in `notes`.
pub fn apply_overrides(
    base: TrainConfig,
    overrides: &[(String, String)],
    resumed: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<TrainConfig> {
    let mut config = base.clone();
    for (key, value) in overrides {
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
    line.push_str(&format!(
        " | normalise {} | batch {} | {} epochs | seed {} | threads {}",
        config.normalise,
        config.batch_size,
        config.epochs,
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
/// writes the JSONL metrics and the model.
pub fn train(options: &TrainOptions, out: &mut impl Write) -> Result<RunSummary> {
    for path in [&options.save, &options.metrics_out].into_iter().flatten() {
        check_output_folder(path)?;
    }
    let resumed = options
        .resume
        .as_ref()
        .map(|p| model::load(p))
        .transpose()?;
    let mut notes = Vec::new();
    let config = match (&resumed, &options.resume) {
        (Some((_, info)), Some(path)) => {
            // Epochs and threads are about this run, not the model.
            let base = TrainConfig {
                epochs: TrainConfig::default().epochs,
                threads: TrainConfig::default().threads,
                ..info.config.clone()
            };
            let name = path.display().to_string();
            apply_overrides(base, &options.overrides, Some(&name), &mut notes)?
        }
        _ => apply_overrides(TrainConfig::default(), &options.overrides, None, &mut notes)?,
    };
    config.validate()?;
    let data = options.data.load()?;
    let mut trainer = Trainer::new(config.clone(), &data.train)?;
    let mut resuming = String::new();
    if let (Some((params, info)), Some(path)) = (resumed, &options.resume) {
        trainer.params = params;
        trainer.normalisation = info.normalisation;
        trainer.epochs_done = info.epochs_trained;
        resuming = format!(
            " | resuming {} after {} epochs",
            path.display(),
            info.epochs_trained
        );
    }
    let epochs_before = trainer.epochs_done;
    let mut metrics = options
        .metrics_out
        .as_deref()
        .map(MetricsWriter::create)
        .transpose()?;
    let _ = writeln!(
        out,
        "{} | {} train / {} test images from {}{resuming}",
        describe(&config),
        data.train.len(),
        data.test.len(),
        options.data.dir.display()
    );
    for note in notes {
        let _ = writeln!(out, "{note}");
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        progress_bar(
            data.train.len() as u64,
            "{msg} {bar:40} {pos}/{len} images {per_sec}",
        )
    });
    let mut progress = Progress(bar.clone());
    let last_epoch = epochs_before + config.epochs;
    let summary = run(&mut trainer, &data, &mut progress, |report| {
        // Suspend the bar so the line lands on stdout, wherever that goes.
        let line = report.line(last_epoch);
        match &bar {
            Some(bar) => bar.suspend(|| writeln!(out, "{line}")),
            None => writeln!(out, "{line}"),
        }
        .ok();
        match metrics.as_mut() {
            Some(m) => m.write(report),
            None => Ok(()),
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(m) = metrics {
        m.finish()?;
    }
    if let Some(path) = &options.save {
        let info = ModelInfo {
            // The rate it trained at, whatever the optimiser's default later.
            config: TrainConfig {
                lr: Some(config.lr()),
                ..config.clone()
            },
            normalisation: trainer.normalisation,
            epochs_trained: trainer.epochs_done,
            test_accuracy: summary.reports.last().map_or(f64::NAN, |r| r.test_acc),
        };
        model::save(path, &trainer.params, &info)?;
        let _ = writeln!(out, "saved {}", path.display());
    }
    Ok(summary)
}
