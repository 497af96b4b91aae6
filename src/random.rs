//! Counter-based random numbers: each draw is a hash of a key and a counter,
//! so any thread can compute any draw without sharing a random stream. Runs
//! stay reproducible and independent of the thread count, and a resumed run
//! needs only its counters (batch, epoch, sample) to draw the same numbers.
//! Dropout masks and augmentation draw from here.

/// splitmix64's finaliser: a bijection on u64 whose output bits each
/// depend on every input bit.
#[inline(always)]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key for the counters `parts` under `stream` (which keeps dropout's
/// and augmentation's draws apart for the same seed).
pub fn key(stream: u64, seed: u64, parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(mix(seed ^ stream), |k, &part| mix(k.wrapping_add(part)))
}

/// Draw `i` under `key`: 24 random bits.
#[inline(always)]
pub fn bits24(key: u64, i: u64) -> u64 {
    mix(key.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))) >> 40
}

/// Draw `i` under `key`, uniform in [0, 1).
#[inline(always)]
pub fn uniform(key: u64, i: u64) -> f32 {
    bits24(key, i) as f32 / (1u64 << 24) as f32
}

/// Draw `i` under `key`, uniform in [−1, 1).
#[inline(always)]
pub fn symmetric(key: u64, i: u64) -> f32 {
    2.0 * uniform(key, i) - 1.0
}
