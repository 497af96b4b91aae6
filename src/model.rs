//! A trained network as one value: its weights and what it was trained as,
//! with a call each to save, load, evaluate, classify and export it.

use std::path::Path;

use crate::data::batch::gather;
use crate::data::dataset::{Dataset, CLASSES, PIXELS};
use crate::error::{Error, Result};
use crate::eval::{evaluate, evaluate_with_outputs, EvalReport};
use crate::io::atomic_file::write_atomically;
use crate::io::model::{self, ModelInfo};
use crate::io::onnx::to_onnx;
use crate::nn::network::{forward, predictions};
use crate::nn::params::Params;
use crate::nn::subnormals::flush_subnormals;
use crate::nn::workspace::Workspace;

/// A trained network: its weights and biases (`params`, layer `l` a
/// weight matrix `[out, in]` and a bias `[out]`, 784 inputs, 10 outputs)
/// and how it was trained (`info`: the config, the input normalisation,
/// the epochs and the test accuracy as a fraction).
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The weights and biases, input layer first.
    pub params: Params,
    /// The settings, normalisation and figures saved beside the weights.
    pub info: ModelInfo,
}

/// What a model makes of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classification {
    /// The predicted digit, 0..9: the largest output.
    pub digit: usize,
    /// The ten outputs for digits 0..9: probabilities under a softmax
    /// output, each unit's activation in 0..1 under sigmoid outputs.
    pub outputs: [f32; CLASSES],
}

impl Model {
    /// Reads a model (or checkpoint) saved by [`Model::save`] or by
    /// `mnist-mlp train --save`, checking every tensor's type, shape and
    /// values.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let (params, info) = model::load(path.as_ref())?;
        Ok(Model { params, info })
    }

    /// Writes the model as safetensors (whole or not at all: through a
    /// temporary file and a rename), readable by PyTorch and candle too.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        model::save(path.as_ref(), &self.params, &self.info)
    }

    /// Scores the model on `data` in file order, in batches of the size
    /// it was trained with (standardisation may be per batch): accuracy,
    /// loss, confusion matrix, precision and recall.
    pub fn evaluate(&self, data: &Dataset) -> EvalReport {
        evaluate(&self.params, &self.info, data)
    }

    /// [`Model::evaluate`], also giving the ten outputs of every image,
    /// row-major `[images, 10]` in file order.
    pub fn evaluate_with_outputs(&self, data: &Dataset) -> (EvalReport, Vec<f32>) {
        evaluate_with_outputs(&self.params, &self.info, data)
    }

    /// Classifies one 28×28 image: `pixels` are its 784 bytes row by row,
    /// 0 background to 255 ink as in MNIST. The image is normalised as the
    /// training data was (per-batch standardisation: on its own, a batch
    /// of one).
    pub fn classify(&self, pixels: &[u8]) -> Result<Classification> {
        if pixels.len() != PIXELS {
            return Err(Error::Data(format!(
                "an image is {PIXELS} pixels (28×28), got {}",
                pixels.len()
            )));
        }
        let _flush = flush_subnormals();
        let single = Dataset::new(pixels.to_vec(), vec![0])?;
        let mut ws = Workspace::new(1, &self.params.sizes(), false);
        gather(&mut ws, &single, 0..1, self.info.normalisation);
        forward(&self.params, &self.info.arch(), &mut ws);
        let digit = predictions(&ws).next().expect("one row");
        let mut outputs = [0.0; CLASSES];
        outputs
            .iter_mut()
            .zip(ws.a_out.row(0))
            .for_each(|(o, a)| *o = *a);
        Ok(Classification { digit, outputs })
    }

    /// Classifies the digit in a PNG or JPEG picture, made MNIST-like
    /// first (inverted if dark on light, its bounding box scaled into
    /// 20×20, centred by mass in 28×28).
    ///
    /// ```no_run
    /// # fn main() -> mnist_mlp::Result<()> {
    /// let model = mnist_mlp::Model::load("fast.safetensors")?;
    /// let answer = model.classify_picture("seven.png")?;
    /// println!("a {} ({:.0}% sure)", answer.digit, 100.0 * answer.outputs[answer.digit]);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "images")]
    pub fn classify_picture(&self, path: impl AsRef<Path>) -> Result<Classification> {
        self.classify(&crate::data::picture::mnist_like(path.as_ref())?)
    }

    /// Writes the model as an ONNX graph (opset 17): input `pixels`
    /// float32 `[N, 784]` on the 0..255 scale, outputs `probabilities`
    /// `[N, 10]` and `digit` int64 `[N]`. A model trained with per-batch
    /// standardisation standardises each input batch as a whole, so feed
    /// it batches of its training batch size.
    pub fn export_onnx(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomically(path.as_ref(), &to_onnx(&self.params, &self.info))
    }
}
