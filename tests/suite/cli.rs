//! The binary as a user meets it: exit codes, one-line errors, the files it
//! writes.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::{mnist_mlp, synthetic_mnist, write_mnist_dir};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One line of our own, or clap's whole short message: the error line,
/// perhaps a tip or a usage line, and the pointer to --help.
fn assert_one_line_error(output: &Output, expect: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
    let from_clap = err
        .trim_end()
        .ends_with("For more information, try '--help'.");
    assert!(
        err.trim_end().lines().count() == 1 || (from_clap && err.lines().count() <= 8),
        "not one line: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.lines().next().unwrap().contains(expect) || err.contains(expect),
        "expected {expect:?} in {err}"
    );
}

fn fixture_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(200, 50), true);
    dir
}

#[test]
fn nonsense_flags_give_one_line_and_exit_2() {
    let dir = fixture_dir();
    let d = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 20] = [
        (&["train", "--data-dir", d, "--hidden", "0"], "--hidden"),
        (
            &["train", "--data-dir", d, "--batch-size", "0"],
            "--batch-size",
        ),
        (&["train", "--data-dir", d, "--lr", "-1"], "--lr"),
        (&["train", "--data-dir", d, "--lr", "nan"], "--lr"),
        (&["train", "--data-dir", d, "--lr", "abc"], "--lr"),
        (&["train", "--data-dir", d, "--cost", "hinge"], "hinge"),
        (&["train", "--data-dir", d, "--init", "zeros"], "zeros"),
        (&["train", "--data-dir", d, "--epochs", "-3"], "--epochs"),
        (&["train", "--data-dir", d, "--threads", "0"], "--threads"),
        (
            &["train", "--data-dir", d, "--threads", "many"],
            "--threads",
        ),
        (&["train", "--frobnicate"], "--frobnicate"),
        (&["train", "--data-dir", d, "--hidden", "800-"], "800-"),
        (&["train", "--data-dir", d, "--hidden", "a-b"], "a-b"),
        (&["train", "--data-dir", d, "--dropout", "1"], "--dropout"),
        (
            &["train", "--data-dir", d, "--label-smoothing", "1"],
            "--label-smoothing",
        ),
        (
            &["train", "--data-dir", d, "--weight-decay", "-0.1"],
            "--weight-decay",
        ),
        (
            &["train", "--data-dir", d, "--momentum", "-0.5"],
            "--momentum",
        ),
        (
            &[
                "train",
                "--data-dir",
                d,
                "--output",
                "softmax",
                "--cost",
                "quadratic",
            ],
            "--cost cross-entropy",
        ),
        (
            &["train", "--data-dir", d, "--activation", "swish"],
            "[possible values: sigmoid, relu, tanh]",
        ),
        (
            &["train", "--data-dir", d, "--hiden", "90"],
            "a similar argument exists: '--hidden'",
        ),
    ];
    for (args, expect) in cases {
        assert_one_line_error(&mnist_mlp(args), expect);
    }
}

#[test]
fn missing_data_says_where_it_looked_and_how_to_point_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent");
    let output = mnist_mlp(&[
        "train",
        "--offline",
        "--data-dir",
        missing.to_str().unwrap(),
    ]);
    assert_one_line_error(&output, "--data-dir");
    assert!(stderr(&output).contains("absent"));
    assert!(!missing.exists(), "--offline must not create the folder");
}

#[test]
fn truncated_file_is_named_in_the_error() {
    let dir = fixture_dir();
    let path = dir.path().join("t10k-labels-idx1-ubyte.gz");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_one_line_error(
        &mnist_mlp(&["train", "--data-dir", dir.path().to_str().unwrap()]),
        "t10k-labels-idx1-ubyte.gz",
    );
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn train_prints_a_line_per_epoch_and_writes_jsonl_atomically() {
    let dir = fixture_dir();
    let metrics = dir.path().join("metrics.jsonl");
    std::fs::write(&metrics, "the user's old file\n").unwrap();
    let output = mnist_mlp(&[
        "train",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--epochs",
        "3",
        "--hidden",
        "12",
        "--metrics-out",
        metrics.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("epoch ")).count(),
        3,
        "{stdout}"
    );

    let records = jsonl(&metrics);
    assert_eq!(records.len(), 3);
    for (i, record) in records.iter().enumerate() {
        for key in [
            "epoch",
            "lr",
            "train_loss",
            "train_acc",
            "test_loss",
            "test_acc",
            "train_seconds",
            "eval_seconds",
            "diverged",
        ] {
            assert!(record.get(key).is_some(), "missing {key} in {record}");
        }
        assert_eq!(record["epoch"], i + 1);
        assert_eq!(record["diverged"], false);
    }
    // Nothing left under a temporary name.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn data_dir_falls_back_to_the_environment() {
    let dir = fixture_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args(["train", "--epochs", "1", "--hidden", "8"])
        .env("MNIST_DIR", dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn divergence_is_reported_in_line_json_and_exit_code() {
    let dir = fixture_dir();
    let metrics = dir.path().join("m.jsonl");
    let output = mnist_mlp(&[
        "train",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--epochs",
        "2",
        "--lr",
        "100",
        "--lr-decay",
        "0",
        "--metrics-out",
        metrics.to_str().unwrap(),
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("diverged") && !err.contains("panicked"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("DIVERGED"));
    let records = jsonl(&metrics);
    assert!(
        records.last().unwrap()["diverged"] == true,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn unwritable_metrics_path_fails_before_training() {
    let dir = fixture_dir();
    let output = mnist_mlp(&[
        "train",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--metrics-out",
        "/nonexistent-folder/m.jsonl",
    ]);
    assert_one_line_error(&output, "/nonexistent-folder");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("epoch "));
}

#[test]
fn bench_reports_throughput_phases_and_peak_as_json() {
    let dir = fixture_dir();
    let output = mnist_mlp(&[
        "bench",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--threads",
        "2",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for key in [
        "seconds_per_epoch",
        "samples_per_second",
        "achieved_gflops",
        "peak_sgemm_gflops",
        "achieved_over_peak",
        "peak_rss_mb",
    ] {
        let value = report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no number under {key}: {report}"));
        assert!(value > 0.0, "{key} = {value}");
    }
    assert_eq!(report["threads"], 2);
    assert_eq!(report["flops_per_sample"], 4 * 784 * 8 + 6 * 10 * 8);
    let phases = report["phases"].as_object().unwrap();
    assert!(
        phases.contains_key("gather + augment + standardise") && phases.contains_key("thread sync"),
        "{phases:?}"
    );
    let shares: f64 = phases.values().map(|p| p.as_f64().unwrap()).sum();
    let accuracy = report["test_acc"].as_f64().unwrap();
    assert!(
        (0.0..=1.0).contains(&accuracy),
        "test_acc {accuracy} is not a fraction"
    );
    assert!((shares - 1.0).abs() < 1e-6, "phase shares sum to {shares}");
}

#[test]
fn fashion_dataset_reads_its_own_variable() {
    let dir = fixture_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args([
            "train",
            "--dataset",
            "fashion",
            "--epochs",
            "1",
            "--hidden",
            "8",
        ])
        .env_remove("MNIST_DIR")
        .env("FASHION_MNIST_DIR", dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains(dir.path().to_str().unwrap()));
    assert_one_line_error(&mnist_mlp(&["train", "--dataset", "cifar"]), "cifar");
}

#[test]
fn show_refuses_plain_without_out() {
    let dir = fixture_dir();
    let output = mnist_mlp(&[
        "show",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--index",
        "0",
        "--plain",
    ]);
    assert_one_line_error(&output, "--plain");
    assert!(output.stdout.is_empty(), "printed the digit anyway");
}

/// A metrics file such as `train --metrics-out` writes, three epochs long.
fn write_metrics(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let lines: Vec<String> = (1..=3)
        .map(|e| format!(r#"{{"epoch":{e},"train_acc":0.9{e},"test_acc":0.8{e}}}"#))
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

#[test]
fn plot_names_same_named_files_by_their_folders_and_says_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a/m.jsonl"), dir.path().join("b/m.jsonl"));
    write_metrics(&a);
    write_metrics(&b);
    let out = dir.path().join("curves.png");
    let output = mnist_mlp(&[
        "plot",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains(out.to_str().unwrap()) && stdout.contains("a/m") && stdout.contains("b/m"),
        "{stdout}"
    );
    assert!(std::fs::read(&out).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn plot_and_show_refuse_to_write_png_under_another_name() {
    let dir = fixture_dir();
    let metrics = dir.path().join("m.jsonl");
    write_metrics(&metrics);
    for name in ["curves.jpg", "curves"] {
        let out = dir.path().join(name);
        let output = mnist_mlp(&[
            "plot",
            metrics.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_one_line_error(&output, name);
        assert!(!out.exists(), "{name} was written");

        let output = mnist_mlp(&[
            "show",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--index",
            "0",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_one_line_error(&output, name);
        assert!(!out.exists(), "{name} was written");
    }
}

/// The lists the library keeps for callers without clap name every value
/// the command line takes, in its order.
#[test]
fn the_librarys_value_lists_are_the_command_lines() {
    use clap::ValueEnum;
    use mnist_mlp::internals::train::preset::Preset;
    use mnist_mlp::Optimizer;
    assert_eq!(Optimizer::ALL.as_slice(), Optimizer::value_variants());
    assert_eq!(Preset::ALL.as_slice(), Preset::value_variants());
}
