//! The numbers are checked, not trusted: costs against hand-computed values,
//! gradients against finite differences, batched against per-sample results.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use common::reference;
use common::{synthetic, synthetic_mnist};
use mnist_mlp::internals::data::batch::{gather, gather_columns, pixel_stats, Normalisation};
use mnist_mlp::internals::data::dataset::{Dataset, Mnist, PIXELS};
use mnist_mlp::internals::io::metrics::EpochReport;
use mnist_mlp::internals::nn::arch::{Activation, Arch, Cost, Hidden, Init, Output};
use mnist_mlp::internals::nn::network::{forward, score};
use mnist_mlp::internals::nn::params::Params;
use mnist_mlp::internals::nn::workspace::Workspace;
use mnist_mlp::internals::optim::schedule::Schedule;
use mnist_mlp::internals::train::{run, TrainConfig, Trainer};
use ndarray::s;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn costs_match_hand_computed_values() {
    let ce = Cost::CrossEntropy;
    let quad = Cost::Quadratic;
    // z = 0: a = 1/2. CE = -ln(1/2) whichever the target; quadratic ½(½)².
    assert!(close(
        ce.loss(0.0, 0.5, 1.0) as f64,
        std::f64::consts::LN_2,
        1e-6
    ));
    assert!(close(
        ce.loss(0.0, 0.5, 0.0) as f64,
        std::f64::consts::LN_2,
        1e-6
    ));
    assert!(close(quad.loss(0.0, 0.5, 1.0) as f64, 0.125, 1e-7));
    // z = 2, y = 0: -ln(1 - σ(2)) = ln(1 + e²) = 2.126928.
    let a = 1.0 / (1.0 + (-2.0f32).exp());
    assert!(close(ce.loss(2.0, a, 0.0) as f64, 2.126928, 1e-5));
    assert!(close(
        quad.loss(2.0, a, 0.0) as f64,
        0.5 * 0.880797 * 0.880797,
        1e-5
    ));
    // Saturated outputs: σ(±100) rounds to exactly 1 or 0, yet the cost is
    // finite and right: -ln σ(100) ≈ 0, -ln(1 - σ(100)) ≈ 100.
    assert!(close(ce.loss(100.0, 1.0, 1.0) as f64, 0.0, 1e-6));
    assert!(close(ce.loss(100.0, 1.0, 0.0) as f64, 100.0, 1e-4));
    assert!(close(ce.loss(-100.0, 0.0, 1.0) as f64, 100.0, 1e-4));
    // Deltas: CE a - y; quadratic (a - y) a (1 - a).
    assert!(close(ce.delta(0.75, 1.0) as f64, -0.25, 1e-7));
    assert!(close(
        quad.delta(0.75, 1.0) as f64,
        -0.25 * 0.75 * 0.25,
        1e-7
    ));
    // Knowing nothing: ten outputs at 0.5.
    assert!(close(
        Output::Sigmoid.know_nothing_loss(ce),
        10.0 * std::f64::consts::LN_2,
        1e-5
    ));
    assert!(close(Output::Sigmoid.know_nothing_loss(quad), 1.25, 1e-6));
}

/// Mean cost of the gathered batch under `params`.
#[test]
fn softmax_loss_and_deltas_match_hand_computed_values() {
    // z = (ln 1, ln 2, ln 3, 0...): softmax puts 3/(1+2+3+7) on digit 2.
    let mut z = [0.0f32; 10];
    z[1] = 2f32.ln();
    z[2] = 3f32.ln();
    let total = 1.0 + 2.0 + 3.0 + 7.0;
    let mut y = [0.0f32; 10];
    y[2] = 1.0;
    let mut a = [0.0f32; 10];
    Output::Softmax.apply(&z, &mut a);
    assert!(close(a[2] as f64, 3.0 / total, 1e-6));
    let loss = Output::Softmax.loss_sum(Cost::CrossEntropy, &z, &a, &y);
    assert!(close(loss as f64, (total / 3.0f64).ln(), 1e-5), "{loss}");
    let mut dz = [0.0f32; 10];
    Output::Softmax.deltas(Cost::CrossEntropy, &a, &y, &mut dz, 2);
    assert!(close(dz[2] as f64, (3.0 / total - 1.0) / 2.0, 1e-6));
    assert!(close(dz[1] as f64, 2.0 / total / 2.0, 1e-6));
    assert!(close(
        Output::Softmax.know_nothing_loss(Cost::CrossEntropy),
        10f64.ln(),
        1e-12
    ));
    // Huge logits stay finite.
    z[0] = 1e4;
    Output::Softmax.apply(&z, &mut a);
    assert!(a.iter().all(|v| v.is_finite()));
    assert!(Output::Softmax
        .loss_sum(Cost::CrossEntropy, &z, &a, &y)
        .is_finite());
}

#[test]
fn label_smoothing_targets_loss_and_deltas_match_hand_computed_values() {
    let data = synthetic(20, 8);
    let mut ws = Workspace::new(20, &[PIXELS, 4, 10], false);
    let rows = [3usize, 1, 4];
    let mut x = ndarray::Array2::zeros((rows.len(), PIXELS));
    let mut gather_smoothed = |label_smoothing| {
        gather_columns(
            &mut ws,
            &data,
            rows.into_iter(),
            std::iter::once((0..PIXELS, x.view_mut())),
            Normalisation::PerBatch,
            None,
            label_smoothing,
        );
        ws.y.clone()
    };
    let y_smoothed = gather_smoothed(0.1);
    let y_one_hot = gather_smoothed(0.0);
    for (row, &i) in rows.iter().enumerate() {
        for digit in 0..10 {
            let want = if digit == data.label(i) as usize {
                0.91
            } else {
                0.01
            };
            assert!(
                close(y_smoothed[[row, digit]] as f64, want, 1e-7),
                "{}",
                y_smoothed[[row, digit]]
            );
        }
    }
    // Softmax over z = (0, ln 2, ln 3, 0, ...): a = (1, 2, 3, 1, ...) / 13.
    let mut z = [0.0f32; 10];
    z[1] = 2f32.ln();
    z[2] = 3f32.ln();
    let mut y = [0.01f32; 10];
    y[2] = 0.91;
    let mut a = [0.0f32; 10];
    Output::Softmax.apply(&z, &mut a);
    // −Σ y ln a = ln 13 − 0.91 ln 3 − 0.01 ln 2.
    let want = 13f64.ln() - 0.91 * 3f64.ln() - 0.01 * 2f64.ln();
    let loss = Output::Softmax.loss_sum(Cost::CrossEntropy, &z, &a, &y);
    assert!(close(loss as f64, want, 1e-5), "{loss} against {want}");
    // The deltas are the loss's gradient, by central differences in f64.
    let mut dz = [0.0f32; 10];
    Output::Softmax.deltas(Cost::CrossEntropy, &a, &y, &mut dz, 1);
    let loss_at = |z: &[f64; 10]| {
        let log_sum = z.iter().map(|v| v.exp()).sum::<f64>().ln();
        log_sum - z.iter().zip(&y).map(|(z, y)| z * *y as f64).sum::<f64>()
    };
    let z64 = z.map(|v| v as f64);
    for k in 0..10 {
        let (mut up, mut down) = (z64, z64);
        up[k] += 1e-6;
        down[k] -= 1e-6;
        let slope = (loss_at(&up) - loss_at(&down)) / 2e-6;
        assert!(
            close(dz[k] as f64, slope, 1e-5),
            "unit {k}: {} against {slope}",
            dz[k]
        );
    }
    // Without smoothing the targets are one-hot, exactly.
    assert_eq!(y_one_hot.row(0).iter().filter(|&&v| v == 1.0).count(), 1);
    assert_eq!(y_one_hot.row(0).iter().filter(|&&v| v == 0.0).count(), 9);
}

#[test]
fn activations_match_their_definitions() {
    let z = [-3.0f32, -0.5, 0.0, 0.7, 4.0];
    for activation in [Activation::Sigmoid, Activation::Tanh, Activation::Relu] {
        let mut a = z;
        activation.apply(&mut a);
        let mut d = [1.0f32; 5];
        activation.times_derivative(&mut d, &a);
        for k in 0..5 {
            let zk = z[k] as f64;
            let (value, slope) = match activation {
                Activation::Sigmoid => {
                    let s = 1.0 / (1.0 + (-zk).exp());
                    (s, s * (1.0 - s))
                }
                Activation::Tanh => (zk.tanh(), 1.0 - zk.tanh().powi(2)),
                Activation::Relu => (zk.max(0.0), (zk > 0.0) as u8 as f64),
            };
            assert!(close(a[k] as f64, value, 1e-6), "{activation} at {zk}");
            assert!(close(d[k] as f64, slope, 1e-6), "{activation}' at {zk}");
        }
    }
}

#[test]
fn short_last_batch_scores_like_the_reference_forward() {
    let data = synthetic(17, 5);
    let arch = Arch {
        hidden: Hidden(vec![8, 6]),
        activation: Activation::Tanh,
        output: Output::Softmax,
        cost: Cost::CrossEntropy,
    };
    let params = Params::new(
        &arch.hidden.sizes(),
        Init::Kaiming,
        &mut StdRng::seed_from_u64(9),
    );
    let mut ws = Workspace::new(10, &params.sizes(), false);
    // A full batch first, so rows 7..10 hold stale values a wrong view would read.
    gather(&mut ws, &data, 0..10, Normalisation::PerBatch);
    forward(&params, &arch, &mut ws);
    gather(&mut ws, &data, 10..17, Normalisation::PerBatch);
    forward(&params, &arch, &mut ws);
    let batch_score = score(&ws, &arch);
    assert_eq!(batch_score.samples, 7);

    let x = ws.x.slice(s![..7, ..]).mapv(|v| v as f64);
    let outputs = reference::forward(&params, &arch, &x, None);
    let z = outputs.last().unwrap();
    for r in 0..7 {
        for o in 0..10 {
            assert!((z[[r, o]] - ws.z[[r, o]] as f64).abs() < 1e-4);
        }
    }
    let loss = reference::mean_cost(&arch, z, &ws.labels[..7]);
    assert!(
        close(batch_score.mean_loss(), loss, 1e-5),
        "{} vs {loss}",
        batch_score.mean_loss()
    );
}

#[test]
fn standardised_batch_has_mean_zero_and_std_one() {
    let data = synthetic(20, 8);
    let mut ws = Workspace::new(20, &[PIXELS, 4, 10], false);
    gather(
        &mut ws,
        &data,
        [3usize, 1, 4, 15, 9, 2, 6].into_iter(),
        Normalisation::PerBatch,
    );
    let x = ws.x.slice(s![..7, ..]);
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    assert!(mean.abs() < 1e-5, "mean {mean}");
    assert!((var.sqrt() - 1.0).abs() < 1e-5, "std {}", var.sqrt());
    // Row order and labels follow the indices.
    assert_eq!(
        &ws.labels[..3],
        &[data.label(3), data.label(1), data.label(4)]
    );
}

/// Standardisation adds each image's pixel sums kept beside the images:
/// every way of cutting a set must keep them in step with its pixels.
#[test]
fn pixel_sums_follow_their_images_through_every_split() {
    let sums_of = |pixels: &[u8]| {
        let sum = pixels.iter().map(|&p| p as u32).sum::<u32>();
        let sum_sq = pixels.iter().map(|&p| p as u32 * p as u32).sum::<u32>();
        (sum, sum_sq)
    };
    let holds = |data: &Dataset| {
        assert!(!data.is_empty());
        (0..data.len()).all(|i| data.pixel_sums(i) == sums_of(data.image(i)))
    };
    let mnist = synthetic_mnist(30, 5);
    let held = mnist.holding_out(7);
    assert!(holds(&held.train) && holds(held.validation.as_ref().unwrap()));
    let mut moved = mnist.clone();
    moved.hold_out(9);
    assert!(holds(&moved.train) && holds(moved.validation.as_ref().unwrap()));
    let mut first = mnist.train.clone();
    let rest = first.split_off(11);
    assert!(holds(&first) && holds(&rest));
    assert!(holds(&mnist.train.clone().truncated(4)));
}

#[test]
fn blank_image_batch_standardises_to_zeros_not_nan() {
    for value in [0u8, 255] {
        let data = Dataset::new(vec![value; PIXELS], vec![3]).unwrap();
        let mut ws = Workspace::new(4, &[PIXELS, 6, 10], false);
        gather(&mut ws, &data, 0..1, Normalisation::PerBatch);
        assert!(ws.x.row(0).iter().all(|&v| v == 0.0));
        let params = Params::new(
            &[PIXELS, 6, 10],
            Init::Kaiming,
            &mut StdRng::seed_from_u64(1),
        );
        forward(&params, &Arch::tutorial(6), &mut ws);
        assert!(ws.a_out.row(0).iter().all(|v| v.is_finite()));
        // A blank set's std is 0: dataset normalisation scales by 1, not ∞.
        assert_eq!(pixel_stats(&data), (value as f32, 1.0));
    }
}

#[test]
fn dataset_normalisation_uses_the_training_sets_mean_and_std() {
    let data = synthetic(50, 3);
    let (mean, std) = pixel_stats(&data);
    let pixels: Vec<f64> = data.images().iter().map(|&p| p as f64).collect();
    let n = pixels.len() as f64;
    let true_mean = pixels.iter().sum::<f64>() / n;
    let true_std = (pixels.iter().map(|p| (p - true_mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(close(mean as f64, true_mean, 1e-4) && close(std as f64, true_std, 1e-3));
    let mut ws = Workspace::new(4, &[PIXELS, 3, 10], false);
    gather(&mut ws, &data, 5..7, Normalisation::Fixed { mean, std });
    let p = data.image(6)[300] as f32;
    assert!(close(
        ws.x[[1, 300]] as f64,
        ((p - mean) / std) as f64,
        1e-6
    ));
}

#[test]
fn learning_rate_schedules_follow_their_formulas() {
    let config = |schedule, warmup| TrainConfig {
        schedule,
        lr: Some(2.0),
        warmup_epochs: warmup,
        step_every: 3,
        step_factor: 0.5,
        ..TrainConfig::default()
    };
    let tutorial = config(Schedule::Tutorial, 0.0).lr_schedule(30);
    assert_eq!(tutorial.rate(0, 0.5), 2.0);
    assert!(close(tutorial.rate(10, 0.0) as f64, 1.0, 1e-7));
    assert_eq!(
        config(Schedule::Constant, 0.0)
            .lr_schedule(30)
            .rate(29, 0.9),
        2.0
    );
    let step = config(Schedule::Step, 0.0).lr_schedule(30);
    assert_eq!(
        (step.rate(2, 0.9), step.rate(3, 0.0), step.rate(7, 0.0)),
        (2.0, 1.0, 0.5)
    );
    let cosine = config(Schedule::Cosine, 0.0).lr_schedule(10);
    assert_eq!(cosine.rate(0, 0.0), 2.0);
    assert!(close(cosine.rate(5, 0.0) as f64, 1.0, 1e-6));
    assert!(cosine.rate(9, 0.99) < 0.01);
    let warm = config(Schedule::Constant, 2.0).lr_schedule(10);
    assert!(close(warm.rate(1, 0.0) as f64, 1.0, 1e-6));
    assert_eq!(warm.rate(2, 0.0), 2.0);
    let onecycle = config(Schedule::Onecycle, 0.0).lr_schedule(10);
    assert!(close(onecycle.rate(0, 0.0) as f64, 2.0 / 25.0, 1e-6));
    assert!(close(onecycle.rate(3, 0.0) as f64, 2.0, 1e-6));
    assert!(onecycle.rate(9, 0.999) < 0.01);
}

fn small_config() -> TrainConfig {
    TrainConfig {
        hidden: Hidden(vec![16]),
        epochs: 4,
        batch_size: 16,
        ..TrainConfig::default()
    }
}

fn train(config: &TrainConfig, data: &Mnist) -> Vec<EpochReport> {
    let mut trainer = Trainer::new(config.clone(), &data.train).unwrap();
    run(&mut trainer, data, &mut (), |_, _| Ok(()))
        .unwrap()
        .reports
}

#[test]
fn loss_falls_and_accuracy_rises_on_a_learnable_problem() {
    // 500 is not a multiple of 16: every epoch ends on a short batch.
    let data = synthetic_mnist(500, 200);
    let deep = |activation, optimizer: &str| {
        let mut config = TrainConfig {
            hidden: Hidden(vec![32, 16]),
            activation,
            output: Output::Softmax,
            ..small_config()
        };
        config.set("optimizer", optimizer).unwrap();
        config
    };
    let configs = [
        TrainConfig {
            cost: Cost::CrossEntropy,
            ..small_config()
        },
        TrainConfig {
            cost: Cost::Quadratic,
            lr: Some(3.0),
            ..small_config()
        },
        deep(Activation::Relu, "adam"),
        deep(Activation::Tanh, "nesterov"),
        TrainConfig {
            dropout: 0.2,
            weight_decay: 1e-4,
            ..deep(Activation::Relu, "adamw")
        },
    ];
    for config in configs {
        let name = mnist_mlp::internals::app::train::describe(&config);
        let reports = train(&config, &data);
        let (first, last) = (&reports[0], reports.last().unwrap());
        assert!(
            last.train_loss < 0.5 * first.train_loss,
            "{name}: {first:?} -> {last:?}"
        );
        assert!(
            last.test_acc > 0.9,
            "{name}: test accuracy {}",
            last.test_acc
        );
        assert!(!last.diverged);
    }
}

#[test]
fn every_training_sample_is_seen_once_per_epoch() {
    let data = synthetic_mnist(103, 10);
    let mut trainer = Trainer::new(
        TrainConfig {
            batch_size: 20,
            ..small_config()
        },
        &data.train,
    )
    .unwrap();
    assert_eq!(trainer.train_epoch(&data.train, &mut ()).samples, 103);
    assert_eq!(trainer.evaluate(&data.test).samples, 10);
}

#[test]
fn same_seed_gives_bit_identical_metrics_and_another_seed_does_not() {
    let data = synthetic_mnist(300, 100);
    let strip_time = |reports: Vec<EpochReport>| {
        reports
            .into_iter()
            .map(|r| EpochReport {
                train_seconds: 0.0,
                eval_seconds: 0.0,
                ..r
            })
            .collect::<Vec<_>>()
    };
    let a = strip_time(train(&small_config(), &data));
    let b = strip_time(train(&small_config(), &data));
    assert_eq!(a, b);
    let other = TrainConfig {
        seed: 2,
        ..small_config()
    };
    assert_ne!(a, strip_time(train(&other, &data)));
}

#[test]
fn huge_learning_rate_is_reported_as_diverged_not_a_panic() {
    let data = synthetic_mnist(300, 100);
    let config = TrainConfig {
        lr: Some(100.0),
        lr_decay: 0.0,
        epochs: 2,
        ..small_config()
    };
    let mut trainer = Trainer::new(config, &data.train).unwrap();
    let summary = run(&mut trainer, &data, &mut (), |_, _| Ok(())).unwrap();
    assert!(summary.reports.last().unwrap().diverged);
    assert!(summary.diverged.is_some());
}

#[test]
fn one_whole_set_batch_is_learning_not_diverging() {
    // One update from the initial weights: the running loss is the initial
    // network's, worse than know-nothing's, while test accuracy climbs.
    let data = synthetic_mnist(300, 100);
    let config = TrainConfig {
        batch_size: 300,
        epochs: 1,
        ..small_config()
    };
    let mut trainer = Trainer::new(config, &data.train).unwrap();
    let summary = run(&mut trainer, &data, &mut (), |_, _| Ok(())).unwrap();
    let report = summary.reports.last().unwrap();
    assert!(report.test_acc > 0.15, "{report:?}");
    assert_eq!(summary.diverged, None);
    assert_eq!(summary.stalled, None);
}

#[test]
fn a_rate_too_small_to_move_the_weights_is_called_stalled_not_diverged() {
    let data = synthetic_mnist(300, 100);
    let config = TrainConfig {
        lr: Some(1e-45),
        epochs: 2,
        ..small_config()
    };
    let mut trainer = Trainer::new(config, &data.train).unwrap();
    let summary = run(&mut trainer, &data, &mut (), |_, _| Ok(())).unwrap();
    assert_eq!(summary.diverged, None);
    assert!(summary.stalled.unwrap().contains("too small"));
}

#[test]
fn invalid_settings_are_rejected_naming_the_flag() {
    let bad = [
        ("hidden", "0", "--hidden"),
        ("hidden", "800-", "--hidden"),
        ("hidden", "a-b", "--hidden"),
        ("batch_size", "0", "--batch-size"),
        ("batch_size", "18446744073709551615", "--batch-size"),
        ("epochs", "1000000000000", "--epochs"),
        ("lr", "-1", "--lr"),
        ("lr", "inf", "--lr"),
        ("lr_decay", "-0.5", "--lr-decay"),
        ("dropout", "1", "--dropout"),
        ("dropout", "-0.1", "--dropout"),
        ("momentum", "-0.9", "--momentum"),
        ("weight_decay", "-1", "--weight-decay"),
        ("activation", "swish", "--activation"),
        ("optimizer", "lion", "--optimizer"),
        (
            "cost",
            "quadratic",
            "--output softmax goes with --cost cross-entropy",
        ),
    ];
    for (key, value, flag) in bad {
        let mut config = TrainConfig::default();
        if key == "cost" {
            config.output = Output::Softmax;
        }
        let message = config
            .set(key, value)
            .and_then(|()| config.validate())
            .unwrap_err()
            .to_string();
        assert!(message.contains(flag), "{key}={value}: {message}");
        assert_eq!(message.lines().count(), 1, "{message}");
    }
    TrainConfig::default().validate().unwrap();
}

#[test]
fn buffers_that_cannot_fit_are_refused_before_allocating() {
    let data = synthetic(10, 1);
    let config = TrainConfig {
        hidden: Hidden(vec![100_000_000]),
        ..TrainConfig::default()
    };
    let message = Trainer::new(config, &data).err().unwrap().to_string();
    assert!(
        message.contains("784-100000000-10") && message.contains("GB"),
        "{message}"
    );
}
