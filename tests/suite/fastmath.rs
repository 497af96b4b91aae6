//! The vectorisable exp and softplus tail agree with std to a few ulp.

use mnist_mlp::internals::nn::fastmath::{exp, log1p_exp_neg_abs};

fn ulps(a: f32, b: f32) -> u32 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
}

#[test]
fn exp_matches_std_within_a_few_ulp() {
    let mut worst = 0;
    let mut x = -87.0f32;
    while x < 88.0 {
        let (fast, exact) = (exp(x), (x as f64).exp() as f32);
        worst = worst.max(ulps(fast, exact));
        x += 0.0137;
    }
    assert!(worst <= 4, "worst {worst} ulp");
    // Outside the range it saturates like expf instead of making NaN.
    assert!(exp(-200.0) >= 0.0 && exp(-200.0) < 1e-37);
    assert!(exp(200.0) > 1e38);
    assert_eq!(exp(0.0), 1.0);
}

#[test]
fn softplus_tail_matches_std() {
    let mut worst = 0.0f64;
    let mut z = -40.0f32;
    while z < 40.0 {
        let exact = (-(z.abs() as f64)).exp().ln_1p();
        let fast = log1p_exp_neg_abs(z) as f64;
        worst = worst.max((fast - exact).abs() / exact.max(1e-30));
        z += 0.0093;
    }
    assert!(worst < 1e-6, "worst relative error {worst:e}");
}
