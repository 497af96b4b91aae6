//! Every per-batch buffer, allocated once for the largest batch. A shorter
//! batch (the last of an epoch) uses the first `rows` rows of each buffer.
//! Shapes are those of the legend in `network.rs`.

use ndarray::Array2;

use crate::data::dataset::{CLASSES, PIXELS};

#[derive(Debug, Clone)]
pub struct Workspace {
    /// Rows of the current batch, at most `capacity()`.
    pub rows: usize,
    /// (B) digit of each row.
    pub labels: Vec<u8>,
    /// (B,O) one-hot targets, written with the labels.
    pub y: Array2<f32>,
    /// (B,I) standardised inputs.
    pub x: Array2<f32>,
    /// (B,H) hidden activations.
    pub a1: Array2<f32>,
    /// (B,O) output pre-activations, kept for a cost that is finite when σ saturates.
    pub z2: Array2<f32>,
    /// (B,O) outputs.
    pub a2: Array2<f32>,
    /// (B,O) ∂C/∂z2, already divided by the batch rows.
    pub d2: Array2<f32>,
    /// (B,H) ∂C/∂z1.
    pub d1: Array2<f32>,
}

impl Workspace {
    pub fn new(batch_size: usize, hidden: usize) -> Self {
        Self {
            rows: 0,
            labels: vec![0; batch_size],
            y: Array2::zeros((batch_size, CLASSES)),
            x: Array2::zeros((batch_size, PIXELS)),
            a1: Array2::zeros((batch_size, hidden)),
            z2: Array2::zeros((batch_size, CLASSES)),
            a2: Array2::zeros((batch_size, CLASSES)),
            d2: Array2::zeros((batch_size, CLASSES)),
            d1: Array2::zeros((batch_size, hidden)),
        }
    }

    pub fn capacity(&self) -> usize {
        self.labels.len()
    }
}
