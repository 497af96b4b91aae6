//! The training step's gradients against finite differences of the plain
//! reference cost, for every activation, output and cost, with two hidden
//! layers, weight decay and dropout; and each optimiser's step against the
//! rule computed by hand from those gradients.
//!
//! The step's gradient is read off one plain SGD step on one batch:
//! w' = w − lr·(g + λw), so g + λw = (w − w') / lr. A large lr keeps the
//! rounding of w' small next to lr·g.

use crate::common;

use common::{reference, synthetic};
use mnist_mlp::internals::data::batch::{gather, Normalisation};
use mnist_mlp::internals::data::dataset::Dataset;
use mnist_mlp::internals::nn::arch::{Activation, Cost, Hidden, Output};
use mnist_mlp::internals::nn::dropout::{fill_mask, mask_key};
use mnist_mlp::internals::nn::params::Params;
use mnist_mlp::internals::nn::workspace::Workspace;
use mnist_mlp::internals::optim::schedule::Schedule;
use mnist_mlp::internals::optim::Optimizer;
use mnist_mlp::internals::train::{TrainConfig, Trainer};
use ndarray::{s, Array2};

const BATCH: usize = 8;

fn config(activation: Activation, output: Output, cost: Cost) -> TrainConfig {
    TrainConfig {
        hidden: Hidden(vec![7, 5]),
        activation,
        output,
        cost,
        lr: Some(1.0),
        schedule: Schedule::Constant,
        batch_size: BATCH,
        threads: 1,
        seed: 11,
        ..TrainConfig::default()
    }
}

/// The parameters after one step of `config` on the batch of all of `data`
/// from `start` (or the config's own initial weights).
fn one_step(config: &TrainConfig, data: &Dataset, start: Option<&Params>) -> (Params, Params) {
    let mut trainer = Trainer::new(config.clone(), data).unwrap();
    if let Some(p) = start {
        trainer.params = p.clone();
    }
    let before = trainer.params.clone();
    let order: Vec<usize> = (0..data.len()).collect();
    trainer.train_on(data, &order, &mut ());
    (before, trainer.params)
}

/// The rate of the SGD step the gradient is read off.
const READ_LR: f64 = 1e3;

/// g + λw of each tensor, read off an SGD step from `start`.
fn step_gradient(
    config: &TrainConfig,
    data: &Dataset,
    start: Option<&Params>,
) -> (Params, Vec<Vec<f64>>) {
    let sgd = TrainConfig {
        optimizer: Optimizer::Sgd,
        lr: Some(READ_LR as f32),
        ..config.clone()
    };
    let (before, after) = one_step(&sgd, data, start);
    let g = reference::tensors(&before)
        .iter()
        .zip(reference::tensors(&after))
        .map(|(b, a)| b.iter().zip(a).map(|(b, a)| (b - a) / READ_LR).collect())
        .collect();
    (before, g)
}

/// The inputs the step saw (per-batch standardised) and its dropout masks.
fn inputs_and_masks(
    config: &TrainConfig,
    data: &Dataset,
) -> (Array2<f64>, Option<Vec<Array2<f32>>>) {
    let sizes = config.hidden.sizes();
    let mut ws = Workspace::new(BATCH, &sizes, false);
    gather(&mut ws, data, 0..data.len(), Normalisation::PerBatch);
    let x = ws.x.slice(s![..data.len(), ..]).mapv(|v| v as f64);
    let masks = (config.dropout > 0.0).then(|| {
        (0..config.hidden.0.len())
            .map(|l| {
                let mut m = Array2::zeros((data.len(), sizes[l + 1]));
                fill_mask(
                    m.as_slice_mut().unwrap(),
                    mask_key(config.seed, 0, l),
                    config.dropout,
                );
                m
            })
            .collect()
    });
    (x, masks)
}

/// The largest |step gradient − central difference| over a sample of every
/// tensor's entries, relative to the largest gradient entry, with the
/// difference taken of `objective`'s arch (which may differ from the
/// step's, to show a wrong gradient is caught).
fn worst_mismatch(step: &TrainConfig, objective: &TrainConfig, data: &Dataset) -> f64 {
    let (params, g) = step_gradient(step, data, None);
    let (x, masks) = inputs_and_masks(step, data);
    let arch = objective.arch();
    let labels = data.labels();
    let cost = |p: &Params| {
        reference::objective(
            p,
            &arch,
            &x,
            labels,
            masks.as_deref(),
            step.weight_decay as f64,
        )
    };
    let h = 1e-4f32;
    let (mut worst, mut largest) = (0.0f64, 0.0f64);
    for (t, values) in reference::tensors(&params).iter().enumerate() {
        for index in (0..values.len()).step_by(1 + values.len() / 40) {
            let mut p = params.clone();
            let w = values[index] as f32;
            // The steps f32 can take, not the ones asked for.
            let (up, down) = (w + h, w - h);
            reference::set(&mut p, t, index, up);
            let plus = cost(&p);
            reference::set(&mut p, t, index, down);
            let minus = cost(&p);
            let numeric = (plus - minus) / (up as f64 - down as f64);
            worst = worst.max((numeric - g[t][index]).abs());
            largest = largest.max(numeric.abs());
        }
    }
    worst / largest
}

#[test]
fn step_gradients_match_finite_differences_for_every_combination() {
    let data = synthetic(BATCH, 3);
    for activation in [Activation::Sigmoid, Activation::Tanh, Activation::Relu] {
        for (output, cost) in [
            (Output::Sigmoid, Cost::CrossEntropy),
            (Output::Sigmoid, Cost::Quadratic),
            (Output::Softmax, Cost::CrossEntropy),
        ] {
            for (weight_decay, dropout) in [(0.0, 0.0), (0.01, 0.0), (0.0, 0.3)] {
                let config = TrainConfig {
                    weight_decay,
                    dropout,
                    ..config(activation, output, cost)
                };
                let worst = worst_mismatch(&config, &config, &data);
                assert!(
                    worst < 2e-3,
                    "{activation} {output} {cost} wd {weight_decay} dropout {dropout}: relative mismatch {worst:.2e}"
                );
            }
        }
    }
}

#[test]
fn finite_differences_catch_a_wrong_gradient() {
    let data = synthetic(BATCH, 3);
    let quadratic = config(Activation::Sigmoid, Output::Sigmoid, Cost::Quadratic);
    let cross_entropy = config(Activation::Sigmoid, Output::Sigmoid, Cost::CrossEntropy);
    let worst = worst_mismatch(&quadratic, &cross_entropy, &data);
    assert!(worst > 0.1, "a wrong gradient passed ({worst:.2e})");
}

/// Two steps of `optimizer` on the same batch, against the rule by hand
/// from the gradients at the two points.
fn check_two_steps(optimizer: Optimizer, weight_decay: f32) {
    let data = synthetic(BATCH, 4);
    let (lr, mu) = (0.05f64, 0.9f64);
    let config = TrainConfig {
        optimizer,
        lr: Some(lr as f32),
        momentum: mu as f32,
        weight_decay,
        ..config(Activation::Relu, Output::Softmax, Cost::CrossEntropy)
    };
    let mut trainer = Trainer::new(config.clone(), &data).unwrap();
    let start = trainer.params.clone();
    let order: Vec<usize> = (0..BATCH).collect();
    trainer.train_on(&data, &order, &mut ());
    let after_one = trainer.params.clone();
    trainer.train_on(&data, &order, &mut ());
    let after_two = trainer.params.clone();

    // Plain gradients (no decay): the SGD trick with λ = 0.
    let plain = TrainConfig {
        weight_decay: 0.0,
        ..config.clone()
    };
    let (_, g1) = step_gradient(&plain, &data, Some(&start));
    let (_, g2) = step_gradient(&plain, &data, Some(&after_one));
    // Adam divides by √v: where g is near 0 both ways of computing it
    // round to different tiny numbers whose step is a good part of lr.
    let tolerance = match optimizer {
        Optimizer::Adam | Optimizer::Adamw => 2e-3 * lr,
        _ => 1e-5,
    };
    let w0 = reference::tensors(&start);
    let w1 = reference::tensors(&after_one);
    let (b1, b2) = (0.9f64, 0.999f64);
    for t in 0..w0.len() {
        // Weight decay applies to weights (even tensors), not biases.
        let decay = if t % 2 == 0 { weight_decay as f64 } else { 0.0 };
        let mut w = w0[t].clone();
        let mut state = vec![(0.0f64, 0.0f64); w.len()];
        for (step, g) in [(1, &g1[t]), (2, &g2[t])] {
            for k in 0..w.len() {
                let (m, v) = &mut state[k];
                let l2 = decay * w[k];
                w[k] = match optimizer {
                    Optimizer::Sgd => w[k] - lr * (g[k] + l2),
                    Optimizer::Momentum => {
                        *m = mu * *m + g[k] + l2;
                        w[k] - lr * *m
                    }
                    Optimizer::Nesterov => {
                        *m = mu * *m + g[k] + l2;
                        w[k] - lr * (g[k] + l2 + mu * *m)
                    }
                    Optimizer::Adam | Optimizer::Adamw => {
                        let (gk, shrink) = match optimizer {
                            Optimizer::Adam => (g[k] + l2, 0.0),
                            _ => (g[k], lr * decay * w[k]),
                        };
                        *m = b1 * *m + (1.0 - b1) * gk;
                        *v = b2 * *v + (1.0 - b2) * gk * gk;
                        let m_hat = *m / (1.0 - b1.powi(step));
                        let v_hat = *v / (1.0 - b2.powi(step));
                        w[k] - shrink - lr * m_hat / (v_hat.sqrt() + 1e-8)
                    }
                };
            }
            if step == 1 {
                let worst = w
                    .iter()
                    .zip(&w1[t])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                assert!(
                    worst < tolerance,
                    "{optimizer} step 1, tensor {t}: off by {worst:.2e}"
                );
            }
        }
        let got = &reference::tensors(&after_two)[t];
        let worst = w
            .iter()
            .zip(got)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let moved = w
            .iter()
            .zip(&w0[t])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < tolerance && moved > 1e-4,
            "{optimizer} step 2, tensor {t}: off by {worst:.2e}, moved {moved:.2e}"
        );
    }
}

#[test]
fn every_optimiser_steps_as_its_rule_says() {
    for optimizer in Optimizer::ALL.iter().copied() {
        check_two_steps(optimizer, 0.0);
        check_two_steps(optimizer, 0.01);
    }
}
