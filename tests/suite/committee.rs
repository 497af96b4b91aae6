//! Committees: the mean of several models' outputs, checked against the
//! mean taken by hand; a committee of one is the model; members loaded
//! from files, folders and sweep folders; `eval` and `predict` with several
//! `--model`s, and their one-line errors.

use crate::common;

use std::path::PathBuf;

use common::synthetic_mnist;
use mnist_mlp::{
    train, Activation, Committee, Cost, Hidden, Model, ModelInfo, Normalisation, Normalise,
    Optimizer, Output, Params, TrainConfig, TrainOptions, CLASSES,
};

/// Three small models that differ in all a committee allows: depth,
/// activation, output units, normalisation and batch size (100 test
/// images divide into none of 16, 8 and 7). Trained on 40 images only,
/// so that they, and the committee, still make mistakes.
fn three_models() -> Vec<Model> {
    let data = synthetic_mnist(40, 100);
    let configs = [
        TrainConfig {
            hidden: Hidden(vec![8]),
            epochs: 1,
            batch_size: 16,
            seed: 1,
            ..TrainConfig::default()
        },
        TrainConfig {
            hidden: Hidden(vec![16, 8]),
            activation: Activation::Relu,
            output: Output::Softmax,
            cost: Cost::CrossEntropy,
            optimizer: Optimizer::Adam,
            lr: Some(0.01),
            normalise: Normalise::Dataset,
            epochs: 5,
            batch_size: 8,
            seed: 2,
            ..TrainConfig::default()
        },
        TrainConfig {
            hidden: Hidden(vec![10]),
            activation: Activation::Tanh,
            output: Output::Softmax,
            cost: Cost::CrossEntropy,
            lr: Some(0.1),
            epochs: 2,
            batch_size: 7,
            seed: 3,
            ..TrainConfig::default()
        },
    ];
    configs
        .into_iter()
        .map(|config| {
            train(config, &data, TrainOptions::default(), &mut ())
                .unwrap()
                .model
        })
        .collect()
}

/// The mean of each member's outputs, summed in f64 in member order.
fn mean_by_hand(outputs: &[Vec<f32>]) -> Vec<f32> {
    (0..outputs[0].len())
        .map(|k| {
            let mut sum = 0.0f64;
            for member in outputs {
                sum += f64::from(member[k]);
            }
            (sum / outputs.len() as f64) as f32
        })
        .collect()
}

/// The first largest of a row.
fn first_largest(row: &[f32]) -> usize {
    let mut best = 0;
    for (d, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = d;
        }
    }
    best
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// A report as text, equal when every figure is (NaN included: a digit
/// never predicted has NaN precision).
fn debug(report: &impl std::fmt::Debug) -> String {
    format!("{report:?}")
}

/// NaN-aware equality of two fractions (a digit never predicted has NaN
/// precision).
fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

#[test]
fn a_committee_averages_its_members_outputs_as_by_hand() {
    let models = three_models();
    let test = synthetic_mnist(300, 100).test;
    let committee = Committee::from_models(models.clone()).unwrap();
    let (report, outputs) = committee.evaluate_with_outputs(&test);

    let member_outputs: Vec<Vec<f32>> = models
        .iter()
        .map(|m| m.evaluate_with_outputs(&test).1)
        .collect();
    let expected = mean_by_hand(&member_outputs);
    assert_eq!(outputs.len(), test.len() * CLASSES);
    assert_eq!(bits(&outputs), bits(&expected), "the mean, bit for bit");
    for member in &member_outputs {
        assert_ne!(
            member, &outputs,
            "a test that tells: members differ from the mean"
        );
    }
    assert_eq!(debug(&committee.evaluate(&test)), debug(&report));

    // Accuracy, confusion, precision, recall and loss from the means.
    let mut confusion = [[0usize; CLASSES]; CLASSES];
    let mut loss = 0.0f64;
    for (row, &label) in expected.chunks_exact(CLASSES).zip(test.labels()) {
        confusion[usize::from(label)][first_largest(row)] += 1;
        loss += -f64::from(row[usize::from(label)])
            .max(f64::from(f32::EPSILON))
            .ln();
    }
    let correct: usize = (0..CLASSES).map(|d| confusion[d][d]).sum();
    let got = &report.committee;
    assert_eq!(got.samples, 100);
    assert_eq!(got.confusion, confusion);
    assert_eq!(got.accuracy, correct as f64 / 100.0);
    assert!(
        (got.loss - loss / 100.0).abs() < 1e-12,
        "{} {}",
        got.loss,
        loss / 100.0
    );
    for (d, row) in confusion.iter().enumerate() {
        let column: usize = confusion.iter().map(|r| r[d]).sum();
        let present: usize = row.iter().sum();
        assert!(same(got.precision[d], row[d] as f64 / column as f64));
        assert!(same(got.recall[d], row[d] as f64 / present as f64));
    }
    assert_eq!(Committee::LOSS_FLOOR, f64::from(f32::EPSILON));

    // Each member's own report, in member order.
    let alone: Vec<_> = models.iter().map(|m| m.evaluate(&test)).collect();
    assert_eq!(debug(&report.members), debug(&alone));
    assert!(alone.iter().all(|r| r.accuracy > 0.5), "{alone:?}");

    // One image at a time: the mean of the members' classifications.
    for i in 0..10 {
        let answer = committee.classify(test.image(i)).unwrap();
        let each: Vec<Vec<f32>> = models
            .iter()
            .map(|m| m.classify(test.image(i)).unwrap().outputs.to_vec())
            .collect();
        let mean = mean_by_hand(&each);
        assert_eq!(bits(&answer.outputs), bits(&mean), "image {i}");
        assert_eq!(answer.digit, first_largest(&mean), "image {i}");
    }
    assert!(committee
        .classify(&[0; 10])
        .unwrap_err()
        .to_string()
        .contains("784"));
}

#[test]
fn a_committee_of_one_is_the_model() {
    let model = three_models().swap_remove(1);
    let test = synthetic_mnist(300, 100).test;
    let committee = Committee::from_models(vec![model.clone()]).unwrap();
    let (report, outputs) = committee.evaluate_with_outputs(&test);
    let (alone, alone_outputs) = model.evaluate_with_outputs(&test);
    assert_eq!(debug(&report.committee), debug(&alone));
    assert_eq!(debug(&report.members), debug(&vec![alone]));
    assert_eq!(bits(&outputs), bits(&alone_outputs));
    for i in 0..5 {
        assert_eq!(
            committee.classify(test.image(i)).unwrap(),
            model.classify(test.image(i)).unwrap()
        );
    }
}

/// A model whose every weight and bias is zero: all ten outputs equal.
fn flat_model(sizes: &[usize], output: Output) -> Model {
    Model {
        params: Params::zeros(sizes),
        info: ModelInfo {
            config: TrainConfig {
                hidden: Hidden(sizes[1..sizes.len() - 1].to_vec()),
                output,
                ..TrainConfig::default()
            },
            normalisation: Normalisation::PerBatch,
            epochs_trained: 0,
            test_accuracy: 0.0,
        },
    }
}

#[test]
fn ties_go_to_the_lowest_digit_and_misfits_are_refused() {
    let image = synthetic_mnist(10, 10).test.image(3).to_vec();
    let committee = Committee::from_models(vec![
        flat_model(&[784, 4, 10], Output::Sigmoid),
        flat_model(&[784, 4, 10], Output::Softmax),
    ])
    .unwrap();
    let answer = committee.classify(&image).unwrap();
    assert_eq!(
        answer.outputs,
        [((0.5f64 + 0.1f32 as f64) / 2.0) as f32; CLASSES]
    );
    assert_eq!(answer.digit, 0);

    let refused = |models: Vec<Model>| Committee::from_models(models).unwrap_err().to_string();
    assert!(refused(Vec::new()).contains("at least one model"));
    let message = refused(vec![
        flat_model(&[784, 4, 10], Output::Sigmoid),
        flat_model(&[100, 4, 10], Output::Sigmoid),
    ]);
    assert!(
        message.contains("member 1") && message.contains("100 inputs") && message.contains("784"),
        "{message}"
    );
    let message = refused(vec![flat_model(&[784, 4, 9], Output::Sigmoid)]);
    assert!(
        message.contains("9 outputs") && message.contains("10"),
        "{message}"
    );
}

#[test]
fn members_come_from_files_and_folders_in_sorted_order_each_once() {
    let models = three_models();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("members");
    std::fs::create_dir(&folder).unwrap();
    // Saved under names that sort otherwise than the models' order.
    let names = ["z.safetensors", "a.safetensors", "m.safetensors"];
    for (model, name) in models.iter().zip(names) {
        model.save(folder.join(name)).unwrap();
    }
    std::fs::write(folder.join("notes.txt"), "not a model").unwrap();
    std::fs::create_dir(folder.join("older")).unwrap();
    models[0]
        .save(folder.join("older/old.safetensors"))
        .unwrap();

    let files = Committee::member_files(&[&folder]).unwrap();
    let expected: Vec<PathBuf> = ["a", "m", "z"]
        .iter()
        .map(|n| folder.join(format!("{n}.safetensors")))
        .collect();
    assert_eq!(
        files, expected,
        "the folder's models, sorted, not its sub-folders'"
    );
    let committee = Committee::load(&[&folder]).unwrap();
    assert_eq!(
        committee.members(),
        &[models[1].clone(), models[2].clone(), models[0].clone()]
    );
    // Named one by one, in any order: sorted the same.
    let picked =
        Committee::load(&[folder.join("z.safetensors"), folder.join("a.safetensors")]).unwrap();
    assert_eq!(picked.members(), &[models[1].clone(), models[0].clone()]);

    let error = |paths: &[PathBuf]| Committee::load(paths).unwrap_err().to_string();
    let message = error(&[folder.clone(), folder.join("m.safetensors")]);
    assert!(
        message.contains("same model file") && message.contains("m.safetensors"),
        "{message}"
    );
    let message = error(&[folder.join("a.safetensors"), folder.join("./a.safetensors")]);
    assert!(message.contains("same model file"), "{message}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let message = error(std::slice::from_ref(&empty));
    assert!(
        message.contains("no models in this folder") && message.contains("empty"),
        "{message}"
    );
    std::fs::write(empty.join("sweep.json"), "{}").unwrap();
    let message = error(std::slice::from_ref(&empty));
    assert!(message.contains("--save-models"), "{message}");
    let message = error(&[
        folder.join("a.safetensors"),
        dir.path().join("absent.safetensors"),
    ]);
    assert!(message.contains("absent.safetensors"), "{message}");
    let message = error(&[folder.join("notes.txt")]);
    assert!(message.contains("notes.txt"), "{message}");
    assert!(error(&[]).contains("at least one model"));
}

/// The program's side: run only with the `cli` feature.
#[cfg(feature = "cli")]
mod cli {
    use std::path::Path;

    use super::*;
    use common::{assert_one_line_error, mnist_mlp, stdout_of_success, write_mnist_dir};
    use mnist_mlp::Dataset;

    /// The synthetic test set the data folders below hold.
    fn test_set() -> Dataset {
        synthetic_mnist(300, 100).test
    }

    /// Trains a model with the program into `dir`, from its data there.
    fn train_cli(dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
        let model = dir.join(name);
        let mut args = vec![
            "train",
            "--data-dir",
            dir.to_str().unwrap(),
            "--epochs",
            "1",
            "--save",
            model.to_str().unwrap(),
        ];
        args.extend_from_slice(flags);
        stdout_of_success(&mnist_mlp(&args));
        model
    }

    /// A data folder and two models that differ, trained there.
    fn two_models() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        write_mnist_dir(dir.path(), &synthetic_mnist(300, 100), true);
        let a = train_cli(
            dir.path(),
            "a.safetensors",
            &["--hidden", "8", "--seed", "1"],
        );
        let b = train_cli(
            dir.path(),
            "b.safetensors",
            &[
                "--hidden",
                "12",
                "--activation",
                "relu",
                "--output",
                "softmax",
                "--normalise",
                "dataset",
                "--batch-size",
                "25",
                "--lr",
                "0.1",
                "--seed",
                "2",
            ],
        );
        (dir, a, b)
    }

    fn eval(data: &Path, models: &[impl AsRef<Path>], extra: &[&str]) -> std::process::Output {
        let mut args = vec!["eval", "--data-dir", data.to_str().unwrap()];
        for model in models {
            args.extend(["--model", model.as_ref().to_str().unwrap()]);
        }
        args.extend_from_slice(extra);
        mnist_mlp(&args)
    }

    fn read_npy(path: &Path) -> Vec<f32> {
        let bytes = std::fs::read(path).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        bytes[10 + header_len..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn eval_scores_two_models_as_a_committee_and_one_as_before() {
        let (dir, a, b) = two_models();
        let d = dir.path();
        let test = test_set();
        let committee = Committee::load(&[&a, &b]).unwrap();
        let (expected, expected_outputs) = committee.evaluate_with_outputs(&test);

        let npy = d.join("p.npy");
        let json: serde_json::Value = serde_json::from_str(&stdout_of_success(&eval(
            d,
            &[&b, &a],
            &["--json", "--probabilities-out", npy.to_str().unwrap()],
        )))
        .unwrap();
        assert_eq!(
            json["accuracy"].as_f64().unwrap(),
            expected.committee.accuracy
        );
        assert_eq!(json["loss"].as_f64().unwrap(), expected.committee.loss);
        assert_eq!(json["samples"], 100);
        assert_eq!(
            json["confusion"],
            serde_json::to_value(expected.committee.confusion).unwrap()
        );
        let members = json["members"].as_array().unwrap();
        assert_eq!(members.len(), 2);
        for ((member, path), alone) in members.iter().zip([&a, &b]).zip(&expected.members) {
            assert_eq!(member["path"], path.to_str().unwrap());
            assert_eq!(member["accuracy"].as_f64().unwrap(), alone.accuracy);
            assert_eq!(
                debug(alone),
                debug(&Model::load(path).unwrap().evaluate(&test))
            );
        }
        assert_eq!(bits(&read_npy(&npy)), bits(&expected_outputs));

        // The text: a line naming the members, then the committee's report.
        let text = stdout_of_success(&eval(d, &[&a, &b], &[]));
        let (first, rest) = text.split_once('\n').unwrap();
        assert_eq!(
            first,
            format!(
                "committee of 2 models, the mean of their outputs (each alone: {} {:.2}%, {} {:.2}%)",
                a.display(),
                100.0 * expected.members[0].accuracy,
                b.display(),
                100.0 * expected.members[1].accuracy
            )
        );
        assert_eq!(rest, expected.committee.text());
        assert_eq!(
            stdout_of_success(&eval(d, &[&b, &a], &[])),
            text,
            "order does not matter"
        );

        // A folder of the two: the same committee.
        let folder = d.join("members");
        std::fs::create_dir(&folder).unwrap();
        std::fs::copy(&a, folder.join("a.safetensors")).unwrap();
        std::fs::copy(&b, folder.join("b.safetensors")).unwrap();
        let text = stdout_of_success(&eval(d, &[&folder], &[]));
        assert!(text.starts_with("committee of 2 models"), "{text}");
        assert_eq!(text.split_once('\n').unwrap().1, expected.committee.text());

        // One model, named or as a folder's only one: eval as it always was.
        let alone = Model::load(&a).unwrap().evaluate(&test);
        assert_eq!(stdout_of_success(&eval(d, &[&a], &[])), alone.text());
        let one = d.join("one");
        std::fs::create_dir(&one).unwrap();
        std::fs::copy(&a, one.join("a.safetensors")).unwrap();
        assert_eq!(stdout_of_success(&eval(d, &[&one], &[])), alone.text());
        let json: serde_json::Value =
            serde_json::from_str(&stdout_of_success(&eval(d, &[&a], &["--json"]))).unwrap();
        assert_eq!(json, serde_json::to_value(&alone).unwrap());
        assert!(json.get("members").is_none());
    }

    #[test]
    fn eval_takes_a_sweeps_folder_of_saved_models() {
        let dir = tempfile::tempdir().unwrap();
        write_mnist_dir(dir.path(), &synthetic_mnist(300, 100), true);
        let d = dir.path();
        let sweep = |out: &Path, save: bool| {
            let mut args = vec![
                "sweep",
                "--data-dir",
                d.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--hidden",
                "8",
                "--seed",
                "1,2,3",
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--jobs",
                "1",
            ];
            if save {
                args.push("--save-models");
            }
            stdout_of_success(&mnist_mlp(&args));
        };
        let out = d.join("seeds");
        sweep(&out, true);
        let models: Vec<PathBuf> = (1..=3)
            .map(|s| out.join(format!("runs/seed-{s}.safetensors")))
            .collect();
        let expected = Committee::load(&models).unwrap().evaluate(&test_set());
        let json: serde_json::Value =
            serde_json::from_str(&stdout_of_success(&eval(d, &[&out], &["--json"]))).unwrap();
        let paths: Vec<&str> = json["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["path"].as_str().unwrap())
            .collect();
        let names: Vec<&str> = models.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(paths, names);
        assert_eq!(
            json["accuracy"].as_f64().unwrap(),
            expected.committee.accuracy
        );
        assert_eq!(json["loss"].as_f64().unwrap(), expected.committee.loss);

        let bare = d.join("bare");
        sweep(&bare, false);
        assert_one_line_error(&eval(d, &[&bare], &[]), "--save-models");
    }

    #[test]
    fn predict_averages_two_models_in_the_same_format() {
        let (dir, a, b) = two_models();
        let picture = dir.path().join("digit.png");
        image::GrayImage::from_fn(60, 80, |x, y| {
            let stroke = (20..30).contains(&x) && (10..70).contains(&y);
            image::Luma([if stroke { 240 } else { 10 }])
        })
        .save(&picture)
        .unwrap();
        let committee = Committee::load(&[&a, &b]).unwrap();
        let expected = committee.classify_picture(&picture).unwrap();
        let p = picture.to_str().unwrap();
        let (a_, b_) = (a.to_str().unwrap(), b.to_str().unwrap());

        let out = mnist_mlp(&["predict", "--model", a_, "--model", b_, p, "--json"]);
        let line: serde_json::Value = serde_json::from_str(stdout_of_success(&out).trim()).unwrap();
        assert_eq!(line["digit"], expected.digit);
        let outputs: Vec<f32> = line["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(bits(&outputs), bits(&expected.outputs));
        assert_eq!(
            line["unsure"],
            expected.outputs[expected.digit] < mnist_mlp::internals::app::UNSURE_BELOW
        );

        let text = stdout_of_success(&mnist_mlp(&["predict", "--model", a_, "--model", b_, p]));
        let shown: Vec<String> = expected.outputs.iter().map(|o| format!("{o:.3}")).collect();
        assert!(
            text.starts_with(&format!(
                "{p}: {}  outputs 0..9: {}",
                expected.digit,
                shown.join(" ")
            )),
            "{text}"
        );
        // One model: its own answer.
        let single = Model::load(&a).unwrap().classify_picture(&picture).unwrap();
        let out = mnist_mlp(&["predict", "--model", a_, p, "--json"]);
        let line: serde_json::Value = serde_json::from_str(stdout_of_success(&out).trim()).unwrap();
        assert_eq!(line["digit"], single.digit);
    }

    #[test]
    fn models_that_cannot_form_a_committee_give_one_line() {
        let (dir, a, b) = two_models();
        let d = dir.path();
        let empty = d.join("empty");
        std::fs::create_dir(&empty).unwrap();
        let notes = d.join("notes.safetensors");
        std::fs::write(&notes, "not a model").unwrap();
        let absent = d.join("absent.safetensors");
        // A model of 100 inputs: cannot read the same pixels.
        let narrow = d.join("narrow.safetensors");
        let mut model = Model::load(&a).unwrap();
        model.params = Params::zeros(&[100, 8, 10]);
        mnist_mlp::internals::io::model::save(&narrow, &model.params, &model.info).unwrap();

        for (models, expect) in [
            (vec![&empty], "no models in this folder"),
            (vec![&a, &absent], "absent.safetensors"),
            (vec![&a, &notes], "notes.safetensors"),
            (vec![&a, &narrow], "784"),
            (vec![&a, &b, &a], "same model file"),
        ] {
            assert_one_line_error(&eval(d, &models, &[]), expect);
            let mut args = vec!["predict"];
            for model in &models {
                args.extend(["--model", model.to_str().unwrap()]);
            }
            args.push("whatever.png");
            assert_one_line_error(&mnist_mlp(&args), expect);
        }
        let out = mnist_mlp(&["eval", "--data-dir", d.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "--model is required");
    }
}
