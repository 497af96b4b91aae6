//! What each subcommand does, given a validated configuration. `main.rs`
//! only turns arguments into these calls.

pub mod bench;
pub mod export;
pub mod sweep;
pub mod train;

use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::committee::Committee;
use crate::data::dataset::{
    load_mnist, load_split, Dataset, Mnist, Source, CLASSES, TEST_IMAGES, TEST_LABELS,
    TRAIN_IMAGES, TRAIN_LABELS,
};
pub use crate::data::fetch::DEFAULT_TIMEOUT;
use crate::data::fetch::{fetch_files, fetch_source, missing_files, FetchOptions};
use crate::data::picture::mnist_like;
use crate::error::{Error, Result};
use crate::eval::EvalReport;
use crate::io::atomic_file::check_writable;
use crate::io::metrics::read_metrics;
use crate::io::npy::write_npy_f32;
use crate::io::plot::{
    digit_ascii, distinct_names, draw_curves, draw_digit, run_curves, write_digit_png, Line,
};
use crate::model::{Classification, Model};
use crate::train::TrainConfig;

/// Where a command's data is and whether it may be downloaded there.
#[derive(Debug, Clone)]
pub struct DataLocation {
    pub dir: PathBuf,
    pub source: Source,
    /// Never download: a missing file is an error.
    pub offline: bool,
}

impl DataLocation {
    /// A folder of files that are already there (no downloading).
    pub fn local(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            source: Source::Mnist,
            offline: true,
        }
    }

    /// Fetches the four files when any is missing, saying so on stderr,
    /// unless offline (then loading reports what is missing). Without a
    /// network that is two lines: this notice and the error naming each
    /// mirror once.
    fn prepare(&self) -> Result<()> {
        if self.offline || !missing_files(&self.dir, self.source) {
            return Ok(());
        }
        eprintln!(
            "{} has no {} files: fetching them (pass --offline to stop this)",
            self.dir.display(),
            self.source.name()
        );
        fetch_source(&self.dir, self.source, &mut |line| eprintln!("{line}"))
    }

    pub fn load(&self) -> Result<Mnist> {
        self.prepare()?;
        load_mnist(&self.dir)
    }

    pub fn load_test(&self) -> Result<Dataset> {
        self.prepare()?;
        load_split(&self.dir, TEST_IMAGES, TEST_LABELS)
    }
}

/// Fails now, not after training, when a file could not be written there:
/// a missing folder, one that refuses new files, a directory in the way.
pub(crate) fn check_output_folder(path: &Path) -> Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(folder) if !folder.is_dir() => Err(Error::Config(format!(
            "{}: folder {} does not exist",
            path.display(),
            folder.display()
        ))),
        _ => check_writable(path),
    }
}

/// Scores saved models on the test set: one model (`model_paths` naming
/// one file, or a folder of one) as itself, several as a committee that
/// averages their outputs, with a line (or `members` in JSON) giving each
/// member's own accuracy. With `probabilities_out`, also writes every test
/// image's ten outputs (the committee's) there as a float32 `.npy` matrix
/// `[images, 10]`, in file order.
pub fn eval(
    model_paths: &[PathBuf],
    data: &DataLocation,
    json: bool,
    probabilities_out: Option<&Path>,
    out: &mut impl Write,
) -> Result<()> {
    if let Some(path) = probabilities_out {
        check_output_folder(path)?;
    }
    let files = Committee::member_files(model_paths)?;
    let committee = Committee::load(&files)?;
    let test = data.load_test()?;
    if let [model] = committee.members() {
        // One model: exactly what eval has always done.
        let report = match probabilities_out {
            Some(path) => {
                let (report, outputs) = model.evaluate_with_outputs(&test);
                write_npy_f32(path, test.len(), CLASSES, &outputs)?;
                report
            }
            None => model.evaluate(&test),
        };
        print_report(out, json, &report, report.text());
        return Ok(());
    }
    let (report, outputs) = committee.evaluate_with_outputs(&test);
    if let Some(path) = probabilities_out {
        write_npy_f32(path, test.len(), CLASSES, &outputs)?;
    }
    let members: Vec<(String, f64)> = files
        .iter()
        .zip(&report.members)
        .map(|(path, member)| (path.display().to_string(), member.accuracy))
        .collect();
    let alone: Vec<String> = members
        .iter()
        .map(|(path, accuracy)| format!("{path} {:.2}%", 100.0 * accuracy))
        .collect();
    let text = format!(
        "committee of {} models, the mean of their outputs (each alone: {})\n{}",
        members.len(),
        alone.join(", "),
        report.committee.text()
    );
    /// The committee's report with its members, as `--json` prints it.
    #[derive(serde::Serialize)]
    struct WithMembers<'a> {
        #[serde(flatten)]
        report: &'a EvalReport,
        members: Vec<Member<'a>>,
    }
    #[derive(serde::Serialize)]
    struct Member<'a> {
        path: &'a str,
        accuracy: f64,
    }
    let with_members = WithMembers {
        report: &report.committee,
        members: members
            .iter()
            .map(|(path, accuracy)| Member {
                path,
                accuracy: *accuracy,
            })
            .collect(),
    };
    print_report(out, json, &with_members, text);
    Ok(())
}

/// Lowers a thread count above this machine's cores to the cores, and says
/// so: more threads than cores only wait for each other (1000 threads took
/// 12 s for what 2 do in 0.02 s).
pub(crate) fn cap_threads(config: &mut TrainConfig) -> Option<String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (config.threads > cores).then(|| {
        let asked = std::mem::replace(&mut config.threads, cores);
        format!(
            "--threads {asked}: this machine has {cores} core{}; training on {cores} thread{}",
            if cores == 1 { "" } else { "s" },
            if cores == 1 { "" } else { "s" }
        )
    })
}

/// A bar for stderr; only made when stderr is a terminal.
pub(crate) fn progress_bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    bar
}

/// Draws the accuracy curves of saved metrics files into one PNG and says
/// on `out` what it drew. Each run is named by its file's stem, with as
/// many parent folders as it takes to tell same-named files apart.
pub fn plot(metrics: &[PathBuf], out_path: &Path, out: &mut impl Write) -> Result<()> {
    let names = distinct_names(metrics);
    let mut curves = Vec::new();
    for (i, (path, name)) in metrics.iter().zip(&names).enumerate() {
        let reports = read_metrics(path)?;
        curves.extend(run_curves(name, &reports, i));
    }
    // The title names only the line styles the figure has.
    let validated = curves.iter().any(|c| c.line == Line::Dotted);
    let (title, what) = if validated {
        (
            "Accuracy per epoch (test solid, train dashed, validation dotted)",
            "test, train and validation",
        )
    } else {
        (
            "Accuracy per epoch (test solid, train dashed)",
            "test and train",
        )
    };
    draw_curves(out_path, title, &curves)?;
    let _ = writeln!(
        out,
        "wrote {}: {what} accuracy of {}",
        out_path.display(),
        names.join(", ")
    );
    Ok(())
}

/// The `show` subcommand's settings.
#[derive(Debug, Clone)]
pub struct ShowOptions {
    pub data: DataLocation,
    pub test_set: bool,
    pub index: usize,
    pub out: Option<PathBuf>,
    pub ascii: bool,
    /// Also print what this saved model predicts for the digit.
    pub model: Option<PathBuf>,
    /// Write the bare 28×28 digit instead of the titled, upscaled picture.
    pub plain: bool,
}

/// Shows one digit as a PNG and/or terminal art.
pub fn show(options: &ShowOptions, out: &mut impl Write) -> Result<()> {
    if options.plain && options.out.is_none() {
        return Err(Error::Config(
            "--plain shapes the PNG written by --out; give --out FILE.png too".into(),
        ));
    }
    // Only the split asked for: the training images are most of the load.
    let (name, images, labels) = if options.test_set {
        ("test", TEST_IMAGES, TEST_LABELS)
    } else {
        ("train", TRAIN_IMAGES, TRAIN_LABELS)
    };
    options.data.prepare()?;
    let set = &load_split(&options.data.dir, images, labels)?;
    if options.index >= set.len() {
        return Err(Error::Config(format!(
            "--index {} is past the end of the {name} set ({} images, 0..{})",
            options.index,
            set.len(),
            set.len() - 1
        )));
    }
    // Classified first, so that the picture's title can give the answer.
    let prediction = match &options.model {
        Some(path) => Some(Model::load(path)?.classify(set.image(options.index))?),
        None => None,
    };
    let mut title = format!(
        "{name} #{}: label {}",
        options.index,
        set.label(options.index)
    );
    if let Some(prediction) = &prediction {
        title.push_str(&format!(", predicted {}", prediction.digit));
    }
    if options.out.is_none() || options.ascii {
        let _ = write!(out, "{title}\n{}", digit_ascii(set, options.index));
    }
    if let Some(path) = &options.out {
        if options.plain {
            write_digit_png(path, set.image(options.index))?;
        } else {
            draw_digit(path, &title, set, options.index, 10)?;
        }
        let _ = writeln!(out, "{title}: wrote {}", path.display());
    }
    if let Some(Classification { digit, outputs }) = prediction {
        let outputs: Vec<String> = outputs.iter().map(|a| format!("{a:.3}")).collect();
        let _ = writeln!(
            out,
            "predicted {digit}; outputs 0..9: {}",
            outputs.join(" ")
        );
    }
    Ok(())
}

/// Benchmarks training on the real data and prints the report.
pub fn bench(
    config: &TrainConfig,
    data: &DataLocation,
    json: bool,
    trace: Option<&Path>,
    out: &mut impl Write,
) -> Result<()> {
    config.validate()?;
    if let Some(path) = trace {
        check_writable(path)?;
    }
    let mut config = config.clone();
    if let Some(note) = cap_threads(&mut config) {
        eprintln!("{note}");
    }
    let data = data.load()?;
    let report = crate::app::bench::bench(&config, &data, trace)?;
    if let Some(path) = trace {
        eprintln!(
            "wrote {} (the first {} batches of each thread; open it in Perfetto or chrome://tracing)",
            path.display(),
            crate::app::bench::TRACE_BATCHES
        );
    }
    print_report(out, json, &report, report.text());
    Ok(())
}

/// Prints a report as one JSON object, or as its text.
fn print_report(out: &mut impl Write, json: bool, report: &impl serde::Serialize, text: String) {
    let text = if json {
        serde_json::to_string(report).expect("reports serialise") + "\n"
    } else {
        text
    };
    let _ = out.write_all(text.as_bytes());
}

/// Downloads the four files of `data.source` into `data.dir`.
pub fn fetch(data: &DataLocation, options: &FetchOptions, out: &mut impl Write) -> Result<()> {
    if data.offline {
        return Err(Error::Config(
            "fetch --offline: fetch exists to download, --offline forbids it; drop --offline"
                .into(),
        ));
    }
    let outcomes = fetch_files(&data.dir, &data.source.checksums(), options, &mut |line| {
        let _ = writeln!(out, "{line}");
    })?;
    let present = outcomes
        .iter()
        .filter(|(_, f)| *f == crate::data::fetch::Fetched::AlreadyThere)
        .count();
    let _ = writeln!(
        out,
        "{}: {} files verified ({present} already there)",
        data.dir.display(),
        outcomes.len()
    );
    Ok(())
}

/// The top output below which `predict` says it is unsure.
pub const UNSURE_BELOW: f32 = 0.5;

/// Classifies pictures of digits with a saved model, or with a committee
/// of several (the mean of their outputs): one line (or JSON object) per
/// picture on `out`. A picture that cannot be read or shows no digit costs
/// only its own line, on `err`, naming it; the others are still
/// classified. Returns how many pictures failed.
pub fn predict(
    model_paths: &[PathBuf],
    images: &[PathBuf],
    json: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<usize> {
    let model = Committee::load(model_paths)?;
    let mut failed = 0;
    for path in images {
        let pixels = match mnist_like(path) {
            Ok(pixels) => pixels,
            Err(e) => {
                failed += 1;
                let _ = writeln!(err, "error: {e}");
                continue;
            }
        };
        let Classification { digit, outputs } = model.classify(&pixels)?;
        // Below one half the model backs no digit: the picture is likely
        // not one digit (several, none, or not a digit at all).
        let unsure = outputs[digit] < UNSURE_BELOW;
        let line = if json {
            serde_json::json!({ "path": path, "digit": digit, "outputs": outputs, "unsure": unsure })
                .to_string()
        } else {
            let shown: Vec<String> = outputs.iter().map(|a| format!("{a:.3}")).collect();
            format!(
                "{}: {digit}  outputs 0..9: {}{}",
                path.display(),
                shown.join(" "),
                if unsure {
                    format!(
                        "  (unsure: no output reaches {UNSURE_BELOW}; the picture may not show one digit)"
                    )
                } else {
                    String::new()
                }
            )
        };
        let _ = writeln!(out, "{line}");
    }
    Ok(failed)
}
