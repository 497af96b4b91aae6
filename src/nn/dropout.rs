//! Inverted dropout masks from the counter-based generator (`random.rs`):
//! each mask value is a hash of (seed, batch number, layer, sample row,
//! unit), so any thread can compute any part of any mask.

use crate::random;

/// The scale of each kept unit: 1 / (1 − p), so that the expected input of
/// the next layer is unchanged and evaluation needs no rescaling.
pub fn keep_scale(p: f32) -> f32 {
    1.0 / (1.0 - p)
}

/// The key of one layer's mask in one batch.
pub fn mask_key(seed: u64, batch: u64, layer: usize) -> u64 {
    random::key(DROPOUT_STREAM, seed, &[batch, layer as u64])
}

/// Keeps dropout's draws apart from augmentation's for the same seed.
const DROPOUT_STREAM: u64 = 0xD1B5_4A32_D192_ED03;

/// Fills `mask` (rows × width, row-major) with 0 (dropped, probability p)
/// or `keep_scale(p)`, for the unit `u` of row `r` from the hash of
/// (key, r · width + u).
pub fn fill_mask(mask: &mut [f32], key: u64, p: f32) {
    // Compare the top 24 bits with p · 2^24: exact for any p a user types.
    let threshold = (p as f64 * (1u64 << 24) as f64) as u64;
    let scale = keep_scale(p);
    for (i, m) in mask.iter_mut().enumerate() {
        let draw = random::bits24(key, i as u64);
        *m = if draw < threshold { 0.0 } else { scale };
    }
}
