//! What practitioners rely on: a validation split, early stopping,
//! checkpoints that resume bit for bit, augmentation that keeps runs
//! reproducible, presets, and one-line errors for settings that cannot work.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use std::path::Path;
use std::process::Output;

use common::{mnist_mlp, synthetic_mnist, write_mnist_dir};
use mnist_mlp::internals::io::model;
use mnist_mlp::internals::train::{checkpoint, run, TrainConfig, Trainer};
use mnist_mlp::{Error, Hidden, Normalise};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

fn one_line_error(output: &Output, expect: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: ") && err.contains(expect), "{err}");
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(600, 100), true);
    dir
}

/// The options a resumed run must carry through: Adam's moments and step,
/// dropout masks, augmentation draws, a cosine schedule's position, the
/// shuffling stream, the best-on-validation weights and the weight average
/// (which the run below is killed in the middle of).
const EVERYTHING: &[&str] = &[
    "--hidden",
    "32-16",
    "--activation",
    "relu",
    "--output",
    "softmax",
    "--optimizer",
    "adam",
    "--dropout",
    "0.2",
    "--schedule",
    "cosine",
    "--augment-shift",
    "2",
    "--augment-rotate",
    "10",
    "--augment-elastic",
    "20",
    "--validation",
    "100",
    "--batch-size",
    "32",
    "--seed",
    "5",
    "--average-epochs",
    "3",
];

fn train(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(EVERYTHING);
    args.extend_from_slice(extra);
    mnist_mlp(&args)
}

/// The epoch lines without their timings.
fn epoch_figures(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("epoch"))
        .map(|l| l[..l.rfind("  ").unwrap()].trim_end().to_string())
        .collect()
}

#[test]
fn a_run_resumed_from_a_checkpoint_goes_on_bit_for_bit() {
    let data = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole.safetensors");
    let resumed = tmp.path().join("resumed.safetensors");
    let checkpoint_path = tmp.path().join("run.ckpt");
    let uninterrupted = ok(train(
        data.path(),
        &["--epochs", "4", "--save", whole.to_str().unwrap()],
    ));

    // The same run, killed after its second epoch's checkpoint.
    let mut config = TrainConfig::default();
    let args: Vec<(String, String)> = EVERYTHING
        .chunks(2)
        .map(|kv| {
            (
                kv[0].trim_start_matches("--").replace('-', "_"),
                kv[1].to_string(),
            )
        })
        .collect();
    for (key, value) in &args {
        config.set(key, value).unwrap();
    }
    config.epochs = 4;
    let mut mnist = mnist_mlp::internals::data::dataset::load_mnist(data.path()).unwrap();
    mnist.hold_out(config.validation);
    let mut trainer = Trainer::new(config, &mnist.train).unwrap();
    let killed = run(&mut trainer, &mnist, &mut (), |trainer, report| {
        checkpoint::save(&checkpoint_path, trainer, report.test_acc)?;
        if report.epoch == 2 {
            return Err(Error::Config("killed".into()));
        }
        Ok(())
    });
    assert!(killed.is_err());

    // Resumed without --epochs, it trains the two epochs left.
    let rest = ok(mnist_mlp(&[
        "train",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--resume",
        checkpoint_path.to_str().unwrap(),
        "--save",
        resumed.to_str().unwrap(),
    ]));
    assert!(rest.contains("resuming checkpoint"), "{rest}");
    assert_eq!(
        epoch_figures(&rest),
        epoch_figures(&uninterrupted)[2..],
        "the resumed epochs differ from the uninterrupted run's"
    );
    let (a, a_info) = model::load(&whole).unwrap();
    let (b, b_info) = model::load(&resumed).unwrap();
    assert_eq!(a, b, "weights differ from the uninterrupted run's");
    // The saved config gives the run's whole epoch count, not the two left.
    assert_eq!(a_info.config.epochs, 4);
    assert_eq!(b_info.config.epochs, 4);
    assert_eq!(b_info.epochs_trained, a_info.epochs_trained);
}

/// `--average-epochs 3`: the model is the mean of the last three epochs'
/// weights, the training itself is unchanged, and the figures reported
/// from the first averaged epoch on are the average's.
#[test]
fn averaging_keeps_the_mean_of_the_last_epochs_weights() {
    let data = synthetic_mnist(600, 100);
    let config = TrainConfig {
        hidden: Hidden(vec![16]),
        normalise: Normalise::Dataset,
        batch_size: 32,
        epochs: 4,
        seed: 3,
        ..TrainConfig::default()
    };
    let mut plain = Trainer::new(config.clone(), &data.train).unwrap();
    let mut snapshots = Vec::new();
    run(&mut plain, &data, &mut (), |trainer, _| {
        snapshots.push(trainer.params.clone());
        Ok(())
    })
    .unwrap();
    let mut averaging = Trainer::new(
        TrainConfig {
            average_epochs: 3,
            ..config
        },
        &data.train,
    )
    .unwrap();
    let summary = run(&mut averaging, &data, &mut (), |_, _| Ok(())).unwrap();

    assert_eq!(
        averaging.params, plain.params,
        "averaging changed the training"
    );
    let averaged: Vec<usize> = summary.reports.iter().map(|r| r.averaged_epochs).collect();
    assert_eq!(averaged, [0, 1, 2, 3]);
    let last_three = &snapshots[1..];
    for (l, layer) in summary.model.params.layers.iter().enumerate() {
        let mean = |value: &dyn Fn(&mnist_mlp::Params) -> f32| {
            last_three.iter().map(|p| value(p) as f64).sum::<f64>() / 3.0
        };
        for ((i, j), &got) in layer.w.indexed_iter() {
            let want = mean(&|p| p.layers[l].w[[i, j]]);
            assert!(
                (got as f64 - want).abs() < 1e-6,
                "layer {l} w[{i}, {j}]: {got} against {want}"
            );
        }
        for (i, &got) in layer.b.indexed_iter() {
            let want = mean(&|p| p.layers[l].b[i]);
            assert!(
                (got as f64 - want).abs() < 1e-6,
                "layer {l} b[{i}]: {got} against {want}"
            );
        }
    }
    assert_ne!(
        summary.model.params, plain.params,
        "the mean is the last epoch's weights"
    );
    // The last epoch's test figure is the average's: the plain trainer
    // given the averaged weights scores the same.
    plain.params = summary.model.params.clone();
    assert_eq!(
        plain.evaluate(&data.test).accuracy(),
        summary.last().test_acc
    );
}

#[test]
fn one_and_two_threads_train_the_same_augmented_run() {
    let data = fixture();
    let one = ok(train(data.path(), &["--epochs", "2", "--threads", "1"]));
    let two = ok(train(data.path(), &["--epochs", "2", "--threads", "2"]));
    assert_eq!(epoch_figures(&one), epoch_figures(&two));
    // The same run with EVERYTHING's augmentation flags left out.
    let mut args = vec!["train", "--data-dir", data.path().to_str().unwrap()];
    args.extend(
        EVERYTHING
            .chunks(2)
            .filter(|flag| !flag[0].starts_with("--augment"))
            .flatten(),
    );
    args.extend(["--epochs", "2", "--threads", "1"]);
    let plain = ok(mnist_mlp(&args));
    assert_ne!(
        epoch_figures(&one),
        epoch_figures(&plain),
        "augmentation changed nothing"
    );
}

#[test]
fn validation_figures_appear_in_lines_metrics_and_the_best_model_is_saved() {
    let data = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let metrics = tmp.path().join("m.jsonl");
    let saved = tmp.path().join("best.safetensors");
    let out = ok(mnist_mlp(&[
        "train",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--validation",
        "100",
        "--epochs",
        "6",
        "--lr",
        "3",
        "--metrics-out",
        metrics.to_str().unwrap(),
        "--save",
        saved.to_str().unwrap(),
    ]));
    assert!(
        out.contains("500 train / 100 validation / 100 test"),
        "{out}"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    let val: Vec<f64> = lines
        .iter()
        .map(|l| l["val_acc"].as_f64().unwrap())
        .collect();
    assert!(lines.iter().all(|l| l["val_loss"].is_f64()));
    let best = (0..6).fold(0, |b, i| if val[i] > val[b] { i } else { b });
    assert!(
        out.contains(&format!("the best epoch on validation, {}", best + 1)),
        "{out}"
    );
    let (_, info) = model::load(&saved).unwrap();
    assert_eq!(info.epochs_trained, best + 1);
    assert_eq!(
        info.test_accuracy,
        lines[best]["test_acc"].as_f64().unwrap()
    );
}

#[test]
fn early_stopping_stops_after_patience_and_names_the_best_epoch() {
    let data = fixture();
    // A rate that overshoots, so validation stops improving early.
    let out = ok(mnist_mlp(&[
        "train",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--validation",
        "100",
        "--early-stop",
        "2",
        "--epochs",
        "60",
        "--lr",
        "3",
    ]));
    let epochs = epoch_figures(&out).len();
    assert!(epochs < 60, "never stopped: {out}");
    let stop = out
        .lines()
        .find(|l| l.starts_with("early stop"))
        .expect(&out);
    let best: usize = stop
        .split("since epoch ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(epochs, best + 2, "{out}");
}

#[test]
fn settings_that_cannot_work_get_one_line() {
    let data = fixture();
    let d = data.path().to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let corrupt = tmp.path().join("corrupt.ckpt");
    std::fs::write(&corrupt, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}").unwrap();
    let checkpoint_path = tmp.path().join("h16.ckpt");
    ok(mnist_mlp(&[
        "train",
        "--data-dir",
        d,
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--checkpoint",
        checkpoint_path.to_str().unwrap(),
    ]));
    let c = checkpoint_path.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--validation", "600"],
            "--validation 600 must be less than",
        ),
        (&["--validation", "590"], "fewer than one batch"),
        (&["--early-stop", "3"], "add --validation"),
        (&["--augment-rotate", "50"], "--augment-rotate"),
        (&["--augment-scale", "-0.1"], "--augment-scale"),
        (&["--augment-elastic-sigma", "0"], "--augment-elastic-sigma"),
        (&["--resume", corrupt.to_str().unwrap()], "corrupt.ckpt"),
        (&["--resume", c, "--hidden", "32"], "contradicts"),
        (&["--resume", c], "has trained all 1 epochs"),
        (&["--resume", c, "--epochs", "100000"], "100000-epoch limit"),
        (&["--checkpoint-every", "0"], "--checkpoint-every"),
        (
            &["--preset", "fast", "--validation", "100000"],
            "--validation",
        ),
    ];
    for (args, expect) in cases {
        let mut all = vec!["train", "--data-dir", d];
        all.extend_from_slice(args);
        one_line_error(&mnist_mlp(&all), expect);
    }
    // Negative numbers for a count are clap's error, still exit 2.
    let shift = mnist_mlp(&["train", "--data-dir", d, "--augment-shift", "-1"]);
    assert_eq!(shift.status.code(), Some(2));
    assert!(stderr(&shift).contains("--augment-shift"));
}

#[test]
fn presets_set_their_settings_and_flags_override_them() {
    let data = fixture();
    let out = ok(mnist_mlp(&[
        "train",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--preset",
        "fast",
        "--epochs",
        "1",
    ]));
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("784-512-10 relu softmax")
            && first.contains("adam lr 0.002 onecycle")
            && first.contains("| 1 epoch |"),
        "{first}"
    );
    let help = stdout(&mnist_mlp(&["train", "--help"]));
    assert!(help.contains("--preset") && help.contains("fast"), "{help}");
    // f32 defaults as written, not widened to f64's digits.
    for default in ["[default: 0.9]", "[default: 0.1]"] {
        assert!(help.contains(default), "no {default} in {help}");
    }
    assert!(!help.contains("0.899999"), "{help}");
    // The best preset's help says what it sets: no elastic distortion.
    assert!(help.contains("(no elastic distortion)"), "{help}");
}

#[test]
fn more_threads_than_cores_are_capped_at_the_cores_and_said() {
    let data = fixture();
    let out = ok(mnist_mlp(&[
        "train",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--threads",
        "1000",
        "--epochs",
        "1",
    ]));
    let cores = std::thread::available_parallelism().unwrap().get();
    assert!(
        out.contains(&format!("--threads 1000: this machine has {cores} core")),
        "{out}"
    );
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains(&format!("threads {cores}")),
        "{out}"
    );
}

#[test]
fn an_empty_set_is_refused_by_train_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let empty = mnist_mlp::Mnist {
        train: common::synthetic(0, 1),
        validation: None,
        test: common::synthetic(10, 2),
    };
    write_mnist_dir(dir.path(), &empty, true);
    let d = dir.path().to_str().unwrap();
    one_line_error(&mnist_mlp(&["train", "--data-dir", d]), "holds no images");
    one_line_error(
        &mnist_mlp(&["show", "--data-dir", d, "--set", "train", "--index", "0"]),
        "holds no images",
    );
}
