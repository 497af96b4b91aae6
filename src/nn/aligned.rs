//! Matrices whose first element starts a cache line.
//!
//! OpenBLAS's AVX-512 kernels read the weights and inputs 64 bytes at a
//! time, and a 784-wide row is 49 cache lines exactly, so where the buffer
//! starts decides whether every load of every row falls inside one line or
//! straddles two. A `Vec` starts wherever the allocator puts it (16-byte
//! aligned), which moved with the length of the program's own path, and
//! the same binary ran several percent slower on two threads from some
//! folders than from others (README, "Beyond the tutorial"). Placing these
//! buffers on a line takes that luck out; the numbers in them, and so
//! every result, are the same.

use ndarray::{s, Array1, Array2};

pub const CACHE_LINE: usize = 64;

/// A zeroed (rows, cols) matrix, row-major, starting on a cache line.
pub fn zeros(shape: (usize, usize)) -> Array2<f32> {
    let len = shape.0 * shape.1;
    let spare = CACHE_LINE / std::mem::size_of::<f32>();
    let storage = Array1::<f32>::zeros(len + spare);
    let skip = floats_to_line(storage.as_ptr());
    storage
        .slice_move(s![skip..skip + len])
        .into_shape_with_order(shape)
        .expect("a contiguous run of rows × cols floats")
}

/// Moves `m` to a cache line if it does not start on one.
pub fn realign(m: &mut Array2<f32>) {
    if floats_to_line(m.as_ptr()) == 0 && m.is_standard_layout() {
        return;
    }
    let mut placed = zeros(m.dim());
    placed.assign(m);
    *m = placed;
}

/// Floats from `p` to the next cache line (0 when `p` starts one).
fn floats_to_line(p: *const f32) -> usize {
    let address = p as usize;
    (CACHE_LINE - address % CACHE_LINE) % CACHE_LINE / std::mem::size_of::<f32>()
}
