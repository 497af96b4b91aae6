//! The command line: arguments → a validated config → the library. Fatal
//! errors are printed here, in one place, as one line, with exit status 2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::time::Duration;

use mnist_mlp::app::sweep::Grid;
use mnist_mlp::app::{self, DataLocation, ShowOptions, SweepOptions, TrainOptions};
use mnist_mlp::data::dataset::{resolve_data_dir, Source};
use mnist_mlp::data::fetch::{default_mirrors, FetchOptions};
use mnist_mlp::nn::cost::Cost;
use mnist_mlp::nn::network::Init;
use mnist_mlp::train::trainer::{TrainConfig, AUTO_THREADS, DEFAULT_LR_DECAY, DEFAULT_SEED};

#[derive(Parser)]
#[command(
    name = "mnist-mlp",
    version,
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
    /// Train a grid of configurations in parallel; write metrics, a CSV, a report and plots.
    #[command(allow_negative_numbers = true)]
    Sweep(SweepArgs),
    /// Classify pictures of digits (PNG or JPEG) with a saved model.
    Predict(PredictArgs),
    /// Download the four data files from public mirrors, verifying each.
    Fetch(FetchArgs),
    /// Score a saved model on the test set: accuracy, loss, confusion matrix, precision and recall.
    Eval(EvalArgs),
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
    /// Seconds a mirror may stay silent before the next is tried.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

#[derive(clap::Args)]
struct SweepArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "sweep")]
    out: PathBuf,
    /// Grid in TOML (keys init, lr, cost, hidden, epochs, batch_size, lr_decay, seed); flags override it.
    #[arg(long, value_name = "GRID.toml")]
    config: Option<PathBuf>,
    /// Inits, comma-separated [default: random,kaiming]
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    init: Option<Vec<Init>>,
    /// Learning rates, comma-separated [default: 0.001,0.1,1,3,10,100]
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    lr: Option<Vec<f32>>,
    /// Costs, comma-separated [default: quadratic,cross-entropy]
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    cost: Option<Vec<Cost>>,
    /// Hidden sizes, comma-separated [default: 30,90]
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    hidden: Option<Vec<usize>>,
    /// [default: 30]
    #[arg(long)]
    epochs: Option<usize>,
    /// [default: 20]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Runs trained at once [default: the number of cores]
    #[arg(long)]
    jobs: Option<usize>,
}

impl SweepArgs {
    fn into_options(self) -> mnist_mlp::Result<SweepOptions> {
        let mut grid = match &self.config {
            Some(path) => Grid::from_toml_file(path)?,
            None => Grid::default(),
        };
        grid.init = self.init.unwrap_or(grid.init);
        grid.lr = self.lr.unwrap_or(grid.lr);
        grid.cost = self.cost.unwrap_or(grid.cost);
        grid.hidden = self.hidden.unwrap_or(grid.hidden);
        grid.epochs = self.epochs.unwrap_or(grid.epochs);
        grid.batch_size = self.batch_size.unwrap_or(grid.batch_size);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(SweepOptions {
            grid,
            data: self.data.dir(),
            out: self.out,
            jobs: self.jobs.unwrap_or(cores).max(1),
        })
    }
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
    /// A model saved by train --save.
    #[arg(long, value_name = "MODEL.safetensors")]
    model: PathBuf,
    /// PNG or JPEG pictures of digits (any size; dark-on-light is inverted).
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
    /// One JSON object per line: path, digit, outputs.
    #[arg(long)]
    json: bool,
}

/// The flags that define a training run, shared by `train` and `bench`.
#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Hidden units.
    #[arg(long, default_value_t = 30)]
    hidden: usize,
    /// [default: 30 for train, 5 for bench]
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value_t = 20)]
    batch_size: usize,
    /// Initial learning rate.
    #[arg(long, default_value_t = 1.0)]
    lr: f32,
    /// Learning-rate decay: epoch e (from 0) runs at lr / (1 + decay * e).
    #[arg(long, default_value_t = DEFAULT_LR_DECAY)]
    lr_decay: f32,
    /// cross-entropy or quadratic.
    #[arg(long, default_value = "cross-entropy")]
    cost: Cost,
    /// kaiming or random (N(0,1)).
    #[arg(long, default_value = "kaiming")]
    init: Init,
    /// Seed for the initial weights and the shuffles.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Training threads, each owning a slice of the input pixels, or auto:
    /// each epoch tries 1 and 2 and keeps the faster. 1 and 2 give identical
    /// results.
    #[arg(long, default_value = "auto", value_parser = parse_threads)]
    threads: usize,
}

impl RunArgs {
    fn into_config(self, default_epochs: usize) -> (TrainConfig, DataLocation) {
        let config = TrainConfig {
            hidden: self.hidden,
            epochs: self.epochs.unwrap_or(default_epochs),
            batch_size: self.batch_size,
            lr: self.lr,
            lr_decay: self.lr_decay,
            cost: self.cost,
            init: self.init,
            seed: self.seed,
            threads: self.threads,
        };
        (config, self.data.dir())
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
    /// Continue training a saved model (its hidden size; the schedule goes on from its epochs).
    #[arg(long, value_name = "MODEL.safetensors")]
    resume: Option<PathBuf>,
}

impl TrainArgs {
    fn into_options(self) -> TrainOptions {
        let (config, data) = self.run.into_config(TrainConfig::default().epochs);
        TrainOptions {
            config,
            data,
            metrics_out: self.metrics_out,
            save: self.save,
            resume: self.resume,
        }
    }
}

#[derive(clap::Args)]
struct EvalArgs {
    /// A model saved by train --save.
    #[arg(long, value_name = "MODEL.safetensors")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Print one JSON object (accuracy, loss, confusion, precision, recall).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct BenchArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
}

/// OpenBLAS reads its settings only when it loads, before `main`; to give
/// it better ones the program starts itself again with them set (once: the
/// second start finds them set). See `blas::preferred_environment`.
fn restart_with_blas_environment() {
    let wanted = mnist_mlp::blas::preferred_environment();
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

fn main() -> ExitCode {
    restart_with_blas_environment();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            eprintln!(
                "{}",
                rendered.lines().next().unwrap_or("error: bad arguments")
            );
            return ExitCode::from(2);
        }
    };
    let computes = match &cli.command {
        Command::Fetch(_) | Command::Plot(_) => false,
        Command::Show(args) => args.model.is_some(),
        _ => true,
    };
    if computes {
        if let Err(e) = mnist_mlp::blas::check_sgemm() {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let mut stdout = std::io::stdout();
    let result = match cli.command {
        Command::Train(args) => {
            app::train(&args.into_options(), &mut stdout).map(|summary| match summary.diverged {
                Some(reason) => {
                    eprintln!("training diverged: {reason}; try a smaller --lr");
                    ExitCode::from(1)
                }
                None => ExitCode::SUCCESS,
            })
        }
        Command::Sweep(args) => args
            .into_options()
            .and_then(|options| app::sweep(&options, &mut stdout))
            .map(|_| ExitCode::SUCCESS),
        Command::Bench(args) => {
            let (config, data) = args.run.into_config(5);
            app::bench(&config, &data, args.json, &mut stdout).map(|()| ExitCode::SUCCESS)
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
            let data = DataLocation {
                offline: false,
                ..args.data.dir()
            };
            app::fetch(&data, &options, &mut stdout).map(|()| ExitCode::SUCCESS)
        }
        Command::Eval(args) => app::eval(&args.model, &args.data.dir(), args.json, &mut stdout)
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
