//! `mnist-mlp sweep`: a grid of training runs, side by side on the cores,
//! each run's files written as it finishes and the CSV, report and figures
//! brought up to date, so an interrupted sweep keeps every finished run and
//! a re-run trains only what is missing. `--shard K/N` runs one slice of
//! the grid; `merge` puts the slices back together.

pub mod grid;
pub mod report;
pub mod store;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::app::bench::layer_flops;
use crate::app::{progress_bar, DataLocation};
use crate::data::dataset::Mnist;
use crate::error::{Error, Result};
use crate::io::atomic_file::write_atomically;
use crate::io::tensorboard::{self, EventWriter};
use crate::model::Model;
use crate::nn::subnormals::flush_subnormals;
use crate::train::{on_epoch, train, TrainOptions};
use grid::{Grid, Run, Shard};
use store::{Finished, RunRecord};

/// The `sweep` subcommand's settings.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub grid: Grid,
    pub data: DataLocation,
    pub out: PathBuf,
    /// Runs trained at once.
    pub jobs: usize,
    pub shard: Shard,
    /// Remove what an earlier sweep left in `out` first.
    pub fresh: bool,
    /// Write each run's TensorBoard events into a sub-folder of this one,
    /// named as the run's files are.
    pub tensorboard: Option<PathBuf>,
    /// Keep each run's model as `runs/<run>.safetensors` (a diverged run's
    /// weights are not kept): the members of a committee.
    pub save_models: bool,
}

/// "1 h 02 min", "3 min 05 s", "42 s".
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

/// A run's work, for the time estimate: its products' FLOPs per sample
/// times its epochs (every run of a sweep trains on the same samples).
fn work(run: &Run) -> f64 {
    let flops: u64 = layer_flops(&run.config.hidden.sizes()).iter().sum();
    flops as f64 * run.config.epochs as f64
}

/// Trains `run` on `data`, already split as its `validation` says (one
/// thread unless its config says otherwise), writing its TensorBoard events
/// into `tensorboard/<run>` if asked. Gives the finished run and its model.
fn train_one(run: &Run, data: &Mnist, tensorboard: Option<&Path>) -> Result<(Finished, Model)> {
    let started = Instant::now();
    let mut events = match tensorboard {
        Some(dir) => {
            let mut writer = EventWriter::create(&dir.join(&run.name))?;
            let about = format!(
                "sweep run {}: {}",
                run.name,
                crate::app::train::describe(&run.config)
            );
            writer.config(0, &about, &run.config)?;
            Some(writer)
        }
        None => None,
    };
    let summary = train(
        run.config.clone(),
        data,
        TrainOptions::default(),
        &mut on_epoch(|report| match &mut events {
            Some(events) => events.epoch(report),
            None => Ok(()),
        }),
    )?;
    let finished = Finished {
        record: RunRecord {
            name: run.name.clone(),
            settings: run.settings.clone(),
            config: run.config.clone(),
            seconds: started.elapsed().as_secs_f64(),
            diverged: summary.diverged.is_some(),
            stalled: summary.stalled.is_some(),
            stopped_early: summary.stopped_early,
        },
        reports: summary.reports,
    };
    Ok((finished, summary.model))
}

/// Whether a finished run should have left a model in `out`: when the
/// sweep keeps models and the run did not diverge (whose weights are not
/// finite, and no model).
fn keeps_model(options: &SweepOptions, finished: &Finished) -> bool {
    options.save_models && !finished.record.diverged
}

/// Runs this shard's part of the grid into `options.out`: skips the runs
/// already finished there, trains the rest `jobs` at a time, and after each
/// writes its files and brings `results.csv`, `report.md` and the figures
/// up to date. Prints a line per finished run to `log` (and a bar on a
/// terminal) with the time left. Returns the paths of the last outputs.
pub fn sweep(options: &SweepOptions, log: &mut (impl Write + Send)) -> Result<Vec<PathBuf>> {
    let all = options.grid.runs()?;
    let out = &options.out;
    let _lock = store::lock_folder(out)?;
    let mut notes = Vec::new();
    store::prepare(out, &options.grid, options.fresh, &mut notes)?;
    for note in notes {
        let _ = writeln!(log, "{note}");
    }
    let mine: Vec<&Run> = all.iter().filter(|r| options.shard.holds(r)).collect();
    let mut finished: Vec<Option<Finished>> = all.iter().map(|_| None).collect();
    let mut redone = Vec::new();
    for run in &mine {
        match store::load_finished(out, run) {
            Ok(f) if keeps_model(options, &f) && !store::model_path(out, &run.name).is_file() => {
                redone.push(format!(
                    "{}: no saved model (--save-models)",
                    store::model_path(out, &run.name).display()
                ))
            }
            Ok(f) => finished[run.index] = Some(f),
            Err(Some(why)) => redone.push(why),
            Err(None) => {}
        }
    }
    let to_train: Vec<&Run> = mine
        .iter()
        .copied()
        .filter(|r| finished[r.index].is_none())
        .collect();
    let skipped = mine.len() - to_train.len();
    let part = if options.shard == Shard::WHOLE {
        String::new()
    } else {
        format!(
            " (shard {}: {} of the grid's {})",
            options.shard,
            mine.len(),
            all.len()
        )
    };
    let _ = writeln!(
        log,
        "sweep: {} runs{part} into {}: {skipped} finished there already (skipped), {} to train, {} at a time",
        mine.len(),
        out.display(),
        to_train.len(),
        options.jobs.min(to_train.len()).max(1),
    );
    for why in redone {
        let _ = writeln!(log, "training again: {why}");
    }
    let runs_of_shard: Vec<Run> = mine.iter().map(|r| (*r).clone()).collect();
    if to_train.is_empty() {
        let done: Vec<&Finished> = finished.iter().flatten().collect();
        return report::write_outputs(out, &options.grid, &runs_of_shard, &done);
    }
    // Before any run trains, so a folder that cannot be made fails at once.
    if let Some(dir) = &options.tensorboard {
        tensorboard::create_folder(dir)?;
    }
    // The data split once for each validation size the runs hold out,
    // before any run trains, so a size that does not fit fails at once.
    let mut splits: Vec<(usize, Mnist)> = vec![(0, options.data.load()?)];
    for run in &to_train {
        let held_out = run.config.validation;
        if !splits.iter().any(|(n, _)| *n == held_out) {
            let whole = &splits[0].1;
            run.config.validate_split(whole.train.len())?;
            let mut split = whole.clone();
            split.hold_out(held_out);
            splits.push((held_out, split));
        }
    }
    let split_for = |run: &Run| {
        &splits
            .iter()
            .find(|(n, _)| *n == run.config.validation)
            .expect("a split per validation size")
            .1
    };

    let bar = std::io::stderr().is_terminal().then(|| {
        progress_bar(
            to_train.len() as u64,
            "{bar:40} {pos}/{len} runs, {elapsed} elapsed",
        )
    });
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    // The time left is the time so far scaled by the work left over the
    // work done: a grid's runs can differ sixtyfold in size, so a count
    // of runs would mislead.
    let work_to_do: f64 = to_train.iter().map(|r| work(r)).sum();
    let shared = Mutex::new((finished, log, Vec::<PathBuf>::new(), 0.0f64));
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.clamp(1, to_train.len()) {
            scope.spawn(|| {
                let _flush = flush_subnormals();
                loop {
                if failure.lock().expect("no worker panics").is_some() {
                    break;
                }
                let Some(run) = to_train.get(next.fetch_add(1, Ordering::SeqCst)) else {
                    break;
                };
                let tensorboard = options.tensorboard.as_deref();
                let outcome = train_one(run, split_for(run), tensorboard).and_then(|(f, model)| {
                    // The model before the record, which says the run is done.
                    if keeps_model(options, &f) {
                        model.save(store::model_path(out, &run.name))?;
                    }
                    store::save_finished(out, &f)?;
                    Ok(f)
                });
                let f = match outcome {
                    Ok(f) => f,
                    Err(e) => {
                        *failure.lock().expect("no worker panics") = Some(e);
                        break;
                    }
                };
                let mut guard = shared.lock().expect("no worker panics");
                let (finished, log, written, work_done) = &mut *guard;
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                let left = to_train.len() - n;
                *work_done += work(run);
                let eta = started.elapsed().as_secs_f64() * (work_to_do - *work_done) / *work_done;
                let (last, best) = (f.last(), f.best());
                let line = format!(
                    "[{n:>width$}/{total}] {:<40} test {:6.2}% (best {:6.2}% at epoch {}){} {:.1} s; {}",
                    f.record.name,
                    100.0 * last.test_acc,
                    100.0 * best.test_acc,
                    best.epoch,
                    if f.record.diverged { " DIVERGED" } else { "" },
                    f.record.seconds,
                    if left == 0 {
                        "done".to_string()
                    } else {
                        format!("about {} left", duration(eta))
                    },
                    width = to_train.len().to_string().len(),
                    total = to_train.len(),
                );
                finished[run.index] = Some(f);
                let done_runs: Vec<&Finished> = finished.iter().flatten().collect();
                match report::write_outputs(out, &options.grid, &runs_of_shard, &done_runs) {
                    Ok(paths) => *written = paths,
                    Err(e) => {
                        *failure.lock().expect("no worker panics") = Some(e);
                        break;
                    }
                }
                match &bar {
                    Some(bar) => {
                        bar.println(line);
                        bar.inc(1);
                    }
                    None => {
                        let _ = writeln!(log, "{line}");
                    }
                }
            }});
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = failure.into_inner().expect("no worker panics") {
        return Err(e);
    }
    let (_, log, written, _) = shared.into_inner().expect("no worker panics");
    let _ = writeln!(
        log,
        "sweep: done in {}; wrote {}",
        duration(started.elapsed().as_secs_f64()),
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(written)
}

/// `mnist-mlp merge`: the finished runs of `dirs` (shards of one grid, or
/// partial results of one sweep) into `out`, with the CSV, report and
/// figures the grid run in one piece would give. Says which runs are still
/// missing, and which run files were unreadable.
pub fn merge(
    out: &std::path::Path,
    dirs: &[PathBuf],
    log: &mut impl Write,
) -> Result<Vec<PathBuf>> {
    let mut grid: Option<(Grid, &PathBuf)> = None;
    for dir in dirs {
        let theirs = store::read_grid(dir)?.ok_or_else(|| {
            Error::Config(format!(
                "{} is not a sweep folder (no {})",
                dir.display(),
                store::GRID_FILE
            ))
        })?;
        match &grid {
            None => grid = Some((theirs, dir)),
            Some((first, first_dir)) => {
                if let Some(difference) = theirs.difference(first) {
                    return Err(Error::Config(format!(
                        "{} and {} are shards of different grids: {difference}",
                        first_dir.display(),
                        dir.display()
                    )));
                }
            }
        }
    }
    let Some((grid, _)) = grid else {
        return Err(Error::Config(
            "merge needs at least one sweep folder".into(),
        ));
    };
    let runs = grid.runs()?;
    let _lock = store::lock_folder(out)?;
    let mut notes = Vec::new();
    store::prepare(out, &grid, false, &mut notes)?;
    let mut finished: Vec<Finished> = Vec::new();
    let mut missing = Vec::new();
    for run in &runs {
        let mut found = None;
        for dir in dirs {
            match store::load_finished(dir, run) {
                Ok(f) => {
                    found = Some((f, dir));
                    break;
                }
                Err(Some(why)) => {
                    let _ = writeln!(log, "merge: skipping {why}");
                }
                Err(None) => {}
            }
        }
        match found {
            Some((f, dir)) => {
                // Its model too, if the shard kept one; before the record.
                let model = store::model_path(dir, &run.name);
                if model.is_file() {
                    let bytes = std::fs::read(&model).map_err(Error::io(&model))?;
                    write_atomically(&store::model_path(out, &run.name), &bytes)?;
                }
                store::save_finished(out, &f)?;
                finished.push(f);
            }
            None => missing.push(run.name.as_str()),
        }
    }
    let refs: Vec<&Finished> = finished.iter().collect();
    let written = report::write_outputs(out, &grid, &runs, &refs)?;
    let _ = writeln!(
        log,
        "merge: {} of {} runs from {} folders into {}",
        finished.len(),
        runs.len(),
        dirs.len(),
        out.display()
    );
    if !missing.is_empty() {
        let _ = writeln!(
            log,
            "merge: {} runs missing: {}",
            missing.len(),
            missing.join(", ")
        );
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::TrainConfig;

    fn run(hidden: &[usize], epochs: usize) -> Run {
        Run {
            index: 0,
            name: String::new(),
            settings: Vec::new(),
            config: TrainConfig {
                hidden: crate::nn::arch::Hidden(hidden.to_vec()),
                epochs,
                ..TrainConfig::default()
            },
        }
    }

    #[test]
    fn a_runs_work_is_its_products_flops_times_its_epochs() {
        // 784-30-10: 4·784·30 + 6·30·10 FLOP per sample.
        assert_eq!(work(&run(&[30], 1)), (4 * 784 * 30 + 6 * 30 * 10) as f64);
        assert_eq!(work(&run(&[30], 3)), 3.0 * work(&run(&[30], 1)));
        // A wide run weighs what it costs, not one run's worth.
        assert!(work(&run(&[800, 800], 1)) > 60.0 * work(&run(&[30], 1)));
    }
}
