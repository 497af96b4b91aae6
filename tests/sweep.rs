//! Sweeps, plots and digits on synthetic data: every file is produced and
//! readable, and a diverging run is marked as such.

mod common;

use std::path::Path;
use std::process::Command;

use common::{synthetic_mnist, write_mnist_dir};
use mnist_mlp::app::sweep::{write_outputs, Grid, RunResult};
use mnist_mlp::app::{sweep, DataLocation, SweepOptions};
use mnist_mlp::io::metrics::EpochReport;
use mnist_mlp::io::plot::CURVES_SIZE;
use mnist_mlp::nn::arch::{Cost, Hidden, Init};

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap();
    (frame.width, frame.height)
}

fn small_grid() -> Grid {
    Grid {
        init: vec![Init::Random, Init::Kaiming],
        lr: vec![1.0, 100.0],
        cost: vec![Cost::CrossEntropy],
        hidden: vec![Hidden(vec![8]), Hidden(vec![16])],
        epochs: 3,
        batch_size: 16,
        lr_decay: 0.0,
        ..Grid::default()
    }
}

#[test]
fn small_sweep_writes_every_file() {
    let data_dir = tempfile::tempdir().unwrap();
    write_mnist_dir(data_dir.path(), &synthetic_mnist(300, 100), true);
    let out = tempfile::tempdir().unwrap();
    let options = SweepOptions {
        grid: small_grid(),
        data: DataLocation::local(data_dir.path()),
        out: out.path().to_owned(),
        jobs: 2,
    };
    let mut log = Vec::new();
    sweep(&options, &mut log).unwrap();
    let log = String::from_utf8(log).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.starts_with('[')).count(),
        8,
        "{log}"
    );

    let csv = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<_> = lines.next().unwrap().split(',').collect();
    for column in [
        "run",
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

    // Families with more than one run in them: init, learning rate, hidden.
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
        "lr = [0.5, 2.0]\ncost = [\"quadratic\"]\nepochs = 4\n",
    )
    .unwrap();
    let grid = Grid::from_toml_file(&path).unwrap();
    assert_eq!(grid.lr, vec![0.5, 2.0]);
    assert_eq!(grid.cost, vec![Cost::Quadratic]);
    assert_eq!(grid.epochs, 4);
    assert_eq!(grid.hidden, Grid::default().hidden);
    assert_eq!(grid.runs().unwrap().len(), 2 * 2 * 2);

    std::fs::write(&path, "learning_rate = [1.0]\n").unwrap();
    let message = Grid::from_toml_file(&path).unwrap_err().to_string();
    assert!(
        message.contains("grid.toml") && message.contains("learning_rate"),
        "{message}"
    );
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
    let grid = Grid {
        init: vec![Init::Random, Init::Kaiming],
        lr: vec![1.0, 3.0],
        cost: vec![Cost::Quadratic, Cost::CrossEntropy],
        hidden: vec![Hidden(vec![30]), Hidden(vec![90])],
        epochs: 2,
        ..Grid::default()
    };
    // Finished runs made up, not trained: only the titles are in question.
    let report = |epoch| EpochReport {
        epoch,
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
    };
    let results: Vec<RunResult> = grid
        .runs()
        .unwrap()
        .into_iter()
        .map(|(name, config)| RunResult {
            name,
            config,
            reports: vec![report(1), report(2)],
            diverged: false,
            seconds: 0.1,
        })
        .collect();
    let out = tempfile::tempdir().unwrap();
    write_outputs(out.path(), &grid, &results, 1.0).unwrap();

    // The report gives each figure's "others at ..." line, as its title does.
    let text = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    for (section, varied) in [
        ("## Initialisation", &["kaiming", "random"][..]),
        ("## Learning rate", &["lr "][..]),
        ("## Cost", &["quadratic", "cross-entropy"][..]),
        ("## Hidden units", &["H="][..]),
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
        for value in varied {
            assert!(!fixed.contains(value), "{section}: {others}");
        }
    }
}
