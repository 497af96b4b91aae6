//! The library as its docs show it, from the crate root alone and without
//! the program's features: a preset with a validation split and early
//! stopping, checkpoints, an observer, then the model saved, loaded,
//! evaluated and asked about one image.

use crate::common;

use common::synthetic_mnist;
use mnist_mlp::{
    train, EpochReport, Model, Preset, Resume, RunStart, TrainConfig, TrainObserver, TrainOptions,
};

/// Counts what a run tells its observer.
#[derive(Default)]
struct Seen {
    started: usize,
    images: usize,
    lines: Vec<String>,
}

impl TrainObserver for Seen {
    fn started(&mut self, start: &RunStart) -> mnist_mlp::Result<()> {
        assert_eq!(start.data.validation.as_ref().map(|v| v.len()), Some(100));
        self.started += 1;
        Ok(())
    }
    fn trained(&mut self, samples: usize) {
        self.images += samples;
    }
    fn epoch_ended(&mut self, report: &EpochReport) -> mnist_mlp::Result<()> {
        self.lines.push(report.line());
        Ok(())
    }
}

#[test]
fn the_fast_preset_with_validation_trains_saves_loads_and_classifies() {
    let data = synthetic_mnist(600, 200);
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("run.ckpt");
    let config = TrainConfig {
        epochs: 3,
        validation: 100,
        early_stop: 1,
        batch_size: 50,
        ..Preset::Fast.config()
    };
    let mut seen = Seen::default();
    let options = TrainOptions {
        checkpoint: Some(checkpoint.clone()),
        checkpoint_every: 1,
        ..TrainOptions::default()
    };
    let summary = train(config, &data, options, &mut seen).unwrap();
    assert_eq!(seen.started, 1);
    assert_eq!(seen.images, 500 * summary.reports.len());
    assert!(seen.lines[0].starts_with("epoch 1/3 "), "{:?}", seen.lines);
    assert!(summary.last().val_acc.is_some());
    let best = summary.best.unwrap();
    assert_eq!(summary.model.info.epochs_trained, best.epoch);

    let path = dir.path().join("model.safetensors");
    summary.model.save(&path).unwrap();
    let model = Model::load(&path).unwrap();
    assert_eq!(model, summary.model);
    let report = model.evaluate(&data.test);
    assert!(report.accuracy > 0.9, "{report:?}");
    // The same images and weights as the run's own test pass (whose products
    // may round differently).
    assert!(
        (report.accuracy - best.test_acc).abs() < 0.02,
        "{report:?} {best:?}"
    );
    let answer = model.classify(data.test.image(0)).unwrap();
    assert_eq!(answer.digit, usize::from(data.test.label(0)));
    assert!(model
        .classify(&[0; 10])
        .unwrap_err()
        .to_string()
        .contains("784"));

    // The checkpoint resumes: one more epoch after the last.
    let resume = Resume::load(&checkpoint).unwrap();
    assert!(resume.is_checkpoint());
    let more = TrainConfig {
        epochs: 1,
        early_stop: 0,
        ..resume.model.info.config.clone()
    };
    let options = TrainOptions {
        resume: Some(resume),
        ..TrainOptions::default()
    };
    let resumed = train(more, &data, options, &mut ()).unwrap();
    assert_eq!(resumed.last().epoch, summary.epochs_trained + 1);
}

#[test]
fn a_validation_split_that_does_not_fit_is_an_error_not_a_panic() {
    let data = synthetic_mnist(100, 50);
    let config = TrainConfig {
        validation: 100,
        epochs: 1,
        ..TrainConfig::default()
    };
    let e = train(config, &data, TrainOptions::default(), &mut ()).unwrap_err();
    assert!(e.to_string().contains("--validation 100"), "{e}");
}
