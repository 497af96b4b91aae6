//! Every per-batch buffer of one thread, allocated once for the largest
//! batch. A shorter batch (the last of an epoch) uses the first `rows` rows
//! of each buffer. Shapes are those of the legend in `nn/mod.rs`.

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};

use crate::data::dataset::CLASSES;
use crate::nn::aligned;

/// The buffers of one hidden layer.
#[derive(Debug, Clone)]
pub struct HiddenBuffers {
    /// (B, H) activations f(z): the products are written here and the
    /// activation applied in place.
    pub a: Array2<f32>,
    /// (B, H) 0 or 1 / (1 − p) per unit under dropout; (0, 0) without.
    pub mask: Array2<f32>,
    /// (B, H) a ⊙ mask, the next layer's input under dropout; (0, 0) without.
    pub kept: Array2<f32>,
    /// (B, H) ∂C/∂z of this layer.
    pub dz: Array2<f32>,
}

impl HiddenBuffers {
    /// What the layer passes on: its activations, or under dropout
    /// (`dropping`) the units kept.
    pub fn output(&self, dropping: bool) -> &Array2<f32> {
        if dropping {
            &self.kept
        } else {
            &self.a
        }
    }
}

#[derive(Debug, Clone)]
pub struct Workspace {
    /// Rows of the current batch, at most `capacity()`.
    pub rows: usize,
    /// (B) digit of each row.
    pub labels: Vec<u8>,
    /// (B, O) one-hot targets, written with the labels.
    pub y: Array2<f32>,
    /// (B, I) standardised inputs.
    pub x: Array2<f32>,
    /// One per hidden layer.
    pub hidden: Vec<HiddenBuffers>,
    /// (B, O) output pre-activations, kept for a cost that stays finite
    /// when σ saturates and for the argmax.
    pub z: Array2<f32>,
    /// (B, O) outputs.
    pub a_out: Array2<f32>,
    /// (B, O) ∂C/∂z of the output layer.
    pub dz_out: Array2<f32>,
}

impl Workspace {
    /// Buffers for batches of up to `batch_size` through layers of widths
    /// `sizes` (inputs first); `dropout` adds the mask buffers.
    pub fn new(batch_size: usize, sizes: &[usize], dropout: bool) -> Self {
        let block = |width| aligned::zeros((batch_size, width));
        let maybe = |width| {
            if dropout {
                block(width)
            } else {
                Array2::zeros((0, 0))
            }
        };
        let hidden = sizes[1..sizes.len() - 1]
            .iter()
            .map(|&h| HiddenBuffers {
                a: block(h),
                mask: maybe(h),
                kept: maybe(h),
                dz: block(h),
            })
            .collect();
        Self {
            rows: 0,
            labels: vec![0; batch_size],
            y: block(CLASSES),
            x: block(sizes[0]),
            hidden,
            z: block(CLASSES),
            a_out: block(CLASSES),
            dz_out: block(CLASSES),
        }
    }

    pub fn capacity(&self) -> usize {
        self.labels.len()
    }

    /// The first `rows` rows of the input of weight layer `l`: x, or the
    /// previous hidden layer's activations (after dropout, when `dropping`).
    pub fn input(&self, l: usize, dropping: bool) -> ArrayView2<'_, f32> {
        let source = match l {
            0 => &self.x,
            _ => self.hidden[l - 1].output(dropping),
        };
        source.slice(s![..self.rows, ..])
    }
}

impl Workspace {
    /// Weight layer `l`'s input (as `input`) and the first `rows` rows of the
    /// buffer its products go to: the hidden activations, or z for the
    /// output layer.
    pub fn input_and_output(
        &mut self,
        l: usize,
        dropping: bool,
    ) -> (ArrayView2<'_, f32>, ArrayViewMut2<'_, f32>) {
        let n = self.rows;
        let (before, after) = self.hidden.split_at_mut(l);
        let output = match after.first_mut() {
            Some(h) => &mut h.a,
            None => &mut self.z,
        };
        let input = match before.last() {
            None => &self.x,
            Some(h) => h.output(dropping),
        };
        (input.slice(s![..n, ..]), output.slice_mut(s![..n, ..]))
    }
}

/// The first `len` values of a row-major buffer.
pub fn flat(m: &Array2<f32>, len: usize) -> &[f32] {
    &m.as_slice().expect("buffers are row-major")[..len]
}

/// The first `len` values of a row-major buffer, to write.
pub fn flat_mut(m: &mut Array2<f32>, len: usize) -> &mut [f32] {
    &mut m.as_slice_mut().expect("buffers are row-major")[..len]
}
