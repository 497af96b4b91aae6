//! `mnist-mlp bench`: training throughput on the real data, where the time
//! goes, and how it compares with this machine's own sgemm peak, all
//! measured in the same run so the ratios hold on a noisy machine.
//!
//! FLOPs counted per sample are those of the products: for a layer (out,
//! in), 2·in·out forward, 2·in·out for its weight gradient and, but for the
//! input layer, 2·in·out backward to its input. The tutorial's 784-H-10 so
//! counts 4·I·H + 6·O·H. Element-wise work is not counted.

use std::time::{Duration, Instant};

use std::path::Path;

use ndarray::linalg::general_mat_mul;
use ndarray::Array2;

use crate::data::dataset::Mnist;
use crate::error::Result;
use crate::io::metrics::count;
use crate::nn::gemm::{product_abt, Form};
use crate::nn::subnormals::flush_subnormals;
use crate::train::config::{TrainConfig, AUTO_THREADS};
use crate::train::observer::{Observer, Phase, PhaseClock};
use crate::train::team::{Product, ProductKind};
use crate::train::trace::Trace;
use crate::train::trainer::Trainer;

/// Batches per thread a `--trace` records: enough to see the pattern,
/// a few megabytes of JSON.
pub const TRACE_BATCHES: usize = 200;

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// The network, as "784-800-800-10".
    pub network: String,
    pub activation: String,
    pub optimizer: String,
    pub batch_size: usize,
    /// Threads of the last epoch (for most of its batches).
    pub threads: usize,
    /// Whether the program chose the thread count (`--threads auto`).
    pub threads_chosen: bool,
    pub epochs: usize,
    pub seconds_per_epoch: f64,
    pub samples_per_second: f64,
    pub flops_per_sample: u64,
    /// Each layer's share of `flops_per_sample`, input layer first.
    pub layer_flops: Vec<u64>,
    pub achieved_gflops: f64,
    /// Single-thread sgemm on 1024×1024 matrices, best of five, this run.
    pub peak_sgemm_gflops: f64,
    /// achieved / peak: how much of one core's sgemm rate the whole run reaches.
    pub achieved_over_peak: f64,
    /// Each phase's share of the training and evaluation time, as a JSON
    /// object in the order of the report.
    #[serde(serialize_with = "as_object")]
    pub phases: Vec<(String, f64)>,
    pub peak_rss_mb: f64,
    /// Test accuracy after the last epoch, a fraction.
    pub test_acc: f64,
    /// The CPU whose kernels OpenBLAS runs (see `OPENBLAS_CORETYPE`).
    pub openblas_core: String,
    /// Each product of the step, timed alone on one thread at its shape.
    pub products: Vec<ProductReport>,
    /// The products' own time per epoch: each product's time × its slices
    /// × batches, shared between the threads.
    pub products_seconds_per_epoch: f64,
    /// seconds_per_epoch / products_seconds_per_epoch: what the rest of the
    /// engine (gather, element-wise work, waits, the update's extra passes)
    /// costs on top of the products.
    pub overhead: f64,
}

/// One product of the step, timed alone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProductReport {
    #[serde(flatten)]
    pub product: Product,
    pub seconds: f64,
    pub gflops: f64,
    /// The rate of the other form, where the product has one.
    pub other_form_gflops: Option<f64>,
}

fn as_object<S: serde::Serializer>(
    pairs: &[(String, f64)],
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// Product FLOPs per training sample of each layer, for layer widths
/// `sizes` (inputs first).
pub fn layer_flops(sizes: &[usize]) -> Vec<u64> {
    sizes
        .windows(2)
        .enumerate()
        .map(|(l, p)| {
            let products = if l == 0 { 2 } else { 3 };
            (products * 2 * p[0] * p[1]) as u64
        })
        .collect()
}

/// This machine's single-thread sgemm rate in GFLOP/s.
pub fn peak_sgemm_gflops() -> f64 {
    crate::blas::set_threads(1);
    let n = 1024;
    let a = Array2::from_shape_fn((n, n), |(i, j)| ((i + 3 * j) % 7) as f32 * 0.1);
    let b = a.t().to_owned();
    let mut c = Array2::<f32>::zeros((n, n));
    let best = (0..5)
        .map(|_| {
            let started = Instant::now();
            general_mat_mul(1.0, &a, &b, 0.0, &mut c);
            started.elapsed()
        })
        .min()
        .expect("five timings");
    2.0 * (n * n * n) as f64 / best.as_secs_f64() / 1e9
}

/// The process's peak resident memory (VmHWM), in MB; 0 where /proc is absent.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The seconds one call of `product` takes in `form` on this thread: the
/// fastest of five runs of about a millisecond each (as many calls as fit
/// in 200 µs, times five), on operands allocated before the clock starts.
pub fn product_seconds(product: &Product, form: Form) -> f64 {
    let _flush = flush_subnormals();
    let (m, k, n) = product.shape;
    let fill = |rows, cols| {
        Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.01)
    };
    let mut call: Box<dyn FnMut()> = match product.kind {
        ProductKind::Forward => {
            let (x, w) = (fill(m, k), fill(n, k));
            let mut out = match form {
                Form::Direct => Array2::zeros((m, n)),
                Form::Transposed => Array2::zeros((n, m)),
            };
            Box::new(move || product_abt(form, &x.view(), &w.view(), &mut out.view_mut()))
        }
        ProductKind::BackwardInput => {
            let (dz, w, mut out) = (fill(m, k), fill(k, n), Array2::zeros((m, n)));
            Box::new(move || general_mat_mul(1.0, &dz, &w, 0.0, &mut out))
        }
        ProductKind::Weights => {
            // SGD's fused update: w (m, n) −= lr·dzᵀ·x, dz (k, m), x (k, n).
            let (dz, x, mut w) = (fill(k, m), fill(k, n), fill(m, n));
            Box::new(move || general_mat_mul(-1e-6, &dz.t(), &x, 1.0, &mut w))
        }
    };
    call();
    let started = Instant::now();
    let mut calls = 1;
    while started.elapsed() < Duration::from_micros(200) {
        call();
        calls += 1;
    }
    let calls = calls * 5;
    (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                call();
            }
            started.elapsed().as_secs_f64() / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Each of `products` timed alone, in its form and, where it has one, the other.
fn time_products(products: &[Product]) -> Vec<ProductReport> {
    products
        .iter()
        .map(|p| {
            let seconds = product_seconds(p, p.form);
            let other = (p.kind == ProductKind::Forward && p.layer == 0)
                .then(|| p.flops() / product_seconds(p, p.form.other()) / 1e9);
            ProductReport {
                product: *p,
                seconds,
                gflops: p.flops() / seconds / 1e9,
                other_form_gflops: other,
            }
        })
        .collect()
}

/// Trains `config.epochs` epochs on `data` with the phase clock running,
/// recording the first `TRACE_BATCHES` batches of each thread to `trace`
/// if given.
pub fn bench(config: &TrainConfig, data: &Mnist, trace: Option<&Path>) -> Result<BenchReport> {
    let mut trainer = Trainer::new(config.clone(), &data.train)?;
    let peak = peak_sgemm_gflops();
    let sizes = config.hidden.sizes();
    let batches = data.train.len().div_ceil(config.batch_size);
    let mut observer = (
        PhaseClock::start(),
        Trace::new(trace.map_or(0, |_| TRACE_BATCHES), sizes.len() - 1),
    );
    let mut epoch_seconds = Vec::with_capacity(config.epochs);
    let mut test_acc = 0.0;
    for _ in 0..config.epochs {
        observer.0.restart();
        observer.1.restart();
        let started = Instant::now();
        trainer.train_epoch(&data.train, &mut observer);
        epoch_seconds.push(started.elapsed().as_secs_f64());
        observer.0.restart();
        test_acc = trainer.evaluate(&data.test).accuracy();
        observer.0.lap(Phase::Evaluation);
    }
    if let Some(path) = trace {
        observer.1.write(path)?;
    }
    let clock = observer.0;
    epoch_seconds.sort_by(f64::total_cmp);
    let seconds_per_epoch = epoch_seconds[epoch_seconds.len() / 2];
    let samples_per_second = data.train.len() as f64 / seconds_per_epoch;
    let layer_flops = layer_flops(&config.hidden.sizes());
    let flops: u64 = layer_flops.iter().sum();
    let achieved_gflops = samples_per_second * flops as f64 / 1e9;
    let total: Duration = clock.totals.iter().sum();
    let phases = Phase::ALL
        .iter()
        .map(|&p| {
            let share = clock.totals[p as usize].as_secs_f64() / total.as_secs_f64().max(1e-12);
            (p.name().to_string(), share)
        })
        .collect();
    let threads = trainer.threads();
    let products = time_products(&trainer.products(config.batch_size));
    let products_seconds_per_epoch = products
        .iter()
        .map(|p| p.seconds * p.product.slices as f64)
        .sum::<f64>()
        * batches as f64
        / threads as f64;
    Ok(BenchReport {
        network: format!("784-{}-10", config.hidden),
        activation: format!("{} hidden, {} output", config.activation, config.output),
        optimizer: config.optimizer.to_string(),
        batch_size: config.batch_size,
        threads,
        threads_chosen: config.threads == AUTO_THREADS,
        epochs: config.epochs,
        seconds_per_epoch,
        samples_per_second,
        flops_per_sample: flops,
        layer_flops,
        achieved_gflops,
        peak_sgemm_gflops: peak,
        achieved_over_peak: achieved_gflops / peak,
        phases,
        peak_rss_mb: peak_rss_mb(),
        test_acc,
        openblas_core: crate::blas::core_name(),
        products,
        products_seconds_per_epoch,
        overhead: seconds_per_epoch / products_seconds_per_epoch,
    })
}

impl BenchReport {
    /// The human-readable report.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} ({}), {}, batch {}, {}{}, {}\n\
             training: {:.4} s/epoch (median), {:.0} samples/s\n\
             products: {} FLOP/sample (by layer: {}), {:.1} GFLOP/s achieved; single-thread sgemm peak {:.1} GFLOP/s ({} kernels); achieved/peak {:.0}%{}\n\
             peak memory {:.0} MB; final test accuracy {:.2}%\n\
             time by phase (training + evaluation):\n",
            self.network,
            self.activation,
            self.optimizer,
            self.batch_size,
            count(self.threads, "thread"),
            if self.threads_chosen { " (auto)" } else { "" },
            count(self.epochs, "epoch"),
            self.seconds_per_epoch,
            self.samples_per_second,
            self.flops_per_sample,
            self.layer_flops
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" + "),
            self.achieved_gflops,
            self.peak_sgemm_gflops,
            self.openblas_core,
            100.0 * self.achieved_over_peak,
            if self.threads > 1 {
                format!(
                    " of one core, {:.0}% of {} cores",
                    100.0 * self.achieved_over_peak / self.threads as f64,
                    self.threads
                )
            } else {
                String::new()
            },
            self.peak_rss_mb,
            100.0 * self.test_acc,
        );
        for (name, share) in &self.phases {
            out.push_str(&format!("  {name:<22} {:5.1}%\n", 100.0 * share));
        }
        out.push_str(
            "products of a step, each timed alone on one thread (m×k·k×n, slices per batch):\n",
        );
        for p in &self.products {
            let (m, k, n) = p.product.shape;
            out.push_str(&format!(
                "  L{} {:<8} {:>4}×{:<4}·{:>4}×{:<4} ×{}  {:<9} {:6.1} GFLOP/s{}\n",
                p.product.layer,
                p.product.kind.name(),
                m,
                k,
                k,
                n,
                p.product.slices,
                p.product.form.to_string(),
                p.gflops,
                p.other_form_gflops
                    .map(|g| format!(" ({} {g:.1})", p.product.form.other()))
                    .unwrap_or_default(),
            ));
        }
        out.push_str(&format!(
            "engine overhead: {:.4} s/epoch in the products alone, epoch/products {:.2}x\n",
            self.products_seconds_per_epoch, self.overhead
        ));
        out
    }
}
