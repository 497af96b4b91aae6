//! MNIST in memory: images as u8 (N x 784, row-major), labels as u8.
//!
//! Pixels stay bytes (47 MB for the training set instead of 188 MB as f32);
//! a batch is converted to f32 only when it is gathered (see `batch.rs`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::idx::{read_idx_file, IdxKind, IMAGE_COLS, IMAGE_ROWS};

/// Pixels per image, the network's input width.
pub const PIXELS: usize = IMAGE_ROWS * IMAGE_COLS;
/// Digits 0..9, the network's output width.
pub const CLASSES: usize = 10;

/// Where the data lives when neither `--data-dir` nor `$MNIST_DIR` says.
pub const DEFAULT_DATA_DIR: &str = "data/mnist";
pub const DATA_DIR_ENV: &str = "MNIST_DIR";

/// Labelled images, validated to agree in count.
#[derive(Debug, Clone)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<u8>,
}

impl Dataset {
    /// Pairs `images` (len = labels.len() * 784) with `labels` (each 0..9).
    pub fn new(images: Vec<u8>, labels: Vec<u8>) -> Result<Self> {
        if images.len() != labels.len() * PIXELS {
            return Err(Error::Data(format!(
                "{} bytes of pixels do not make {} images of {PIXELS} pixels",
                images.len(),
                labels.len()
            )));
        }
        if let Some(i) = labels.iter().position(|&l| l as usize >= CLASSES) {
            return Err(Error::Data(format!(
                "label {} at item {i} is outside 0..9",
                labels[i]
            )));
        }
        Ok(Self { images, labels })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 784 pixels of item `i`, row by row.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// All pixels, image after image.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The first `n` items (all of them if there are fewer).
    pub fn truncated(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.images.truncate(n * PIXELS);
        self.labels.truncate(n);
        self
    }
}

/// The training and test sets.
#[derive(Debug, Clone)]
pub struct Mnist {
    pub train: Dataset,
    pub test: Dataset,
}

/// The canonical file names, without `.gz`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// `--data-dir`, else `$MNIST_DIR`, else `./data/mnist`.
pub fn resolve_data_dir(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_owned)
        .or_else(|| std::env::var_os(DATA_DIR_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

/// Finds `name` or `name.gz` in `dir`.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(Error::Data(format!(
            "data folder {} does not exist; put the four MNIST files there, or pass --data-dir DIR or set ${DATA_DIR_ENV}",
            dir.display()
        )));
    }
    [name.to_owned(), format!("{name}.gz")]
        .iter()
        .map(|candidate| dir.join(candidate))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            Error::Data(format!(
                "{} has no {name} or {name}.gz; the folder needs the four MNIST files (pass --data-dir DIR or set ${DATA_DIR_ENV} to point elsewhere)",
                dir.display()
            ))
        })
}

/// Loads one split from its image and label files.
pub fn load_split(dir: &Path, images_name: &str, labels_name: &str) -> Result<Dataset> {
    let images_path = find_file(dir, images_name)?;
    let labels_path = find_file(dir, labels_name)?;
    let images = read_idx_file(&images_path, IdxKind::Images)?;
    let labels = read_idx_file(&labels_path, IdxKind::Labels)?;
    if images.count != labels.count {
        return Err(Error::Data(format!(
            "{} holds {} images but {} holds {} labels",
            images_path.display(),
            images.count,
            labels_path.display(),
            labels.count
        )));
    }
    // Counts agree, so the only thing `new` can still reject is a label.
    Dataset::new(images.data, labels.data)
        .map_err(|e| Error::Data(format!("{}: {e}", labels_path.display())))
}

/// Loads the four canonical files from `dir`.
pub fn load_mnist(dir: &Path) -> Result<Mnist> {
    Ok(Mnist {
        train: load_split(dir, TRAIN_IMAGES, TRAIN_LABELS)?,
        test: load_split(dir, TEST_IMAGES, TEST_LABELS)?,
    })
}
