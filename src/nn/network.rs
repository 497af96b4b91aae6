//! The element-wise stages every pass shares (bias, activation, dropout,
//! output units, deltas, scoring) and the plain forward pass that
//! evaluation and prediction run. The training step (`train/team.rs`) runs
//! the same stages around its shared-out products.

use ndarray::linalg::general_mat_mul;
use ndarray::ArrayView1;

use crate::data::dataset::CLASSES;
use crate::nn::arch::{Activation, Arch, Output};
use crate::nn::dropout::fill_mask;
use crate::nn::params::Params;
use crate::nn::workspace::{flat, flat_mut, Workspace};

/// Adds `bias` to every row of the row-major block `m`. Kept apart from the
/// activation, which then runs as one loop over the whole block: rows can
/// be only 10 or 30 long, too short for the vector lanes on their own.
pub fn add_to_rows(m: &mut [f32], bias: ArrayView1<f32>) {
    let bias = bias.as_slice().expect("bias is contiguous");
    for row in m.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// Dropout on a hidden layer during training: probability and mask key.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    pub p: f32,
    pub key: u64,
}

/// Hidden layer `h` once its buffer `a` holds the products input · wᵀ:
/// a = f(a + b), and under dropout mask and kept = a ⊙ mask.
/// (A bias of `None` was added with the products.)
pub fn finish_hidden(
    ws: &mut Workspace,
    h: usize,
    bias: Option<ArrayView1<f32>>,
    activation: Activation,
    dropout: Option<Dropout>,
) {
    let layer = &mut ws.hidden[h];
    let len = ws.rows * layer.a.ncols();
    let a = flat_mut(&mut layer.a, len);
    if let Some(bias) = bias {
        add_to_rows(a, bias);
    }
    activation.apply(a);
    if let Some(Dropout { p, key }) = dropout {
        let mask = flat_mut(&mut layer.mask, len);
        fill_mask(mask, key, p);
        let a = flat(&layer.a, len);
        let kept = flat_mut(&mut layer.kept, len);
        for ((k, &a), &m) in kept.iter_mut().zip(a).zip(flat(&layer.mask, len)) {
            *k = a * m;
        }
    }
}

/// The output layer once z holds the products: z += b, a_out = output(z).
pub fn finish_output(ws: &mut Workspace, bias: Option<ArrayView1<f32>>, output: Output) {
    let len = ws.rows * CLASSES;
    if let Some(bias) = bias {
        add_to_rows(flat_mut(&mut ws.z, len), bias);
    }
    output.apply(flat(&ws.z, len), flat_mut(&mut ws.a_out, len));
}

/// dz_out = ∂C/∂z / rows for the batch `forward` just ran.
pub fn output_deltas(ws: &mut Workspace, arch: &Arch) {
    let len = ws.rows * CLASSES;
    arch.output.deltas(
        arch.cost,
        flat(&ws.a_out, len),
        flat(&ws.y, len),
        flat_mut(&mut ws.dz_out, len),
        ws.rows,
    );
}

/// From ∂C/∂(layer input) to ∂C/∂z of hidden layer `h`, in place in its
/// dz: through the dropout mask (a dropped unit passed nothing on) and the
/// activation's derivative.
pub fn hidden_deltas(ws: &mut Workspace, h: usize, activation: Activation) {
    let layer = &mut ws.hidden[h];
    let len = ws.rows * layer.a.ncols();
    let dz = flat_mut(&mut layer.dz, len);
    if !layer.mask.is_empty() {
        dz.iter_mut()
            .zip(flat(&layer.mask, len))
            .for_each(|(d, m)| *d *= m);
    }
    activation.times_derivative(dz, flat(&layer.a, len));
}

/// The forward pass over the `ws.rows` gathered samples, every product over
/// whole layers, no dropout: what evaluation and prediction run.
pub fn forward(params: &Params, arch: &Arch, ws: &mut Workspace) {
    let last = params.layers.len() - 1;
    for (l, layer) in params.layers.iter().enumerate() {
        let (input, mut output) = ws.input_and_output(l, false);
        general_mat_mul(1.0, &input, &layer.w.t(), 0.0, &mut output);
        if l < last {
            finish_hidden(ws, l, Some(layer.b.view()), arch.activation, None);
        } else {
            finish_output(ws, Some(layer.b.view()), arch.output);
        }
    }
}

/// What one batch scored, before the update.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    /// Sum over samples of each sample's cost.
    pub loss_sum: f64,
    pub correct: usize,
    pub samples: usize,
    /// Sigmoid output units whose |z| exceeds `SATURATED_Z`: σ' there is
    /// below 3e-7, so they have stopped learning.
    pub saturated: usize,
}

/// |z| beyond which a sigmoid output unit counts as saturated.
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

/// The index of the largest value of `row`, the first on ties: the digit a
/// row of ten outputs (or of z) predicts.
pub fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |best, o| if row[o] > row[best] { o } else { best })
}

/// The predicted digit of each row of the batch `forward` just ran: the
/// argmax of z (first on ties), which keeps its order where σ rounds
/// outputs to 1.0.
pub fn predictions(ws: &Workspace) -> impl Iterator<Item = usize> + '_ {
    flat(&ws.z, ws.rows * CLASSES)
        .chunks_exact(CLASSES)
        .map(argmax)
}

/// Cost and argmax accuracy of the batch `forward` just ran.
pub fn score(ws: &Workspace, arch: &Arch) -> Score {
    let len = ws.rows * CLASSES;
    let z = flat(&ws.z, len);
    let loss_sum = arch
        .output
        .loss_sum(arch.cost, z, flat(&ws.a_out, len), flat(&ws.y, len));
    let correct = predictions(ws)
        .zip(&ws.labels)
        .filter(|(digit, &label)| *digit == label as usize)
        .count();
    let saturated = match arch.output {
        Output::Sigmoid => z.iter().filter(|z| z.abs() > SATURATED_Z).count(),
        Output::Softmax => 0,
    };
    Score {
        loss_sum: loss_sum as f64,
        correct,
        samples: ws.rows,
        saturated,
    }
}
