//! How the gradient becomes a step: the optimisers, and the learning-rate
//! schedules that set their rate each batch.
//!
//! Every rule is written for one parameter tensor w with its gradient g
//! (the batch mean of ∂C/∂w, plus λw for L2 weight decay where the rule
//! adds it) and the state it keeps, which has w's shape:
//!
//! ```text
//! - sgd:      w −= lr·g. Fused: g never exists, one sgemm with
//!             alpha = −lr and beta = 1 − lr·λ writes straight into w.
//! - momentum: v = μv + g;  w −= lr·v                     (PyTorch's form)
//! - nesterov: v = μv + g;  w −= lr·(g + μv)
//! - adam:     m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;
//!             w −= lr·m̂ / (√v̂ + ε), m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t)
//! - adamw:    adam on the plain gradient, and w −= lr·λ·w apart from it.
//! ```
//!
//! Biases take the same rule without weight decay.

pub mod schedule;

use ndarray::linalg::general_mat_mul;
use ndarray::{
    s, ArrayView, ArrayView2, ArrayViewMut, ArrayViewMut1, ArrayViewMut2, Dimension, Ix1, Ix2, Zip,
};

/// Adam's decay of the gradient's mean.
pub const ADAM_BETA1: f32 = 0.9;
/// Adam's decay of the gradient's square.
pub const ADAM_BETA2: f32 = 0.999;
/// Adam's guard against division by zero.
pub const ADAM_EPSILON: f32 = 1e-8;

/// The weight gradient is computed and applied in blocks of rows of about
/// this many floats (128 KiB), which stay in a core's L2 cache between the
/// product that writes them and the step that reads them.
const GRADIENT_BLOCK_FLOATS: usize = 32 * 1024;

/// Blocks are whole multiples of this many rows, a multiple of every
/// OpenBLAS sgemm kernel's register tile (2, 4, 6, 8, 12, 16, 24): the
/// kernels round a tile's sums differently from a narrower edge tile's, so
/// only the last block may have edge tiles, the same as the whole
/// product's, and the blocks give the whole product's bits.
pub const KERNEL_ROWS: usize = 48;

/// The rows of a weight gradient block for a layer with `inputs` columns.
pub fn gradient_block_rows(inputs: usize) -> usize {
    (GRADIENT_BLOCK_FLOATS / inputs.max(1))
        .max(1)
        .next_multiple_of(KERNEL_ROWS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
/// The update rule; each has its default rate (`default_lr`).
pub enum Optimizer {
    /// Plain gradient descent, the tutorial's.
    Sgd,
    /// Heavy-ball momentum (`momentum` μ).
    Momentum,
    /// Nesterov momentum.
    Nesterov,
    /// Adam (β₁ 0.9, β₂ 0.999, ε 1e-8).
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
}

crate::nn::arch::display_as_value_name!(Optimizer);

impl Optimizer {
    /// Every optimiser, in the order help lists them.
    pub const ALL: [Optimizer; 5] = [
        Optimizer::Sgd,
        Optimizer::Momentum,
        Optimizer::Nesterov,
        Optimizer::Adam,
        Optimizer::Adamw,
    ];

    /// The learning rate when `--lr` is not given.
    pub fn default_lr(self) -> f32 {
        match self {
            // The tutorial's rate, for the mean gradient of the batch.
            Optimizer::Sgd => 1.0,
            // The step is lr/(1 − μ) times the gradient once v settles:
            // 0.1 at μ = 0.9 moves like sgd at 1.0.
            Optimizer::Momentum | Optimizer::Nesterov => 0.1,
            // Adam's steps are about lr in size whatever the gradient's scale.
            Optimizer::Adam | Optimizer::Adamw => 0.001,
        }
    }

    /// Tensors of state per parameter tensor.
    pub fn state_tensors(self) -> usize {
        match self {
            Optimizer::Sgd => 0,
            Optimizer::Momentum | Optimizer::Nesterov => 1,
            Optimizer::Adam | Optimizer::Adamw => 2,
        }
    }

    /// Whether the gradient must be written out before the step (all but
    /// sgd, whose step is fused into the product).
    pub fn needs_gradient(self) -> bool {
        self != Optimizer::Sgd
    }
}

/// The state tensors of one parameter tensor (block), as many as
/// `Optimizer::state_tensors` says, the rest `None`. An array, not a Vec:
/// the step runs every batch and must not allocate.
pub type States<'a, D> = [Option<ArrayViewMut<'a, f32, D>>; 2];

/// `States` from the views that `views` gives, in order.
pub fn states<'a, D: Dimension>(
    mut views: impl Iterator<Item = ArrayViewMut<'a, f32, D>>,
) -> States<'a, D> {
    [views.next(), views.next()]
}

/// Everything one batch's step needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// The rule.
    pub optimizer: Optimizer,
    /// This step's rate.
    pub lr: f32,
    /// μ, for the momentum rules.
    pub momentum: f32,
    /// The weight decay.
    pub weight_decay: f32,
    /// Steps taken so far, this one included (Adam's bias correction).
    pub t: u64,
}

impl Step {
    /// Steps the weights w (out, in) of a layer, or a block of them, given
    /// the batch's deltas (B, out) and inputs (B, in): g = deltasᵀ·inputs
    /// (the deltas already carry the batch mean's 1/B), written to `grad`
    /// (w's shape) for every rule but sgd.
    pub fn weights(
        &self,
        mut w: ArrayViewMut2<f32>,
        state: States<Ix2>,
        grad: Option<ArrayViewMut2<f32>>,
        deltas: ArrayView2<f32>,
        inputs: ArrayView2<f32>,
    ) {
        if self.optimizer == Optimizer::Sgd {
            let keep = 1.0 - self.lr * self.weight_decay;
            general_mat_mul(-self.lr, &deltas.t(), &inputs, keep, &mut w);
            return;
        }
        // Block by block of rows, each gradient block stepped while it is
        // still in cache: the gradient never travels to memory and back,
        // and the step reads w and its state once. A block's rows of
        // deltasᵀ·inputs are the same sums as the whole product's.
        let mut grad = grad.expect("a gradient buffer for every rule but sgd");
        let rows_per_block = gradient_block_rows(w.ncols());
        let [mut m, mut v] = state;
        for start in (0..w.nrows()).step_by(rows_per_block) {
            let rows = start..(start + rows_per_block).min(w.nrows());
            let mut grad = grad.slice_mut(s![..rows.len(), ..]);
            let deltas = deltas.slice(s![.., rows.clone()]);
            general_mat_mul(1.0, &deltas.t(), &inputs, 0.0, &mut grad);
            let block_state = [
                m.as_mut().map(|m| m.slice_mut(s![rows.clone(), ..])),
                v.as_mut().map(|v| v.slice_mut(s![rows.clone(), ..])),
            ];
            self.apply(
                w.slice_mut(s![rows, ..]),
                block_state,
                grad.view(),
                self.weight_decay,
            );
        }
    }

    /// Steps a bias b (out) given the batch's deltas (B, out): g = Σ_rows deltas.
    pub fn bias(
        &self,
        mut b: ArrayViewMut1<f32>,
        state: States<Ix1>,
        grad: Option<ArrayViewMut1<f32>>,
        deltas: ArrayView2<f32>,
    ) {
        if self.optimizer == Optimizer::Sgd {
            // Zip, not iter().zip(): it sees once that both are contiguous
            // and runs a loop the compiler vectorises.
            for row in deltas.rows() {
                Zip::from(&mut b)
                    .and(&row)
                    .for_each(|b, &d| *b -= self.lr * d);
            }
            return;
        }
        let mut grad = grad.expect("a gradient buffer for every rule but sgd");
        grad.fill(0.0);
        for row in deltas.rows() {
            grad += &row;
        }
        self.apply(b, state, grad.view(), 0.0);
    }

    /// One step of the rule for w with gradient g (before weight decay).
    fn apply<D: Dimension>(
        &self,
        w: ArrayViewMut<f32, D>,
        state: States<D>,
        g: ArrayView<f32, D>,
        decay: f32,
    ) {
        let (lr, mu) = (self.lr, self.momentum);
        match (self.optimizer, state) {
            (Optimizer::Momentum, [Some(v), None]) => {
                Zip::from(w).and(v).and(&g).for_each(|w, v, &g| {
                    *v = mu * *v + g + decay * *w;
                    *w -= lr * *v;
                })
            }
            (Optimizer::Nesterov, [Some(v), None]) => {
                Zip::from(w).and(v).and(&g).for_each(|w, v, &g| {
                    let g = g + decay * *w;
                    *v = mu * *v + g;
                    *w -= lr * (g + mu * *v);
                })
            }
            (Optimizer::Adam | Optimizer::Adamw, [Some(m), Some(v)]) => {
                let t = self.t.min(i32::MAX as u64) as i32;
                let c1 = 1.0 - ADAM_BETA1.powi(t);
                let c2 = 1.0 - ADAM_BETA2.powi(t);
                let (l2, decoupled) = match self.optimizer {
                    Optimizer::Adam => (decay, 0.0),
                    _ => (0.0, decay),
                };
                Zip::from(w).and(m).and(v).and(&g).for_each(|w, m, v, &g| {
                    let g = g + l2 * *w;
                    *m = ADAM_BETA1 * *m + (1.0 - ADAM_BETA1) * g;
                    *v = ADAM_BETA2 * *v + (1.0 - ADAM_BETA2) * g * g;
                    *w -= lr * decoupled * *w;
                    *w -= lr * (*m / c1) / ((*v / c2).sqrt() + ADAM_EPSILON);
                })
            }
            (optimizer, state) => unreachable!(
                "{optimizer} given {} state tensors, needs {}",
                state.iter().flatten().count(),
                optimizer.state_tensors()
            ),
        }
    }
}
