//! Loads a saved model and classifies the first test image, a 784-pixel
//! slice.
//!
//! MNIST_DIR=/path/to/mnist cargo run --release --example classify -- mnist-fast.safetensors

use mnist_mlp::{Error, Mnist, Model};

fn main() -> mnist_mlp::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| Error::Config("usage: classify MODEL.safetensors".into()))?;
    let model = Model::load(&path)?;
    let test = Mnist::load_default()?.test;
    let pixels: &[u8] = test.image(0); // 28×28 bytes, row by row
    let answer = model.classify(pixels)?;
    println!(
        "{path}: test image 0 is a {}, the model says {} (outputs {:.3?})",
        test.label(0),
        answer.digit,
        answer.outputs
    );
    Ok(())
}
