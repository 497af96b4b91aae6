//! What each subcommand does, given a validated configuration. `main.rs`
//! only turns arguments into these calls.

use std::io::Write;
use std::path::PathBuf;

use crate::dataset::load_mnist;
use crate::error::Result;
use crate::metrics::MetricsWriter;
use crate::train::{run, RunSummary, TrainConfig};

/// The `train` subcommand's settings.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub config: TrainConfig,
    pub data_dir: PathBuf,
    pub metrics_out: Option<PathBuf>,
}

/// Loads the data, trains, prints a line per epoch to `out` and, if asked,
/// writes the JSONL metrics.
pub fn train(options: &TrainOptions, out: &mut impl Write) -> Result<RunSummary> {
    let config = &options.config;
    config.validate()?;
    let data = load_mnist(&options.data_dir)?;
    let mut metrics = options
        .metrics_out
        .as_deref()
        .map(MetricsWriter::create)
        .transpose()?;
    let _ = writeln!(
        out,
        "784-{}-10 {} {} | lr {} decay {} | batch {} | {} epochs | seed {} | {} train / {} test images from {}",
        config.hidden,
        config.cost,
        config.init,
        config.lr,
        config.lr_decay,
        config.batch_size,
        config.epochs,
        config.seed,
        data.train.len(),
        data.test.len(),
        options.data_dir.display()
    );
    let (_, summary) = run(config, &data, |report| {
        let _ = writeln!(out, "{}", report.line(config.epochs));
        match metrics.as_mut() {
            Some(m) => m.write(report),
            None => Ok(()),
        }
    })?;
    if let Some(m) = metrics {
        m.finish()?;
    }
    Ok(summary)
}
