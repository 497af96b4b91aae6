//! Inverted dropout masks from a counter-based generator: each mask value
//! is a hash of (seed, batch number, layer, sample row, unit). Any thread
//! can compute any part of any mask without sharing a random stream, so
//! runs are reproducible and independent of the thread count, and a resumed
//! run needs only the batch number to draw the same masks.

/// The scale of each kept unit: 1 / (1 − p), so that the expected input of
/// the next layer is unchanged and evaluation needs no rescaling.
pub fn keep_scale(p: f32) -> f32 {
    1.0 / (1.0 - p)
}

/// splitmix64's finaliser: a bijection on u64 whose output bits each
/// depend on every input bit.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of one layer's mask in one batch.
pub fn mask_key(seed: u64, batch: u64, layer: usize) -> u64 {
    mix(mix(mix(seed ^ 0xD1B5_4A32_D192_ED03).wrapping_add(batch)).wrapping_add(layer as u64))
}

/// Fills `mask` (rows × width, row-major) with 0 (dropped, probability p)
/// or `keep_scale(p)`, for the unit `u` of row `r` from the hash of
/// (key, r · width + u).
pub fn fill_mask(mask: &mut [f32], key: u64, p: f32) {
    // Compare the top 24 bits with p · 2^24: exact for any p a user types.
    let threshold = (p as f64 * (1u64 << 24) as f64) as u64;
    let scale = keep_scale(p);
    for (i, m) in mask.iter_mut().enumerate() {
        let draw = mix(key.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))) >> 40;
        *m = if draw < threshold { 0.0 } else { scale };
    }
}
