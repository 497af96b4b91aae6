//! Plain mini-batch SGD, fused into the products that make the gradient.
//!
//! lr(epoch) = lr0 / (1 + decay · epoch), epochs counted from 0: the first
//! epoch runs at lr0 and decay = 0 keeps the rate constant (the schedule of
//! the NumPy reference).

use ndarray::linalg::general_mat_mul;
use ndarray::{s, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};

use crate::nn::network::Params;
use crate::nn::workspace::Workspace;

pub fn learning_rate(lr0: f32, decay: f32, epoch: usize) -> f32 {
    lr0 / (1.0 + decay * epoch as f32)
}

/// Subtracts `rate` times the batch gradient from `params`. The weight
/// gradients never exist on their own: each is one sgemm with alpha = −rate
/// and beta = 1 straight into the weights. With `rate = −1` on zeroed
/// parameters this writes the gradient itself, which is how tests read it.
pub fn apply_gradient(params: &mut Params, ws: &Workspace, rate: f32) {
    update_all_but_w1(
        params.w2.view_mut(),
        params.b2.view_mut(),
        params.b1.view_mut(),
        ws,
        rate,
    );
    let n = ws.rows;
    update_weights(
        params.w1.view_mut(),
        ws.d1.slice(s![..n, ..]),
        ws.x.slice(s![..n, ..]),
        rate,
    );
}

/// The updates that need every hidden unit: w2, b2 and b1. (w1, the big
/// one, can be updated in column slices, each by the thread that owns them.)
pub fn update_all_but_w1(
    w2: ArrayViewMut2<f32>,
    b2: ArrayViewMut1<f32>,
    b1: ArrayViewMut1<f32>,
    ws: &Workspace,
    rate: f32,
) {
    let n = ws.rows;
    let (a1, d2, d1) = (
        ws.a1.slice(s![..n, ..]),
        ws.d2.slice(s![..n, ..]),
        ws.d1.slice(s![..n, ..]),
    );
    update_weights(w2, d2, a1, rate);
    update_bias(b2, d2, rate);
    update_bias(b1, d1, rate);
}

/// w −= rate · deltasᵀ·inputs, for w (units, inputs), deltas (B, units),
/// inputs (B, inputs): one sgemm into w.
pub fn update_weights(
    mut w: ArrayViewMut2<f32>,
    deltas: ArrayView2<f32>,
    inputs: ArrayView2<f32>,
    rate: f32,
) {
    general_mat_mul(-rate, &deltas.t(), &inputs, 1.0, &mut w);
}

/// b −= rate · Σ_rows deltas.
pub fn update_bias(mut b: ArrayViewMut1<f32>, deltas: ArrayView2<f32>, rate: f32) {
    for row in deltas.axis_iter(Axis(0)) {
        for (b, &d) in b.iter_mut().zip(row) {
            *b -= rate * d;
        }
    }
}
