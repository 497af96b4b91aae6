//! How a product is handed to sgemm, chosen for the OpenBLAS kernels in use.
//!
//! The input layer's forward product, x·wᵀ (B, I)·(I, H), is 98% of the
//! tutorial network's forward FLOPs. OpenBLAS can compute it as written,
//! into a (B, H) block, or as its transpose w·xᵀ into an (H, B) block; the
//! two calls pack different operands, and which is faster depends on the
//! kernels and the shape: on SkylakeX and Cooperlake kernels OpenBLAS
//! 0.3.21 sends products this small down an unpacked "small matrix" path
//! where, on one core of an Intel Xeon, the transposed call of a slice
//! (B, 392)·(392, H) ran 5 to 25% faster once the block it writes, B·H, held
//! 1 500 floats or more (H=90 at batch 20: 72 against 61 GFLOP/s), and the
//! direct call 10 to 20% faster below that (H=30 at batch 20: 116 against
//! 104); on Haswell and Zen kernels the two are level within a few percent
//! at every training shape measured (`mnist-mlp bench` prints both forms'
//! rates at the step's shapes).
//!
//! The choice is a table keyed by the kernels' name and the block's size,
//! not a timing: the two calls may round differently, and a choice made by
//! the clock could make two runs of the same command differ. It is made
//! once per team, never per batch, and never depends on the thread count.

use std::fmt;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

/// The output block (batch × hidden units) from which the transposed form
/// beats the direct one on AVX-512 kernels: between 1 200 (direct faster
/// at H=60, B=20 and H=100, B=10) and 1 440 (transposed faster at H=45,
/// B=32), level at 1 500.
const TRANSPOSED_FROM_BLOCK: usize = 1_500;

/// How the product C = A·Bᵀ is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    /// C = A·Bᵀ into a row-major C: the call as written.
    Direct,
    /// Cᵀ = B·Aᵀ into a row-major Cᵀ: the same numbers, laid out
    /// transposed, from the other operand order.
    Transposed,
}

impl Form {
    /// The form of the input layer's forward product for the kernels
    /// OpenBLAS runs (`blas::core_name`), at batch `batch_size` with
    /// `hidden` units.
    pub fn input_forward_for(kernels: &str, batch_size: usize, hidden: usize) -> Form {
        match kernels {
            "SkylakeX" | "Cooperlake" | "SapphireRapids"
                if batch_size * hidden >= TRANSPOSED_FROM_BLOCK =>
            {
                Form::Transposed
            }
            _ => Form::Direct,
        }
    }

    /// The other form.
    pub fn other(self) -> Form {
        match self {
            Form::Direct => Form::Transposed,
            Form::Transposed => Form::Direct,
        }
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Form::Direct => "direct",
            Form::Transposed => "transposed",
        })
    }
}

/// `out` = a·bᵀ for a (m, k) and b (n, k), in `form`: `out` is (m, n) for
/// `Direct`, (n, m) for `Transposed`.
pub fn product_abt(
    form: Form,
    a: &ArrayView2<f32>,
    b: &ArrayView2<f32>,
    out: &mut ArrayViewMut2<f32>,
) {
    match form {
        Form::Direct => general_mat_mul(1.0, a, &b.t(), 0.0, out),
        Form::Transposed => general_mat_mul(1.0, b, &a.t(), 0.0, out),
    }
}
