//! The one error type of the crate. Every message names the file or the
//! setting at fault and says what was expected, so `main` can print it as a
//! single line and exit with status 2.

use std::path::{Path, PathBuf};

/// What went wrong; its `Display` is one line naming the file or setting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },

    /// `path` is not a valid IDX file.
    #[error("{}: {problem}", path.display())]
    Idx {
        /// The file.
        path: PathBuf,
        /// Which check it failed.
        problem: IdxProblem,
    },

    /// Data or a model file that cannot be used, said in full.
    #[error("{0}")]
    Data(String),

    /// A setting that cannot work, said in full and naming the setting.
    #[error("{0}")]
    Config(String),
}

/// What is wrong with an IDX file, one variant per check so that tests can
/// tell the checks apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // each variant's message says what it means
pub enum IdxProblem {
    #[error("file is {found} bytes long, too short for an IDX header ({needed} bytes)")]
    TruncatedHeader { needed: usize, found: usize },

    #[error(
        "wrong magic number {found:#010x} (expected {expected:#010x} = {expected} for {what})"
    )]
    BadMagic {
        expected: u32,
        found: u32,
        what: &'static str,
    },

    #[error("has {found} dimensions, expected {expected}")]
    BadDimensionCount { expected: usize, found: usize },

    #[error("images are {rows}x{cols} pixels, expected 28x28")]
    BadImageSize { rows: usize, cols: usize },

    #[error("header promises {expected} bytes of data but the file holds {found}: truncated")]
    Truncated { expected: usize, found: usize },

    #[error("header promises {expected} bytes of data but the file holds {found}: {} bytes too many", found - expected)]
    TrailingBytes { expected: usize, found: usize },

    #[error("header dimensions {dims:?} overflow the address space")]
    Overflow { dims: Vec<u32> },

    #[error("corrupt gzip: {0}")]
    BadGzip(String),

    #[error("gzip inflates to more than {limit} bytes, far more than any MNIST-like file (the largest is 47,040,016)")]
    InflatesTooFar { limit: u64 },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it happened on:
    /// `.map_err(Error::io(path))`.
    pub fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + Copy + '_ {
        move |source| Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}
