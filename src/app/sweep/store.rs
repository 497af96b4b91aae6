//! A sweep's output folder on disk. `sweep.json` names the grid the folder
//! belongs to; each finished run leaves `runs/<run>.jsonl` (its epochs, as
//! `train --metrics-out` writes them), `runs/<run>.png` and, last,
//! `runs/<run>.json` (its settings and outcome), each written atomically;
//! with `--save-models`, also `runs/<run>.safetensors` (its model), before
//! the record. `committee.rs` reads the models of such a folder.
//! A run counts as finished only when its record is there, reads back, and
//! holds the config the grid gives it; anything else is trained again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::app::sweep::grid::{Grid, Run};
use crate::error::{Error, Result};
use crate::io::atomic_file::write_atomically;
use crate::io::metrics::{read_metrics, EpochReport, MetricsWriter};
use crate::io::plot::{draw_curves, run_curves};
use crate::io::read::read_capped_to_string;
use crate::train::config::TrainConfig;

/// The file that names a folder's grid.
pub const GRID_FILE: &str = crate::committee::SWEEP_GRID_FILE;

/// A run record is a few kilobytes; a grid file, the same.
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// What a finished run leaves beside its epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub name: String,
    /// Its value of every axis, in the grid's order.
    pub settings: Vec<(String, String)>,
    pub config: TrainConfig,
    pub seconds: f64,
    pub diverged: bool,
    pub stalled: bool,
    pub stopped_early: bool,
}

/// A finished run: its record and its epochs.
#[derive(Debug, Clone)]
pub struct Finished {
    pub record: RunRecord,
    pub reports: Vec<EpochReport>,
}

impl Finished {
    pub fn last(&self) -> &EpochReport {
        self.reports.last().expect("a finished run has epochs")
    }

    /// The best epoch: by validation accuracy when the run held some
    /// images out, else by test accuracy.
    pub fn best(&self) -> &EpochReport {
        let key = |r: &EpochReport| r.val_acc.unwrap_or(r.test_acc);
        self.reports.iter().fold(
            self.last(),
            |best, r| if key(r) > key(best) { r } else { best },
        )
    }
}

pub fn runs_dir(out: &Path) -> PathBuf {
    out.join(crate::committee::SWEEP_RUNS)
}

/// Where a run's model goes when the sweep saves models.
pub fn model_path(out: &Path, name: &str) -> PathBuf {
    runs_dir(out).join(format!("{name}.safetensors"))
}

fn record_path(out: &Path, name: &str) -> PathBuf {
    runs_dir(out).join(format!("{name}.json"))
}

pub fn metrics_path(out: &Path, name: &str) -> PathBuf {
    runs_dir(out).join(format!("{name}.jsonl"))
}

fn plot_path(out: &Path, name: &str) -> PathBuf {
    runs_dir(out).join(format!("{name}.png"))
}

/// The grid `out` belongs to, if it holds one.
pub fn read_grid(out: &Path) -> Result<Option<Grid>> {
    let path = out.join(GRID_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = read_capped_to_string(&path, MAX_RECORD_BYTES, "sweep grid")?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Data(format!("{}: not a sweep grid ({e})", path.display())))
}

/// The file in a sweep folder whose advisory lock says a process is
/// writing there; it holds that process's id.
pub const LOCK_FILE: &str = ".lock";

/// The folder's lock, held until dropped (or the process ends, however).
pub struct FolderLock {
    _file: std::fs::File,
}

/// Takes `out`'s lock, creating the folder, or refuses at once with one
/// line naming the process that holds it: two sweeps (or a sweep and a
/// merge) writing one folder would mix their runs and outputs. The lock is
/// the operating system's (flock), so a killed sweep releases it.
pub fn lock_folder(out: &Path) -> Result<FolderLock> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(out).map_err(Error::io(out))?;
    let path = out.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(Error::io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "another process".to_string(),
                pid => format!("process {pid}"),
            };
            return Err(Error::Config(format!(
                "{} is in use by {holder} (a sweep or merge writing there): wait for it to end, or choose another --out",
                out.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path)(e)),
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "{}", std::process::id()))
        .map_err(Error::io(&path))?;
    Ok(FolderLock { _file: file })
}

/// Makes `out` the folder of `grid`. With `fresh`, whatever an earlier
/// sweep left there goes first (and `log` says so); without, a folder that
/// holds another grid's runs is refused.
pub fn prepare(out: &Path, grid: &Grid, fresh: bool, log: &mut Vec<String>) -> Result<()> {
    let runs = runs_dir(out);
    if fresh {
        let mut removed = 0;
        if runs.is_dir() {
            removed = std::fs::read_dir(&runs)
                .map_err(Error::io(&runs))?
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
                })
                .count();
            std::fs::remove_dir_all(&runs).map_err(Error::io(&runs))?;
        }
        for name in [GRID_FILE, "results.csv", "report.md"] {
            let path = out.join(name);
            if path.is_file() {
                std::fs::remove_file(&path).map_err(Error::io(&path))?;
            }
        }
        if removed > 0 {
            log.push(format!(
                "--fresh: removed {removed} finished runs from {}",
                out.display()
            ));
        }
    }
    match read_grid(out) {
        Ok(Some(theirs)) => {
            if let Some(difference) = grid.difference(&theirs) {
                return Err(Error::Config(format!(
                    "{} holds another grid's runs ({difference}): pass --fresh to replace them, or choose another --out",
                    out.display()
                )));
            }
        }
        Ok(None) if runs.is_dir() => {
            return Err(Error::Config(format!(
                "{} holds runs of an unknown grid (no {GRID_FILE}): pass --fresh to replace them, or choose another --out",
                out.display()
            )));
        }
        Ok(None) => {}
        Err(e) => {
            return Err(Error::Config(format!(
                "{e}: pass --fresh to start over, or choose another --out"
            )))
        }
    }
    std::fs::create_dir_all(&runs).map_err(Error::io(&runs))?;
    let text = serde_json::to_string_pretty(grid).expect("grids serialise");
    write_atomically(&out.join(GRID_FILE), text.as_bytes())
}

/// The finished `run` in `out`, if it is there, whole, and trained with the
/// config the grid gives it; else why not (None when it was never written).
pub fn load_finished(out: &Path, run: &Run) -> std::result::Result<Finished, Option<String>> {
    let path = record_path(out, &run.name);
    if !path.exists() {
        return Err(None);
    }
    let text = read_capped_to_string(&path, MAX_RECORD_BYTES, "run record")
        .map_err(|e| Some(e.to_string()))?;
    let record: RunRecord = serde_json::from_str(&text)
        .map_err(|e| Some(format!("{}: unreadable ({e})", path.display())))?;
    if record.config != run.config {
        return Err(Some(format!(
            "{}: trained with other settings",
            path.display()
        )));
    }
    let reports = read_metrics(&metrics_path(out, &run.name)).map_err(|e| Some(e.to_string()))?;
    let complete = record.diverged || record.stalled || record.stopped_early;
    if !complete && reports.len() != run.config.epochs {
        return Err(Some(format!(
            "{}: {} of {} epochs",
            metrics_path(out, &run.name).display(),
            reports.len(),
            run.config.epochs
        )));
    }
    Ok(Finished { record, reports })
}

/// Writes a finished run's files into `out`, its record last.
pub fn save_finished(out: &Path, finished: &Finished) -> Result<()> {
    let name = &finished.record.name;
    let mut metrics = MetricsWriter::create(&metrics_path(out, name))?;
    for report in &finished.reports {
        metrics.write(report)?;
    }
    metrics.finish()?;
    draw_curves(
        &plot_path(out, name),
        &format!("{name}: train (dashed) and test accuracy"),
        &run_curves("", &finished.reports, 0),
    )?;
    let text = serde_json::to_string_pretty(&finished.record).expect("records serialise");
    write_atomically(&record_path(out, name), text.as_bytes())
}
