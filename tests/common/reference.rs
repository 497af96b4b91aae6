//! The plain whole-network step, in f64 with textbook loops: what the fast
//! paths (sgemm, shared-out slices, fused updates) are checked against.

use mnist_mlp::internals::data::dataset::CLASSES;
use mnist_mlp::internals::nn::arch::{Activation, Arch, Cost, Output};
use mnist_mlp::internals::nn::params::Params;
use ndarray::{Array1, Array2};

fn activate(activation: Activation, z: f64) -> f64 {
    match activation {
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
        Activation::Relu => z.max(0.0),
    }
}

/// Each layer's outputs for inputs `x` (n, 784): hidden activations after
/// the masks (when given, one per hidden layer), then the output
/// pre-activations z.
pub fn forward(
    params: &Params,
    arch: &Arch,
    x: &Array2<f64>,
    masks: Option<&[Array2<f32>]>,
) -> Vec<Array2<f64>> {
    let last = params.layers.len() - 1;
    let mut outputs: Vec<Array2<f64>> = Vec::new();
    for (l, layer) in params.layers.iter().enumerate() {
        let input = if l == 0 { x } else { &outputs[l - 1] };
        let (n, units) = (input.nrows(), layer.w.nrows());
        let mut out = Array2::<f64>::zeros((n, units));
        for r in 0..n {
            for u in 0..units {
                let mut z = layer.b[u] as f64;
                for k in 0..layer.w.ncols() {
                    z += input[[r, k]] * layer.w[[u, k]] as f64;
                }
                out[[r, u]] = if l == last {
                    z
                } else {
                    let a = activate(arch.activation, z);
                    match masks {
                        Some(m) => a * m[l][[r, u]] as f64,
                        None => a,
                    }
                };
            }
        }
        outputs.push(out);
    }
    outputs
}

/// Mean cost per sample of the output pre-activations `z` (n, 10).
pub fn mean_cost(arch: &Arch, z: &Array2<f64>, labels: &[u8]) -> f64 {
    let mut total = 0.0;
    for (r, &label) in labels.iter().enumerate() {
        let row: Vec<f64> = z.row(r).to_vec();
        total += match arch.output {
            Output::Softmax => {
                let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let log_sum = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                log_sum - row[label as usize]
            }
            Output::Sigmoid => (0..CLASSES)
                .map(|o| {
                    let a = 1.0 / (1.0 + (-row[o]).exp());
                    let y = (o == label as usize) as u8 as f64;
                    match arch.cost {
                        Cost::Quadratic => 0.5 * (a - y) * (a - y),
                        Cost::CrossEntropy => -(y * a.ln() + (1.0 - y) * (1.0 - a).ln()),
                    }
                })
                .sum(),
        };
    }
    total / labels.len() as f64
}

/// The cost the L2-decayed step descends: mean cost + λ/2 Σ‖w‖².
pub fn objective(
    params: &Params,
    arch: &Arch,
    x: &Array2<f64>,
    labels: &[u8],
    masks: Option<&[Array2<f32>]>,
    weight_decay: f64,
) -> f64 {
    let outputs = forward(params, arch, x, masks);
    let l2: f64 = params
        .layers
        .iter()
        .map(|l| l.w.iter().map(|&w| (w as f64).powi(2)).sum::<f64>())
        .sum();
    mean_cost(arch, outputs.last().unwrap(), labels) + 0.5 * weight_decay * l2
}

/// A parameter tensor in f64, weights and biases of every layer in order.
pub fn tensors(params: &Params) -> Vec<Vec<f64>> {
    params
        .layers
        .iter()
        .flat_map(|l| {
            [
                l.w.iter().map(|&v| v as f64).collect(),
                l.b.iter().map(|&v| v as f64).collect(),
            ]
        })
        .collect()
}

/// Sets the value `index` of tensor `t` (numbered as in `tensors`).
pub fn set(params: &mut Params, t: usize, index: usize, value: f32) {
    let layer = &mut params.layers[t / 2];
    if t.is_multiple_of(2) {
        let cols = layer.w.ncols();
        layer.w[[index / cols, index % cols]] = value;
    } else {
        layer.b[index] = value;
    }
}

/// One plain SGD step at rate `lr` on inputs `x` (n, 784): forward,
/// backward and update with textbook loops in f64 (no weight decay, no
/// dropout), rounded back to f32.
pub fn sgd_step(params: &mut Params, arch: &Arch, x: &Array2<f64>, labels: &[u8], lr: f64) {
    let n = labels.len();
    let outputs = forward(params, arch, x, None);
    let last = params.layers.len() - 1;
    // ∂C/∂z of the output layer, per sample, divided by n.
    let z = &outputs[last];
    let mut dz = Array2::<f64>::zeros(z.dim());
    for r in 0..n {
        let row: Vec<f64> = z.row(r).to_vec();
        let a: Vec<f64> = match arch.output {
            Output::Softmax => {
                let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
                let s: f64 = e.iter().sum();
                e.iter().map(|v| v / s).collect()
            }
            Output::Sigmoid => row.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect(),
        };
        for o in 0..CLASSES {
            let y = (o == labels[r] as usize) as u8 as f64;
            dz[[r, o]] = match (arch.output, arch.cost) {
                (Output::Sigmoid, Cost::Quadratic) => (a[o] - y) * a[o] * (1.0 - a[o]),
                _ => a[o] - y,
            } / n as f64;
        }
    }
    for l in (0..=last).rev() {
        let input = if l == 0 { x } else { &outputs[l - 1] };
        let layer = &params.layers[l];
        // ∂C/∂z of the layer below, before this layer's weights change.
        let below = (l > 0).then(|| {
            let mut d = Array2::<f64>::zeros(input.dim());
            for r in 0..n {
                for k in 0..input.ncols() {
                    let mut sum = 0.0;
                    for u in 0..layer.w.nrows() {
                        sum += dz[[r, u]] * layer.w[[u, k]] as f64;
                    }
                    let a = input[[r, k]];
                    d[[r, k]] = sum
                        * match arch.activation {
                            Activation::Sigmoid => a * (1.0 - a),
                            Activation::Tanh => 1.0 - a * a,
                            Activation::Relu => (a > 0.0) as u8 as f64,
                        };
                }
            }
            d
        });
        let layer = &mut params.layers[l];
        let mut gw = Array2::<f64>::zeros(layer.w.dim());
        let mut gb = Array1::<f64>::zeros(layer.b.dim());
        for r in 0..n {
            for u in 0..layer.w.nrows() {
                gb[u] += dz[[r, u]];
                for k in 0..layer.w.ncols() {
                    gw[[u, k]] += dz[[r, u]] * input[[r, k]];
                }
            }
        }
        layer
            .w
            .zip_mut_with(&gw, |w, g| *w = (*w as f64 - lr * g) as f32);
        layer
            .b
            .zip_mut_with(&gb, |b, g| *b = (*b as f64 - lr * g) as f32);
        if let Some(d) = below {
            dz = d;
        }
    }
}
