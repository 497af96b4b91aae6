//! Fixtures the tests make for themselves: a learnable synthetic "MNIST" and
//! IDX files written from it.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::io::Write;
use std::path::Path;

use mnist_mlp::internals::data::dataset::{
    Dataset, Mnist, CLASSES, PIXELS, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
};
use mnist_mlp::internals::data::idx::{encode_idx, IdxKind};

/// A small deterministic generator, so fixtures need no RNG crate state.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `n` images whose class is drawn as a bright band at a class-specific
/// place, over speckle noise: easy to learn, not trivially separable by one
/// pixel.
pub fn synthetic(n: usize, seed: u64) -> Dataset {
    let mut rng = SplitMix(seed);
    let mut images = vec![0u8; n * PIXELS];
    let mut labels = vec![0u8; n];
    for (i, image) in images.chunks_exact_mut(PIXELS).enumerate() {
        let label = rng.below(CLASSES as u64) as usize;
        labels[i] = label as u8;
        for (p, px) in image.iter_mut().enumerate() {
            let (row, col) = (p / 28, p % 28);
            let in_band = row / 3 == label || (col / 3 == label && row > 14);
            let noise = rng.below(60) as u8;
            *px = if in_band && rng.below(10) < 8 {
                180 + noise
            } else {
                noise
            };
        }
    }
    Dataset::new(images, labels).expect("synthetic data is valid")
}

pub fn synthetic_mnist(train: usize, test: usize) -> Mnist {
    Mnist {
        train: synthetic(train, 1),
        validation: None,
        test: synthetic(test, 2),
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes `data` as the four canonical files in `dir`, gzipped or raw.
pub fn write_mnist_dir(dir: &Path, data: &Mnist, gzipped: bool) {
    let files = [
        (TRAIN_IMAGES, IdxKind::Images, &data.train, true),
        (TRAIN_LABELS, IdxKind::Labels, &data.train, false),
        (TEST_IMAGES, IdxKind::Images, &data.test, true),
        (TEST_LABELS, IdxKind::Labels, &data.test, false),
    ];
    for (name, kind, set, images) in files {
        let payload = if images { set.images() } else { set.labels() };
        let bytes = encode_idx(kind, set.len(), payload);
        let (name, bytes) = if gzipped {
            (format!("{name}.gz"), gzip(&bytes))
        } else {
            (name.to_string(), bytes)
        };
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// The deep network the allocation checks use: two hidden layers (the
/// second wide enough to be shared out by units), ReLU, softmax, Adam,
/// dropout, weight decay and every kind of augmentation.
pub fn deep_config() -> mnist_mlp::internals::train::TrainConfig {
    let mut config = mnist_mlp::internals::train::TrainConfig::default();
    for (key, value) in [
        ("hidden", "256-300"),
        ("activation", "relu"),
        ("output", "softmax"),
        ("optimizer", "adam"),
        ("dropout", "0.2"),
        ("weight_decay", "0.0001"),
        ("augment_shift", "2"),
        ("augment_rotate", "10"),
        ("augment_scale", "0.1"),
        ("augment_elastic", "20"),
    ] {
        config.set(key, value).unwrap();
    }
    config
}

/// Runs the binary with `args`, with no `$MNIST_DIR` from the caller.
#[cfg(feature = "cli")]
pub fn mnist_mlp(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args(args)
        .env_remove("MNIST_DIR")
        .output()
        .unwrap()
}
/// What a run of the binary wrote to stderr.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What a run of the binary wrote to stdout, once it has succeeded (else
/// the test fails with its stderr).
pub fn stdout_of_success(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The program's answer to bad input: exit status 2 and one line on
/// stderr, `error: ...` naming `expect`, never a panic.
pub fn assert_one_line_error(output: &std::process::Output, expect: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(expect), "expected {expect:?} in {err}");
}

/// The names of the files in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A fixed, cheap sequence of values in [-1, 1), (rows, cols).
pub fn values(rows: usize, cols: usize, mut state: u64) -> ndarray::Array2<f32> {
    ndarray::Array2::from_shape_simple_fn((rows, cols), move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    })
}

pub mod naive;
pub mod reference;
