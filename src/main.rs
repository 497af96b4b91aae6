//! The command line: arguments → a validated config → the library. Fatal
//! errors are printed here, in one place, as one line, with exit status 2.

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use mnist_mlp::internals::app::sweep::grid::{Grid, Shard};
use mnist_mlp::internals::app::sweep::SweepOptions;
use mnist_mlp::internals::app::train::{apply_overrides, TrainOptions};
use mnist_mlp::internals::app::{self, DataLocation, ShowOptions};
use mnist_mlp::internals::data::dataset::{resolve_data_dir, Source};
use mnist_mlp::internals::data::fetch::{default_mirrors, FetchOptions};
use mnist_mlp::internals::nn::arch::{Activation, Cost, Hidden, Init, Output};
use mnist_mlp::internals::optim::schedule::Schedule;
use mnist_mlp::internals::optim::Optimizer;
use mnist_mlp::internals::train::config::{Normalise, TrainConfig, AUTO_THREADS};
use mnist_mlp::internals::train::preset::Preset;

#[derive(Parser)]
#[command(
    name = "mnist-mlp",
    version,
    arg_required_else_help = true,
    about = "Train Nielsen's MNIST network on the CPU, products on OpenBLAS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train on MNIST, printing train and test figures after every epoch.
    #[command(allow_negative_numbers = true)]
    Train(TrainArgs),
    /// Train a grid of settings, runs side by side; each run's files, a CSV, a report and figures are written as runs finish, and a re-run trains only what is missing. Without a grid file or axis flags: the tutorial's grid (hidden 30,90 x cost x init x lr).
    #[command(allow_negative_numbers = true)]
    Sweep(SweepArgs),
    /// Combine sweep folders of one grid (shards, or partial results) into one CSV, report and figures.
    Merge(MergeArgs),
    /// Classify pictures of digits (PNG or JPEG) with a saved model, or a committee of several.
    Predict(PredictArgs),
    /// Download the four data files from public mirrors, verifying each.
    Fetch(FetchArgs),
    /// Score a saved model, or a committee of several, on the test set: accuracy, loss, confusion matrix, precision and recall.
    Eval(EvalArgs),
    /// Write a saved model or checkpoint as an ONNX graph for onnxruntime, Netron and the like: input pixels float32 [N, 784] 0..255, outputs probabilities [N, 10] and digit [N].
    Export(ExportArgs),
    /// Draw train/test accuracy curves from saved --metrics-out files.
    Plot(PlotArgs),
    /// Show one digit as terminal art or a PNG.
    Show(ShowArgs),
    /// Measure training speed on the real data: samples/s, GFLOP/s against this machine's sgemm peak, time by phase.
    #[command(allow_negative_numbers = true)]
    Bench(BenchArgs),
}

/// Where the data is, shared by every command that reads it.
#[derive(clap::Args)]
struct DataArgs {
    /// Folder with the four IDX files [default: $MNIST_DIR, else ./data/mnist;
    /// for fashion $FASHION_MNIST_DIR, else /usr/share/datasets/fashion-mnist if
    /// installed, else ./data/fashion-mnist]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// mnist or fashion (Fashion-MNIST, same format).
    #[arg(long, default_value = "mnist")]
    dataset: Source,
    /// Never download: missing files are an error.
    #[arg(long)]
    offline: bool,
}

impl DataArgs {
    fn dir(&self) -> DataLocation {
        DataLocation {
            dir: resolve_data_dir(self.data_dir.as_deref(), self.dataset),
            source: self.dataset,
            offline: self.offline,
        }
    }
}

#[derive(clap::Args)]
struct FetchArgs {
    #[command(flatten)]
    data: DataArgs,
    /// A mirror to try (the folder URL holding the .gz files); repeat for
    /// several, tried in order [default: well-known public mirrors]
    #[arg(long, value_name = "URL")]
    mirror: Vec<String>,
    /// Seconds one file's download from one mirror may take before the next is tried.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

#[derive(clap::Args)]
struct SweepArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Output folder; a re-run into it trains only the runs not finished there.
    #[arg(long, value_name = "DIR", default_value = "sweep")]
    out: PathBuf,
    /// Grid in TOML: a setting per key, a value or a list (lr = [0.1, 1], hidden = ["30", "256-128"]); flags override it.
    #[arg(long, value_name = "GRID.toml")]
    config: Option<PathBuf>,
    /// Runs trained at once [default: the number of cores]
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only the K-th of N slices of the grid (e.g. 2/4; with Slurm, $SLURM_ARRAY_TASK_ID/N); merge puts them together.
    #[arg(long, value_name = "K/N", default_value = "1/1")]
    shard: Shard,
    /// Remove the runs an earlier sweep left in --out and start over.
    #[arg(long)]
    fresh: bool,
    /// Write TensorBoard event files here, a sub-folder per run named as the run's files are, so TensorBoard compares the runs: tensorboard --logdir DIR.
    #[arg(long, value_name = "DIR")]
    tensorboard: Option<PathBuf>,
    /// Also keep each run's model, as runs/<run>.safetensors in --out (not a diverged run's): eval --model DIR then scores them as a committee.
    #[arg(long)]
    save_models: bool,
    #[command(flatten)]
    axes: SweepAxes,
}

/// Every `train` setting as a sweep axis: the same flag, a comma-separated
/// list, one run per value. Made from `RunArgs`, so a new setting is an
/// axis without a line here.
struct SweepAxes(Vec<(String, Vec<String>)>);

/// The flags of `RunArgs` that say where the data is, not how to train.
const DATA_FLAGS: [&str; 3] = ["data_dir", "dataset", "offline"];

fn axis_args() -> Vec<clap::Arg> {
    let run = <RunArgs as clap::Args>::augment_args(clap::Command::new("run"));
    run.get_arguments()
        .filter(|a| !DATA_FLAGS.contains(&a.get_id().as_str()))
        .map(|a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            a.clone()
                .value_parser(clap::value_parser!(String))
                .value_name("LIST")
                .value_delimiter(',')
                .action(clap::ArgAction::Append)
                .help(
                    format!("{help} (a list: one run per value)")
                        .trim_start()
                        .to_string(),
                )
                .help_heading("Axes (any train setting; defaults as train's)")
        })
        .collect()
}

impl clap::FromArgMatches for SweepAxes {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(SweepAxes(
            axis_args()
                .iter()
                .filter_map(|arg| {
                    let id = arg.get_id().as_str();
                    matches
                        .get_many::<String>(id)
                        .map(|values| (id.to_string(), values.cloned().collect()))
                })
                .collect(),
        ))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for SweepAxes {
    fn augment_args(command: clap::Command) -> clap::Command {
        command.args(axis_args())
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl SweepArgs {
    fn into_options(self) -> mnist_mlp::Result<SweepOptions> {
        // Without a grid file or an axis flag, the tutorial's grid.
        let mut grid = match &self.config {
            Some(path) => Grid::from_toml_file(path)?,
            None if self.axes.0.is_empty() => Grid::default(),
            None => Grid { axes: Vec::new() },
        };
        for (key, values) in self.axes.0 {
            grid.set(&key, values);
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(SweepOptions {
            grid,
            data: self.data.dir(),
            out: self.out,
            jobs: self.jobs.unwrap_or(cores).max(1),
            shard: self.shard,
            fresh: self.fresh,
            tensorboard: self.tensorboard,
            save_models: self.save_models,
        })
    }
}

#[derive(clap::Args)]
struct MergeArgs {
    /// The folder to write the merged results into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Sweep folders of one grid: its shards, or partial results.
    #[arg(required = true, value_name = "SWEEP_DIR")]
    dirs: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct PlotArgs {
    /// JSONL files written by train --metrics-out or sweep.
    #[arg(required = true, value_name = "METRICS.jsonl")]
    metrics: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long, value_name = "FILE.png")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct ShowArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Which set the index counts in.
    #[arg(long, default_value = "test", value_parser = ["train", "test"])]
    set: String,
    /// Item number in that set, from 0.
    #[arg(long)]
    index: usize,
    /// Write the digit as a PNG here (280x280 plus a title with its label).
    #[arg(long, value_name = "FILE.png")]
    out: Option<PathBuf>,
    /// Print terminal art even when writing a PNG.
    #[arg(long)]
    ascii: bool,
    /// Also print the digit this saved model predicts and its ten outputs.
    #[arg(long, value_name = "MODEL.safetensors")]
    model: Option<PathBuf>,
    /// With --out: the bare 28x28 digit, as MNIST stores it.
    #[arg(long)]
    plain: bool,
}

#[derive(clap::Args)]
struct PredictArgs {
    /// A model saved by train --save, or a folder of models (its .safetensors files; for a sweep's --out, the models sweep --save-models kept). Repeat it, or name a folder of several, for a committee: the mean of the members' outputs, the digit its largest (members in sorted path order; a file named twice is refused).
    #[arg(long, value_name = "MODEL.safetensors|DIR", required = true)]
    model: Vec<PathBuf>,
    /// PNG or JPEG pictures of digits (any size; dark-on-light is inverted).
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
    /// One JSON object per line: path, digit, outputs.
    #[arg(long)]
    json: bool,
}

/// The flags that define a training run, shared by `train` and `bench`.
/// Each is optional: given, it overrides the default (or the resumed
/// model's setting); the defaults live in `TrainConfig::default` and are
/// added to this help by `with_defaults_in_help`.
#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Named settings, which the other flags override: tutorial (the defaults), fast (98% in seconds), best (99% in minutes), record (about 99.5% in 13 to 34 minutes on two cores); docs/presets.md lists what each sets.
    #[arg(long)]
    preset: Option<Preset>,
    /// Hidden layer sizes: 30 for 784-30-10, 800-800 for 784-800-800-10.
    #[arg(long, value_name = "SIZES")]
    hidden: Option<Hidden>,
    /// Activation of the hidden units.
    #[arg(long)]
    activation: Option<Activation>,
    /// Output units (softmax goes with cross-entropy).
    #[arg(long)]
    output: Option<Output>,
    #[arg(long)]
    cost: Option<Cost>,
    /// Weight initialisation: random N(0,1), kaiming N(0,2/fan_in), lecun N(0,1/fan_in), xavier N(0,2/(fan_in+fan_out)).
    #[arg(long)]
    init: Option<Init>,
    #[arg(long)]
    optimizer: Option<Optimizer>,
    /// Learning rate [default: 1 for sgd, 0.1 for momentum and nesterov, 0.001 for adam and adamw]
    #[arg(long)]
    lr: Option<f32>,
    /// Momentum of momentum and nesterov.
    #[arg(long)]
    momentum: Option<f32>,
    /// L2 weight decay (decoupled for adamw).
    #[arg(long)]
    weight_decay: Option<f32>,
    /// Probability of dropping each hidden unit while training.
    #[arg(long)]
    dropout: Option<f32>,
    /// batch: each batch to mean 0, std 1; dataset: the training set's mean and std.
    #[arg(long)]
    normalise: Option<Normalise>,
    /// Learning-rate schedule: tutorial is lr / (1 + decay * epoch).
    #[arg(long)]
    schedule: Option<Schedule>,
    /// The tutorial schedule's decay: epoch e (from 0) runs at lr / (1 + decay * e).
    #[arg(long)]
    lr_decay: Option<f32>,
    /// The step schedule's period in epochs.
    #[arg(long)]
    step_every: Option<usize>,
    /// The step schedule's factor.
    #[arg(long)]
    step_factor: Option<f32>,
    /// Epochs over which constant, step and cosine ramp up from 0, and onecycle rises.
    #[arg(long)]
    warmup_epochs: Option<f32>,
    /// Epochs to train (after the resumed model's, with --resume).
    #[arg(long)]
    epochs: Option<usize>,
    /// Samples per mini-batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Seed of the initial weights, the shuffles and the dropout masks.
    #[arg(long)]
    seed: Option<u64>,
    /// Training threads or auto (each epoch tries 1 and 2 and keeps the faster); 1 and 2 give identical results.
    #[arg(long, value_parser = parse_threads)]
    threads: Option<usize>,
    /// Hold out the last N training images to validate on (Nielsen's split: 10000).
    #[arg(long, value_name = "N")]
    validation: Option<usize>,
    /// Stop when validation accuracy has not improved for P epochs (0: never); needs --validation.
    #[arg(long, value_name = "P")]
    early_stop: Option<usize>,
    /// Augment: shift each training image by up to PX whole pixels along each axis.
    #[arg(long, value_name = "PX")]
    augment_shift: Option<usize>,
    /// Augment: rotate each training image by up to this many degrees either way.
    #[arg(long, value_name = "DEGREES")]
    augment_rotate: Option<f32>,
    /// Augment: scale each training image by 1 +- up to this fraction.
    #[arg(long, value_name = "FRACTION")]
    augment_scale: Option<f32>,
    /// Augment: elastic distortion of this strength alpha in pixels (Simard et al. 2003 use 34; 0 is off).
    #[arg(long, value_name = "ALPHA")]
    augment_elastic: Option<f32>,
    /// The elastic distortion's smoothness sigma in pixels.
    #[arg(long, value_name = "SIGMA")]
    augment_elastic_sigma: Option<f32>,
    /// Label smoothing: train towards 1 - EPS + EPS/10 for the true digit and EPS/10 for the others (0 is off); the training loss shown is against these targets, the validation and test losses against the true digit.
    #[arg(long, value_name = "EPS")]
    label_smoothing: Option<f32>,
    /// Weight averaging (SWA): evaluate, keep and save the mean of the weights at the ends of the last N epochs, while training goes on from the weights themselves (0 is off); from then on each epoch's validation and test figures are the average's.
    #[arg(long, value_name = "N")]
    average_epochs: Option<usize>,
}

impl RunArgs {
    /// The settings given, as (name, value) overrides of a config.
    fn overrides(&self) -> Vec<(String, String)> {
        fn given<T: ToString>(name: &str, value: &Option<T>) -> Option<(String, String)> {
            value.as_ref().map(|v| (name.to_string(), v.to_string()))
        }
        [
            given("preset", &self.preset),
            given("hidden", &self.hidden),
            given("activation", &self.activation),
            given("output", &self.output),
            given("cost", &self.cost),
            given("init", &self.init),
            given("optimizer", &self.optimizer),
            given("lr", &self.lr),
            given("momentum", &self.momentum),
            given("weight_decay", &self.weight_decay),
            given("dropout", &self.dropout),
            given("normalise", &self.normalise),
            given("schedule", &self.schedule),
            given("lr_decay", &self.lr_decay),
            given("step_every", &self.step_every),
            given("step_factor", &self.step_factor),
            given("warmup_epochs", &self.warmup_epochs),
            given("epochs", &self.epochs),
            given("batch_size", &self.batch_size),
            given("seed", &self.seed),
            given("threads", &self.threads),
            given("validation", &self.validation),
            given("early_stop", &self.early_stop),
            given("augment_shift", &self.augment_shift),
            given("augment_rotate", &self.augment_rotate),
            given("augment_scale", &self.augment_scale),
            given("augment_elastic", &self.augment_elastic),
            given("augment_elastic_sigma", &self.augment_elastic_sigma),
            given("label_smoothing", &self.label_smoothing),
            given("average_epochs", &self.average_epochs),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[derive(clap::Args)]
struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Also write one JSON object per epoch to this file.
    #[arg(long, value_name = "PATH")]
    metrics_out: Option<PathBuf>,
    /// Save the trained weights here (safetensors, with the settings as metadata).
    #[arg(long, value_name = "MODEL.safetensors")]
    save: Option<PathBuf>,
    /// Continue training a saved model or checkpoint: its architecture and settings, the schedule going on from its epochs; flags override settings but not the architecture. From a checkpoint the run goes on bit for bit as if never stopped, to the end of its --epochs unless told.
    #[arg(long, value_name = "MODEL.safetensors")]
    resume: Option<PathBuf>,
    /// Keep a resumable checkpoint here (weights, optimiser state, position, random state), replaced atomically.
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    /// Epochs between checkpoints (the last epoch is always kept).
    #[arg(long, value_name = "N", default_value_t = 1)]
    checkpoint_every: usize,
    /// Write a TensorBoard event file into this folder (made if missing), added to after every epoch: watch with tensorboard --logdir DIR.
    #[arg(long, value_name = "DIR")]
    tensorboard: Option<PathBuf>,
}

impl TrainArgs {
    fn into_options(self) -> TrainOptions {
        TrainOptions {
            overrides: self.run.overrides(),
            data: self.run.data.dir(),
            metrics_out: self.metrics_out,
            save: self.save,
            resume: self.resume,
            checkpoint: self.checkpoint,
            checkpoint_every: self.checkpoint_every,
            tensorboard: self.tensorboard,
        }
    }
}

#[derive(clap::Args)]
struct EvalArgs {
    /// A model saved by train --save, or a folder of models (its .safetensors files; for a sweep's --out, the models sweep --save-models kept). Repeat it, or name a folder of several, for a committee: each member runs as it would alone, the committee's outputs are the mean of theirs, its digit their largest; the report is the committee's, its loss the mean of -ln(mean output of the true digit, at least 2^-23), and a line gives each member's own accuracy. Members come in sorted path order; a file named twice (directly or through its folder) is refused, as it would count twice.
    #[arg(long, value_name = "MODEL.safetensors|DIR", required = true)]
    model: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Print one JSON object (accuracy, loss, confusion, precision, recall; for a committee also members: each one's path and accuracy).
    #[arg(long)]
    json: bool,
    /// Also write every test image's ten outputs (a committee's: the mean of its members'), in file order, as a NumPy float32 matrix [10000, 10] (numpy.load reads it).
    #[arg(long, value_name = "FILE.npy")]
    probabilities_out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ExportArgs {
    /// A model saved by train --save, or a checkpoint.
    #[arg(value_name = "MODEL.safetensors")]
    model: PathBuf,
    /// The ONNX file to write (opset 17). A model trained with batch normalisation standardises each input batch as a whole: feed it batches of its trained size.
    #[arg(long, value_name = "OUT.onnx")]
    onnx: PathBuf,
}

#[derive(clap::Args)]
struct BenchArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
    /// Write a Chrome trace (Perfetto, chrome://tracing) of each training
    /// thread's phases over the first batches to FILE.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

/// OpenBLAS reads its settings only when it loads, before `main`; to give
/// it better ones the program starts itself again with them set (once: the
/// second start finds them set). See `blas::preferred_environment`.
fn restart_with_blas_environment() {
    let wanted = mnist_mlp::internals::blas::preferred_environment();
    if wanted.is_empty() {
        return;
    }
    if let Ok(exe) = std::env::current_exe() {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new(exe);
        command.args(std::env::args_os().skip(1)).envs(wanted);
        // exec only returns on failure; then run on with the defaults.
        let _ = command.exec();
    }
}

/// Appends each run flag's default, read from `TrainConfig::default()`, to
/// its help, so the defaults are written in one place.
fn with_defaults_in_help(command: clap::Command) -> clap::Command {
    let train_defaults = serde_json::to_value(TrainConfig::default()).expect("configs serialise");
    let mut bench_defaults = train_defaults.clone();
    bench_defaults["epochs"] = BENCH_EPOCHS.into();
    let annotate = |defaults: serde_json::Value| {
        move |mut sub: clap::Command| {
            for (key, value) in defaults.as_object().expect("a config is an object") {
                let id = key.as_str();
                let Some(arg) = sub.get_arguments().find(|a| a.get_id() == id) else {
                    continue;
                };
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                let shown = match (id, value) {
                    (_, serde_json::Value::Null) => continue,
                    ("threads", _) => "auto".to_string(),
                    (_, serde_json::Value::String(s)) => s.clone(),
                    // The settings are f32: as written (0.9), not as the
                    // f64 that serde widened them to (0.8999999761581421).
                    (_, serde_json::Value::Number(n)) if n.is_f64() => {
                        (n.as_f64().expect("an f64") as f32).to_string()
                    }
                    (_, v) => v.to_string(),
                };
                if !help.contains("[default:") {
                    let help = format!("{help} [default: {shown}]")
                        .trim_start()
                        .to_string();
                    sub = sub.mut_arg(id, |a| a.help(help));
                }
            }
            sub
        }
    };
    command
        .mut_subcommand("train", annotate(train_defaults))
        .mut_subcommand("bench", annotate(bench_defaults))
}

/// Epochs `bench` trains unless told: enough for a median.
const BENCH_EPOCHS: usize = 5;

fn main() -> ExitCode {
    restart_with_blas_environment();
    // The main thread computes (evaluation, prediction, thread 0 of
    // training) for the whole run; the library sets its own threads.
    let _flush = mnist_mlp::internals::nn::subnormals::flush_subnormals();
    let parsed = with_defaults_in_help(Cli::command())
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // clap's whole message: it names what is missing, suggests the
            // flag meant and lists the valid values. Help and version go to
            // stdout with status 0.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let computes = match &cli.command {
        Command::Fetch(_) | Command::Plot(_) | Command::Export(_) => false,
        Command::Show(args) => args.model.is_some(),
        _ => true,
    };
    if computes {
        if let Err(e) = mnist_mlp::internals::blas::check_sgemm() {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let mut stdout = std::io::stdout();
    let result = match cli.command {
        Command::Train(args) => {
            app::train::train(&args.into_options(), &mut stdout).map(|summary| {
                match (summary.diverged, summary.stalled) {
                    (Some(reason), _) => {
                        eprintln!("training diverged: {reason}; try a smaller --lr");
                        ExitCode::from(1)
                    }
                    (None, Some(reason)) => {
                        eprintln!("training did not learn: {reason}; try a larger --lr");
                        ExitCode::from(1)
                    }
                    (None, None) => ExitCode::SUCCESS,
                }
            })
        }
        Command::Sweep(args) => args
            .into_options()
            .and_then(|options| app::sweep::sweep(&options, &mut stdout))
            .map(|_| ExitCode::SUCCESS),
        Command::Merge(args) => {
            app::sweep::merge(&args.out, &args.dirs, &mut stdout).map(|_| ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            let mut overrides = vec![("epochs".to_string(), BENCH_EPOCHS.to_string())];
            overrides.extend(args.run.overrides());
            apply_overrides(TrainConfig::default(), &overrides, None, &mut Vec::new())
                .and_then(|config| {
                    app::bench(
                        &config,
                        &args.run.data.dir(),
                        args.json,
                        args.trace.as_deref(),
                        &mut stdout,
                    )
                })
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Predict(args) => app::predict(
            &args.model,
            &args.images,
            args.json,
            &mut stdout,
            &mut std::io::stderr(),
        )
        .map(|failed| match failed {
            0 => ExitCode::SUCCESS,
            _ => ExitCode::from(1),
        }),
        Command::Fetch(args) => {
            let options = FetchOptions {
                mirrors: if args.mirror.is_empty() {
                    default_mirrors(args.data.dataset)
                } else {
                    args.mirror
                },
                timeout: Duration::from_secs(args.timeout.max(1)),
            };
            app::fetch(&args.data.dir(), &options, &mut stdout).map(|()| ExitCode::SUCCESS)
        }
        Command::Eval(args) => app::eval(
            &args.model,
            &args.data.dir(),
            args.json,
            args.probabilities_out.as_deref(),
            &mut stdout,
        )
        .map(|()| ExitCode::SUCCESS),
        Command::Export(args) => app::export::export_onnx(&args.model, &args.onnx, &mut stdout)
            .map(|()| ExitCode::SUCCESS),
        Command::Plot(args) => {
            app::plot(&args.metrics, &args.out, &mut stdout).map(|()| ExitCode::SUCCESS)
        }
        Command::Show(args) => {
            let options = ShowOptions {
                data: args.data.dir(),
                test_set: args.set == "test",
                index: args.index,
                out: args.out,
                ascii: args.ascii,
                model: args.model,
                plain: args.plain,
            };
            app::show(&options, &mut stdout).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `auto` or a thread count of at least 1.
fn parse_threads(value: &str) -> Result<usize, String> {
    match value {
        "auto" => Ok(AUTO_THREADS),
        _ => match value.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!(
                "expected auto or a number of threads >= 1, got '{value}'"
            )),
        },
    }
}
