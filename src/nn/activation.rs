//! Hidden activations over whole row-major blocks, and their derivatives
//! written in terms of the activation a = f(z) itself, which is what the
//! backward pass keeps.
//!
//! - sigmoid: a = 1 / (1 + e^−z)    f'(z) = a (1 − a)
//! - tanh:    a = 2σ(2z) − 1        f'(z) = 1 − a²
//! - relu:    a = max(z, 0)         f'(z) = 1 where a > 0, else 0

use crate::nn::arch::Activation;
use crate::nn::fastmath;

#[inline(always)]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + fastmath::exp(-z))
}

impl Activation {
    /// a = f(z) in place over a block. One loop over the whole block, so
    /// the compiler vectorises it whatever the row length.
    pub fn apply(self, block: &mut [f32]) {
        match self {
            Activation::Sigmoid => block.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Activation::Tanh => block
                .iter_mut()
                .for_each(|v| *v = 2.0 * sigmoid(2.0 * *v) - 1.0),
            Activation::Relu => block.iter_mut().for_each(|v| *v = v.max(0.0)),
        }
    }

    /// d ⊙= f'(z), from ∂C/∂a to ∂C/∂z, with f' read off a = f(z).
    pub fn times_derivative(self, d: &mut [f32], a: &[f32]) {
        let pairs = d.iter_mut().zip(a);
        match self {
            Activation::Sigmoid => pairs.for_each(|(d, &a)| *d *= a * (1.0 - a)),
            Activation::Tanh => pairs.for_each(|(d, &a)| *d *= 1.0 - a * a),
            Activation::Relu => pairs.for_each(|(d, &a)| {
                if a <= 0.0 {
                    *d = 0.0
                }
            }),
        }
    }
}
