//! Output activations and costs, per sample.
//!
//! Sigmoid outputs, for one output with pre-activation z, a = σ(z) and
//! one-hot target y:
//! - quadratic:     C = ½ (a − y)²                      ∂C/∂z = (a − y) a (1 − a)
//! - cross-entropy: C = −y ln a − (1 − y) ln(1 − a)     ∂C/∂z = a − y   (σ' cancels)
//!
//! and a sample's cost sums its ten outputs. Softmax outputs,
//! a_j = e^(z_j) / Σ_k e^(z_k), with the log-likelihood cost
//! C = −ln a_label = ln Σ_k e^(z_k) − z_label, and ∂C/∂z = a − y.
//!
//! A batch's gradient is the mean over its samples (the 1/n is applied
//! where the deltas are written).

use crate::data::dataset::CLASSES;
use crate::nn::activation::sigmoid;
use crate::nn::arch::{Cost, Output};

impl Cost {
    /// The cost of one sigmoid output unit. Cross-entropy is computed from
    /// z as softplus so it stays finite when σ(z) rounds to exactly 0 or 1.
    #[inline]
    pub fn loss(self, z: f32, a: f32, y: f32) -> f32 {
        match self {
            Cost::Quadratic => 0.5 * (a - y) * (a - y),
            Cost::CrossEntropy => y * softplus(-z) + (1.0 - y) * softplus(z),
        }
    }

    /// ∂C/∂z of one sigmoid output unit.
    #[inline]
    pub fn delta(self, a: f32, y: f32) -> f32 {
        match self {
            Cost::Quadratic => (a - y) * a * (1.0 - a),
            Cost::CrossEntropy => a - y,
        }
    }
}

/// ln(1 + e^t) without overflow for large t or loss of precision for small.
#[inline(always)]
fn softplus(t: f32) -> f32 {
    t.max(0.0) + crate::nn::fastmath::log1p_exp_neg_abs(t)
}

impl Output {
    /// a = output activation of z, over a block of whole rows.
    pub fn apply(self, z: &[f32], a: &mut [f32]) {
        match self {
            Output::Sigmoid => a.iter_mut().zip(z).for_each(|(a, &z)| *a = sigmoid(z)),
            Output::Softmax => {
                for (a, z) in a.chunks_exact_mut(CLASSES).zip(z.chunks_exact(CLASSES)) {
                    let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    let mut sum = 0.0;
                    for (a, &z) in a.iter_mut().zip(z) {
                        *a = (z - max).exp();
                        sum += *a;
                    }
                    a.iter_mut().for_each(|a| *a /= sum);
                }
            }
        }
    }

    /// The summed cost of the rows of a block. Sixteen independent partial
    /// sums for sigmoid outputs, so the cost (exp and log) vectorises.
    pub fn loss_sum(self, cost: Cost, z: &[f32], a: &[f32], y: &[f32]) -> f32 {
        match self {
            Output::Sigmoid => {
                const LANES: usize = 16;
                let mut lanes = [0.0f32; LANES];
                let whole = z.len() - z.len() % LANES;
                for ((z, a), y) in z[..whole]
                    .chunks_exact(LANES)
                    .zip(a[..whole].chunks_exact(LANES))
                    .zip(y[..whole].chunks_exact(LANES))
                {
                    for i in 0..LANES {
                        lanes[i] += cost.loss(z[i], a[i], y[i]);
                    }
                }
                let tail: f32 = (whole..z.len()).map(|k| cost.loss(z[k], a[k], y[k])).sum();
                lanes.iter().sum::<f32>() + tail
            }
            Output::Softmax => z
                .chunks_exact(CLASSES)
                .zip(y.chunks_exact(CLASSES))
                .map(|(z, y)| {
                    let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    let log_sum = max + z.iter().map(|&v| (v - max).exp()).sum::<f32>().ln();
                    let target: f32 = z.iter().zip(y).map(|(z, y)| z * y).sum();
                    log_sum - target
                })
                .sum(),
        }
    }

    /// dz = ∂C/∂z / n for each unit of a block, n the rows of the batch.
    pub fn deltas(self, cost: Cost, a: &[f32], y: &[f32], dz: &mut [f32], n: usize) {
        let inv_n = 1.0 / n as f32;
        let units = dz.iter_mut().zip(a).zip(y);
        match self {
            // Softmax goes only with cross-entropy (`Arch::validate`).
            Output::Softmax => units.for_each(|((d, &a), &y)| *d = (a - y) * inv_n),
            Output::Sigmoid => units.for_each(|((d, &a), &y)| *d = cost.delta(a, y) * inv_n),
        }
    }

    /// A sample's cost when the network has learned nothing: every sigmoid
    /// output at 0.5 (z = 0), or a uniform softmax.
    pub fn know_nothing_loss(self, cost: Cost) -> f64 {
        match self {
            Output::Sigmoid => {
                let (z, a) = (0.0, 0.5);
                (cost.loss(z, a, 1.0) + (CLASSES - 1) as f32 * cost.loss(z, a, 0.0)) as f64
            }
            Output::Softmax => (CLASSES as f64).ln(),
        }
    }
}
