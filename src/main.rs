//! The command line: arguments → a validated config → the library. Fatal
//! errors are printed here, in one place, as one line, with exit status 2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mnist_mlp::commands::{self, TrainOptions};
use mnist_mlp::cost::Cost;
use mnist_mlp::dataset::resolve_data_dir;
use mnist_mlp::network::Init;
use mnist_mlp::train::{TrainConfig, DEFAULT_LR_DECAY};

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
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Folder with the four MNIST files [default: $MNIST_DIR, else ./data/mnist]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Hidden units.
    #[arg(long, default_value_t = 30)]
    hidden: usize,
    #[arg(long, default_value_t = 30)]
    epochs: usize,
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
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// OpenBLAS threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Also write one JSON object per epoch to this file.
    #[arg(long, value_name = "PATH")]
    metrics_out: Option<PathBuf>,
}

impl TrainArgs {
    fn into_options(self) -> TrainOptions {
        TrainOptions {
            config: TrainConfig {
                hidden: self.hidden,
                epochs: self.epochs,
                batch_size: self.batch_size,
                lr: self.lr,
                lr_decay: self.lr_decay,
                cost: self.cost,
                init: self.init,
                seed: self.seed,
                threads: self.threads,
            },
            data_dir: resolve_data_dir(self.data_dir.as_deref()),
            metrics_out: self.metrics_out,
        }
    }
}

fn main() -> ExitCode {
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
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Command::Train(args) => commands::train(&args.into_options(), &mut stdout),
    };
    match result {
        Ok(summary) => match summary.diverged {
            Some(reason) => {
                eprintln!("training diverged: {reason}; try a smaller --lr");
                ExitCode::from(1)
            }
            None => ExitCode::SUCCESS,
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
