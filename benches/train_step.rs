//! One whole training step (gather + standardise, forward, backward,
//! update) at the shapes of benches/matmul.rs, on random pixels.
//! Throughput is in samples.
//!
//! cargo bench --bench train_step

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mnist_mlp::cost::Cost;
use mnist_mlp::dataset::{Dataset, PIXELS};
use mnist_mlp::network::{Init, Params};
use mnist_mlp::train::train_step;
use mnist_mlp::workspace::Workspace;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn bench_step(c: &mut Criterion) {
    mnist_mlp::blas::set_threads(1);
    let mut rng = StdRng::seed_from_u64(7);
    let items = 60_000;
    let images: Vec<u8> = (0..items * PIXELS).map(|_| rng.random()).collect();
    let labels: Vec<u8> = (0..items).map(|_| rng.random_range(0..10)).collect();
    let data = Dataset::new(images, labels).unwrap();

    let mut group = c.benchmark_group("train_step");
    group.sample_size(20);
    group.warm_up_time(std::time::Duration::from_millis(300));
    group.measurement_time(std::time::Duration::from_secs(1));
    for batch in [20, 128, 1000] {
        for hidden in [30, 90] {
            let mut params = Params::new(hidden, Init::Kaiming, &mut rng);
            let mut ws = Workspace::new(batch, hidden);
            // Scattered indices, as after a shuffle.
            let order: Vec<usize> = (0..items).map(|i| (i * 7919) % items).collect();
            let batches: Vec<&[usize]> = order.chunks_exact(batch).collect();
            let mut next = 0;
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(
                BenchmarkId::from_parameter(format!("B{batch}_H{hidden}")),
                |bench| {
                    bench.iter(|| {
                        let i = next % batches.len();
                        next += 1;
                        let upcoming = batches.get(i + 1).copied();
                        train_step(
                            &mut params,
                            &mut ws,
                            &data,
                            batches[i],
                            upcoming,
                            Cost::CrossEntropy,
                            0.01,
                            &mut (),
                        )
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_step);
criterion_main!(benches);
