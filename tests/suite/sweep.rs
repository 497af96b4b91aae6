//! Sweeps on synthetic data: every file is produced and readable, a
//! diverging run is marked, shards merged give what one piece gives, an
//! interrupted sweep keeps its finished runs, folders of another grid
//! are refused, and saved models are kept, made again and merged.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{mnist_mlp, stdout_of_success, synthetic_mnist, write_mnist_dir};
use mnist_mlp::internals::app::sweep::grid::{Grid, Shard};
use mnist_mlp::internals::app::sweep::report::write_outputs;
use mnist_mlp::internals::app::sweep::store::{Finished, RunRecord};
use mnist_mlp::internals::app::sweep::{sweep, SweepOptions};
use mnist_mlp::internals::app::DataLocation;
use mnist_mlp::internals::io::metrics::EpochReport;
use mnist_mlp::internals::io::plot::CURVES_SIZE;

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap();
    (frame.width, frame.height)
}

fn grid(axes: &[(&str, &str)]) -> Grid {
    let mut grid = Grid { axes: Vec::new() };
    for (key, values) in axes {
        grid.set(key, values.split(',').map(String::from).collect());
    }
    grid
}

fn small_grid() -> Grid {
    grid(&[
        ("hidden", "8,16"),
        ("cost", "cross-entropy"),
        ("init", "random,kaiming"),
        ("lr", "1,100"),
        ("epochs", "3"),
        ("batch_size", "16"),
        ("lr_decay", "0"),
    ])
}

fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(300, 100), true);
    dir
}

fn options(grid: Grid, data: &Path, out: &Path) -> SweepOptions {
    SweepOptions {
        grid,
        data: DataLocation::local(data),
        out: out.to_owned(),
        jobs: 2,
        shard: Shard::WHOLE,
        fresh: false,
        tensorboard: None,
        save_models: false,
    }
}

fn run_sweep(options: &SweepOptions) -> String {
    let mut log = Vec::new();
    sweep(options, &mut log).unwrap();
    String::from_utf8(log).unwrap()
}

#[test]
fn small_sweep_writes_every_file() {
    let data = data_dir();
    let out = tempfile::tempdir().unwrap();
    let log = run_sweep(&options(small_grid(), data.path(), out.path()));
    let finished_lines: Vec<&str> = log.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(finished_lines.len(), 8, "{log}");
    assert!(finished_lines[0].contains("left"), "no time left: {log}");
    assert!(finished_lines[7].ends_with("done"), "{log}");

    let csv = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<_> = lines.next().unwrap().split(',').collect();
    for column in [
        "run",
        "hidden",
        "cost",
        "init",
        "lr",
        "epochs",
        "batch_size",
        "lr_decay",
        "seed",
        "final_test_acc",
        "best_test_acc",
        "best_epoch",
        "train_test_gap",
        "diverged",
        "seconds",
    ] {
        assert!(header.contains(&column), "missing column {column}");
    }
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 8);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for row in &rows {
        assert_eq!(row.len(), header.len());
        let diverged = row[col("diverged")];
        let lr = row[col("lr")];
        assert_eq!(diverged, if lr == "100" { "yes" } else { "no" }, "{row:?}");
        let run = row[col("run")];
        let jsonl =
            std::fs::read_to_string(out.path().join("runs").join(format!("{run}.jsonl"))).unwrap();
        assert_eq!(jsonl.lines().count(), 3);
        assert_eq!(
            png_size(&out.path().join("runs").join(format!("{run}.png"))),
            CURVES_SIZE
        );
    }
    for stem in ["init", "learning_rate", "hidden"] {
        assert_eq!(
            png_size(&out.path().join(format!("{stem}.png"))),
            CURVES_SIZE
        );
    }
    assert!(
        !out.path().join("cost.png").exists(),
        "one cost is no comparison"
    );
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        report.contains("## Learning rate") && report.contains("**yes**"),
        "{report}"
    );
}

#[test]
fn grid_reads_toml_and_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.toml");
    std::fs::write(
        &path,
        "lr = [0.5, 2.0]\ncost = [\"quadratic\"]\nepochs = 4\nseed = [1, 2]\nhidden = [\"30\", \"256-128\"]\n",
    )
    .unwrap();
    let grid = Grid::from_toml_file(&path).unwrap();
    assert_eq!(grid.values("lr").unwrap(), ["0.5", "2.0"]);
    assert_eq!(grid.values("cost").unwrap(), ["quadratic"]);
    assert_eq!(grid.values("epochs").unwrap(), ["4"]);
    assert_eq!(grid.values("init"), None);
    let runs = grid.runs().unwrap();
    assert_eq!(runs.len(), 2 * 2 * 2);
    assert!(runs.iter().all(|r| r.config.epochs == 4));
    assert!(runs
        .iter()
        .any(|r| r.config.hidden.to_string() == "256-128" && r.config.seed == 2));

    std::fs::write(&path, "learning_rate = [1.0]\n").unwrap();
    let message = Grid::from_toml_file(&path).unwrap_err().to_string();
    assert!(
        message.contains("grid.toml") && message.contains("learning_rate"),
        "{message}"
    );
}

/// results.csv without its timing column.
fn rows_without_seconds(out: &Path) -> Vec<String> {
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    csv.lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

#[test]
fn shards_merged_give_what_one_piece_gives() {
    let data = data_dir();
    let d = data.path().to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let axes = [
        "--hidden",
        "8",
        "--lr",
        "0.5,3",
        "--seed",
        "1,2,3",
        "--epochs",
        "2",
        "--batch-size",
        "16",
    ];
    let sweep_into = |out: &str, extra: &[&str]| {
        let mut args = vec!["sweep", "--data-dir", d, "--out", out];
        args.extend_from_slice(&axes);
        args.extend_from_slice(extra);
        stdout_of_success(&mnist_mlp(&args))
    };
    sweep_into(&dir("whole"), &[]);
    let first = sweep_into(&dir("a"), &["--shard", "1/2"]);
    assert!(first.contains("shard 1/2: 3 of the grid's 6"), "{first}");
    sweep_into(&dir("b"), &["--shard", "2/2"]);

    // One shard alone: merge says what is missing.
    let partial = mnist_mlp(&["merge", "--out", &dir("partial"), &dir("a")]);
    let text = String::from_utf8_lossy(&partial.stdout);
    assert!(
        partial.status.success() && text.contains("3 runs missing"),
        "{text}"
    );

    let merged = mnist_mlp(&["merge", "--out", &dir("merged"), &dir("a"), &dir("b")]);
    let text = String::from_utf8_lossy(&merged.stdout);
    assert!(
        merged.status.success() && text.contains("6 of 6 runs"),
        "{text}"
    );
    let whole = rows_without_seconds(&tmp.path().join("whole"));
    assert_eq!(whole.len(), 7);
    assert_eq!(rows_without_seconds(&tmp.path().join("merged")), whole);
    // The figure too, byte for byte: it is drawn from the same runs.
    assert_eq!(
        std::fs::read(tmp.path().join("merged/learning_rate.png")).unwrap(),
        std::fs::read(tmp.path().join("whole/learning_rate.png")).unwrap(),
        "learning_rate.png differs"
    );
    let report = std::fs::read_to_string(tmp.path().join("merged/report.md")).unwrap();
    assert!(
        report.contains("## Mean over seeds") && report.contains("| lr 0.5 | 1,2,3 |"),
        "{report}"
    );

    // Shards of another grid are refused, naming the setting.
    sweep_into(&dir("other"), &["--shard", "2/2", "--epochs", "1"]);
    let mixed = mnist_mlp(&["merge", "--out", &dir("m2"), &dir("a"), &dir("other")]);
    let err = String::from_utf8_lossy(&mixed.stderr);
    assert_eq!(mixed.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--epochs") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn an_interrupted_sweep_keeps_its_finished_runs_and_a_rerun_does_not_redo_them() {
    let data = data_dir();
    let d = data.path().to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let o = out.to_str().unwrap();
    let args = [
        "sweep",
        "--data-dir",
        d,
        "--out",
        o,
        "--jobs",
        "1",
        "--hidden",
        "32",
        "--lr",
        "0.5,1,2,3",
        "--epochs",
        "30",
        "--batch-size",
        "10",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = out.join("runs/lr-0.5.json");
    let csv = out.join("results.csv");
    let started = std::time::Instant::now();
    // Killed once the first run is in the CSV (written after its files).
    while !std::fs::read_to_string(&csv).is_ok_and(|rows| rows.contains("\nlr-0.5,")) {
        assert!(
            started.elapsed().as_secs() < 120,
            "the first run never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let record = std::fs::read(&first).unwrap();
    let finished = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert!(finished < 4, "the sweep finished before it was killed");

    let again = mnist_mlp(&args);
    let log = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        log.contains(&format!("{finished} finished there already (skipped)")),
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.starts_with('[')).count(),
        4 - finished,
        "{log}"
    );
    assert_eq!(
        std::fs::read(&first).unwrap(),
        record,
        "the finished run was redone"
    );
    assert_eq!(rows_without_seconds(&out).len(), 5);

    // A corrupt run file is trained again; a third run trains nothing.
    std::fs::write(&first, b"{ truncated").unwrap();
    let log = String::from_utf8_lossy(&mnist_mlp(&args).stdout).into_owned();
    assert!(
        log.contains("3 finished there already") && log.contains("training again"),
        "{log}"
    );
    let log = String::from_utf8_lossy(&mnist_mlp(&args).stdout).into_owned();
    assert!(
        log.contains("4 finished there already") && log.contains("0 to train"),
        "{log}"
    );
}

#[test]
fn another_grids_folder_is_refused_and_fresh_starts_over() {
    let data = data_dir();
    let d = data.path().to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("s");
    let o = o.to_str().unwrap();
    let base = [
        "sweep",
        "--data-dir",
        d,
        "--out",
        o,
        "--hidden",
        "8",
        "--epochs",
        "1",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        mnist_mlp(&args)
    };
    assert!(with(&["--lr", "1,2"]).status.success());
    let refused = with(&["--lr", "1,3"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("another grid") && err.contains("--lr is 1,2 there but 1,3 here"),
        "{err}"
    );
    let fresh = with(&["--lr", "1,3", "--fresh"]);
    let log = String::from_utf8_lossy(&fresh.stdout);
    assert!(
        fresh.status.success() && log.contains("removed 2 finished runs"),
        "{log}"
    );
    assert!(!tmp.path().join("s/runs/lr-2.json").exists());
    for bad in ["0/2", "3/2", "2", "a/b", "1/0"] {
        let output = with(&["--lr", "1,3", "--shard", bad]);
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("K/N"), "{err}");
    }
}

#[test]
fn plot_and_show_commands_write_pngs() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(100, 20), false);
    let bin = env!("CARGO_BIN_EXE_mnist-mlp");
    let d = dir.path().to_str().unwrap();
    let metrics = dir.path().join("m.jsonl");
    let status = Command::new(bin)
        .args(["train", "--data-dir", d, "--epochs", "2", "--hidden", "8"])
        .arg("--metrics-out")
        .arg(&metrics)
        .output()
        .unwrap();
    assert!(status.status.success());

    let curves = dir.path().join("curves.png");
    let output = Command::new(bin)
        .arg("plot")
        .arg(&metrics)
        .arg("--out")
        .arg(&curves)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(png_size(&curves), CURVES_SIZE);
    // No validation in these metrics: the title and the message leave it out.
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains(": test and train accuracy of"), "{said}");

    let digit = dir.path().join("digit.png");
    let output = Command::new(bin)
        .args([
            "show",
            "--data-dir",
            d,
            "--set",
            "train",
            "--index",
            "3",
            "--out",
        ])
        .arg(&digit)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (w, h) = png_size(&digit);
    assert_eq!(w, 280);
    assert!(h > 280, "room for the title");

    let output = Command::new(bin)
        .args(["show", "--data-dir", d, "--index", "5"])
        .output()
        .unwrap();
    let art = String::from_utf8_lossy(&output.stdout);
    assert!(art.starts_with("test #5: label "), "{art}");
    assert_eq!(art.lines().count(), 1 + 28);

    let output = Command::new(bin)
        .args(["show", "--data-dir", d, "--index", "20"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("past the end"));

    let output = Command::new(bin)
        .arg("plot")
        .arg(dir.path().join("none.jsonl"))
        .arg("--out")
        .arg(&curves)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn family_titles_leave_the_varied_setting_out_of_the_fixed_ones() {
    let grid = grid(&[
        ("init", "random,kaiming"),
        ("lr", "1,3"),
        ("cost", "quadratic,cross-entropy"),
        ("hidden", "30,90"),
        ("epochs", "2"),
    ]);
    // Finished runs made up, not trained: only the titles are in question.
    let report = |epoch| EpochReport {
        epoch,
        last_epoch: 3,
        lr: 1.0,
        train_loss: 0.2,
        train_acc: 0.9,
        val_loss: None,
        val_acc: None,
        test_loss: 0.2,
        test_acc: 0.9,
        train_seconds: 0.1,
        eval_seconds: 0.1,
        diverged: false,
        output_saturation: 0.0,
        weight_norms: vec![1.0, 1.0],
        averaged_epochs: 0,
    };
    let runs = grid.runs().unwrap();
    let finished: Vec<Finished> = runs
        .iter()
        .map(|run| Finished {
            record: RunRecord {
                name: run.name.clone(),
                settings: run.settings.clone(),
                config: run.config.clone(),
                seconds: 0.1,
                diverged: false,
                stalled: false,
                stopped_early: false,
            },
            reports: vec![report(1), report(2)],
        })
        .collect();
    let out = tempfile::tempdir().unwrap();
    let refs: Vec<&Finished> = finished.iter().collect();
    write_outputs(out.path(), &grid, &runs, &refs).unwrap();

    // The report gives each figure's "others at ..." line, as its title does.
    let text = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    for (section, varied) in [
        ("## Initialisation", "init"),
        ("## Learning rate", "lr"),
        ("## Cost", "cost"),
        ("## Hidden layers", "hidden"),
    ] {
        let others = text
            .split(section)
            .nth(1)
            .and_then(|rest| rest.lines().find(|l| l.starts_with("others at")))
            .unwrap_or_else(|| panic!("no {section} in {text}"));
        let fixed = others
            .trim_start_matches("others at ")
            .split(';')
            .next()
            .unwrap();
        assert_eq!(fixed.split(", ").count(), 3, "{section}: {others}");
        assert!(
            !fixed.contains(&format!("{varied} ")),
            "{section}: {others}"
        );
    }
    // The tutorial's values are the baseline where the grid has them.
    assert!(
        text.contains("others at init kaiming, cost cross-entropy, hidden 30"),
        "{text}"
    );
}

#[test]
fn a_second_sweep_into_a_held_folder_is_refused_at_once_and_a_kill_releases_it() {
    use mnist_mlp::internals::app::sweep::store::{lock_folder, LOCK_FILE};
    let data = data_dir();
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().to_str().unwrap();
    let data_arg = data.path().to_str().unwrap();
    // Long enough to be caught running (it is killed at the end): 4 runs
    // of 5000 epochs, one at a time.
    let args = |lr| {
        let flags = [
            "--hidden", "8,16", "--lr", lr, "--epochs", "5000", "--jobs", "1",
        ];
        let place = [
            "sweep",
            "--offline",
            "--data-dir",
            data_arg,
            "--out",
            out_arg,
        ];
        [&place[..], &flags[..]].concat()
    };
    let mut first = Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args(args("0.5,1"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = first.id().to_string();
    let lock = out.path().join(LOCK_FILE);
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&lock).unwrap_or_default() != pid {
        assert!(
            started.elapsed().as_secs() < 60,
            "the first sweep never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Another grid and the same grid: both refused at once, naming the holder.
    for lr in ["0.5,2", "0.5,1"] {
        let asked = std::time::Instant::now();
        let second = mnist_mlp(&args(lr));
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("process {pid}")), "{stderr}");
        assert!(
            asked.elapsed().as_secs() < 10,
            "refused only after {:?}",
            asked.elapsed()
        );
    }
    let merge = mnist_mlp(&["merge", "--out", out_arg, out_arg]);
    assert_eq!(merge.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&merge.stderr).contains(&format!("process {pid}")));
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first sweep was disturbed"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    // The operating system released the killed process's lock.
    let taken = lock_folder(out.path()).expect("a killed sweep's lock is free");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        std::process::id().to_string()
    );
    drop(taken);
}

#[test]
fn saved_models_are_kept_made_again_when_missing_and_merged() {
    let data = data_dir();
    let d = data.path().to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let sweep_into = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--data-dir",
            d,
            "--out",
            out.to_str().unwrap(),
            "--hidden",
            "8",
            "--seed",
            "1,2",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--jobs",
            "1",
            "--save-models",
        ];
        args.extend_from_slice(extra);
        stdout_of_success(&mnist_mlp(&args))
    };
    let whole = dir("whole");
    sweep_into(&whole, &[]);
    let model = |out: &Path, seed: u64| out.join(format!("runs/seed-{seed}.safetensors"));
    for seed in [1, 2] {
        let saved = mnist_mlp::Model::load(model(&whole, seed)).unwrap();
        assert_eq!(saved.info.config.seed, seed);
        assert_eq!(saved.info.epochs_trained, 1);
    }

    // A finished run whose model is gone is trained again, to the same model.
    let before = mnist_mlp::Model::load(model(&whole, 2)).unwrap();
    std::fs::remove_file(model(&whole, 2)).unwrap();
    let log = sweep_into(&whole, &[]);
    assert!(
        log.contains("1 finished there already (skipped), 1 to train")
            && log.contains("seed-2.safetensors: no saved model"),
        "{log}"
    );
    // (Compared as models: the metadata's order in the file varies.)
    assert_eq!(mnist_mlp::Model::load(model(&whole, 2)).unwrap(), before);

    // Shards keep their runs' models; merge brings them together.
    sweep_into(&dir("a"), &["--shard", "1/2"]);
    sweep_into(&dir("b"), &["--shard", "2/2"]);
    let merged = mnist_mlp(&[
        "merge",
        "--out",
        dir("m").to_str().unwrap(),
        dir("a").to_str().unwrap(),
        dir("b").to_str().unwrap(),
    ]);
    assert!(merged.status.success());
    for (seed, shard) in [(1, "a"), (2, "b")] {
        let merged = model(&dir("m"), seed);
        assert!(
            std::fs::read(&merged).unwrap() == std::fs::read(model(&dir(shard), seed)).unwrap(),
            "seed {seed}: not the shard's file"
        );
        assert_eq!(
            mnist_mlp::Model::load(&merged).unwrap(),
            mnist_mlp::Model::load(model(&whole, seed)).unwrap(),
            "seed {seed}"
        );
    }
}
