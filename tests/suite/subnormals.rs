//! Every thread that computes flushes subnormal floats to zero (FTZ and
//! DAZ), and gives its caller's thread back as it found it.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)
#![cfg(target_arch = "x86_64")]

use crate::common;

use std::hint::black_box;

use common::synthetic_mnist;
use mnist_mlp::internals::data::batch::Normalisation;
use mnist_mlp::internals::io::model::ModelInfo;
use mnist_mlp::internals::nn::arch::{Activation, Hidden};
use mnist_mlp::internals::nn::params::Params;
use mnist_mlp::internals::nn::subnormals::{flush_subnormals, flushing};
use mnist_mlp::internals::train::observer::{Observer, Phase};
use mnist_mlp::internals::train::{TrainConfig, Trainer};
use mnist_mlp::Model;
use ndarray::linalg::general_mat_mul;
use ndarray::Array2;

/// The largest subnormal f32.
const SUBNORMAL: f32 = f32::from_bits(0x007f_ffff);

#[test]
fn the_guard_flushes_subnormal_results_and_operands_then_restores() {
    assert!(!flushing(), "test threads start without FTZ/DAZ");
    // Unflushed, a subnormal result survives and a subnormal operand counts.
    assert!(black_box(1e-20f32) * black_box(1e-20f32) > 0.0);
    assert!(black_box(SUBNORMAL) * black_box(16_777_216.0f32) > 0.0);
    {
        let _flush = flush_subnormals();
        assert!(flushing());
        // FTZ: a product below 1.2e-38 comes out as zero.
        assert_eq!(black_box(1e-20f32) * black_box(1e-20f32), 0.0);
        // DAZ: a subnormal operand is read as zero, even where the product
        // (1.4e-31) would be a normal number.
        assert_eq!(black_box(SUBNORMAL) * black_box(16_777_216.0f32), 0.0);
        // And OpenBLAS's kernels, which run on this thread, follow the mode.
        let a = Array2::from_elem((20, 64), 1e-20f32);
        let b = Array2::from_elem((64, 30), 1e-20f32);
        let mut c = Array2::from_elem((20, 30), 1.0f32);
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        assert!(c.iter().all(|&v| v == 0.0), "sgemm kept subnormals");
    }
    assert!(!flushing(), "the guard restores the previous mode");
    assert!(black_box(1e-20f32) * black_box(1e-20f32) > 0.0);
}

/// Notes whether every lap of its thread ran with FTZ and DAZ set.
#[derive(Default)]
struct FlushWitness {
    laps: usize,
    unflushed_laps: usize,
    /// Per thread (0 first): laps seen, laps without FTZ/DAZ.
    threads: Vec<(usize, usize)>,
}

impl Observer for FlushWitness {
    type Helper = FlushWitness;

    fn helper(&mut self, _thread: usize) -> FlushWitness {
        FlushWitness::default()
    }

    fn join(&mut self, _thread: usize, helper: FlushWitness) {
        self.threads.push((helper.laps, helper.unflushed_laps));
    }

    fn lap(&mut self, _phase: Phase) {
        self.laps += 1;
        self.unflushed_laps += usize::from(!flushing());
    }
}

#[test]
fn every_training_thread_flushes_and_the_caller_gets_its_mode_back() {
    let data = synthetic_mnist(400, 10);
    for threads in [1, 2] {
        let config = TrainConfig {
            threads,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(config, &data.train).unwrap();
        let mut witness = FlushWitness::default();
        trainer.train_epoch(&data.train, &mut witness);
        assert!(
            !flushing(),
            "training left FTZ/DAZ set on the caller's thread"
        );
        witness
            .threads
            .insert(0, (witness.laps, witness.unflushed_laps));
        assert_eq!(witness.threads.len(), threads, "one record per thread");
        for (t, &(laps, unflushed)) in witness.threads.iter().enumerate() {
            assert!(laps > 0, "thread {t} of {threads} reported no lap");
            assert_eq!(
                unflushed, 0,
                "thread {t} of {threads}: {unflushed} of {laps} laps unflushed"
            );
        }
    }
}

/// A ReLU network whose only signal is a subnormal hidden bias scaled up by
/// 1e38 into output 0: flushed, every output is σ(0) = ½ and each sample
/// costs exactly 10·ln 2 (ten binary cross-entropies of ½); unflushed,
/// output 0 is σ(0.1) and the cost differs.
fn subnormal_sensitive_model() -> (Params, ModelInfo) {
    let config = TrainConfig {
        hidden: Hidden(vec![4]),
        activation: Activation::Relu,
        batch_size: 10,
        ..TrainConfig::default()
    };
    let mut params = Params::zeros(&config.hidden.sizes());
    params.layers[0].b.fill(1e-39);
    params.layers[1].w.row_mut(0).fill(1e38);
    let info = ModelInfo {
        config,
        normalisation: Normalisation::PerBatch,
        epochs_trained: 0,
        test_accuracy: 0.0,
    };
    (params, info)
}

#[test]
fn the_subnormal_sensitive_model_tells_flushed_from_unflushed() {
    // Guards the two tests below: unflushed, this model's cost is not
    // 10·ln 2, so they can fail.
    let (params, info) = subnormal_sensitive_model();
    let mut ws = mnist_mlp::internals::nn::workspace::Workspace::new(1, &params.sizes(), false);
    let data = synthetic_mnist(10, 1);
    mnist_mlp::internals::data::batch::gather(&mut ws, &data.test, 0..1, info.normalisation);
    mnist_mlp::internals::nn::network::forward(&params, &info.arch(), &mut ws);
    assert!(
        ws.a_out[[0, 0]] > 0.52,
        "unflushed output {}",
        ws.a_out[[0, 0]]
    );
}

#[test]
fn evaluation_threads_flush() {
    let (params, info) = subnormal_sensitive_model();
    let data = synthetic_mnist(100, 200);
    let per_sample = 10.0 * std::f64::consts::LN_2;
    // The CLI's `eval`, on the caller's thread.
    let model = Model {
        params: params.clone(),
        info: info.clone(),
    };
    let report = model.evaluate(&data.test);
    assert!(
        (report.loss - per_sample).abs() < 1e-6,
        "eval loss {}",
        report.loss
    );
    // The trainer's evaluation on two threads, each scoring its batches.
    let config = TrainConfig {
        threads: 2,
        ..info.config.clone()
    };
    let mut trainer = Trainer::new(config, &data.train).unwrap();
    trainer.params = params.clone();
    let score = trainer.evaluate(&data.test);
    assert_eq!(trainer.threads(), 2);
    let loss = score.loss_sum / score.samples as f64;
    assert!(
        (loss - per_sample).abs() < 1e-6,
        "trainer's evaluation loss {loss}"
    );
    assert!(!flushing());
}

#[test]
fn prediction_flushes() {
    let (params, info) = subnormal_sensitive_model();
    let outputs = Model { params, info }
        .classify(&[128; 784])
        .unwrap()
        .outputs;
    assert!(outputs.iter().all(|&a| a == 0.5), "outputs {outputs:?}");
    assert!(!flushing());
}
