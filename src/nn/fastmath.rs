//! exp and ln(1 + x) as straight-line f32 code the compiler can vectorise:
//! libm's `expf`/`log1pf` are calls, one element at a time, and were the
//! largest element-wise cost of a step. Accuracy is a few ulp, checked
//! against std in the tests.

/// e^x for finite x, to within a few ulp; saturates to 0 below −87.3 and to
/// f32::MAX-scale values above 88.7, like `expf`.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n·ln2 is subtracted exactly (Cody–Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.7);
    let n = (x * LOG2_E).round();
    let r = (x - n * LN2_HI) - n * LN2_LO; // |r| ≤ ln2 / 2
                                           // Taylor to r⁶ / 6!: the next term is below 2e-8 relative on |r| ≤ 0.35.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n built from its exponent bits; n is in [−126, 128] after the clamp,
    // and 2^128 (an infinity) only pairs with p < 1, so split it in two.
    let half = (n * 0.5).floor();
    p * pow2(half) * pow2(n - half)
}

/// 2^k for an integer-valued k in [−126, 127], from its exponent bits.
/// Adding 2^23 puts k + 127 in the low mantissa bits, exactly, so there is
/// no float-to-int cast (Rust's saturates, which stops vectorisation).
#[inline(always)]
fn pow2(k: f32) -> f32 {
    const MAGIC: f32 = 8_388_608.0; // 2^23
    let biased = (k + (MAGIC + 127.0)).to_bits() - MAGIC.to_bits();
    f32::from_bits(biased << 23)
}

/// ln(1 + e^(−|z|)), the non-trivial part of softplus, for any finite z:
/// ln t = 2·atanh(s) with s = (t − 1)/(t + 1) ∈ [0, 1/3] for t ∈ [1, 2].
#[inline(always)]
pub fn log1p_exp_neg_abs(z: f32) -> f32 {
    let e = exp(-z.abs());
    let s = e / (2.0 + e);
    let s2 = s * s;
    // Odd series to s¹⁵: the remainder is below 1e-8 for s ≤ 1/3.
    2.0 * s
        * (1.0
            + s2 * (1.0 / 3.0
                + s2 * (1.0 / 5.0
                    + s2 * (1.0 / 7.0
                        + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 / 15.0)))))))
}
