//! The one OpenBLAS this program links (Debian's, through openblas-src's
//! `system` feature), the knobs ndarray does not expose, and the check that
//! its products are right on this processor.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};

extern "C" {
    fn openblas_set_num_threads(num_threads: c_int);
    fn openblas_get_corename() -> *const c_char;
}

/// Sets how many threads OpenBLAS may use for one product.
pub fn set_threads(threads: usize) {
    let threads = c_int::try_from(threads).unwrap_or(c_int::MAX);
    // SAFETY: a plain setter in OpenBLAS, safe to call at any time from the
    // thread that will run the products.
    unsafe { openblas_set_num_threads(threads) }
}

/// The CPU whose kernels OpenBLAS chose when it loaded ("Haswell",
/// "Cooperlake", ...): on a DYNAMIC_ARCH build such as Debian's this depends
/// on the CPU and on `OPENBLAS_CORETYPE`, and it sets the sgemm rate.
pub fn core_name() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(openblas_get_corename()) }
        .to_string_lossy()
        .into_owned()
}

/// The environment OpenBLAS should start with, if it is not already set:
/// `OPENBLAS_NUM_THREADS=1`. OpenBLAS starts its worker threads when it
/// loads, before `main`, and they spin for a while on the cores the
/// training threads need; this program never uses them (its own threads
/// share out the input layer instead). A value the user set is kept.
pub fn preferred_environment() -> Vec<(&'static str, &'static str)> {
    if std::env::var_os("OPENBLAS_NUM_THREADS").is_none() {
        vec![("OPENBLAS_NUM_THREADS", "1")]
    } else {
        Vec::new()
    }
}

/// Checks once, at start, that OpenBLAS's sgemm gives right products on this
/// processor: one product at a training shape, (20×784)·(784×30) with the
/// right factor a transposed view as the trainer has it, against the naive
/// loop. Debian's OpenBLAS can be older than the processor it runs on and
/// pick kernels that compute wrong numbers; training on them would give
/// plausible-looking garbage, so the program stops instead.
pub fn check_sgemm() -> Result<()> {
    const BATCH: usize = 20;
    const INPUTS: usize = 784;
    const HIDDEN: usize = 30;
    // A fixed, cheap sequence of values in [-1, 1): no RNG state to seed.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let x = Array2::from_shape_simple_fn((BATCH, INPUTS), &mut next);
    let w = Array2::from_shape_simple_fn((HIDDEN, INPUTS), &mut next);
    let mut product = Array2::zeros((BATCH, HIDDEN));
    general_mat_mul(1.0, &x, &w.t(), 0.0, &mut product);
    verify_product(x.view(), w.t(), product.view()).map_err(|wrong| {
        Error::Config(format!(
            "OpenBLAS ({} kernels) computes wrong matrix products on this machine: {wrong}; \
             set OPENBLAS_CORETYPE to an older core (e.g. Haswell) or install a newer OpenBLAS",
            core_name()
        ))
    })
}

/// Whether `c` is a·b up to float32 rounding, else which element is not.
/// Element (i, j) may differ from the dot product taken in f64 by
/// √K·ε·‖a_i‖·‖b_j‖ (row i of a, column j of b): the size K-term f32
/// rounding reaches in practice, with a wide margin, whatever the summation
/// order. The worst-case bound (K instead of √K) is so loose at K = 784 that
/// a kernel off in the third digit would pass.
pub fn verify_product(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    c: ArrayView2<f32>,
) -> std::result::Result<(), String> {
    let (m, k) = a.dim();
    let n = b.ncols();
    if b.nrows() != k || c.dim() != (m, n) {
        return Err(format!(
            "shapes {:?}·{:?} do not give {:?}",
            a.dim(),
            b.dim(),
            c.dim()
        ));
    }
    let tolerance = (k as f64).sqrt() * f32::EPSILON as f64;
    // Rows of a and columns of b copied out contiguous, whatever their
    // layout, so the dot products below run at memory speed.
    let rows: Vec<Vec<f32>> = a.rows().into_iter().map(|r| r.to_vec()).collect();
    let columns: Vec<Vec<f32>> = b.columns().into_iter().map(|c| c.to_vec()).collect();
    let norm = |v: &Vec<f32>| dot(v, v).sqrt();
    let column_norms: Vec<f64> = columns.iter().map(norm).collect();
    for (i, row) in rows.iter().enumerate() {
        let row_norm = norm(row);
        for (j, column) in columns.iter().enumerate() {
            let exact = dot(row, column);
            let allowed = tolerance * row_norm * column_norms[j];
            let got = c[[i, j]] as f64;
            let off = (got - exact).abs();
            if off.is_nan() || off > allowed {
                return Err(format!(
                    "element ({i}, {j}) is {got} where {exact} was expected"
                ));
            }
        }
    }
    Ok(())
}

/// x·y summed in f64, in four running sums so that no addition waits on
/// the one before.
fn dot(x: &[f32], y: &[f32]) -> f64 {
    let mut sums = [0f64; 4];
    let (xs, ys) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: f64 = xs
        .remainder()
        .iter()
        .zip(ys.remainder())
        .map(|(&p, &q)| p as f64 * q as f64)
        .sum();
    for (p, q) in xs.zip(ys) {
        for lane in 0..4 {
            sums[lane] += p[lane] as f64 * q[lane] as f64;
        }
    }
    sums.iter().sum::<f64>() + tail
}
