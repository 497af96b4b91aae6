//! One whole training step (gather + standardise, forward, backward,
//! update) at the shapes of benches/matmul.rs and for a deep network
//! (784-256-128-10 ReLU/softmax/Adam), on random pixels, one thread.
//! Throughput is in samples.
//!
//! cargo bench --bench train_step

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mnist_mlp::internals::data::dataset::{Dataset, PIXELS};
use mnist_mlp::internals::nn::arch::Hidden;
use mnist_mlp::internals::train::{TrainConfig, Trainer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn bench_step(c: &mut Criterion) {
    mnist_mlp::internals::blas::set_threads(1);
    let mut rng = StdRng::seed_from_u64(7);
    let items = 60_000;
    let images: Vec<u8> = (0..items * PIXELS).map(|_| rng.random()).collect();
    let labels: Vec<u8> = (0..items).map(|_| rng.random_range(0..10)).collect();
    let data = Dataset::new(images, labels).unwrap();

    let mut group = c.benchmark_group("train_step");
    group.sample_size(20);
    group.warm_up_time(std::time::Duration::from_millis(300));
    group.measurement_time(std::time::Duration::from_secs(1));
    let deep = |batch: usize| {
        let mut config = TrainConfig {
            batch_size: batch,
            threads: 1,
            ..TrainConfig::default()
        };
        for (key, value) in [
            ("hidden", "256-128"),
            ("activation", "relu"),
            ("output", "softmax"),
            ("optimizer", "adam"),
        ] {
            config.set(key, value).unwrap();
        }
        ("256-128-relu-adam".to_string(), config)
    };
    for batch in [20, 128, 1000] {
        let tutorial = [30, 90].map(|h| {
            (
                h.to_string(),
                TrainConfig {
                    hidden: Hidden(vec![h]),
                    batch_size: batch,
                    threads: 1,
                    ..TrainConfig::default()
                },
            )
        });
        for (hidden, config) in tutorial.into_iter().chain([deep(batch)]) {
            let mut trainer = Trainer::new(config, &data).unwrap();
            // Scattered indices, as after a shuffle.
            let order: Vec<usize> = (0..items).map(|i| (i * 7919) % items).collect();
            let batches: Vec<&[usize]> = order.chunks_exact(batch).collect();
            let mut next = 0;
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(
                BenchmarkId::from_parameter(format!("B{batch}_H{hidden}")),
                |bench| {
                    bench.iter(|| {
                        next = (next + 1) % batches.len();
                        trainer.train_on(&data, batches[next], &mut ())
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_step);
criterion_main!(benches);
