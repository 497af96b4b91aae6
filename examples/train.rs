//! Trains a small network on MNIST with the typed API, evaluates it on the
//! test set, saves it and exports it to ONNX.
//!
//! MNIST_DIR=/path/to/mnist cargo run --release --example train

use mnist_mlp::{on_epoch, train, Mnist, Preset, TrainConfig, TrainOptions};

fn main() -> mnist_mlp::Result<()> {
    // $MNIST_DIR, else ./data/mnist (the four IDX files, plain or .gz).
    let data = Mnist::load_default()?;
    let config = TrainConfig {
        epochs: 2,
        validation: 10_000, // the last 10 000 training images
        early_stop: 1,
        ..Preset::Fast.config()
    };
    let summary = train(
        config,
        &data,
        TrainOptions::default(),
        &mut on_epoch(|report| {
            println!("{}", report.line());
            Ok(())
        }),
    )?;
    // The best epoch on validation, scored on the test set.
    let model = summary.model;
    let report = model.evaluate(&data.test);
    println!("test accuracy {:.2}%", 100.0 * report.accuracy);
    model.save("mnist-fast.safetensors")?;
    model.export_onnx("mnist-fast.onnx")?;
    println!("saved mnist-fast.safetensors and mnist-fast.onnx");
    Ok(())
}
