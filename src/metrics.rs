//! Per-epoch figures: the readable line on stdout and the JSONL record.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One epoch's figures. Losses are mean per-sample costs; accuracies are
/// fractions in 0..1. `train_*` is the running figure of the epoch (each batch
/// scored just before its update); `test_*` a separate pass after it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub lr: f32,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub train_seconds: f64,
    pub eval_seconds: f64,
    pub diverged: bool,
    /// Share of output units with |z| > 15 over the epoch's training batches.
    pub output_saturation: f64,
    pub w1_norm: f32,
    pub w2_norm: f32,
}

impl EpochReport {
    /// The line printed after each epoch.
    pub fn line(&self, epochs: usize) -> String {
        let width = epochs.to_string().len();
        let mut line = format!(
            "epoch {:>width$}/{epochs}  lr {:<7.4}  train loss {:.4} acc {:6.2}%  test loss {:.4} acc {:6.2}%  {:.2}s + {:.2}s eval",
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

/// A file written under a temporary name beside its destination and renamed
/// into place only when complete, so an interrupted run never leaves a
/// half-written file under the name the user asked for, nor destroys the
/// file that was there. Dropped uncommitted, it removes its temporary file.
pub struct AtomicFile {
    temp_path: PathBuf,
    final_path: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self> {
        let mut temp_name = path.file_name().unwrap_or_default().to_owned();
        temp_name.push(format!(".partial-{}", std::process::id()));
        let temp_path = path.with_file_name(temp_name);
        let file = File::create(&temp_path).map_err(|source| Error::Io {
            path: temp_path.clone(),
            source,
        })?;
        Ok(Self {
            temp_path,
            final_path: path.to_owned(),
            writer: Some(BufWriter::new(file)),
        })
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.temp_path.clone(),
            source,
        }
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let writer = self.writer.as_mut().expect("not yet committed");
        writer.write_all(bytes).map_err(|e| self.io_error(e))
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("committed once");
        let file = writer
            .into_inner()
            .map_err(|e| self.io_error(e.into_error()))?;
        file.sync_all().map_err(|e| self.io_error(e))?;
        std::fs::rename(&self.temp_path, &self.final_path).map_err(|source| Error::Io {
            path: self.final_path.clone(),
            source,
        })
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.temp_path);
        }
    }
}

/// Writes one JSON object per epoch.
pub struct MetricsWriter {
    file: AtomicFile,
}

impl MetricsWriter {
    pub fn create(path: &Path) -> Result<Self> {
        Ok(Self {
            file: AtomicFile::create(path)?,
        })
    }

    pub fn write(&mut self, report: &EpochReport) -> Result<()> {
        let mut line = serde_json::to_vec(report).expect("reports serialise");
        line.push(b'\n');
        self.file.write_all(&line)
    }

    pub fn finish(self) -> Result<()> {
        self.file.commit()
    }
}

/// Reads a JSONL metrics file (ours, or any with at least `epoch`,
/// `train_acc` and `test_acc` per line). A null figure (a NaN when it was
/// written) reads back as NaN.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochReport>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
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
            lr: number("lr", false)? as f32,
            train_loss: number("train_loss", false)?,
            train_acc: number("train_acc", true)?,
            test_loss: number("test_loss", false)?,
            test_acc: number("test_acc", true)?,
            train_seconds: number("train_seconds", false)?,
            eval_seconds: number("eval_seconds", false)?,
            diverged: value
                .get("diverged")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            output_saturation: number("output_saturation", false)?,
            w1_norm: number("w1_norm", false)? as f32,
            w2_norm: number("w2_norm", false)? as f32,
        });
    }
    if reports.is_empty() {
        return Err(Error::Data(format!(
            "{}: no metrics in the file",
            path.display()
        )));
    }
    Ok(reports)
}
