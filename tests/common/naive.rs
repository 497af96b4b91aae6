//! The obviously-correct matrix product that the fast paths are checked
//! and benchmarked against.

use ndarray::{ArrayView2, ArrayViewMut2};

/// c = a · b by the textbook triple loop, accumulating in f64.
pub fn naive_matmul(a: &ArrayView2<f32>, b: &ArrayView2<f32>, c: &mut ArrayViewMut2<f32>) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(k, k2, "inner dimensions differ");
    assert_eq!(c.dim(), (m, n), "output has the wrong shape");
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0f64;
            for p in 0..k {
                sum += a[[i, p]] as f64 * b[[p, j]] as f64;
            }
            c[[i, j]] = sum as f32;
        }
    }
}
