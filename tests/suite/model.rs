//! Saved models: round trips, bad files rejected with one-line errors, and
//! train --save / --resume / eval from the command line.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use std::path::Path;

use common::{mnist_mlp, synthetic_mnist, write_mnist_dir};
use mnist_mlp::internals::data::batch::Normalisation;
use mnist_mlp::internals::eval::evaluate;
use mnist_mlp::internals::io::model::{load, save, ModelInfo};
use mnist_mlp::internals::nn::arch::{Activation, Cost, Hidden, Init, Output};
use mnist_mlp::internals::nn::params::Params;
use mnist_mlp::internals::train::config::Normalise;
use mnist_mlp::internals::train::TrainConfig;
use rand::rngs::StdRng;
use rand::SeedableRng;
use safetensors::tensor::{Dtype, TensorView};

fn info(hidden: &[usize]) -> ModelInfo {
    ModelInfo {
        config: TrainConfig {
            hidden: Hidden(hidden.to_vec()),
            activation: Activation::Tanh,
            output: Output::Softmax,
            cost: Cost::CrossEntropy,
            init: Init::Xavier,
            batch_size: 16,
            seed: 5,
            lr: Some(3.0),
            normalise: Normalise::Dataset,
            ..TrainConfig::default()
        },
        normalisation: Normalisation::Fixed {
            mean: 33.3,
            std: 78.5,
        },
        epochs_trained: 7,
        test_accuracy: 0.9123,
    }
}

fn params(hidden: &[usize]) -> Params {
    Params::new(
        &Hidden(hidden.to_vec()).sizes(),
        Init::Kaiming,
        &mut StdRng::seed_from_u64(2),
    )
}

#[test]
fn save_then_load_gives_back_weights_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let params = params(&[12, 5]);
    save(&path, &params, &info(&[12, 5])).unwrap();
    let (loaded, loaded_info) = load(&path).unwrap();
    assert_eq!(loaded, params);
    assert_eq!(loaded_info, info(&[12, 5]));
    // The metadata a reader without our code needs.
    let bytes = std::fs::read(&path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    for (key, value) in [
        ("hidden", "12-5"),
        ("activation", "tanh"),
        ("output", "softmax"),
        ("normalisation", "dataset"),
        ("mean", "33.3"),
        ("std", "78.5"),
    ] {
        assert_eq!(meta[key], value, "{key}");
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "a temporary file was left: {names:?}");
}

#[test]
fn truncated_garbage_and_misshapen_models_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let params = params(&[6]);
    save(&path, &params, &info(&[6])).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let message = load(&path).unwrap_err().to_string();
    assert!(
        message.contains("m.safetensors") && message.contains("safetensors"),
        "{message}"
    );

    std::fs::write(&path, b"not a model").unwrap();
    assert!(load(&path).is_err());

    // An old-format model with w2 stored the wrong way round.
    let zeros = vec![0u8; 4 * 784 * 6];
    let small = vec![0u8; 4 * 6];
    let tens = vec![0u8; 4 * 10];
    let w2 = vec![0u8; 4 * 6 * 10];
    let views = [
        (
            "w1",
            TensorView::new(Dtype::F32, vec![6, 784], &zeros).unwrap(),
        ),
        ("b1", TensorView::new(Dtype::F32, vec![6], &small).unwrap()),
        ("w2", TensorView::new(Dtype::F32, vec![6, 10], &w2).unwrap()),
        ("b2", TensorView::new(Dtype::F32, vec![10], &tens).unwrap()),
    ];
    let legacy_meta: std::collections::HashMap<String, String> = [
        ("format", "mnist-mlp/1"),
        ("cost", "cross-entropy"),
        ("init", "kaiming"),
        ("batch_size", "20"),
        ("seed", "3"),
        ("lr", "1"),
        ("lr_decay", "0.1"),
        ("epochs_trained", "1"),
        ("test_accuracy", "0.5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    std::fs::write(
        &path,
        safetensors::serialize(views, Some(legacy_meta)).unwrap(),
    )
    .unwrap();
    let message = load(&path).unwrap_err().to_string();
    assert!(
        message.contains("\"w2\" has shape [6, 10], expected [units, 6]"),
        "{message}"
    );

    // Weights that are not finite.
    let mut broken = params.clone();
    broken.layers[1].w[[3, 2]] = f32::NAN;
    save(&path, &broken, &info(&[6])).unwrap();
    let message = load(&path).unwrap_err().to_string();
    assert!(
        message.contains("not finite") && message.contains("layers.1.weight"),
        "{message}"
    );

    let message = load(&dir.path().join("absent.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("absent.safetensors"), "{message}");
}

#[test]
fn a_model_saved_before_the_general_network_loads_and_scores_as_it_did() {
    // Saved by the one-hidden-layer version (w1, b1, w2, b2; format
    // mnist-mlp/1) after one epoch on `synthetic_mnist(600, 200)`, H=8,
    // batch 16, lr 0.05, seed 4; its metadata keeps the test accuracy that
    // version measured on the same 200 images.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-model-h8.safetensors");
    let (params, info) = load(&path).unwrap();
    assert_eq!(params.hidden(), vec![8]);
    assert_eq!(info.config.hidden, Hidden(vec![8]));
    assert_eq!(
        (info.config.activation, info.config.output),
        (Activation::Sigmoid, Output::Sigmoid)
    );
    assert_eq!(info.config.batch_size, 16);
    assert_eq!(info.normalisation, Normalisation::PerBatch);
    let data = synthetic_mnist(600, 200);
    let report = evaluate(&params, &info, &data.test);
    assert_eq!(report.samples, 200);
    assert!(
        info.test_accuracy > 0.2 && info.test_accuracy < 0.9,
        "a fixture that tells: {}",
        info.test_accuracy
    );
    assert_eq!(report.accuracy, info.test_accuracy);
}

#[test]
fn train_save_eval_and_resume_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(300, 120), true);
    let d = dir.path().to_str().unwrap();
    let model = dir.path().join("m.safetensors");
    let m = model.to_str().unwrap();
    let metrics = dir.path().join("m.jsonl");
    let out = mnist_mlp(&[
        "train",
        "--data-dir",
        d,
        "--epochs",
        "2",
        "--hidden",
        "10",
        "--save",
        m,
        "--metrics-out",
        metrics.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&metrics)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();

    let out = mnist_mlp(&["eval", "--model", m, "--data-dir", d, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["accuracy"], last["test_acc"],
        "eval must agree with training's last test pass"
    );
    let confusion = report["confusion"].as_array().unwrap();
    assert_eq!(confusion.len(), 10);
    let total: u64 = confusion
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total, 120);
    let diagonal: u64 = (0..10).map(|i| confusion[i][i].as_u64().unwrap()).sum();
    assert!((diagonal as f64 / 120.0 - report["accuracy"].as_f64().unwrap()).abs() < 1e-12);

    let out = mnist_mlp(&[
        "train",
        "--data-dir",
        d,
        "--epochs",
        "2",
        "--resume",
        m,
        "--lr",
        "0.5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("784-10-10")
            && stdout.contains("--lr 0.5 overrides the model's 1")
            && stdout.contains("epoch 3/4")
            && stdout.contains("epoch 4/4"),
        "{stdout}"
    );
    // The architecture comes from the model; a flag contradicting it is refused.
    let out = mnist_mlp(&["train", "--data-dir", d, "--resume", m, "--hidden", "90"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--hidden 90 contradicts") && stderr.trim_end().lines().count() == 1,
        "{stderr}"
    );

    let out = mnist_mlp(&[
        "eval",
        "--model",
        dir.path().join("none").to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );

    let out = mnist_mlp(&[
        "train",
        "--data-dir",
        d,
        "--save",
        "/nonexistent-folder/m.safetensors",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("epoch "),
        "must fail before training"
    );
}
