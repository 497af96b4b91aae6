//! The numbers are checked, not trusted: costs against hand-computed values,
//! gradients against finite differences, batched against per-sample results.

mod common;

use common::{synthetic, synthetic_mnist};
use mnist_mlp::data::batch::gather;
use mnist_mlp::data::dataset::{Dataset, Mnist, PIXELS};
use mnist_mlp::io::metrics::EpochReport;
use mnist_mlp::nn::cost::Cost;
use mnist_mlp::nn::network::{backward, forward, score, Init, Params};
use mnist_mlp::nn::sgd::{apply_gradient, learning_rate};
use mnist_mlp::nn::workspace::Workspace;
use mnist_mlp::train::trainer::{run, TrainConfig, Trainer};
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
        ce.know_nothing_loss(),
        10.0 * std::f64::consts::LN_2,
        1e-5
    ));
    assert!(close(quad.know_nothing_loss(), 1.25, 1e-6));
}

/// Mean cost of the gathered batch under `params`.
fn batch_loss(params: &Params, ws: &mut Workspace, cost: Cost) -> f64 {
    forward(params, ws);
    let s = score(ws, cost);
    s.loss_sum / s.samples as f64
}

/// The gradient as `apply_gradient` applies it: rate −1 into zeros.
fn analytic_gradient(params: &Params, ws: &mut Workspace, cost: Cost) -> Params {
    forward(params, ws);
    backward(params, ws, cost);
    let mut gradient = Params::zeros(params.hidden());
    apply_gradient(&mut gradient, ws, -1.0);
    gradient
}

/// Largest violation of |numeric − analytic| ≤ 1e-3 + 2e-2 |numeric| over
/// the checked entries (≤ 1 passes), and how many entries were checked with
/// a gradient clearly above the tolerance floor.
fn worst_fd_mismatch(
    params: &Params,
    ws: &mut Workspace,
    cost: Cost,
    gradient: &Params,
) -> (f64, usize) {
    let h = 1e-2f32;
    let mut worst = 0.0f64;
    let mut significant = 0;
    let mut check = |numeric: f64, analytic: f64| {
        let ratio = (numeric - analytic).abs() / (1e-3 + 2e-2 * numeric.abs());
        worst = worst.max(ratio);
        significant += usize::from(numeric.abs() > 1e-2);
    };
    let mut probe = params.clone();
    let mut check_entry = |entry: &dyn Fn(&mut Params) -> &mut f32, analytic: f32| {
        let base = *entry(&mut probe);
        *entry(&mut probe) = base + h;
        let up = batch_loss(&probe, ws, cost);
        *entry(&mut probe) = base - h;
        let down = batch_loss(&probe, ws, cost);
        *entry(&mut probe) = base;
        check((up - down) / (2.0 * h as f64), analytic as f64);
    };
    // w1: a spread of input pixels for every hidden unit; all of the rest.
    for j in 0..params.hidden() {
        for i in (0..PIXELS).step_by(97) {
            check_entry(&|p| &mut p.w1[[j, i]], gradient.w1[[j, i]]);
        }
        check_entry(&|p| &mut p.b1[j], gradient.b1[j]);
    }
    for o in 0..10 {
        for j in 0..params.hidden() {
            check_entry(&|p| &mut p.w2[[o, j]], gradient.w2[[o, j]]);
        }
        check_entry(&|p| &mut p.b2[o], gradient.b2[o]);
    }
    (worst, significant)
}

fn gradient_fixture() -> (Params, Workspace) {
    let data = synthetic(6, 11);
    let params = Params::new(5, Init::Random, &mut StdRng::seed_from_u64(3));
    let mut ws = Workspace::new(6, 5);
    gather(&mut ws, &data, 0..6);
    (params, ws)
}

#[test]
fn gradients_of_both_costs_match_finite_differences() {
    for cost in [Cost::CrossEntropy, Cost::Quadratic] {
        let (params, mut ws) = gradient_fixture();
        let gradient = analytic_gradient(&params, &mut ws, cost);
        let (worst, significant) = worst_fd_mismatch(&params, &mut ws, cost, &gradient);
        assert!(
            worst <= 1.0,
            "{cost}: worst mismatch {worst:.3} of tolerance"
        );
        assert!(
            significant >= 20,
            "{cost}: only {significant} gradients large enough to test"
        );
    }
}

#[test]
fn finite_difference_check_catches_the_wrong_costs_gradient() {
    // The check above can fail: each cost's gradient is wrong for the other.
    let (params, mut ws) = gradient_fixture();
    let quadratic_gradient = analytic_gradient(&params, &mut ws, Cost::Quadratic);
    let (worst, _) = worst_fd_mismatch(&params, &mut ws, Cost::CrossEntropy, &quadratic_gradient);
    assert!(worst > 1.0, "a wrong gradient passed (worst {worst:.3})");
}

#[test]
fn short_last_batch_matches_per_sample() {
    let data = synthetic(17, 5);
    let params = Params::new(8, Init::Kaiming, &mut StdRng::seed_from_u64(9));
    let cost = Cost::CrossEntropy;
    let mut ws = Workspace::new(10, 8);
    // A full batch first, so rows 7..10 hold stale values a wrong view would read.
    gather(&mut ws, &data, 0..10);
    forward(&params, &mut ws);
    backward(&params, &mut ws, cost);

    gather(&mut ws, &data, 10..17);
    let batch_gradient = analytic_gradient(&params, &mut ws, cost);
    let batch_score = score(&ws, cost);
    assert_eq!(batch_score.samples, 7);

    let mut mean_gradient = Params::zeros(8);
    let mut single = Workspace::new(1, 8);
    let mut loss_sum = 0.0;
    for r in 0..7 {
        // Same standardised inputs as in the batch (standardisation is per
        // batch, so gathering one image alone would scale it differently).
        single.rows = 1;
        single.labels[0] = ws.labels[r];
        single.y.row_mut(0).assign(&ws.y.row(r));
        single.x.row_mut(0).assign(&ws.x.row(r));
        let g = analytic_gradient(&params, &mut single, cost);
        for (o, a) in single.a2.row(0).iter().zip(ws.a2.row(r)) {
            assert!((o - a).abs() < 1e-6, "output differs: {o} vs {a}");
        }
        loss_sum += score(&single, cost).loss_sum;
        mean_gradient.w1.scaled_add(1.0 / 7.0, &g.w1);
        mean_gradient.b1.scaled_add(1.0 / 7.0, &g.b1);
        mean_gradient.w2.scaled_add(1.0 / 7.0, &g.w2);
        mean_gradient.b2.scaled_add(1.0 / 7.0, &g.b2);
    }
    assert!((loss_sum - batch_score.loss_sum).abs() < 1e-4);
    let max_diff = |a: &ndarray::ArrayViewD<f32>, b: &ndarray::ArrayViewD<f32>| {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(
        max_diff(
            &batch_gradient.w1.view().into_dyn(),
            &mean_gradient.w1.view().into_dyn()
        ) < 1e-5
    );
    assert!(
        max_diff(
            &batch_gradient.b1.view().into_dyn(),
            &mean_gradient.b1.view().into_dyn()
        ) < 1e-5
    );
    assert!(
        max_diff(
            &batch_gradient.w2.view().into_dyn(),
            &mean_gradient.w2.view().into_dyn()
        ) < 1e-5
    );
    assert!(
        max_diff(
            &batch_gradient.b2.view().into_dyn(),
            &mean_gradient.b2.view().into_dyn()
        ) < 1e-5
    );
}

#[test]
fn standardised_batch_has_mean_zero_and_std_one() {
    let data = synthetic(20, 8);
    let mut ws = Workspace::new(20, 4);
    gather(&mut ws, &data, [3usize, 1, 4, 15, 9, 2, 6].into_iter());
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

#[test]
fn blank_image_batch_standardises_to_zeros_not_nan() {
    for value in [0u8, 255] {
        let data = Dataset::new(vec![value; PIXELS], vec![3]).unwrap();
        let mut ws = Workspace::new(4, 6);
        gather(&mut ws, &data, 0..1);
        assert!(ws.x.row(0).iter().all(|&v| v == 0.0));
        let params = Params::new(6, Init::Kaiming, &mut StdRng::seed_from_u64(1));
        forward(&params, &mut ws);
        assert!(ws.a2.row(0).iter().all(|v| v.is_finite()));
    }
}

#[test]
fn learning_rate_decays_as_documented() {
    assert_eq!(learning_rate(1.0, 0.1, 0), 1.0);
    assert!((learning_rate(1.0, 0.1, 10) - 0.5).abs() < 1e-7);
    assert_eq!(learning_rate(3.0, 0.0, 29), 3.0);
}

fn small_config() -> TrainConfig {
    TrainConfig {
        hidden: 16,
        epochs: 4,
        batch_size: 16,
        lr: 1.0,
        ..TrainConfig::default()
    }
}

fn train(config: &TrainConfig, data: &Mnist) -> Vec<EpochReport> {
    run(config, data, None, |_| Ok(())).unwrap().1.reports
}

#[test]
fn loss_falls_and_accuracy_rises_on_a_learnable_problem() {
    // 500 is not a multiple of 16: every epoch ends on a short batch.
    let data = synthetic_mnist(500, 200);
    for cost in [Cost::CrossEntropy, Cost::Quadratic] {
        let config = TrainConfig {
            cost,
            lr: if cost == Cost::Quadratic { 3.0 } else { 1.0 },
            ..small_config()
        };
        let reports = train(&config, &data);
        let (first, last) = (&reports[0], reports.last().unwrap());
        assert!(
            last.train_loss < 0.5 * first.train_loss,
            "{cost}: {first:?} -> {last:?}"
        );
        assert!(
            last.test_acc > 0.9,
            "{cost}: test accuracy {}",
            last.test_acc
        );
        assert!(!last.diverged);
    }
}

#[test]
fn every_training_sample_is_seen_once_per_epoch() {
    let data = synthetic_mnist(103, 10);
    let mut trainer = Trainer::new(TrainConfig {
        batch_size: 20,
        ..small_config()
    });
    assert_eq!(trainer.train_epoch(&data.train, 0.5).samples, 103);
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
        lr: 100.0,
        lr_decay: 0.0,
        epochs: 2,
        ..small_config()
    };
    let (_, summary) = run(&config, &data, None, |_| Ok(())).unwrap();
    assert!(summary.reports.iter().all(|r| r.diverged));
    assert!(summary.diverged.is_some());
}

#[test]
fn invalid_settings_are_rejected_naming_the_flag() {
    let bad = [
        (
            TrainConfig {
                hidden: 0,
                ..TrainConfig::default()
            },
            "--hidden",
        ),
        (
            TrainConfig {
                batch_size: 0,
                ..TrainConfig::default()
            },
            "--batch-size",
        ),
        (
            TrainConfig {
                lr: -1.0,
                ..TrainConfig::default()
            },
            "--lr",
        ),
        (
            TrainConfig {
                lr: f32::NAN,
                ..TrainConfig::default()
            },
            "--lr",
        ),
        (
            TrainConfig {
                lr: f32::INFINITY,
                ..TrainConfig::default()
            },
            "--lr",
        ),
        (
            TrainConfig {
                lr_decay: -0.5,
                ..TrainConfig::default()
            },
            "--lr-decay",
        ),
    ];
    for (config, flag) in bad {
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains(flag), "{message}");
    }
    TrainConfig::default().validate().unwrap();
}
