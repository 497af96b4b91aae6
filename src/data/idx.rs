//! IDX files (LeCun's MNIST format), gzip-compressed or raw.
//!
//! Layout: a big-endian u32 magic `0x0000_08NN` (0x08 = unsigned bytes,
//! NN = number of dimensions), NN big-endian u32 sizes, then the data.
//! Images use magic 2051 (3 dims: count, 28, 28), labels 2049 (1 dim).
//!
//! Gzip is recognised by its two magic bytes, not by the file name. Nothing is
//! ever allocated from what a header claims: the whole file is read first and
//! the header is checked against the bytes actually there. Neither the file
//! nor what it inflates to may exceed [`MAX_IDX_BYTES`].

use std::io::Read;
use std::path::Path;

use crate::error::{Error, IdxProblem, Result};
use crate::io::read::read_capped;

pub const IMAGES_MAGIC: u32 = 2051;
pub const LABELS_MAGIC: u32 = 2049;
pub const IMAGE_ROWS: usize = 28;
pub const IMAGE_COLS: usize = 28;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The largest real IDX file, MNIST's training images, is 47,040,016 bytes;
/// about twice that leaves room for a larger MNIST-like set while bounding
/// the memory a file can take, on disk or inflated (4 MB of gzip can
/// inflate to 4 GiB).
pub const MAX_IDX_BYTES: u64 = 100 << 20;

/// Which of the two IDX flavours a file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxKind {
    Images,
    Labels,
}

impl IdxKind {
    fn magic(self) -> u32 {
        match self {
            IdxKind::Images => IMAGES_MAGIC,
            IdxKind::Labels => LABELS_MAGIC,
        }
    }
    fn dimension_count(self) -> usize {
        match self {
            IdxKind::Images => 3,
            IdxKind::Labels => 1,
        }
    }
    fn description(self) -> &'static str {
        match self {
            IdxKind::Images => "an image file",
            IdxKind::Labels => "a label file",
        }
    }
}

/// A validated IDX file: the item count and the data bytes after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    pub count: usize,
    pub data: Vec<u8>,
}

/// Reads, decompresses if gzip, and validates one IDX file.
pub fn read_idx_file(path: &Path, kind: IdxKind) -> Result<Idx> {
    parse_idx(read_idx_bytes(path)?, kind).map_err(|problem| Error::Idx {
        path: path.to_owned(),
        problem,
    })
}

/// The IDX bytes of the file at `path`, inflated if it is gzip: what the
/// loader parses and what `fetch` checksums. The file must be a regular
/// one of at most [`MAX_IDX_BYTES`].
pub fn read_idx_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = read_capped(path, MAX_IDX_BYTES, "IDX")?;
    if !is_gzip(&raw) {
        return Ok(raw);
    }
    gunzip(&raw).map_err(|problem| Error::Idx {
        path: path.to_owned(),
        problem,
    })
}

/// Whether `bytes` are gzip, by their magic, whatever the file is called.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Inflates gzip; the one place it is done (files on disk and downloads
/// alike), so that nothing inflates past [`MAX_IDX_BYTES`].
pub fn gunzip(compressed: &[u8]) -> std::result::Result<Vec<u8>, IdxProblem> {
    let mut out = Vec::new();
    // One byte past the cap tells "exactly the cap" from "more".
    flate2::read::MultiGzDecoder::new(compressed)
        .take(MAX_IDX_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| IdxProblem::BadGzip(e.to_string()))?;
    if out.len() as u64 > MAX_IDX_BYTES {
        return Err(IdxProblem::InflatesTooFar {
            limit: MAX_IDX_BYTES,
        });
    }
    Ok(out)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4-byte slice"))
}

/// Validates an in-memory IDX file; on success the header is stripped off
/// `bytes` in place, so the data is never copied.
pub fn parse_idx(mut bytes: Vec<u8>, kind: IdxKind) -> std::result::Result<Idx, IdxProblem> {
    let dims_expected = kind.dimension_count();
    if bytes.len() < 4 {
        return Err(IdxProblem::TruncatedHeader {
            needed: 4 + 4 * dims_expected,
            found: bytes.len(),
        });
    }
    // The magic is two zero bytes, a type byte (0x08 = unsigned bytes) and
    // the dimension count. An unsigned-byte IDX with another dimension count
    // is reported as such, unless it is the other MNIST kind (labels given
    // where images belong), which the magic numbers name best.
    let magic = be_u32(&bytes, 0);
    if magic != kind.magic() {
        let other_mnist_kind = magic == IMAGES_MAGIC || magic == LABELS_MAGIC;
        if magic >> 8 == kind.magic() >> 8 && !other_mnist_kind {
            return Err(IdxProblem::BadDimensionCount {
                expected: dims_expected,
                found: bytes[3] as usize,
            });
        }
        return Err(IdxProblem::BadMagic {
            expected: kind.magic(),
            found: magic,
            what: kind.description(),
        });
    }
    let header_len = 4 + 4 * dims_expected;
    if bytes.len() < header_len {
        return Err(IdxProblem::TruncatedHeader {
            needed: header_len,
            found: bytes.len(),
        });
    }
    let dims: Vec<u32> = (0..dims_expected)
        .map(|d| be_u32(&bytes, 4 + 4 * d))
        .collect();
    if kind == IdxKind::Images && (dims[1] as usize != IMAGE_ROWS || dims[2] as usize != IMAGE_COLS)
    {
        return Err(IdxProblem::BadImageSize {
            rows: dims[1] as usize,
            cols: dims[2] as usize,
        });
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        .ok_or_else(|| IdxProblem::Overflow { dims: dims.clone() })?;
    let found = bytes.len() - header_len;
    if found < expected {
        return Err(IdxProblem::Truncated { expected, found });
    }
    if found > expected {
        return Err(IdxProblem::TrailingBytes { expected, found });
    }
    bytes.drain(..header_len);
    Ok(Idx {
        count: dims[0] as usize,
        data: bytes,
    })
}

/// Encodes data as an IDX file; the inverse of [`parse_idx`]. Tests write
/// their fixtures with it, so it lives beside the reader it must agree with.
pub fn encode_idx(kind: IdxKind, count: usize, data: &[u8]) -> Vec<u8> {
    let mut dims = vec![count as u32];
    if kind == IdxKind::Images {
        dims.extend([IMAGE_ROWS as u32, IMAGE_COLS as u32]);
    }
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&kind.magic().to_be_bytes());
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
