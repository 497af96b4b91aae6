//! OpenBLAS through ndarray agrees with the naive triple loop at the
//! trainer's shapes, transposed views included.

use crate::common;
use common::naive::naive_matmul;
use ndarray::linalg::general_mat_mul;
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn blas_and_naive_products_agree_at_training_shapes() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut random =
        |r: usize, c: usize| Array2::from_shape_fn((r, c), |_| rng.random_range(-1.0f32..1.0));
    for batch in [1, 7, 20, 128] {
        for hidden in [30, 90] {
            let x = random(batch, 784);
            let w1 = random(hidden, 784);
            let d1 = random(batch, hidden);
            for (a, b) in [(x.view(), w1.t()), (d1.t(), x.view())] {
                let mut fast = Array2::zeros((a.nrows(), b.ncols()));
                let mut slow = fast.clone();
                general_mat_mul(1.0, &a, &b, 0.0, &mut fast);
                naive_matmul(&a, &b, &mut slow.view_mut());
                let scale = slow.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                let worst = fast
                    .iter()
                    .zip(&slow)
                    .map(|(f, s)| (f - s).abs())
                    .fold(0.0, f32::max);
                assert!(
                    worst <= 1e-5 * scale,
                    "B{batch} H{hidden}: off by {worst} (scale {scale})"
                );
            }
        }
    }
}
