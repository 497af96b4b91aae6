//! Gathering a batch: chosen rows of u8 pixels → f32 in the workspace,
//! standardised either over the whole batch (all rows × 784 pixels
//! together, as the tutorial does) or with the training set's mean and
//! standard deviation.
//!
//! The mean and variance come exactly from integer sums of the bytes, which
//! also keeps them independent of summation order.

use std::ops::Range;

use ndarray::{s, ArrayViewMut2};

use crate::data::dataset::{byte_sums, Dataset, CLASSES, PIXELS};
use crate::nn::workspace::Workspace;

/// How pixels become inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalisation {
    /// Each batch to mean 0, std 1 over all its pixels.
    PerBatch,
    /// x = (p − mean) / std, with the training set's figures on the 0..255
    /// scale, the same for every batch.
    Fixed {
        /// The training pixels' mean, 0..255.
        mean: f32,
        /// Their standard deviation.
        std: f32,
    },
}

impl Normalisation {
    /// `(scale, offset)` with x = p · scale + offset for the images whose
    /// `byte_sums` are `sums`.
    fn scale_offset(self, sums: impl Iterator<Item = (u32, u32)>) -> (f32, f32) {
        match self {
            Normalisation::PerBatch => {
                let (mut sum, mut sum_sq, mut count) = (0u64, 0u64, 0u64);
                for (s, sq) in sums {
                    sum += s as u64;
                    sum_sq += sq as u64;
                    count += PIXELS as u64;
                }
                standardisation(sum, sum_sq, count)
            }
            Normalisation::Fixed { mean, std } => fixed_scale_offset(mean, std),
        }
    }
}

/// `(scale, offset)` of dataset normalisation, x = p · scale + offset: the
/// constants `gather` applies and an exported ONNX graph stores, so that
/// both compute the same f32 inputs.
pub fn fixed_scale_offset(mean: f32, std: f32) -> (f32, f32) {
    (1.0 / std, -mean / std)
}

/// Mean and standard deviation of every pixel of `data`, on the 0..255
/// scale: the figures dataset normalisation uses.
pub fn pixel_stats(data: &Dataset) -> (f32, f32) {
    let (mut sum, mut sum_sq) = (0u64, 0u64);
    for i in 0..data.len() {
        let (s, sq) = data.pixel_sums(i);
        sum += s as u64;
        sum_sq += sq as u64;
    }
    let count = (data.len() * PIXELS) as f64;
    let mean = sum as f64 / count;
    let std = (sum_sq as f64 / count - mean * mean).max(0.0).sqrt();
    // A blank set has std 0: scaled by 1, it maps to zeros rather than NaN.
    (mean as f32, if std > 0.0 { std as f32 } else { 1.0 })
}

/// Copies the items `indices` of `data` into `ws` (x normalised, labels
/// and their one-hot targets).
/// Panics if there are more indices than the workspace has rows: the training
/// loop never asks for that.
pub fn gather<I>(ws: &mut Workspace, data: &Dataset, indices: I, normalisation: Normalisation)
where
    I: ExactSizeIterator<Item = usize> + Clone,
{
    let n = indices.len();
    // Out of ws for the call, which writes the targets there too.
    let mut x = std::mem::take(&mut ws.x);
    gather_columns(
        ws,
        data,
        indices,
        std::iter::once((0..PIXELS, x.slice_mut(s![..n, ..]))),
        normalisation,
        None,
        0.0,
    );
    ws.x = x;
}

/// `gather`, writing the pixel columns of each of `blocks` (the columns,
/// and a (rows, columns) block for them) rather than all of x: a training
/// thread fills only the blocks of its slices. With `redrawn`, the
/// batch's images come from there (row-major, 784 bytes per image, in the
/// order of `indices`) instead of the dataset: the augmented batch. A
/// per-batch standardisation is still that of the whole batch. The
/// targets are smoothed by `label_smoothing` ε (0 for one-hot).
pub fn gather_columns<'x, I>(
    ws: &mut Workspace,
    data: &Dataset,
    indices: I,
    blocks: impl Iterator<Item = (Range<usize>, ArrayViewMut2<'x, f32>)>,
    normalisation: Normalisation,
    redrawn: Option<&[u8]>,
    label_smoothing: f32,
) where
    I: ExactSizeIterator<Item = usize> + Clone,
{
    let n = indices.len();
    assert!(n <= ws.capacity(), "batch of {n} exceeds workspace");
    ws.rows = n;
    let image = |row: usize, i: usize| match redrawn {
        Some(images) => &images[row * PIXELS..][..PIXELS],
        None => data.image(i),
    };
    let (scale, offset) =
        normalisation.scale_offset(indices.clone().enumerate().map(|(row, i)| match redrawn {
            Some(_) => byte_sums(image(row, i)),
            None => data.pixel_sums(i),
        }));

    for (columns, mut block) in blocks {
        let width = columns.len();
        // Plain slices, which the compiler vectorises.
        let block = block.as_slice_mut().expect("a block is row-major");
        for (row, (x_row, i)) in block
            .chunks_exact_mut(width)
            .zip(indices.clone())
            .enumerate()
        {
            let pixels = &image(row, i)[columns.clone()];
            for (out, &p) in x_row.iter_mut().zip(pixels) {
                *out = p as f32 * scale + offset;
            }
        }
    }
    let (others, true_digit) = smoothed_targets(label_smoothing);
    for ((label, mut y), i) in ws.labels.iter_mut().zip(ws.y.rows_mut()).zip(indices) {
        *label = data.label(i);
        y.fill(others);
        y[*label as usize] = true_digit;
    }
}

/// The targets under label smoothing ε: (every other digit's, the true
/// digit's), ε/10 and 1 − ε + ε/10, which sum to 1 over the ten digits.
pub fn smoothed_targets(label_smoothing: f32) -> (f32, f32) {
    let others = label_smoothing / CLASSES as f32;
    (others, 1.0 - label_smoothing + others)
}

/// `(scale, offset)` with `x = p · scale + offset` standardised. A batch whose
/// pixels are all equal (a blank image) has std 0: it maps to all zeros
/// rather than NaN.
pub fn standardisation(sum: u64, sum_sq: u64, count: u64) -> (f32, f32) {
    let mean = sum as f64 / count as f64;
    // count² · variance = count · Σp² − (Σp)², exact in u128.
    let scaled_variance = count as u128 * sum_sq as u128 - sum as u128 * sum as u128;
    let std = (scaled_variance as f64).sqrt() / count as f64;
    let scale = if std > 0.0 { 1.0 / std } else { 1.0 };
    (scale as f32, (-mean * scale) as f32)
}

/// Asks the CPU to start loading the pixels `columns` of the images of
/// the next batch. Shuffled images are scattered over 47 MB, so without
/// this the first touch of each one stalls on memory; issued a batch
/// ahead, the loads overlap the products of the current batch. A core
/// keeps only so many lines in flight, so the prefetches themselves wait
/// for memory: each thread asks for its own columns only.
pub fn prefetch(data: &Dataset, indices: &[usize], columns: Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    for &i in indices {
        let pixels = &data.image(i)[columns.clone()];
        // A byte every 64 touches each line once; the last byte, the line
        // the steps may have stepped over.
        let every_line = (0..pixels.len())
            .step_by(64)
            .chain(pixels.len().checked_sub(1));
        for at in every_line {
            // SAFETY: a prefetch is a hint; the address is inside a live slice.
            unsafe {
                std::arch::x86_64::_mm_prefetch(
                    pixels[at..].as_ptr() as *const i8,
                    std::arch::x86_64::_MM_HINT_T0,
                )
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, indices, columns);
}

/// The batches of `order`, each with the one after it (to prefetch).
pub fn batches_with_next(
    order: &[usize],
    batch_size: usize,
) -> impl Iterator<Item = (&[usize], Option<&[usize]>)> {
    let next = order.chunks(batch_size).skip(1).map(Some).chain([None]);
    order.chunks(batch_size).zip(next)
}
