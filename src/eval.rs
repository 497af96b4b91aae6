//! Scoring a saved model on a labelled set: accuracy, loss, the confusion
//! matrix and per-class precision and recall.

use std::fmt::Write as _;

use crate::data::batch::gather;
use crate::data::dataset::{Dataset, CLASSES};
use crate::io::model::ModelInfo;
use crate::nn::network::{forward, predictions, score, Score};
use crate::nn::params::Params;
use crate::nn::subnormals::flush_subnormals;
use crate::nn::workspace::{flat, Workspace};

/// How a model scores on a labelled set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvalReport {
    /// Images scored.
    pub samples: usize,
    /// Correct predictions over images, a fraction in 0..1.
    pub accuracy: f64,
    /// The mean per-image cost (the model's own cost function).
    pub loss: f64,
    /// confusion[true digit][predicted digit] = count.
    pub confusion: [[usize; CLASSES]; CLASSES],
    /// Per predicted digit: correct / predicted (NaN → null when never predicted).
    pub precision: [f64; CLASSES],
    /// Per true digit: correct / present.
    pub recall: [f64; CLASSES],
}

/// Runs `params` over `data` in file order, in batches of the size the model
/// was trained with (standardisation may be per batch).
pub fn evaluate(params: &Params, info: &ModelInfo, data: &Dataset) -> EvalReport {
    run(params, info, data, None)
}

/// `evaluate`, also giving the ten outputs of every image, row-major
/// `[images, 10]` in file order: what a copy of the network elsewhere (an
/// exported ONNX graph) is checked against.
pub fn evaluate_with_outputs(
    params: &Params,
    info: &ModelInfo,
    data: &Dataset,
) -> (EvalReport, Vec<f32>) {
    let mut outputs = Vec::with_capacity(data.len() * CLASSES);
    let report = run(params, info, data, Some(&mut outputs));
    (report, outputs)
}

fn run(
    params: &Params,
    info: &ModelInfo,
    data: &Dataset,
    mut outputs: Option<&mut Vec<f32>>,
) -> EvalReport {
    let _flush = flush_subnormals();
    let batch_size = info.config.batch_size;
    let arch = info.arch();
    let mut ws = Workspace::new(batch_size, &params.sizes(), false);
    let mut total = Score::default();
    let mut confusion = [[0usize; CLASSES]; CLASSES];
    for start in (0..data.len()).step_by(batch_size) {
        gather(
            &mut ws,
            data,
            start..(start + batch_size).min(data.len()),
            info.normalisation,
        );
        forward(params, &arch, &mut ws);
        if let Some(outputs) = outputs.as_deref_mut() {
            outputs.extend_from_slice(flat(&ws.a_out, ws.rows * CLASSES));
        }
        total.add(score(&ws, &arch));
        for (digit, &label) in predictions(&ws).zip(&ws.labels) {
            confusion[label as usize][digit] += 1;
        }
    }
    let report = EvalReport::from_confusion(confusion, total.mean_loss());
    debug_assert_eq!(report.samples, total.samples);
    report
}

impl EvalReport {
    /// The report of a labelled set from its confusion matrix
    /// (`confusion[true digit][predicted digit]` = count) and the mean loss
    /// per image: accuracy is the diagonal over the images, precision and
    /// recall each digit's diagonal count over its column and its row
    /// (NaN for a digit never predicted, or never present).
    pub fn from_confusion(confusion: [[usize; CLASSES]; CLASSES], loss: f64) -> EvalReport {
        let ratio = |num: usize, den: usize| {
            if den == 0 {
                f64::NAN
            } else {
                num as f64 / den as f64
            }
        };
        let samples: usize = confusion.iter().flatten().sum();
        let correct: usize = (0..CLASSES).map(|d| confusion[d][d]).sum();
        let precision = std::array::from_fn(|d| {
            ratio(confusion[d][d], (0..CLASSES).map(|t| confusion[t][d]).sum())
        });
        let recall = std::array::from_fn(|d| ratio(confusion[d][d], confusion[d].iter().sum()));
        EvalReport {
            samples,
            accuracy: correct as f64 / samples.max(1) as f64,
            loss,
            confusion,
            precision,
            recall,
        }
    }

    /// The report as `mnist-mlp eval` prints it: accuracy and loss, then
    /// the confusion matrix with recall per row and precision per column.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} images: accuracy {:.2}%, loss {:.4}\nconfusion (rows: true digit, columns: predicted)\n     ",
            self.samples,
            100.0 * self.accuracy,
            self.loss
        );
        for d in 0..CLASSES {
            let _ = write!(out, "{d:>6}");
        }
        out.push_str("   recall\n");
        for (t, row) in self.confusion.iter().enumerate() {
            let _ = write!(out, "{t:>5}");
            for count in row {
                let _ = write!(out, "{count:>6}");
            }
            let _ = writeln!(out, "   {:5.1}%", 100.0 * self.recall[t]);
        }
        out.push_str("prec.");
        for p in self.precision {
            let _ = write!(out, "{:>5.1}%", 100.0 * p);
        }
        out.push('\n');
        out
    }
}
