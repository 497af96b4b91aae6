//! The weight gradient is computed and stepped block by block of rows, so
//! that each block is still in cache when the step reads it. That must not
//! change a bit: blocks whose heights are whole multiples of the kernels'
//! register tiles give the whole product's sums on the kernels this
//! machine runs, and a blocked step lands where the step on the whole
//! product does.

use crate::common;

use common::values;
use mnist_mlp::internals::blas::{core_name, set_threads};
use mnist_mlp::internals::optim::{
    gradient_block_rows, Optimizer, Step, ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, KERNEL_ROWS,
};
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2};

/// (batch, rows, inputs) of the steps' weight gradients: the input layer's
/// slices and hidden layers of the presets and the deep benchmark, the
/// tutorial's, and ragged ones.
const SHAPES: [(usize, usize, usize); 8] = [
    (128, 1000, 392),
    (128, 500, 1000),
    (128, 1024, 392),
    (128, 512, 1024),
    (128, 512, 392),
    (20, 90, 392),
    (128, 10, 500),
    (7, 197, 392),
];

fn whole_gradient(deltas: &Array2<f32>, inputs: &Array2<f32>) -> Array2<f32> {
    let mut g = Array2::zeros((deltas.ncols(), inputs.ncols()));
    general_mat_mul(1.0, &deltas.t(), inputs, 0.0, &mut g);
    g
}

#[test]
fn gradient_blocks_of_whole_tiles_give_the_whole_products_bits() {
    // As in training: OpenBLAS's own threads share a product out
    // differently, and round differently.
    set_threads(1);
    for (b, rows, inputs) in SHAPES {
        let deltas = values(b, rows, 0x9E37_79B9 ^ (b * rows) as u64);
        let x = values(b, inputs, 0x2545_F491 ^ inputs as u64);
        let whole = whole_gradient(&deltas, &x);
        for block in [KERNEL_ROWS, 2 * KERNEL_ROWS, gradient_block_rows(inputs)] {
            for start in (0..rows).step_by(block) {
                let end = (start + block).min(rows);
                let mut part = Array2::zeros((end - start, inputs));
                let deltas = deltas.slice(s![.., start..end]);
                general_mat_mul(1.0, &deltas.t(), &x, 0.0, &mut part);
                assert!(
                    part == whole.slice(s![start..end, ..]),
                    "{} kernels: rows {start}..{end} of {b}x{rows}x{inputs} in blocks of {block} \
                     round unlike the whole product",
                    core_name()
                );
            }
        }
    }
}

#[test]
fn a_blocked_adam_step_lands_where_the_step_on_the_whole_product_does() {
    set_threads(1);
    for (b, rows, inputs) in SHAPES {
        let deltas = values(b, rows, 0x1234 ^ rows as u64);
        let x = values(b, inputs, 0x5678 ^ inputs as u64);
        let w0 = values(rows, inputs, 0x9ABC);
        let m0 = values(rows, inputs, 0xDEF0).mapv(|m| m * 1e-2);
        let v0 = values(rows, inputs, 0x0FED).mapv(|v| v * v * 1e-4);
        let step = Step {
            optimizer: Optimizer::Adam,
            lr: 1e-3,
            momentum: 0.0,
            weight_decay: 1e-4,
            t: 3,
        };

        let (mut w, mut m, mut v) = (w0.clone(), m0.clone(), v0.clone());
        let mut grad = Array2::zeros((rows, inputs));
        step.weights(
            w.view_mut(),
            [Some(m.view_mut()), Some(v.view_mut())],
            Some(grad.view_mut()),
            deltas.view(),
            x.view(),
        );

        // Adam's rule in f32, in the order the step computes it.
        let g = whole_gradient(&deltas, &x);
        // powi at run time, as the step calls it: folded at compile time
        // it may round differently.
        let t = std::hint::black_box(step.t as i32);
        let (c1, c2) = (1.0 - ADAM_BETA1.powi(t), 1.0 - ADAM_BETA2.powi(t));
        let (mut w_ref, mut m_ref, mut v_ref) = (w0.clone(), m0.clone(), v0.clone());
        for (((w, m), v), &g) in w_ref.iter_mut().zip(&mut m_ref).zip(&mut v_ref).zip(&g) {
            let g = g + step.weight_decay * *w;
            *m = ADAM_BETA1 * *m + (1.0 - ADAM_BETA1) * g;
            *v = ADAM_BETA2 * *v + (1.0 - ADAM_BETA2) * g * g;
            *w -= step.lr * (*m / c1) / ((*v / c2).sqrt() + ADAM_EPSILON);
        }
        assert!(w != w0, "the step did not move {b}x{rows}x{inputs}");
        assert!(
            w == w_ref && m == m_ref && v == v_ref,
            "{} kernels: the blocked Adam step at {b}x{rows}x{inputs} differs from the whole one",
            core_name()
        );
    }
}
