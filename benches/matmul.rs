//! The five matrix products of a training step at their real shapes, by a
//! naive triple loop, by ndarray's pure-Rust matmul (the matrixmultiply
//! crate, which ndarray uses when BLAS is off) and by OpenBLAS through
//! ndarray's general_mat_mul. Names encode the product and its shape:
//! `sgemm/<impl>/<product>/<M>x<K>x<N>`.
//!
//! cargo bench --bench matmul                     # everything
//! cargo bench --bench matmul -- 'blas/.*/20x'    # a subset

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
#[path = "../tests/common/naive.rs"]
mod naive;
use naive::naive_matmul;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// (name, a stored, b stored, a transposed, b transposed).
type Product = (&'static str, Array2<f32>, Array2<f32>, bool, bool);

/// The products c = a · b of a step; a and b as views with the strides the
/// trainer uses (transposes included).
fn products(batch: usize, hidden: usize) -> Vec<Product> {
    let fill =
        |r, c| Array2::from_shape_fn((r, c), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 17.0 - 0.5);
    vec![
        (
            "forward_hidden x.w1T",
            fill(batch, 784),
            fill(hidden, 784),
            false,
            true,
        ),
        (
            "forward_output a1.w2T",
            fill(batch, hidden),
            fill(10, hidden),
            false,
            true,
        ),
        (
            "backward_hidden d2.w2",
            fill(batch, 10),
            fill(10, hidden),
            false,
            false,
        ),
        (
            "update_w2 d2T.a1",
            fill(batch, 10),
            fill(batch, hidden),
            true,
            false,
        ),
        (
            "update_w1 d1T.x",
            fill(batch, hidden),
            fill(batch, 784),
            true,
            false,
        ),
    ]
}

fn view(m: &Array2<f32>, transposed: bool) -> ArrayView2<'_, f32> {
    if transposed {
        m.t()
    } else {
        m.view()
    }
}

fn matrixmultiply_sgemm(a: &ArrayView2<f32>, b: &ArrayView2<f32>, c: &mut ArrayViewMut2<f32>) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    let (sa, sb, sc) = (a.strides(), b.strides(), c.strides().to_vec());
    // SAFETY: the pointers and strides describe live arrays of these shapes.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            sa[0],
            sa[1],
            b.as_ptr(),
            sb[0],
            sb[1],
            0.0,
            c.as_mut_ptr(),
            sc[0],
            sc[1],
        );
    }
}

fn bench_products(c: &mut Criterion) {
    mnist_mlp::internals::blas::set_threads(1);
    let mut group = c.benchmark_group("sgemm");
    group.sample_size(20);
    group.warm_up_time(std::time::Duration::from_millis(300));
    group.measurement_time(std::time::Duration::from_secs(1));
    for batch in [20, 128, 1000] {
        for hidden in [30, 90] {
            for (name, a_stored, b_stored, at, bt) in products(batch, hidden) {
                let (a, b) = (view(&a_stored, at), view(&b_stored, bt));
                let (m, k, n) = (a.dim().0, a.dim().1, b.dim().1);
                let mut out = Array2::<f32>::zeros((m, n));
                let shape = format!("{}/{m}x{k}x{n}", name.split(' ').next().unwrap());
                group.throughput(Throughput::Elements((2 * m * k * n) as u64));
                group.bench_function(BenchmarkId::new("naive", &shape), |bench| {
                    bench.iter(|| naive_matmul(&a, &b, &mut out.view_mut()))
                });
                group.bench_function(BenchmarkId::new("ndarray_rust", &shape), |bench| {
                    bench.iter(|| matrixmultiply_sgemm(&a, &b, &mut out.view_mut()))
                });
                group.bench_function(BenchmarkId::new("blas", &shape), |bench| {
                    bench.iter(|| general_mat_mul(1.0, &a, &b, 0.0, &mut out))
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench_products);
criterion_main!(benches);
