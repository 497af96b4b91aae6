//! A committee of trained models: each member run as it would run alone,
//! the committee's outputs the mean of theirs. Members trained from
//! different seeds make different mistakes, so the mean is usually right
//! more often than any one of them.

use std::path::{Path, PathBuf};

use crate::data::dataset::{Dataset, CLASSES, PIXELS};
use crate::error::{Error, Result};
use crate::eval::EvalReport;
use crate::model::{Classification, Model};
use crate::nn::network::argmax;

/// The file that marks a folder as a sweep's output (`mnist-mlp sweep
/// --out DIR`), whose runs' files are in [`SWEEP_RUNS`]: the sweep writes
/// this layout (`app/sweep/store.rs`), a committee reads it.
pub(crate) const SWEEP_GRID_FILE: &str = "sweep.json";

/// The sub-folder of a sweep's output that holds each run's files, its
/// saved model `<run>.safetensors` among them.
pub(crate) const SWEEP_RUNS: &str = "runs";

/// The extension of a model file, the files a folder contributes.
const MODEL_EXTENSION: &str = "safetensors";

/// Several trained models that answer together: the committee's ten
/// outputs for an image are the mean over its members of each member's
/// outputs (probabilities under softmax outputs, the ten sigmoid units'
/// activations under sigmoid outputs), and its digit is the largest of
/// them (the lowest digit on ties).
///
/// Each member is run exactly as it runs alone (its own batch size and
/// input normalisation), and the means are taken in f64 in member order
/// and stored as f32, so a committee's answers are deterministic. The
/// members must all have 784 inputs and 10 outputs; they may differ in
/// anything else (depth, activation, normalisation, batch size, output
/// units).
///
/// A committee of one member is that model: its report, outputs and
/// answers are the model's own.
#[derive(Debug, Clone, PartialEq)]
pub struct Committee {
    members: Vec<Model>,
}

/// How a committee scores on a labelled set, and how each member scores
/// alone.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CommitteeReport {
    /// The committee's report. Its loss is the mean over images of
    /// −ln(the averaged output of the true digit), the output clamped
    /// below at [`Committee::LOSS_FLOOR`] (with one member, the member's own loss).
    pub committee: EvalReport,
    /// Each member's own report ([`Model::evaluate`]), in member order.
    pub members: Vec<EvalReport>,
}

impl Committee {
    /// The lowest averaged output of the true digit the committee's loss
    /// takes the logarithm of (f32's epsilon, 2⁻²³ ≈ 1.2e-7, where
    /// scikit-learn's `log_loss` clamps float32 probabilities): an image
    /// the committee gives no chance at all costs ln 2²³ ≈ 15.9, not
    /// infinity.
    pub const LOSS_FLOOR: f64 = f32::EPSILON as f64;

    /// A committee of `members`, in that order. Refuses an empty list and
    /// a model that does not have 784 inputs and 10 outputs.
    pub fn from_models(members: Vec<Model>) -> Result<Committee> {
        if members.is_empty() {
            return Err(Error::Config("a committee needs at least one model".into()));
        }
        for (i, member) in members.iter().enumerate() {
            if let Some(problem) = shape_problem(member) {
                return Err(Error::Config(format!(
                    "committee member {i} cannot join: {problem}"
                )));
            }
        }
        Ok(Committee { members })
    }

    /// Loads a committee from model files and folders; see
    /// [`Committee::member_files`] for which files a folder contributes
    /// and in which order the members come.
    ///
    /// ```no_run
    /// # fn main() -> mnist_mlp::Result<()> {
    /// use mnist_mlp::{Committee, Mnist};
    ///
    /// // Three seeds' models, or a sweep's --out folder saved with --save-models.
    /// let committee = Committee::load(&["seed1.safetensors", "seed2.safetensors", "seed3.safetensors"])?;
    /// let test = Mnist::load_default()?.test;
    /// let report = committee.evaluate(&test);
    /// for (i, member) in report.members.iter().enumerate() {
    ///     println!("member {i}: {:.2}%", 100.0 * member.accuracy);
    /// }
    /// println!("committee: {}", report.committee.text());
    /// let answer = committee.classify(test.image(0))?;
    /// println!("a {} ({:.0}% on average)", answer.digit, 100.0 * answer.outputs[answer.digit]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Committee> {
        let members = Committee::member_files(paths)?
            .iter()
            .map(Model::load)
            .collect::<Result<Vec<_>>>()?;
        Committee::from_models(members)
    }

    /// The model files that `paths` name, in the order a committee takes
    /// them: sorted by path, whatever order `paths` come in. A file is
    /// itself (whatever its name; [`Model::load`] judges it). A folder
    /// contributes its `.safetensors` files (not those of its
    /// sub-folders); a sweep's output folder (one holding `sweep.json`)
    /// contributes those of its `runs` folder, the models a sweep run with
    /// `--save-models` keeps. Refuses a path that does not exist, a folder
    /// without a model, no paths at all, and a file named twice (directly,
    /// through a folder or by another name of the same file), which would
    /// count one model twice.
    pub fn member_files(paths: &[impl AsRef<Path>]) -> Result<Vec<PathBuf>> {
        if paths.is_empty() {
            return Err(Error::Config("a committee needs at least one model".into()));
        }
        let mut files = Vec::new();
        for path in paths {
            let path = path.as_ref();
            if path.is_dir() {
                files.extend(models_in_folder(path)?);
            } else {
                // A missing file is Model::load's to report, as it does
                // for a single model.
                files.push(path.to_owned());
            }
        }
        files.sort();
        let mut seen: Vec<(PathBuf, &Path)> = Vec::with_capacity(files.len());
        for file in &files {
            let real = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
            if let Some((_, earlier)) = seen.iter().find(|(r, _)| *r == real) {
                return Err(Error::Config(format!(
                    "{} and {} are the same model file: name each member once (a committee counts each file once)",
                    earlier.display(),
                    file.display()
                )));
            }
            seen.push((real, file));
        }
        Ok(files)
    }

    /// The members, in committee order.
    pub fn members(&self) -> &[Model] {
        &self.members
    }

    /// Scores the committee on `data` in file order: its report (accuracy,
    /// loss, confusion matrix, precision and recall) and each member's.
    pub fn evaluate(&self, data: &Dataset) -> CommitteeReport {
        self.evaluate_with_outputs(data).0
    }

    /// [`Committee::evaluate`], also giving the committee's ten outputs of
    /// every image, row-major `[images, 10]` in file order: each the mean
    /// over the members of their [`Model::evaluate_with_outputs`], summed
    /// in f64 in member order, divided by the number of members, stored as
    /// f32.
    pub fn evaluate_with_outputs(&self, data: &Dataset) -> (CommitteeReport, Vec<f32>) {
        if let [model] = self.members.as_slice() {
            let (report, outputs) = model.evaluate_with_outputs(data);
            let report = CommitteeReport {
                committee: report.clone(),
                members: vec![report],
            };
            return (report, outputs);
        }
        let mut sums = vec![0.0f64; data.len() * CLASSES];
        let mut members = Vec::with_capacity(self.members.len());
        for model in &self.members {
            let (report, outputs) = model.evaluate_with_outputs(data);
            sums.iter_mut()
                .zip(&outputs)
                .for_each(|(sum, &o)| *sum += f64::from(o));
            members.push(report);
        }
        let outputs = self.means(&sums);
        let mut confusion = [[0usize; CLASSES]; CLASSES];
        let mut loss_sum = 0.0f64;
        for (row, &label) in outputs.chunks_exact(CLASSES).zip(data.labels()) {
            let label = usize::from(label);
            confusion[label][argmax(row)] += 1;
            loss_sum -= f64::from(row[label]).max(Self::LOSS_FLOOR).ln();
        }
        let committee = EvalReport::from_confusion(confusion, loss_sum / data.len().max(1) as f64);
        (CommitteeReport { committee, members }, outputs)
    }

    /// Classifies one 28×28 image (784 bytes row by row, 0 background to
    /// 255 ink): each member as [`Model::classify`] does, then the mean of
    /// their outputs and its largest (the lowest digit on ties).
    pub fn classify(&self, pixels: &[u8]) -> Result<Classification> {
        if let [model] = self.members.as_slice() {
            return model.classify(pixels);
        }
        let mut sums = [0.0f64; CLASSES];
        for model in &self.members {
            let answer = model.classify(pixels)?;
            sums.iter_mut()
                .zip(answer.outputs)
                .for_each(|(sum, o)| *sum += f64::from(o));
        }
        let mut outputs = [0.0f32; CLASSES];
        outputs.copy_from_slice(&self.means(&sums));
        Ok(Classification {
            digit: argmax(&outputs),
            outputs,
        })
    }

    /// Classifies the digit in a PNG or JPEG picture, made MNIST-like as
    /// [`Model::classify_picture`] does, with [`Committee::classify`].
    #[cfg(feature = "images")]
    pub fn classify_picture(&self, path: impl AsRef<Path>) -> Result<Classification> {
        self.classify(&crate::data::picture::mnist_like(path.as_ref())?)
    }

    /// Sums over the members, divided by their number, as f32.
    fn means(&self, sums: &[f64]) -> Vec<f32> {
        let n = self.members.len() as f64;
        sums.iter().map(|&sum| (sum / n) as f32).collect()
    }
}

/// Why `model` cannot sit on a committee, if it cannot: every member reads
/// the same 784 pixels and gives ten outputs to average.
fn shape_problem(model: &Model) -> Option<String> {
    let layers = &model.params.layers;
    let (Some(first), Some(last)) = (layers.first(), layers.last()) else {
        return Some("it has no layers".into());
    };
    if first.inputs() != PIXELS {
        return Some(format!(
            "it has {} inputs, a committee's members {PIXELS}",
            first.inputs()
        ));
    }
    if last.outputs() != CLASSES {
        return Some(format!(
            "it has {} outputs, a committee's members {CLASSES}",
            last.outputs()
        ));
    }
    layers.windows(2).find_map(|pair| {
        (pair[0].outputs() != pair[1].inputs()).then(|| {
            format!(
                "a layer of {} outputs feeds one of {} inputs",
                pair[0].outputs(),
                pair[1].inputs()
            )
        })
    })
}

/// The model files `folder` contributes to a committee, sorted: its
/// `.safetensors` files, or a sweep folder's runs' models.
fn models_in_folder(folder: &Path) -> Result<Vec<PathBuf>> {
    let sweep = folder.join(SWEEP_GRID_FILE).is_file();
    let holder = if sweep {
        folder.join(SWEEP_RUNS)
    } else {
        folder.to_owned()
    };
    let mut models = Vec::new();
    if holder.is_dir() {
        for entry in std::fs::read_dir(&holder).map_err(Error::io(&holder))? {
            let path = entry.map_err(Error::io(&holder))?.path();
            if path.extension().is_some_and(|e| e == MODEL_EXTENSION) && path.is_file() {
                models.push(path);
            }
        }
    }
    if models.is_empty() {
        return Err(Error::Config(if sweep {
            format!(
                "{}: a sweep folder without saved models (no .{MODEL_EXTENSION} files in {}): run the sweep with --save-models to keep each run's model",
                folder.display(),
                holder.display()
            )
        } else {
            format!(
                "{}: no models in this folder (no .{MODEL_EXTENSION} files)",
                folder.display()
            )
        }));
    }
    models.sort();
    Ok(models)
}
