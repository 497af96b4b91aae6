//! The network: 784 inputs → H sigmoid hidden units → 10 sigmoid outputs.
//!
//! Shapes (row-major; one row per sample):
//!   B = batch rows in use, I = 784 inputs, H = hidden units, O = 10 outputs
//!   x  (B,I)  standardised inputs          w1 (H,I)  b1 (H)
//!   a1 (B,H)  σ(x·w1ᵀ + b1)                w2 (O,H)  b2 (O)
//!   z2 (B,O)  a1·w2ᵀ + b2                  a2 (B,O)  σ(z2)
//!   d2 (B,O)  ∂C/∂z2 / B                   d1 (B,H)  (d2·w2) ⊙ a1 ⊙ (1 − a1)
//!
//! Every batched product is one `general_mat_mul`, which ndarray sends to
//! OpenBLAS sgemm, writing into the workspace's preallocated buffers.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2};
use ndarray_linalg::Norm;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use std::fmt;
use std::str::FromStr;

use crate::data::dataset::{CLASSES, PIXELS};
use crate::nn::cost::Cost;
use crate::nn::workspace::Workspace;
use crate::train::profile::{Laps, Phase};

/// How the weights are drawn (biases are N(0,1) either way, as in the tutorial).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// N(0, 1).
    Random,
    /// N(0, 1) · sqrt(2 / fan_in).
    Kaiming,
}

impl Init {
    pub fn name(self) -> &'static str {
        match self {
            Init::Random => "random",
            Init::Kaiming => "kaiming",
        }
    }

    fn weight_scale(self, fan_in: usize) -> f32 {
        match self {
            Init::Random => 1.0,
            Init::Kaiming => (2.0 / fan_in as f32).sqrt(),
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Init {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(Init::Random),
            "kaiming" => Ok(Init::Kaiming),
            _ => Err(format!("unknown init '{s}' (expected kaiming or random)")),
        }
    }
}

/// The learned parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub w1: Array2<f32>, // (H,I)
    pub b1: Array1<f32>, // (H)
    pub w2: Array2<f32>, // (O,H)
    pub b2: Array1<f32>, // (O)
}

impl Params {
    pub fn new(hidden: usize, init: Init, rng: &mut impl Rng) -> Self {
        let mut draw = |scale: f32| {
            scale * <StandardNormal as Distribution<f32>>::sample(&StandardNormal, rng)
        };
        let w1 = Array2::from_shape_simple_fn((hidden, PIXELS), || draw(init.weight_scale(PIXELS)));
        let w2 =
            Array2::from_shape_simple_fn((CLASSES, hidden), || draw(init.weight_scale(hidden)));
        let b1 = Array1::from_shape_simple_fn(hidden, || draw(1.0));
        let b2 = Array1::from_shape_simple_fn(CLASSES, || draw(1.0));
        Self { w1, b1, w2, b2 }
    }

    /// All zeros: the accumulator `gradient_of` fills.
    pub fn zeros(hidden: usize) -> Self {
        Self {
            w1: Array2::zeros((hidden, PIXELS)),
            b1: Array1::zeros(hidden),
            w2: Array2::zeros((CLASSES, hidden)),
            b2: Array1::zeros(CLASSES),
        }
    }

    pub fn hidden(&self) -> usize {
        self.b1.len()
    }

    pub fn is_finite(&self) -> bool {
        [
            self.w1.as_slice(),
            self.b1.as_slice(),
            self.w2.as_slice(),
            self.b2.as_slice(),
        ]
        .into_iter()
        .all(|p| {
            p.expect("parameters are contiguous")
                .iter()
                .all(|v| v.is_finite())
        })
    }

    /// Frobenius norms of w1 and w2: the first thing to look at when a run
    /// diverges (they blow up, or saturate every unit).
    pub fn weight_norms(&self) -> (f32, f32) {
        (self.w1.norm_l2(), self.w2.norm_l2())
    }
}

#[inline(always)]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + crate::nn::fastmath::exp(-z))
}

/// z = σ(z + bias), bias added to every row.
pub fn add_bias_sigmoid(mut z: ArrayViewMut2<f32>, bias: ArrayView1<f32>) {
    let z = z.as_slice_mut().expect("buffers are row-major blocks");
    add_to_rows(z, bias);
    for v in z.iter_mut() {
        *v = sigmoid(*v);
    }
}

/// z2 += b2 and a2 = σ(z2), keeping z2 for a cost that stays finite when σ
/// saturates.
pub fn output_activations(
    mut z2: ArrayViewMut2<f32>,
    b2: ArrayView1<f32>,
    mut a2: ArrayViewMut2<f32>,
) {
    let z2 = z2.as_slice_mut().expect("buffers are row-major blocks");
    let a2 = a2.as_slice_mut().expect("buffers are row-major blocks");
    add_to_rows(z2, b2);
    for (a, &z) in a2.iter_mut().zip(z2.iter()) {
        *a = sigmoid(z);
    }
}

/// Adds `bias` to every row of the row-major block `m`. Kept apart from the
/// sigmoid, which then runs as one loop over the whole block: rows are only
/// 10 or 30 long, too short for the vector lanes on their own.
fn add_to_rows(m: &mut [f32], bias: ArrayView1<f32>) {
    let bias = bias.as_slice().expect("bias is contiguous");
    for row in m.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// d2 = ∂C/∂z2 / n for targets y, n = rows of `a2`.
pub fn output_deltas(
    a2: ArrayView2<f32>,
    y: ArrayView2<f32>,
    cost: Cost,
    mut d2: ArrayViewMut2<f32>,
) {
    let inv_n = 1.0 / a2.nrows() as f32;
    let a2 = a2.to_slice().expect("buffers are row-major blocks");
    let y = y.to_slice().expect("buffers are row-major blocks");
    let d2 = d2.as_slice_mut().expect("buffers are row-major blocks");
    for ((d, &a), &y) in d2.iter_mut().zip(a2).zip(y) {
        *d = cost.delta(a, y) * inv_n;
    }
}

/// d1 ⊙= a1 ⊙ (1 − a1): from ∂C/∂a1 to ∂C/∂z1.
pub fn times_sigmoid_derivative(mut d1: ArrayViewMut2<f32>, a1: ArrayView2<f32>) {
    let d1 = d1.as_slice_mut().expect("buffers are row-major blocks");
    let a1 = a1.to_slice().expect("buffers are row-major blocks");
    for (d, &a) in d1.iter_mut().zip(a1) {
        *d *= a * (1.0 - a);
    }
}

/// Forward pass over the `ws.rows` gathered samples.
pub fn forward(params: &Params, ws: &mut Workspace) {
    let n = ws.rows;
    let x = ws.x.slice(s![..n, ..]);
    let mut a1 = ws.a1.slice_mut(s![..n, ..]);
    general_mat_mul(1.0, &x, &params.w1.t(), 0.0, &mut a1);
    forward_from_input_products(
        ws,
        params.b1.view(),
        params.w2.view(),
        params.b2.view(),
        &mut (),
    );
}

/// The rest of the forward pass once a1 holds the input products x·w1ᵀ:
/// a1 = σ(a1 + b1), z2 = a1·w2ᵀ + b2, a2 = σ(z2).
pub fn forward_from_input_products(
    ws: &mut Workspace,
    b1: ArrayView1<f32>,
    w2: ArrayView2<f32>,
    b2: ArrayView1<f32>,
    laps: &mut impl Laps,
) {
    let n = ws.rows;
    let mut a1 = ws.a1.slice_mut(s![..n, ..]);
    add_bias_sigmoid(a1.view_mut(), b1);
    laps.lap(Phase::ForwardElementwise);

    let mut z2 = ws.z2.slice_mut(s![..n, ..]);
    general_mat_mul(1.0, &a1, &w2.t(), 0.0, &mut z2);
    laps.lap(Phase::ForwardProducts);
    output_activations(z2, b2, ws.a2.slice_mut(s![..n, ..]));
    laps.lap(Phase::ForwardElementwise);
}

/// Backward pass: fills d2 and d1 from the outputs of `forward`. It reads w2,
/// so it must run before the update changes it.
pub fn backward(params: &Params, ws: &mut Workspace, cost: Cost) {
    backward_timed(ws, params.w2.view(), cost, &mut ());
}

pub fn backward_timed(ws: &mut Workspace, w2: ArrayView2<f32>, cost: Cost, laps: &mut impl Laps) {
    let n = ws.rows;
    let mut d2 = ws.d2.slice_mut(s![..n, ..]);
    output_deltas(
        ws.a2.slice(s![..n, ..]),
        ws.y.slice(s![..n, ..]),
        cost,
        d2.view_mut(),
    );
    laps.lap(Phase::BackwardElementwise);
    let mut d1 = ws.d1.slice_mut(s![..n, ..]);
    general_mat_mul(1.0, &d2, &w2, 0.0, &mut d1);
    laps.lap(Phase::BackwardProducts);
    times_sigmoid_derivative(d1, ws.a1.slice(s![..n, ..]));
    laps.lap(Phase::BackwardElementwise);
}

/// What one batch scored, before the update.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    /// Sum over samples of each sample's cost.
    pub loss_sum: f64,
    pub correct: usize,
    pub samples: usize,
    /// Output units whose |z| exceeds `SATURATED_Z`: σ' there is below 3e-7,
    /// so they have stopped learning.
    pub saturated: usize,
}

/// |z| beyond which an output unit counts as saturated.
pub const SATURATED_Z: f32 = 15.0;

impl Score {
    pub fn add(&mut self, other: Score) {
        self.loss_sum += other.loss_sum;
        self.correct += other.correct;
        self.samples += other.samples;
        self.saturated += other.saturated;
    }

    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.samples.max(1) as f64
    }

    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.samples.max(1) as f64
    }

    pub fn saturated_share(&self) -> f64 {
        self.saturated as f64 / (self.samples.max(1) * CLASSES) as f64
    }
}

/// The predicted digit of each row of the batch `forward` just ran: the
/// argmax of z2 (first on ties), which keeps its order where σ rounds
/// outputs to 1.0.
pub fn predictions(ws: &Workspace) -> impl Iterator<Item = usize> + '_ {
    flat(&ws.z2, ws.rows * CLASSES)
        .chunks_exact(CLASSES)
        .map(|z_row| (0..CLASSES).fold(0, |best, o| if z_row[o] > z_row[best] { o } else { best }))
}

/// The first `len` values of a row-major buffer.
fn flat(m: &Array2<f32>, len: usize) -> &[f32] {
    &m.as_slice().expect("buffers are row-major")[..len]
}

/// Cost and argmax accuracy of the batch `forward` just ran. The argmax is
/// taken on z2, which keeps its order where σ rounds outputs to 1.0.
pub fn score(ws: &Workspace, cost: Cost) -> Score {
    let n = ws.rows;
    let block = n * CLASSES;
    let (z2, a2, y) = (flat(&ws.z2, block), flat(&ws.a2, block), flat(&ws.y, block));
    // Sixteen independent partial sums, so the cost (exp and log) vectorises.
    const LANES: usize = 16;
    let mut lanes = [0.0f32; LANES];
    let whole = block - block % LANES;
    for ((z, a), y) in z2[..whole]
        .chunks_exact(LANES)
        .zip(a2[..whole].chunks_exact(LANES))
        .zip(y[..whole].chunks_exact(LANES))
    {
        for i in 0..LANES {
            lanes[i] += cost.loss(z[i], a[i], y[i]);
        }
    }
    let tail: f32 = (whole..block).map(|k| cost.loss(z2[k], a2[k], y[k])).sum();
    let loss_sum = lanes.iter().sum::<f32>() + tail;

    let correct = predictions(ws)
        .zip(&ws.labels)
        .filter(|(digit, &label)| *digit == label as usize)
        .count();
    Score {
        loss_sum: loss_sum as f64,
        correct,
        samples: n,
        saturated: z2.iter().filter(|z| z.abs() > SATURATED_Z).count(),
    }
}
