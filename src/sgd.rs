//! Plain mini-batch SGD, fused into the products that make the gradient.
//!
//! lr(epoch) = lr0 / (1 + decay · epoch), epochs counted from 0: the first
//! epoch runs at lr0 and decay = 0 keeps the rate constant (the schedule of
//! the NumPy reference).

use ndarray::linalg::general_mat_mul;
use ndarray::{s, ArrayView2, ArrayViewMut1, Axis};

use crate::network::Params;
use crate::workspace::Workspace;

pub fn learning_rate(lr0: f32, decay: f32, epoch: usize) -> f32 {
    lr0 / (1.0 + decay * epoch as f32)
}

/// Subtracts `rate` times the batch gradient from `params`. The weight
/// gradients never exist on their own: each is one sgemm with alpha = −rate
/// and beta = 1 straight into the weights. With `rate = −1` on zeroed
/// parameters this writes the gradient itself, which is how tests read it.
pub fn apply_gradient(params: &mut Params, ws: &Workspace, rate: f32) {
    let n = ws.rows;
    let x = ws.x.slice(s![..n, ..]);
    let a1 = ws.a1.slice(s![..n, ..]);
    let d2 = ws.d2.slice(s![..n, ..]);
    let d1 = ws.d1.slice(s![..n, ..]);
    general_mat_mul(-rate, &d2.t(), &a1, 1.0, &mut params.w2);
    general_mat_mul(-rate, &d1.t(), &x, 1.0, &mut params.w1);
    subtract_column_sums(params.b2.view_mut(), d2.view(), rate);
    subtract_column_sums(params.b1.view_mut(), d1.view(), rate);
}

fn subtract_column_sums(mut bias: ArrayViewMut1<f32>, deltas: ArrayView2<f32>, rate: f32) {
    for row in deltas.axis_iter(Axis(0)) {
        for (b, &d) in bias.iter_mut().zip(row) {
            *b -= rate * d;
        }
    }
}
