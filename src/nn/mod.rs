//! The network: its architecture, parameters, activations, costs, the
//! per-thread buffers and the passes over them.
//!
//! Shapes, row-major, one row per sample:
//!   B = batch rows in use, I = 784 inputs, H_l = units of hidden layer l,
//!   O = 10 outputs, L = number of weight layers (hidden layers + 1).
//!   layer l:   w (out, in)   b (out)        out = H_l or O, in = I or H_(l-1)
//!   x   (B, I)     standardised inputs
//!   a_l (B, H_l)   f(input_l · w_lᵀ + b_l), f the hidden activation
//!   kept_l (B, H_l)  a_l ⊙ mask_l under dropout: the next layer's input
//!   z   (B, O)     output pre-activations;  a_out (B, O) outputs
//!   dz_l (B, out)  ∂C/∂z_l, already divided by B
//!
//! Every batched product is one `general_mat_mul`, which ndarray sends to
//! OpenBLAS sgemm, writing into buffers allocated once.

#[allow(missing_docs)] // internal: reached through `internals` only
pub mod activation;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod aligned;
pub mod arch;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod cost;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod dropout;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod fastmath;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod gemm;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod network;
pub mod params;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod subnormals;
#[allow(missing_docs)] // internal: reached through `internals` only
pub mod workspace;
