//! Training on several threads (hidden units split between them) follows the
//! single-thread path up to float rounding, and repeats itself exactly.

mod common;

use common::synthetic_mnist;
use mnist_mlp::train::{TrainConfig, Trainer};

fn trained(threads: usize, hidden: usize, batch_size: usize) -> Trainer {
    let data = synthetic_mnist(500, 100);
    let mut trainer = Trainer::new(TrainConfig {
        hidden,
        batch_size,
        threads,
        ..TrainConfig::default()
    });
    for lr in [1.0, 0.5] {
        trainer.train_epoch(&data.train, lr);
    }
    trainer
}

fn max_difference(a: &Trainer, b: &Trainer) -> f32 {
    let diff = |x: &ndarray::ArrayViewD<f32>, y: &ndarray::ArrayViewD<f32>| {
        x.iter()
            .zip(y.iter())
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max)
    };
    let (p, q) = (&a.params, &b.params);
    [
        diff(&p.w1.view().into_dyn(), &q.w1.view().into_dyn()),
        diff(&p.b1.view().into_dyn(), &q.b1.view().into_dyn()),
        diff(&p.w2.view().into_dyn(), &q.w2.view().into_dyn()),
        diff(&p.b2.view().into_dyn(), &q.b2.view().into_dyn()),
    ]
    .into_iter()
    .fold(0.0, f32::max)
}

#[test]
fn split_hidden_units_train_like_one_thread() {
    // 500 samples in batches of 16 end on a short batch; 7 hidden units do
    // not split evenly over 2 or 3 threads.
    for (threads, hidden) in [(2, 7), (3, 7), (2, 30)] {
        let single = trained(1, hidden, 16);
        let split = trained(threads, hidden, 16);
        assert_eq!(split.threads(), threads);
        let diff = max_difference(&single, &split);
        assert!(
            diff < 1e-3,
            "{threads} threads, H={hidden}: parameters differ by {diff}"
        );
        // And the two did move from their start.
        assert!(max_difference(&single, &Trainer::new(single.config.clone())) > 0.1);
    }
}

#[test]
fn split_training_is_reproducible() {
    assert_eq!(trained(2, 30, 20).params, trained(2, 30, 20).params);
}
