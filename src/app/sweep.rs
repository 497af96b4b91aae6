//! Grids of training runs: the tutorial's experiments in one command.
//!
//! Runs go in parallel, one per core, each single-threaded; results land in
//! an output folder as JSONL per run, one CSV, a Markdown report grouped by
//! experiment, and PNG plots.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::data::dataset::Mnist;
use crate::error::{Error, Result};
use crate::io::atomic_file::write_atomically;
use crate::io::metrics::{EpochReport, MetricsWriter};
use crate::io::plot::{draw_curves, run_curves};
use crate::nn::arch::{Cost, Hidden, Init};
use crate::train::{run, TrainConfig, Trainer};

/// The axes of a sweep and the settings every run shares.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Grid {
    pub init: Vec<Init>,
    pub lr: Vec<f32>,
    pub cost: Vec<Cost>,
    pub hidden: Vec<Hidden>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr_decay: f32,
    pub seed: u64,
}

impl Default for Grid {
    /// The tutorial's grid: init × lr × cost × hidden, 30 epochs, batch 20.
    fn default() -> Self {
        let base = TrainConfig::default();
        Self {
            init: vec![Init::Random, Init::Kaiming],
            lr: vec![0.001, 0.1, 1.0, 3.0, 10.0, 100.0],
            cost: vec![Cost::Quadratic, Cost::CrossEntropy],
            hidden: vec![Hidden(vec![30]), Hidden(vec![90])],
            epochs: base.epochs,
            batch_size: base.batch_size,
            lr_decay: base.lr_decay,
            seed: base.seed,
        }
    }
}

impl Grid {
    /// Reads a grid from TOML; keys left out keep the tutorial's values.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        // A grid is a few lines; a megabyte is not a grid.
        const MAX_CONFIG_BYTES: u64 = 1 << 20;
        let text = crate::io::read::read_capped_to_string(path, MAX_CONFIG_BYTES, "sweep config")?;
        toml::from_str(&text).map_err(|e| {
            let message = e.message().to_string();
            Error::Config(format!("{}: {}", path.display(), message.trim()))
        })
    }

    /// Every combination, as (run name, config), in a stable order.
    pub fn runs(&self) -> Result<Vec<(String, TrainConfig)>> {
        let mut runs = Vec::new();
        for hidden in &self.hidden {
            for &cost in &self.cost {
                for &init in &self.init {
                    for &lr in &self.lr {
                        let config = TrainConfig {
                            hidden: hidden.clone(),
                            epochs: self.epochs,
                            batch_size: self.batch_size,
                            lr: Some(lr),
                            lr_decay: self.lr_decay,
                            cost,
                            init,
                            seed: self.seed,
                            threads: 1,
                            ..TrainConfig::default()
                        };
                        config.validate()?;
                        runs.push((run_name(&config), config));
                    }
                }
            }
        }
        if runs.is_empty() {
            return Err(Error::Config("the sweep grid has an empty axis".into()));
        }
        Ok(runs)
    }

    /// The value each axis takes in the experiments that vary another axis:
    /// the tutorial's best setting where the grid has it, else the first.
    fn baseline(&self) -> (Init, f32, Cost, Hidden) {
        let base = TrainConfig::default();
        fn pick<T: Clone + PartialEq>(values: &[T], preferred: T) -> T {
            if values.contains(&preferred) {
                preferred
            } else {
                values[0].clone()
            }
        }
        (
            pick(&self.init, base.init),
            pick(&self.lr, base.lr()),
            pick(&self.cost, base.cost),
            pick(&self.hidden, base.hidden),
        )
    }
}

pub fn run_name(c: &TrainConfig) -> String {
    format!("{}-lr{}-{}-h{}", c.init, c.lr(), c.cost, c.hidden)
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub name: String,
    pub config: TrainConfig,
    pub reports: Vec<EpochReport>,
    pub diverged: bool,
    pub seconds: f64,
}

impl RunResult {
    pub fn final_report(&self) -> &EpochReport {
        self.reports.last().expect("a run has at least one epoch")
    }

    /// (accuracy, epoch) of the best test accuracy.
    pub fn best_test(&self) -> (f64, usize) {
        self.reports.iter().map(|r| (r.test_acc, r.epoch)).fold(
            (f64::NEG_INFINITY, 0),
            |best, r| if r.0 > best.0 { r } else { best },
        )
    }
}

/// Trains every run of `grid` on `jobs` threads, calling `on_done` as each
/// finishes (with how many are done and how many there are). Results come
/// back in grid order.
pub fn run_grid(
    grid: &Grid,
    data: &Mnist,
    jobs: usize,
    on_done: impl Fn(&RunResult, usize, usize) + Sync,
) -> Result<Vec<RunResult>> {
    let runs = grid.runs()?;
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RunResult>>>> =
        Mutex::new((0..runs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, runs.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((name, config)) = runs.get(i) else {
                    break;
                };
                let started = Instant::now();
                let outcome = Trainer::new(config.clone(), &data.train)
                    .and_then(|mut trainer| run(&mut trainer, data, &mut (), |_, _| Ok(())))
                    .map(|summary| RunResult {
                        name: name.clone(),
                        config: config.clone(),
                        diverged: summary.diverged.is_some(),
                        reports: summary.reports,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                if let Ok(result) = &outcome {
                    on_done(result, done.fetch_add(1, Ordering::SeqCst) + 1, runs.len());
                }
                results.lock().expect("no worker panics")[i] = Some(outcome);
            });
        }
    });
    results
        .into_inner()
        .expect("no worker panics")
        .into_iter()
        .map(|r| r.expect("every run was taken by a worker"))
        .collect()
}

/// One experiment of the tutorial: one axis varied, the others at the
/// baseline.
struct Family<'a> {
    stem: &'static str,
    title: &'static str,
    /// The varied value, as a legend label.
    label: fn(&TrainConfig) -> String,
    /// The settings held fixed, for the title: "others at kaiming, lr 1, ...",
    /// without the varied one.
    others: String,
    runs: Vec<&'a RunResult>,
}

fn families<'a>(grid: &Grid, results: &'a [RunResult]) -> Vec<Family<'a>> {
    let (init, lr, cost, hidden) = grid.baseline();
    let select = |keep: &dyn Fn(&TrainConfig) -> bool| {
        results
            .iter()
            .filter(|r| keep(&r.config))
            .collect::<Vec<_>>()
    };
    let settings = [
        init.to_string(),
        format!("lr {lr}"),
        cost.to_string(),
        format!("H={hidden}"),
    ];
    let others = |varied: usize| {
        let fixed: Vec<&str> = settings
            .iter()
            .enumerate()
            .filter(|(axis, _)| *axis != varied)
            .map(|(_, setting)| setting.as_str())
            .collect();
        format!("others at {}", fixed.join(", "))
    };
    vec![
        Family {
            stem: "init",
            title: "Initialisation",
            label: |c| c.init.to_string(),
            others: others(0),
            runs: select(&|c| c.lr() == lr && c.cost == cost && c.hidden == hidden),
        },
        Family {
            stem: "learning_rate",
            title: "Learning rate",
            label: |c| format!("lr {}", c.lr()),
            others: others(1),
            runs: select(&|c| c.init == init && c.cost == cost && c.hidden == hidden),
        },
        Family {
            stem: "cost",
            title: "Cost",
            label: |c| c.cost.to_string(),
            others: others(2),
            runs: select(&|c| c.init == init && c.lr() == lr && c.hidden == hidden),
        },
        Family {
            stem: "hidden",
            title: "Hidden units",
            label: |c| format!("{} hidden", c.hidden),
            others: others(3),
            runs: select(&|c| c.init == init && c.lr() == lr && c.cost == cost),
        },
    ]
}

const CSV_HEADER: &str = "run,init,lr,cost,hidden,epochs,batch_size,final_test_acc,best_test_acc,best_epoch,final_train_acc,train_test_gap,diverged,seconds";

fn csv_row(r: &RunResult) -> String {
    let last = r.final_report();
    let (best, best_epoch) = r.best_test();
    format!(
        "{},{},{},{},{},{},{},{:.2},{:.2},{},{:.2},{:.2},{},{:.1}",
        r.name,
        r.config.init,
        r.config.lr(),
        r.config.cost,
        r.config.hidden,
        r.reports.len(),
        r.config.batch_size,
        100.0 * last.test_acc,
        100.0 * best,
        best_epoch,
        100.0 * last.train_acc,
        100.0 * (last.train_acc - last.test_acc),
        if r.diverged { "yes" } else { "no" },
        r.seconds
    )
}

fn markdown_table(runs: &[&RunResult]) -> String {
    let mut t = String::from(
        "| run | final test % | best test % (epoch) | final train % | train − test | diverged | seconds |\n|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let last = r.final_report();
        let (best, epoch) = r.best_test();
        let _ = writeln!(
            t,
            "| {} | {:.2} | {:.2} ({}) | {:.2} | {:.2} | {} | {:.1} |",
            r.name,
            100.0 * last.test_acc,
            100.0 * best,
            epoch,
            100.0 * last.train_acc,
            100.0 * (last.train_acc - last.test_acc),
            if r.diverged { "**yes**" } else { "no" },
            r.seconds
        );
    }
    t
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes `runs/<run>.jsonl`, `runs/<run>.png`, `results.csv`, `report.md`
/// and one PNG per experiment family into `out`. Returns the paths written
/// at the top of `out`.
pub fn write_outputs(
    out: &Path,
    grid: &Grid,
    results: &[RunResult],
    wall_seconds: f64,
) -> Result<Vec<PathBuf>> {
    let runs_dir = out.join("runs");
    create_dir(&runs_dir)?;
    for r in results {
        let mut metrics = MetricsWriter::create(&runs_dir.join(format!("{}.jsonl", r.name)))?;
        for report in &r.reports {
            metrics.write(report)?;
        }
        metrics.finish()?;
        draw_curves(
            &runs_dir.join(format!("{}.png", r.name)),
            &format!("{}: train (dashed) and test accuracy", r.name),
            &run_curves("", &r.reports, 0),
        )?;
    }

    let mut csv = String::from(CSV_HEADER);
    csv.push('\n');
    for r in results {
        csv.push_str(&csv_row(r));
        csv.push('\n');
    }
    let mut written = vec![out.join("results.csv")];
    write_atomically(&written[0], csv.as_bytes())?;

    let mut report = format!(
        "# Sweep report\n\n{} runs, {} epochs each, batch {}, lr decay {}, seed {}; {:.0} s wall time.\n\
         Accuracies are percentages; the train figure is the running one of the last epoch.\n",
        results.len(),
        grid.epochs,
        grid.batch_size,
        grid.lr_decay,
        grid.seed,
        wall_seconds
    );
    for family in families(grid, results) {
        if family.runs.len() < 2 {
            continue;
        }
        let (stem, title) = (family.stem, family.title);
        let png = out.join(format!("{stem}.png"));
        let curves: Vec<_> = family
            .runs
            .iter()
            .enumerate()
            .flat_map(|(i, r)| run_curves(&(family.label)(&r.config), &r.reports, i))
            .collect();
        let others = &family.others;
        draw_curves(&png, &format!("{title} ({others})"), &curves)?;
        let _ = write!(
            report,
            "\n## {title}\n\n{others}; solid test, dashed train, dotted validation.\n\n![{title}]({stem}.png)\n\n{}",
            markdown_table(&family.runs)
        );
        written.push(png);
    }
    let all: Vec<_> = results.iter().collect();
    let _ = write!(report, "\n## All runs\n\n{}", markdown_table(&all));
    let report_path = out.join("report.md");
    write_atomically(&report_path, report.as_bytes())?;
    written.push(report_path);
    Ok(written)
}
