//! The start-up check of OpenBLAS's products: it passes where OpenBLAS is
//! right, and its tolerance tells rounding from a wrong product.

use mnist_mlp::internals::blas::{check_sgemm, verify_product};
use ndarray::linalg::general_mat_mul;
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn openblas_passes_the_start_up_check_here() {
    check_sgemm().unwrap();
}

#[test]
fn product_check_accepts_rounding_and_rejects_a_wrong_element() {
    let mut rng = StdRng::seed_from_u64(11);
    let a = Array2::from_shape_fn((20, 784), |_| rng.random_range(-1.0f32..1.0));
    let w = Array2::from_shape_fn((30, 784), |_| rng.random_range(-1.0f32..1.0));
    let mut c = Array2::zeros((20, 30));
    general_mat_mul(1.0, &a, &w.t(), 0.0, &mut c);
    verify_product(a.view(), w.t(), c.view()).unwrap();

    // Summing in another order (as another kernel would) is rounding, not error.
    let mut reordered = c.clone();
    for ((i, j), v) in reordered.indexed_iter_mut() {
        *v = (0..784).rev().map(|p| a[[i, p]] * w[[j, p]]).sum();
    }
    verify_product(a.view(), w.t(), reordered.view()).unwrap();

    // One element off by a thousandth of its typical size (~10) is an error, and
    // the message says which.
    let mut wrong = c.clone();
    wrong[[7, 12]] += 0.01;
    let message = verify_product(a.view(), w.t(), wrong.view()).unwrap_err();
    assert!(message.contains("(7, 12)"), "{message}");

    // So are a NaN and a product of the wrong shape.
    let mut nan = c.clone();
    nan[[0, 0]] = f32::NAN;
    assert!(verify_product(a.view(), w.t(), nan.view()).is_err());
    assert!(verify_product(a.view(), a.t(), c.view()).is_err());
}
