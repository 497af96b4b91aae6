//! The one OpenBLAS this program links (Debian's, through openblas-src's
//! `system` feature) and the knobs ndarray does not expose.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

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
