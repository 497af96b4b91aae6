//! Per-epoch figures: the readable line on stdout and the JSONL record.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::atomic_file::AtomicFile;
use crate::io::read::read_capped_to_string;

/// A record is about 300 bytes, so this is some 200 000 epochs: far beyond
/// any run, yet small enough to hold in memory.
const MAX_METRICS_BYTES: u64 = 64 << 20;

/// One epoch's figures. Losses are mean per-sample costs; accuracies are
/// fractions in 0..1. `train_*` is the running figure of the epoch (each batch
/// scored just before its update); `test_*` a separate pass after it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochReport {
    /// The epoch's number, from 1 (counting a resumed model's epochs).
    pub epoch: usize,
    /// The run's last epoch: the `N` of `epoch 3/N`. Not written to the
    /// metrics file; read back as the file's last epoch.
    #[serde(skip)]
    pub last_epoch: usize,
    /// The learning rate the epoch started at.
    pub lr: f32,
    /// Mean cost per training image, over the epoch as it trained.
    pub train_loss: f64,
    /// Training accuracy, a fraction, over the epoch as it trained.
    pub train_acc: f64,
    /// The held-out part of the training set, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Validation accuracy, a fraction, when there is a validation set.
    pub val_acc: Option<f64>,
    /// Mean cost per test image, after the epoch.
    pub test_loss: f64,
    /// Test accuracy, a fraction, after the epoch.
    pub test_acc: f64,
    /// Seconds spent training the epoch.
    pub train_seconds: f64,
    /// Seconds spent evaluating after it.
    pub eval_seconds: f64,
    /// Whether the epoch ended diverged (see `RunSummary::diverged`).
    pub diverged: bool,
    /// Share of sigmoid output units with |z| > 15 over the epoch's
    /// training batches.
    pub output_saturation: f64,
    /// Frobenius norm of each layer's weights, input layer first.
    pub weight_norms: Vec<f32>,
    /// Epochs whose mean weights the validation and test figures are of
    /// (`--average-epochs`); 0 when they are of the weights themselves.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub averaged_epochs: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl EpochReport {
    /// The line printed after each epoch.
    pub fn line(&self) -> String {
        let epochs = self.last_epoch;
        let width = epochs.to_string().len();
        let validation = match (self.val_loss, self.val_acc) {
            (Some(loss), Some(acc)) => {
                format!("  val loss {loss:.4} acc {:6.2}%", 100.0 * acc)
            }
            _ => String::new(),
        };
        let averaged = match self.averaged_epochs {
            0 => String::new(),
            n => format!("  (weights averaged over {n} epochs)"),
        };
        let mut line = format!(
            "epoch {:>width$}/{epochs}  lr {:<7.4}  train loss {:.4} acc {:6.2}%{validation}  test loss {:.4} acc {:6.2}%{averaged}  {:.2}s + {:.2}s eval",
            self.epoch,
            self.lr,
            self.train_loss,
            100.0 * self.train_acc,
            self.test_loss,
            100.0 * self.test_acc,
            self.train_seconds,
            self.eval_seconds,
        );
        if self.diverged {
            line.push_str("  DIVERGED");
        }
        line
    }
}

/// Writes one JSON object per epoch.
pub struct MetricsWriter {
    file: AtomicFile,
}

impl MetricsWriter {
    /// Starts the file at `path` (written whole by `finish`).
    pub fn create(path: &Path) -> Result<Self> {
        Ok(Self {
            file: AtomicFile::create(path)?,
        })
    }

    /// Adds one epoch's line.
    pub fn write(&mut self, report: &EpochReport) -> Result<()> {
        let mut line = serde_json::to_vec(report).expect("reports serialise");
        line.push(b'\n');
        self.file.write_all(&line)
    }

    /// Puts the file in place.
    pub fn finish(self) -> Result<()> {
        self.file.commit()
    }
}

/// Reads a JSONL metrics file (ours, or any with at least `epoch`,
/// `train_acc` and `test_acc` per line). A null figure (a NaN when it was
/// written) reads back as NaN.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochReport>> {
    let text = read_capped_to_string(path, MAX_METRICS_BYTES, "metrics")?;
    let bad = |line: usize, what: String| Error::Data(format!("{}:{line}: {what}", path.display()));
    let mut reports = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(i + 1, format!("not JSON: {e}")))?;
        let number = |key: &str, required: bool| -> Result<f64> {
            match value.get(key) {
                Some(serde_json::Value::Number(n)) => Ok(n.as_f64().unwrap_or(f64::NAN)),
                Some(serde_json::Value::Null) => Ok(f64::NAN),
                None if !required => Ok(f64::NAN),
                _ => Err(bad(i + 1, format!("no number under \"{key}\""))),
            }
        };
        reports.push(EpochReport {
            epoch: number("epoch", true)? as usize,
            last_epoch: 0,
            lr: number("lr", false)? as f32,
            train_loss: number("train_loss", false)?,
            train_acc: number("train_acc", true)?,
            val_loss: Some(number("val_loss", false)?).filter(|v| !v.is_nan()),
            val_acc: Some(number("val_acc", false)?).filter(|v| !v.is_nan()),
            test_loss: number("test_loss", false)?,
            test_acc: number("test_acc", true)?,
            train_seconds: number("train_seconds", false)?,
            eval_seconds: number("eval_seconds", false)?,
            diverged: value
                .get("diverged")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            output_saturation: number("output_saturation", false)?,
            // Absent (NaN) casts to 0: figures of the weights themselves.
            averaged_epochs: number("averaged_epochs", false)? as usize,
            weight_norms: value
                .get("weight_norms")
                .and_then(|v| v.as_array())
                .map(|norms| {
                    norms
                        .iter()
                        .map(|n| n.as_f64().unwrap_or(f64::NAN) as f32)
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    if reports.is_empty() {
        return Err(Error::Data(format!(
            "{}: no metrics in the file",
            path.display()
        )));
    }
    let last_epoch = reports.iter().map(|r| r.epoch).max().unwrap_or(0);
    for report in &mut reports {
        report.last_epoch = last_epoch;
    }
    Ok(reports)
}

/// `n` and the noun, plural but for one: "1 epoch", "3 epochs".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
