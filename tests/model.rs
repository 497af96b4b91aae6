//! Saved models: round trips, bad files rejected with one-line errors, and
//! train --save / --resume / eval from the command line.

mod common;

use common::{mnist_mlp, synthetic_mnist, write_mnist_dir};
use mnist_mlp::io::model::{load, save, ModelInfo};
use mnist_mlp::nn::cost::Cost;
use mnist_mlp::nn::network::{Init, Params};
use rand::rngs::StdRng;
use rand::SeedableRng;
use safetensors::tensor::{Dtype, TensorView};

fn info() -> ModelInfo {
    ModelInfo {
        cost: Cost::Quadratic,
        init: Init::Random,
        batch_size: 16,
        epochs_trained: 7,
        test_accuracy: 0.9123,
        seed: 5,
        lr: 3.0,
        lr_decay: 0.1,
    }
}

#[test]
fn save_then_load_gives_back_weights_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let params = Params::new(12, Init::Kaiming, &mut StdRng::seed_from_u64(2));
    save(&path, &params, &info()).unwrap();
    let (loaded, loaded_info) = load(&path).unwrap();
    assert_eq!(loaded, params);
    assert_eq!(loaded_info, info());
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
    let params = Params::new(6, Init::Kaiming, &mut StdRng::seed_from_u64(2));
    save(&path, &params, &info()).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let message = load(&path).unwrap_err().to_string();
    assert!(
        message.contains("m.safetensors") && message.contains("safetensors"),
        "{message}"
    );

    std::fs::write(&path, b"not a model").unwrap();
    assert!(load(&path).is_err());

    // w2 stored with the wrong shape.
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
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let message = load(&path).unwrap_err().to_string();
    assert!(
        message.contains("\"w2\" has shape [6, 10], expected [10, 6]"),
        "{message}"
    );

    let message = load(&dir.path().join("absent.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("absent.safetensors"), "{message}");
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

    let out = mnist_mlp(&["train", "--data-dir", d, "--epochs", "2", "--resume", m]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("784-10-10")
            && stdout.contains("epoch 3/4")
            && stdout.contains("epoch 4/4"),
        "{stdout}"
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
