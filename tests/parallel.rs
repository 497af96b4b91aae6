//! The sliced training step (the input layer cut into pixel slices that
//! threads share out) against the plain whole-network step, and across
//! thread counts.

mod common;

use common::synthetic_mnist;
use mnist_mlp::data::batch::gather;
use mnist_mlp::data::dataset::Dataset;
use mnist_mlp::nn::cost::Cost;
use mnist_mlp::nn::network::{backward, forward, Params};
use mnist_mlp::nn::sgd::apply_gradient;
use mnist_mlp::nn::workspace::Workspace;
use mnist_mlp::train::trainer::{TrainConfig, Trainer};

const SAMPLES: usize = 500;

fn config(threads: usize, hidden: usize, batch_size: usize, cost: Cost) -> TrainConfig {
    TrainConfig {
        hidden,
        batch_size,
        threads,
        cost,
        ..TrainConfig::default()
    }
}

/// Two passes over the items in file order, at lr 1.0 then 0.5.
fn trained(config: TrainConfig, data: &Dataset) -> Params {
    let mut trainer = Trainer::new(config);
    let order: Vec<usize> = (0..data.len()).collect();
    for lr in [1.0, 0.5] {
        trainer.train_on(data, &order, lr, &mut ());
    }
    trainer.params
}

/// The same two passes with the textbook step: one product over all 784
/// pixels, forward, backward, update.
fn trained_plainly(config: TrainConfig, data: &Dataset) -> Params {
    let mut params = Trainer::new(config.clone()).params;
    let mut ws = Workspace::new(config.batch_size, config.hidden);
    for lr in [1.0, 0.5] {
        for start in (0..data.len()).step_by(config.batch_size) {
            gather(
                &mut ws,
                data,
                start..(start + config.batch_size).min(data.len()),
            );
            forward(&params, &mut ws);
            backward(&params, &mut ws, config.cost);
            apply_gradient(&mut params, &ws, lr);
        }
    }
    params
}

fn max_difference(p: &Params, q: &Params) -> f32 {
    let diff = |x: &ndarray::ArrayViewD<f32>, y: &ndarray::ArrayViewD<f32>| {
        x.iter()
            .zip(y.iter())
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max)
    };
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
fn one_and_two_threads_train_bit_for_bit_alike() {
    let data = synthetic_mnist(SAMPLES, 10).train;
    // 500 samples in batches of 16 end on a short batch.
    for (hidden, batch_size, cost) in [
        (7, 16, Cost::CrossEntropy),
        (30, 20, Cost::Quadratic),
        (30, 128, Cost::CrossEntropy),
    ] {
        let one = trained(config(1, hidden, batch_size, cost), &data);
        let two = trained(config(2, hidden, batch_size, cost), &data);
        assert!(
            one == two,
            "H={hidden} batch {batch_size} {cost}: 1 and 2 threads differ by {}",
            max_difference(&one, &two)
        );
    }
}

#[test]
fn sliced_training_follows_the_plain_step() {
    let data = synthetic_mnist(SAMPLES, 10).train;
    for (threads, hidden) in [(1, 7), (3, 7), (2, 30)] {
        let config = config(threads, hidden, 16, Cost::CrossEntropy);
        let sliced = trained(config.clone(), &data);
        let plain = trained_plainly(config.clone(), &data);
        let diff = max_difference(&sliced, &plain);
        assert!(
            diff < 1e-4,
            "{threads} threads, H={hidden}: parameters differ from the plain step by {diff}"
        );
        // And both did move from their start.
        let start = Trainer::new(config).params;
        assert!(max_difference(&plain, &start) > 0.1);
    }
}

#[test]
fn threaded_training_is_reproducible() {
    let data = synthetic_mnist(SAMPLES, 10).train;
    let run = || trained(config(3, 30, 20, Cost::CrossEntropy), &data);
    assert_eq!(run(), run());
}

#[test]
fn choosing_the_thread_count_changes_nothing_but_speed() {
    // Enough samples for the choice to be measured: 2 probes of 2000, then the rest.
    let data = synthetic_mnist(8_100, 10).train;
    let order: Vec<usize> = (0..data.len()).collect();
    let run = |threads| {
        let mut trainer = Trainer::new(config(threads, 30, 20, Cost::CrossEntropy));
        let score = trainer.train_on(&data, &order, 1.0, &mut ());
        assert!((1..=2).contains(&trainer.threads()));
        (trainer.params, score)
    };
    let (chosen, chosen_score) = run(mnist_mlp::train::trainer::AUTO_THREADS);
    for fixed in [1, 2] {
        let (params, score) = run(fixed);
        assert!(
            params == chosen,
            "auto and {fixed} threads differ by {}",
            max_difference(&params, &chosen)
        );
        assert_eq!(score, chosen_score);
    }
}

#[test]
fn evaluation_on_two_threads_scores_like_one() {
    // 333 test samples in batches of 16: 21 batches, the last short, split 11 + 10.
    let data = synthetic_mnist(SAMPLES, 333);
    let evaluated = |threads| {
        let mut trainer = Trainer::new(config(threads, 30, 16, Cost::CrossEntropy));
        let order: Vec<usize> = (0..data.train.len()).collect();
        trainer.train_on(&data.train, &order, 1.0, &mut ());
        assert_eq!(trainer.threads(), threads);
        trainer.evaluate(&data.test)
    };
    let (one, two) = (evaluated(1), evaluated(2));
    assert_eq!(one.samples, 333);
    assert!(one.correct > 0 && one.loss_sum > 0.0);
    assert_eq!(one, two);
}
