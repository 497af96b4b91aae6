//! How a product is handed to sgemm, chosen for the OpenBLAS kernels in use.
//!
//! The input layer's forward product, x·wᵀ (B, I)·(I, H), is 98% of the
//! tutorial network's forward FLOPs. OpenBLAS can compute it as written,
//! into a (B, H) block, or as its transpose w·xᵀ into an (H, B) block; the
//! two calls pack different operands, and which is faster depends on the
//! kernels: on SkylakeX and Cooperlake kernels OpenBLAS 0.3.21 sends
//! products this small down an unpacked "small matrix" path where the
//! transposed call ran at 125 GFLOP/s against 76 (H=30, B=20, one core of
//! a Xeon), while on Haswell and Zen kernels the direct call is as fast or
//! faster at every training shape measured (`mnist-mlp bench` prints both
//! forms' rates at the step's shapes).
//!
//! The choice is a table keyed by the kernels' name, not a timing: the two
//! calls may round differently, and a choice made by the clock could make
//! two runs of the same command differ. It is made once per team, never per
//! batch, and never depends on the thread count.

use std::fmt;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

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
    /// OpenBLAS runs (`blas::core_name`).
    pub fn input_forward_for(kernels: &str) -> Form {
        match kernels {
            "SkylakeX" | "Cooperlake" | "SapphireRapids" => Form::Transposed,
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
