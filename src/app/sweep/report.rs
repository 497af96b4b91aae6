//! What a sweep's results say: `results.csv` (a row per finished run, a
//! column per axis), `report.md` (mean and spread over seeds per setting,
//! one section per axis) and one figure per axis. Written from the finished
//! runs alone, in grid order, so a sweep run in one piece, resumed, or
//! merged from shards writes the same files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::app::sweep::grid::{Grid, Run};
use crate::app::sweep::store::Finished;
use crate::error::Result;
use crate::io::atomic_file::write_atomically;
use crate::io::plot::{draw_curves, run_curves, Curve, Line};
use crate::train::config::TrainConfig;

/// An accuracy in the CSV: a fraction, as in every machine-readable
/// output.
fn frac(fraction: f64) -> String {
    format!("{fraction:.4}")
}

/// Percent with two decimals, for the report's tables.
fn pct(fraction: f64) -> String {
    format!("{:.2}", 100.0 * fraction)
}

fn has_validation(finished: &[&Finished]) -> bool {
    finished.iter().any(|f| f.last().val_acc.is_some())
}

/// The columns of `results.csv` that describe a run: its name, each axis,
/// and the seed even when it is not one.
fn setting_columns(grid: &Grid) -> Vec<String> {
    let mut columns: Vec<String> = grid.axes.iter().map(|a| a.key.clone()).collect();
    if grid.values("seed").is_none() {
        columns.push("seed".into());
    }
    columns
}

fn seed_of(f: &Finished) -> String {
    f.record.config.seed.to_string()
}

fn csv(grid: &Grid, finished: &[&Finished]) -> String {
    let validation = has_validation(finished);
    let mut header = vec!["run".to_string()];
    header.extend(setting_columns(grid));
    header.extend(
        [
            "epochs_trained",
            "final_test_acc",
            "best_epoch",
            "best_test_acc",
        ]
        .map(String::from),
    );
    if validation {
        header.extend(["final_val_acc", "best_val_acc"].map(String::from));
    }
    header.extend(["final_train_acc", "train_test_gap", "diverged", "seconds"].map(String::from));
    let mut text = header.join(",") + "\n";
    for f in finished {
        let (last, best) = (f.last(), f.best());
        let mut row = vec![f.record.name.clone()];
        row.extend(f.record.settings.iter().map(|(_, v)| v.clone()));
        if grid.values("seed").is_none() {
            row.push(seed_of(f));
        }
        row.extend([
            f.reports.len().to_string(),
            frac(last.test_acc),
            best.epoch.to_string(),
            frac(best.test_acc),
        ]);
        if validation {
            let val = |r: &crate::io::metrics::EpochReport| r.val_acc.map(frac).unwrap_or_default();
            row.extend([val(last), val(best)]);
        }
        row.extend([
            frac(last.train_acc),
            frac(last.train_acc - last.test_acc),
            if f.record.diverged { "yes" } else { "no" }.into(),
            format!("{:.1}", f.record.seconds),
        ]);
        text.push_str(&row.join(","));
        text.push('\n');
    }
    text
}

/// A run's settings other than the seed, as "hidden 30, lr 1".
fn setting_label(f: &Finished, grid: &Grid) -> String {
    let parts: Vec<String> = f
        .record
        .settings
        .iter()
        .filter(|(key, _)| key != "seed" && grid.values(key).is_some_and(|v| v.len() > 1))
        .map(|(key, value)| format!("{} {value}", key.replace('_', "-")))
        .collect();
    if parts.is_empty() {
        "all runs".into()
    } else {
        parts.join(", ")
    }
}

struct Spread {
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
}

fn spread(values: &[f64]) -> Spread {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Spread {
        mean,
        std: var.sqrt(),
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// Finished runs grouped by their settings other than the seed, in grid
/// order of each group's first run.
fn by_setting<'a>(grid: &Grid, finished: &[&'a Finished]) -> Vec<(String, Vec<&'a Finished>)> {
    let mut groups: Vec<(String, Vec<&Finished>)> = Vec::new();
    for &f in finished {
        let label = setting_label(f, grid);
        match groups.iter_mut().find(|(l, _)| *l == label) {
            Some((_, runs)) => runs.push(f),
            None => groups.push((label, vec![f])),
        }
    }
    groups
}

fn seeds_table(grid: &Grid, finished: &[&Finished]) -> String {
    let mut t = String::from(
        "| setting | seeds | final test %, mean ± std | min – max | best test %, mean | diverged |\n|---|---|---|---|---|---|\n",
    );
    for (label, runs) in by_setting(grid, finished) {
        let finals: Vec<f64> = runs.iter().map(|f| 100.0 * f.last().test_acc).collect();
        let bests: Vec<f64> = runs.iter().map(|f| 100.0 * f.best().test_acc).collect();
        let s = spread(&finals);
        let seeds: Vec<String> = runs.iter().map(|f| seed_of(f)).collect();
        let diverged = runs.iter().filter(|f| f.record.diverged).count();
        let _ = writeln!(
            t,
            "| {label} | {} | {:.2} ± {:.2} | {:.2} – {:.2} | {:.2} | {diverged} of {} |",
            seeds.join(","),
            s.mean,
            s.std,
            s.min,
            s.max,
            spread(&bests).mean,
            runs.len()
        );
    }
    t
}

fn runs_table(finished: &[&Finished]) -> String {
    let mut t = String::from(
        "| run | seed | final test % | best test % (epoch) | final train % | train − test | diverged | seconds |\n|---|---|---|---|---|---|---|---|\n",
    );
    for f in finished {
        let (last, best) = (f.last(), f.best());
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} ({}) | {} | {} | {} | {:.1} |",
            f.record.name,
            seed_of(f),
            pct(last.test_acc),
            pct(best.test_acc),
            best.epoch,
            pct(last.train_acc),
            pct(last.train_acc - last.test_acc),
            if f.record.diverged { "**yes**" } else { "no" },
            f.record.seconds
        );
    }
    t
}

/// The config with the rate resolved, to compare settings by effect.
fn resolved(config: &TrainConfig) -> serde_json::Value {
    serde_json::to_value(TrainConfig {
        lr: Some(config.lr()),
        ..config.clone()
    })
    .expect("configs serialise")
}

/// Each axis's value in the figures that vary another: the tutorial's
/// where the axis has it, else its first.
fn baseline(grid: &Grid) -> Vec<(String, String)> {
    let default = resolved(&TrainConfig::default());
    grid.axes
        .iter()
        .map(|axis| {
            let tutorial = axis.values.iter().find(|v| {
                let mut c = TrainConfig::default();
                c.set(&axis.key, v).is_ok() && resolved(&c)[&axis.key] == default[&axis.key]
            });
            (
                axis.key.clone(),
                tutorial.unwrap_or(&axis.values[0]).clone(),
            )
        })
        .collect()
}

fn title_and_stem(key: &str) -> (String, String) {
    match key {
        "init" => ("Initialisation".into(), "init".into()),
        "lr" => ("Learning rate".into(), "learning_rate".into()),
        "cost" => ("Cost".into(), "cost".into()),
        "hidden" => ("Hidden layers".into(), "hidden".into()),
        other => {
            let words = other.replace('_', " ");
            let mut chars = words.chars();
            let title = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            (title, other.into())
        }
    }
}

/// Mean test and train curves of runs over seeds, the test curve banded
/// by the lowest and highest seed; one run's curves as they are.
fn mean_curves(label: &str, runs: &[&Finished], colour: usize) -> Vec<Curve> {
    if runs.len() == 1 {
        return run_curves(label, &runs[0].reports, colour);
    }
    let epochs = runs.iter().map(|f| f.reports.len()).min().unwrap_or(0);
    let at = |e: usize, pick: fn(&crate::io::metrics::EpochReport) -> f64| {
        spread(
            &runs
                .iter()
                .map(|f| 100.0 * pick(&f.reports[e]))
                .collect::<Vec<_>>(),
        )
    };
    let diverged = runs.iter().any(|f| f.record.diverged);
    let test: Vec<Spread> = (0..epochs).map(|e| at(e, |r| r.test_acc)).collect();
    let x = |e: usize| runs[0].reports[e].epoch as f64;
    vec![
        Curve {
            label: format!("{label} test (mean of {})", runs.len()),
            points: test
                .iter()
                .enumerate()
                .map(|(e, s)| (x(e), s.mean))
                .collect(),
            line: Line::Solid,
            colour,
            diverged,
            band: test
                .iter()
                .enumerate()
                .map(|(e, s)| (x(e), s.min, s.max))
                .collect(),
        },
        Curve {
            label: format!("{label} train"),
            points: (0..epochs)
                .map(|e| (x(e), at(e, |r| r.train_acc).mean))
                .collect(),
            line: Line::Dashed,
            colour,
            diverged,
            band: Vec::new(),
        },
    ]
}

/// Writes `results.csv`, `report.md` and a figure per varied axis into
/// `out` from the `finished` runs of `runs` (the grid's, or a shard's);
/// returns the paths written.
pub fn write_outputs(
    out: &Path,
    grid: &Grid,
    runs: &[Run],
    finished: &[&Finished],
) -> Result<Vec<PathBuf>> {
    let csv_path = out.join("results.csv");
    write_atomically(&csv_path, csv(grid, finished).as_bytes())?;
    let mut written = vec![csv_path];

    let axes: Vec<String> = grid
        .axes
        .iter()
        .map(|a| format!("{} {}", a.key.replace('_', "-"), a.values.join(",")))
        .collect();
    let mut report = format!(
        "# Sweep report\n\n{} of {} runs finished. Axes: {}.\n\
         Accuracies are percentages; the train figure is the running one of the last epoch; \
         \"best\" is the best epoch on validation when the runs held images out, else on test.\n",
        finished.len(),
        runs.len(),
        axes.join("; ")
    );
    let missing: Vec<&str> = runs
        .iter()
        .filter(|r| !finished.iter().any(|f| f.record.name == r.name))
        .map(|r| r.name.as_str())
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(report, "\nNot finished yet: {}.", missing.join(", "));
    }
    let seeds = grid.values("seed").map_or(1, |v| v.len());
    if seeds > 1 {
        let _ = write!(
            report,
            "\n## Mean over seeds\n\n{}",
            seeds_table(grid, finished)
        );
    }
    let base = baseline(grid);
    for (a, axis) in grid.axes.iter().enumerate() {
        if axis.values.len() < 2 || axis.key == "seed" {
            continue;
        }
        // The runs that vary this axis with the others (seed aside) at
        // the baseline.
        let family: Vec<&Finished> = finished
            .iter()
            .copied()
            .filter(|f| {
                f.record.settings.iter().zip(&base).enumerate().all(
                    |(b, ((key, value), (_, baseline)))| {
                        b == a || key == "seed" || value == baseline
                    },
                )
            })
            .collect();
        let groups: Vec<(String, Vec<&Finished>)> = axis
            .values
            .iter()
            .map(|v| {
                let runs: Vec<&Finished> = family
                    .iter()
                    .copied()
                    .filter(|f| &f.record.settings[a].1 == v)
                    .collect();
                (format!("{} {v}", axis.key.replace('_', "-")), runs)
            })
            .filter(|(_, runs)| !runs.is_empty())
            .collect();
        if groups.len() < 2 {
            continue;
        }
        let (title, stem) = title_and_stem(&axis.key);
        let others: Vec<String> = base
            .iter()
            .enumerate()
            .filter(|(b, (key, _))| *b != a && key != "seed")
            .filter(|(_, (key, _))| grid.values(key).is_some_and(|v| v.len() > 1))
            .map(|(_, (key, value))| format!("{} {value}", key.replace('_', "-")))
            .collect();
        let others = if others.is_empty() {
            String::new()
        } else {
            format!("others at {}", others.join(", "))
        };
        let curves: Vec<Curve> = groups
            .iter()
            .enumerate()
            .flat_map(|(i, (label, runs))| mean_curves(label, runs, i))
            .collect();
        let png = out.join(format!("{stem}.png"));
        let chart_title = if others.is_empty() {
            title.clone()
        } else {
            format!("{title} ({others})")
        };
        draw_curves(&png, &chart_title, &curves)?;
        written.push(png);
        let shading = if seeds > 1 {
            "; curves are means over seeds, shaded from the lowest seed to the highest"
        } else {
            ""
        };
        let family_runs: Vec<&Finished> = groups.iter().flat_map(|(_, r)| r.clone()).collect();
        let _ = write!(
            report,
            "\n## {title}\n\n{others}{}solid test, dashed train, dotted validation{shading}.\n\n![{title}]({stem}.png)\n\n{}",
            if others.is_empty() { "" } else { "; " },
            runs_table(&family_runs)
        );
    }
    let _ = write!(report, "\n## All runs\n\n{}", runs_table(finished));
    let report_path = out.join("report.md");
    write_atomically(&report_path, report.as_bytes())?;
    written.push(report_path);
    Ok(written)
}
