//! The learned parameters: one weight matrix and bias vector per layer.

use ndarray::{Array1, Array2};
use ndarray_linalg::Norm;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::nn::aligned;
use crate::nn::arch::Init;

/// One fully connected layer: outputs = inputs · wᵀ + b.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// (out, in)
    pub w: Array2<f32>,
    /// (out)
    pub b: Array1<f32>,
}

impl Layer {
    /// A layer of zeros from `inputs` to `outputs` units.
    pub fn zeros(inputs: usize, outputs: usize) -> Self {
        Self {
            w: aligned::zeros((outputs, inputs)),
            b: Array1::zeros(outputs),
        }
    }

    /// Its input width.
    pub fn inputs(&self) -> usize {
        self.w.ncols()
    }

    /// Its output width.
    pub fn outputs(&self) -> usize {
        self.w.nrows()
    }
}

#[derive(Debug, Clone, PartialEq)]
/// Every layer's weights and biases: what a model is.
pub struct Params {
    /// Input layer first.
    pub layers: Vec<Layer>,
}

impl Params {
    /// Draws every layer for the widths `sizes` (inputs first, outputs
    /// last): all the weights layer by layer, then all the biases, the
    /// order the one-hidden-layer network has always drawn them in.
    pub fn new(sizes: &[usize], init: Init, rng: &mut impl Rng) -> Self {
        let mut draw = |scale: f32| {
            scale * <StandardNormal as Distribution<f32>>::sample(&StandardNormal, rng)
        };
        let weights: Vec<Array2<f32>> = sizes
            .windows(2)
            .map(|pair| {
                let scale = init.weight_scale(pair[0], pair[1]);
                let mut w = aligned::zeros((pair[1], pair[0]));
                w.iter_mut().for_each(|v| *v = draw(scale));
                w
            })
            .collect();
        let layers = weights
            .into_iter()
            .map(|w| {
                let b = Array1::from_shape_simple_fn(w.nrows(), || draw(1.0));
                Layer { w, b }
            })
            .collect();
        Self { layers }
    }

    /// Moves every weight matrix that does not start on a cache line to one
    /// (those read from a file come in plain `Vec`s); see `aligned`.
    pub fn realign(&mut self) {
        self.layers
            .iter_mut()
            .for_each(|l| aligned::realign(&mut l.w));
    }

    /// All zeros, shaped for the widths `sizes`.
    pub fn zeros(sizes: &[usize]) -> Self {
        Self {
            layers: sizes.windows(2).map(|p| Layer::zeros(p[0], p[1])).collect(),
        }
    }

    /// Every layer width from the inputs to the outputs.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.layers[0].inputs()];
        sizes.extend(self.layers.iter().map(Layer::outputs));
        sizes
    }

    /// The hidden layer sizes.
    pub fn hidden(&self) -> Vec<usize> {
        self.layers[..self.layers.len() - 1]
            .iter()
            .map(Layer::outputs)
            .collect()
    }

    /// Whether every weight and bias is finite.
    pub fn is_finite(&self) -> bool {
        self.layers
            .iter()
            .all(|l| l.w.iter().all(|v| v.is_finite()) && l.b.iter().all(|v| v.is_finite()))
    }

    /// Frobenius norm of each weight matrix: the first thing to look at when
    /// a run diverges (they blow up, or saturate every unit).
    pub fn weight_norms(&self) -> Vec<f32> {
        self.layers.iter().map(|l| l.w.norm_l2()).collect()
    }

    /// Number of weights and biases.
    pub fn count(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }
}
