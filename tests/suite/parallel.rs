//! The shared-out training step (input layer cut into pixel slices, wide
//! layers into units, threads sharing them) against the plain whole-network
//! step, and across thread counts, for every option.

use crate::common;

use common::{reference, synthetic_mnist};
use mnist_mlp::internals::data::batch::{gather, Normalisation};
use mnist_mlp::internals::data::dataset::Dataset;
use mnist_mlp::internals::nn::arch::{Activation, Cost, Hidden, Output};
use mnist_mlp::internals::nn::params::Params;
use mnist_mlp::internals::nn::workspace::Workspace;
use mnist_mlp::internals::optim::schedule::Schedule;
use mnist_mlp::internals::optim::Optimizer;
use mnist_mlp::internals::train::config::{Normalise, AUTO_THREADS};
use mnist_mlp::internals::train::team::SHARED_LAYER_WEIGHTS;
use mnist_mlp::internals::train::{TrainConfig, Trainer};
use ndarray::s;

const SAMPLES: usize = 500;

fn config(threads: usize, hidden: &[usize], batch_size: usize) -> TrainConfig {
    TrainConfig {
        hidden: Hidden(hidden.to_vec()),
        batch_size,
        threads,
        ..TrainConfig::default()
    }
}

/// Two epochs over `data` (the second a fresh shuffle).
fn trained(config: TrainConfig, data: &Dataset) -> (Params, Vec<u64>) {
    let mut trainer = Trainer::new(config, data).unwrap();
    let mut losses = Vec::new();
    for _ in 0..2 {
        losses.push(trainer.train_epoch(data, &mut ()).loss_sum.to_bits());
    }
    (trainer.params, losses)
}

fn max_difference(p: &Params, q: &Params) -> f64 {
    reference::tensors(p)
        .iter()
        .zip(reference::tensors(q))
        .flat_map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .collect::<Vec<_>>()
        })
        .fold(0.0, f64::max)
}

/// Every option, each on a network whose shape exercises the layer splits
/// (a second hidden layer wide enough to be cut by units).
fn every_option() -> Vec<(String, TrainConfig)> {
    let wide = (SHARED_LAYER_WEIGHTS / 256).max(64) * 2;
    assert!(256 * wide >= SHARED_LAYER_WEIGHTS);
    let base = |batch| config(1, &[256, wide], batch);
    let mut all = vec![
        ("tutorial H=7 batch 16".to_string(), config(1, &[7], 16)),
        (
            "tutorial H=30 quadratic".to_string(),
            TrainConfig {
                cost: Cost::Quadratic,
                ..config(1, &[30], 20)
            },
        ),
        ("H=30 batch 128".to_string(), config(1, &[30], 128)),
    ];
    for activation in [Activation::Relu, Activation::Tanh] {
        for optimizer in Optimizer::ALL.iter().copied() {
            all.push((
                format!("{activation} softmax {optimizer} dropout wd, 256-{wide}"),
                TrainConfig {
                    activation,
                    output: Output::Softmax,
                    optimizer,
                    // The defaults are for sigmoid units; these must not diverge.
                    lr: Some(optimizer.default_lr() / 10.0),
                    dropout: 0.2,
                    weight_decay: 1e-3,
                    ..base(32)
                },
            ));
        }
    }
    all.push((
        "dataset normalisation, cosine warm-up, label smoothing".into(),
        TrainConfig {
            normalise: Normalise::Dataset,
            label_smoothing: 0.1,
            schedule: Schedule::Cosine,
            warmup_epochs: 1.0,
            ..base(50)
        },
    ));
    all.push((
        "augmented: shifts, rotations, scalings, elastic".into(),
        TrainConfig {
            augment_shift: 2,
            augment_rotate: 15.0,
            augment_scale: 0.1,
            augment_elastic: 34.0,
            ..base(32)
        },
    ));
    all.push((
        "onecycle, 3 hidden layers".into(),
        TrainConfig {
            schedule: Schedule::Onecycle,
            ..config(1, &[64, wide, 32], 20)
        },
    ));
    all
}

#[test]
fn one_and_two_threads_train_bit_for_bit_alike() {
    let data = synthetic_mnist(SAMPLES, 10).train;
    // 500 samples in batches of 16, 32 or 128 end on a short batch.
    for (name, one) in every_option() {
        let two = TrainConfig {
            threads: 2,
            ..one.clone()
        };
        let (p1, l1) = trained(one, &data);
        let (p2, l2) = trained(two, &data);
        assert!(p1.is_finite(), "{name}: diverged, which proves nothing");
        assert!(
            p1 == p2,
            "{name}: 1 and 2 threads differ by {}",
            max_difference(&p1, &p2)
        );
        assert_eq!(l1, l2, "{name}: losses differ");
    }
}

/// Two passes over `data` in file order with the plain reference step.
fn trained_plainly(config: &TrainConfig, data: &Dataset) -> Params {
    let mut params = Trainer::new(config.clone(), data).unwrap().params;
    let arch = config.arch();
    let mut ws = Workspace::new(config.batch_size, &params.sizes(), false);
    for epoch in 0..2 {
        let lr = config.lr_schedule(2).rate(epoch, 0.0) as f64;
        for start in (0..data.len()).step_by(config.batch_size) {
            let end = (start + config.batch_size).min(data.len());
            gather(&mut ws, data, start..end, Normalisation::PerBatch);
            let x = ws.x.slice(s![..end - start, ..]).mapv(|v| v as f64);
            reference::sgd_step(&mut params, &arch, &x, &ws.labels[..end - start], lr);
        }
    }
    params
}

#[test]
fn shared_out_training_follows_the_plain_step() {
    let data = synthetic_mnist(200, 10).train;
    let wide = SHARED_LAYER_WEIGHTS / 64 + 64;
    for (threads, hidden) in [
        (1, vec![7]),
        (3, vec![7]),
        (2, vec![30]),
        (2, vec![64, wide]),
        (3, vec![64, wide, 16]),
    ] {
        let config = TrainConfig {
            activation: Activation::Tanh,
            output: Output::Softmax,
            // Small enough that f32 and f64 do not drift apart over 26
            // steps (one step agrees to 1e-7 at any rate).
            lr: Some(0.05),
            epochs: 2,
            ..config(threads, &hidden, 16)
        };
        let mut trainer = Trainer::new(config.clone(), &data).unwrap();
        let start = trainer.params.clone();
        let order: Vec<usize> = (0..data.len()).collect();
        for _ in 0..2 {
            trainer.train_on(&data, &order, &mut ());
            trainer.epochs_done += 1;
        }
        let plain = trained_plainly(&config, &data);
        let diff = max_difference(&trainer.params, &plain);
        assert!(
            diff < 1e-4,
            "{threads} threads, {hidden:?}: differs from the plain step by {diff}"
        );
        // And both did move from their start.
        assert!(max_difference(&plain, &start) > 0.01);
    }
}

#[test]
fn threaded_training_is_reproducible() {
    let data = synthetic_mnist(SAMPLES, 10).train;
    let run = || {
        trained(
            TrainConfig {
                dropout: 0.3,
                ..config(3, &[30, 20], 20)
            },
            &data,
        )
    };
    assert_eq!(run(), run());
}

#[test]
fn choosing_the_thread_count_changes_nothing_but_speed() {
    // Enough samples for the choice to be measured: 2 probes of 2000, then the rest.
    let data = synthetic_mnist(8_100, 10).train;
    let run = |threads| {
        let mut trainer = Trainer::new(config(threads, &[30], 20), &data).unwrap();
        let score = trainer.train_epoch(&data, &mut ());
        assert!((1..=2).contains(&trainer.threads()));
        (trainer.params, score)
    };
    let (chosen, chosen_score) = run(AUTO_THREADS);
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
        let config = TrainConfig {
            dropout: 0.2,
            ..config(threads, &[30, 20], 16)
        };
        let mut trainer = Trainer::new(config, &data.train).unwrap();
        trainer.train_epoch(&data.train, &mut ());
        assert_eq!(trainer.threads(), threads);
        trainer.evaluate(&data.test)
    };
    let (one, two) = (evaluated(1), evaluated(2));
    assert_eq!(one.samples, 333);
    assert!(one.correct > 0 && one.loss_sum > 0.0);
    assert_eq!(one, two);
}
