//! A float32 matrix as a NumPy `.npy` file (format version 1.0), which
//! `numpy.load` reads back exactly: no decimal text in between.

use std::path::Path;

use crate::error::Result;
use crate::io::atomic_file::write_atomically;

/// The bytes of a `.npy` file holding `values`, a row-major
/// `rows × cols` float32 matrix.
pub fn npy_f32(rows: usize, cols: usize, values: &[f32]) -> Vec<u8> {
    assert_eq!(values.len(), rows * cols, "values fill the matrix");
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6 bytes), version (2), header length (2), then the header,
    // padded with spaces and ended by a newline so that the data starts on
    // a multiple of 64 bytes, as the format asks.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * values.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    bytes
}

/// Writes `values` (`rows × cols`) to `path` as `.npy`, through a
/// temporary file.
pub fn write_npy_f32(path: &Path, rows: usize, cols: usize, values: &[f32]) -> Result<()> {
    write_atomically(path, &npy_f32(rows, cols, values))
}
