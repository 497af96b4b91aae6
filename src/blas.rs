//! The one OpenBLAS this program links (Debian's, through openblas-src's
//! `system` feature) and the knob ndarray does not expose.

use std::os::raw::c_int;

extern "C" {
    fn openblas_set_num_threads(num_threads: c_int);
}

/// Sets how many threads OpenBLAS may use for one product.
pub fn set_threads(threads: usize) {
    let threads = c_int::try_from(threads).unwrap_or(c_int::MAX);
    // SAFETY: a plain setter in OpenBLAS, safe to call at any time from the
    // thread that will run the products.
    unsafe { openblas_set_num_threads(threads) }
}

/// The environment OpenBLAS should start with, if it is not already set:
/// `OPENBLAS_CORETYPE=SKYLAKEX` on CPUs with AVX-512, and
/// `OPENBLAS_NUM_THREADS=1`.
///
/// Why: Debian's OpenBLAS 0.3.21 picks its kernels when the library loads,
/// before `main`, and on AVX-512 CPUs it does not know (AMD Zen 4, say) it
/// falls back to its Haswell (AVX2) kernels, at half the sgemm rate (126 vs
/// 234 GFLOP/s measured here). It reads only the environment to choose
/// otherwise. And its own worker threads, which this program never uses
/// (threads split the hidden units instead), spin at start-up on the core a
/// training thread needs. A variable the user set is never overridden.
pub fn preferred_environment() -> Vec<(&'static str, &'static str)> {
    let mut wanted = Vec::new();
    if std::env::var_os("OPENBLAS_CORETYPE").is_none() && has_avx512() {
        wanted.push(("OPENBLAS_CORETYPE", "SKYLAKEX"));
    }
    if std::env::var_os("OPENBLAS_NUM_THREADS").is_none() {
        wanted.push(("OPENBLAS_NUM_THREADS", "1"));
    }
    wanted
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
