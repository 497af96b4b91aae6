//! MNIST in memory: images as u8 (N x 784, row-major), labels as u8.
//!
//! Pixels stay bytes (47 MB for the training set instead of 188 MB as f32);
//! a batch is converted to f32 only when it is gathered (see `batch.rs`).

use std::path::{Path, PathBuf};

use crate::data::idx::{read_idx_file, IdxKind, IMAGE_COLS, IMAGE_ROWS};
use crate::error::{Error, Result};

/// Pixels per image, the network's input width.
pub const PIXELS: usize = IMAGE_ROWS * IMAGE_COLS;
/// Digits 0..9, the network's output width.
pub const CLASSES: usize = 10;

/// Which data set: both come as the same four IDX files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// LeCun, Cortes and Burges' handwritten digits.
    Mnist,
    /// Zalando's Fashion-MNIST: ten kinds of clothing, same format and sizes.
    Fashion,
}

/// Where Debian's `dataset-fashion-mnist` package puts its files.
pub const DEBIAN_FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";

impl Source {
    /// The name `--dataset` takes.
    pub fn name(self) -> &'static str {
        match self {
            Source::Mnist => "mnist",
            Source::Fashion => "fashion",
        }
    }

    /// The variable that names the data folder when `--data-dir` does not.
    pub fn env_var(self) -> &'static str {
        match self {
            Source::Mnist => "MNIST_DIR",
            Source::Fashion => "FASHION_MNIST_DIR",
        }
    }

    /// The folder used when neither `--data-dir` nor the variable says:
    /// `./data/mnist`; for Fashion-MNIST Debian's copy if it is installed,
    /// else `./data/fashion-mnist`.
    pub fn default_dir(self) -> PathBuf {
        match self {
            Source::Mnist => PathBuf::from("data/mnist"),
            Source::Fashion if Path::new(DEBIAN_FASHION_DIR).is_dir() => {
                PathBuf::from(DEBIAN_FASHION_DIR)
            }
            Source::Fashion => PathBuf::from("data/fashion-mnist"),
        }
    }

    /// SHA-256 of each canonical file's decompressed IDX bytes (MNIST from
    /// shared/data/README.md; Fashion-MNIST computed from Debian's
    /// dataset-fashion-mnist 0.0~git20200523.55506a9-1).
    pub fn checksums(self) -> [(&'static str, &'static str); 4] {
        match self {
            Source::Mnist => [
                (
                    TRAIN_IMAGES,
                    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                ),
                (
                    TRAIN_LABELS,
                    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                ),
                (
                    TEST_IMAGES,
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                ),
                (
                    TEST_LABELS,
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                ),
            ],
            Source::Fashion => [
                (
                    TRAIN_IMAGES,
                    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                ),
                (
                    TRAIN_LABELS,
                    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                ),
                (
                    TEST_IMAGES,
                    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                ),
                (
                    TEST_LABELS,
                    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                ),
            ],
        }
    }
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "mnist" => Ok(Source::Mnist),
            "fashion" | "fashion-mnist" => Ok(Source::Fashion),
            _ => Err(format!("unknown dataset '{s}' (expected mnist or fashion)")),
        }
    }
}

/// Labelled images, validated to agree in count.
#[derive(Debug, Clone)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<u8>,
    /// Each image's `byte_sums`: a batch's standardisation adds these
    /// rather than reading its pixels twice, and a training thread then
    /// reads only the pixel columns it owns.
    sums: Vec<(u32, u32)>,
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
        let sums = images.chunks_exact(PIXELS).map(byte_sums).collect();
        Ok(Self {
            images,
            labels,
            sums,
        })
    }

    /// Images in the set.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no image.
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

    /// The sum and the sum of squares of item `i`'s pixels.
    pub fn pixel_sums(&self, i: usize) -> (u32, u32) {
        self.sums[i]
    }

    /// The label (0..9) of item `i`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// All labels, in item order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Keeps the first `at` items and returns the rest.
    pub fn split_off(&mut self, at: usize) -> Dataset {
        let at = at.min(self.len());
        Dataset {
            images: self.images.split_off(at * PIXELS),
            labels: self.labels.split_off(at),
            sums: self.sums.split_off(at),
        }
    }

    /// The first `n` items (all of them if there are fewer).
    pub fn truncated(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.images.truncate(n * PIXELS);
        self.labels.truncate(n);
        self.sums.truncate(n);
        self
    }
}

/// Sum and sum of squares of one image's bytes. Plain u32 lanes so the
/// compiler vectorises it (784 · 255² fits in u32).
pub fn byte_sums(pixels: &[u8]) -> (u32, u32) {
    let (mut s, mut sq) = (0u32, 0u32);
    for &p in pixels {
        let p = p as u32;
        s += p;
        sq += p * p;
    }
    (s, sq)
}

/// The training and test sets, and the images held out of the training
/// set to validate on, if any.
#[derive(Debug, Clone)]
pub struct Mnist {
    /// The images trained on.
    pub train: Dataset,
    /// Images held out of the training set to validate on, if any.
    pub validation: Option<Dataset>,
    /// The images each epoch is tested on.
    pub test: Dataset,
}

impl Mnist {
    /// The training and test sets, with no validation set.
    pub fn new(train: Dataset, test: Dataset) -> Self {
        Self {
            train,
            validation: None,
            test,
        }
    }

    /// Loads the four canonical IDX files (each plain or `.gz`) from `dir`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Mnist> {
        load_mnist(dir.as_ref())
    }

    /// Loads MNIST from where the program looks for it: `$MNIST_DIR`, else
    /// `./data/mnist`.
    pub fn load_default() -> Result<Mnist> {
        load_mnist(&resolve_data_dir(None, Source::Mnist))
    }

    /// A copy with the last `n` training images held out as the validation
    /// set (`n` = 0 holds none out).
    pub fn holding_out(&self, n: usize) -> Mnist {
        let keep = self.train.len().saturating_sub(n);
        let part = |range: std::ops::Range<usize>| Dataset {
            images: self.train.images[range.start * PIXELS..range.end * PIXELS].to_vec(),
            labels: self.train.labels[range.clone()].to_vec(),
            sums: self.train.sums[range].to_vec(),
        };
        Mnist {
            train: part(0..keep),
            validation: (n > 0).then(|| part(keep..self.train.len())),
            test: self.test.clone(),
        }
    }

    /// Moves the last `n` training images into the validation set
    /// (Nielsen's 50 000 / 10 000 split is `hold_out(10_000)`); 0 holds
    /// none out.
    pub fn hold_out(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let keep = self.train.len().saturating_sub(n);
        self.validation = Some(self.train.split_off(keep));
    }
}

/// The canonical file names, without `.gz`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// The training labels' file name.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// The test images' file name.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// The test labels' file name.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// `--data-dir`, else the source's variable (`$MNIST_DIR`), else its
/// default folder.
pub fn resolve_data_dir(flag: Option<&Path>, source: Source) -> PathBuf {
    flag.map(Path::to_owned)
        .or_else(|| std::env::var_os(source.env_var()).map(PathBuf::from))
        .unwrap_or_else(|| source.default_dir())
}

/// The file the loader reads for `name` in `dir`: `name` if it is there,
/// else `name.gz`. `fetch` verifies this same file, so that it vouches for
/// what training will read. Whatever is there counts, even a FIFO or a
/// dangling symlink, so that reading it reports what is wrong with it
/// rather than passing it over.
pub fn data_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [name.to_owned(), format!("{name}.gz")]
        .iter()
        .map(|candidate| dir.join(candidate))
        .find(|path| path.symlink_metadata().is_ok())
}

/// Finds `name` or `name.gz` in `dir`.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(Error::Data(format!(
            "data folder {} does not exist; put the four IDX files there, or pass --data-dir DIR or set $MNIST_DIR ($FASHION_MNIST_DIR with --dataset fashion)",
            dir.display()
        )));
    }
    data_file(dir, name).ok_or_else(|| {
            Error::Data(format!(
                "{} has no {name} or {name}.gz; the folder needs the four IDX files (pass --data-dir DIR or set $MNIST_DIR, $FASHION_MNIST_DIR with --dataset fashion, to point elsewhere)",
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
    if images.count == 0 {
        return Err(Error::Data(format!(
            "{} holds no images: nothing to train on or test",
            images_path.display()
        )));
    }
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
        validation: None,
        test: load_split(dir, TEST_IMAGES, TEST_LABELS)?,
    })
}
