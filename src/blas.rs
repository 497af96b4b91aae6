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
