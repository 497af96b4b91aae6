//! TensorBoard event files, read back with a reader of the tests' own (a
//! bitwise CRC-32C and a protobuf wire-format decoder, sharing no code with
//! the writer): the record framing and its checksums, the events' fields,
//! and figures equal to what `--metrics-out` writes, for `train` and for
//! each run of a `sweep`. `.ci/tensorboard-check` reads the same files
//! with TensorBoard's own reader.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{mnist_mlp, stderr, synthetic_mnist, write_mnist_dir};
use mnist_mlp::internals::io::metrics::EpochReport;
use mnist_mlp::internals::io::tensorboard::{masked_crc32c, EventWriter, CONFIG_TAG, FILE_VERSION};

/// CRC-32C bit by bit (reflected, polynomial 0x1EDC6F41), the slow way.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// TensorFlow's mask, written as its record format spells it, not as
/// the writer computes it (a rotation).
#[allow(clippy::manual_rotate)]
fn mask(crc: u32) -> u32 {
    ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8)
}

/// The records of an event file, each frame's checksums checked.
fn records(bytes: &[u8]) -> Vec<&[u8]> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        assert!(
            rest.len() >= 12,
            "a torn record header: {} bytes",
            rest.len()
        );
        let (header, after) = rest.split_at(8);
        let length = u64::from_le_bytes(header.try_into().unwrap()) as usize;
        let header_crc = u32::from_le_bytes(after[..4].try_into().unwrap());
        assert_eq!(header_crc, mask(crc32c(header)), "length checksum");
        let after = &after[4..];
        assert!(after.len() >= length + 4, "a torn record");
        let (data, after) = after.split_at(length);
        let data_crc = u32::from_le_bytes(after[..4].try_into().unwrap());
        assert_eq!(data_crc, mask(crc32c(data)), "data checksum");
        out.push(data);
        rest = &after[4..];
    }
    out
}

/// A field's payload in protobuf's wire format.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

fn varint(bytes: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().expect("a varint ends");
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
    }
    panic!("a varint longer than 10 bytes");
}

/// A message's fields, in order, as (number, payload).
fn fields(mut bytes: &[u8]) -> Vec<(u64, Wire<'_>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes);
        let take = |bytes: &mut &'_ [u8], n: usize| {
            let (head, rest) = bytes.split_at(n);
            *bytes = rest;
            head.to_vec()
        };
        let wire = match key & 7 {
            0 => Wire::Varint(varint(&mut bytes)),
            1 => Wire::Fixed64(u64::from_le_bytes(take(&mut bytes, 8).try_into().unwrap())),
            2 => {
                let n = varint(&mut bytes) as usize;
                let (head, rest) = bytes.split_at(n);
                bytes = rest;
                Wire::Bytes(head)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(take(&mut bytes, 4).try_into().unwrap())),
            other => panic!("wire type {other}"),
        };
        out.push((key >> 3, wire));
    }
    out
}

fn bytes_of(wire: Wire<'_>) -> &[u8] {
    match wire {
        Wire::Bytes(b) => b,
        other => panic!("expected bytes, got {other:?}"),
    }
}

fn string_of(wire: Wire<'_>) -> String {
    String::from_utf8(bytes_of(wire).to_vec()).unwrap()
}

#[derive(Debug, Default)]
struct Tensor {
    dtype: u64,
    /// The shape's `dim` fields: none for a scalar.
    dims: usize,
    strings: Vec<String>,
}

#[derive(Debug, Default)]
struct Value {
    tag: String,
    simple_value: Option<f32>,
    plugin: Option<String>,
    tensor: Option<Tensor>,
}

#[derive(Debug, Default)]
struct Event {
    wall_time: f64,
    step: u64,
    file_version: Option<String>,
    values: Vec<Value>,
}

fn decode_value(bytes: &[u8]) -> Value {
    let mut value = Value::default();
    for (field, wire) in fields(bytes) {
        match (field, wire) {
            (1, w) => value.tag = string_of(w),
            (2, Wire::Fixed32(bits)) => value.simple_value = Some(f32::from_bits(bits)),
            (9, w) => {
                for (field, w) in fields(bytes_of(w)) {
                    assert_eq!(field, 1, "SummaryMetadata holds plugin_data only");
                    for (field, w) in fields(bytes_of(w)) {
                        assert_eq!(field, 1, "PluginData holds plugin_name only");
                        value.plugin = Some(string_of(w));
                    }
                }
            }
            (8, w) => {
                let mut tensor = Tensor::default();
                for (field, w) in fields(bytes_of(w)) {
                    match (field, w) {
                        (1, Wire::Varint(dtype)) => tensor.dtype = dtype,
                        (2, w) => tensor.dims = fields(bytes_of(w)).len(),
                        (8, w) => tensor.strings.push(string_of(w)),
                        other => panic!("unexpected TensorProto field {other:?}"),
                    }
                }
                value.tensor = Some(tensor);
            }
            other => panic!("unexpected Summary.Value field {other:?}"),
        }
    }
    value
}

fn decode_event(bytes: &[u8]) -> Event {
    let mut event = Event::default();
    for (field, wire) in fields(bytes) {
        match (field, wire) {
            (1, Wire::Fixed64(bits)) => event.wall_time = f64::from_bits(bits),
            (2, Wire::Varint(step)) => event.step = step,
            (3, w) => event.file_version = Some(string_of(w)),
            (5, w) => {
                for (field, w) in fields(bytes_of(w)) {
                    assert_eq!(field, 1, "a Summary holds values only");
                    event.values.push(decode_value(bytes_of(w)));
                }
            }
            other => panic!("unexpected Event field {other:?}"),
        }
    }
    event
}

fn read_events(path: &Path) -> Vec<Event> {
    let bytes = std::fs::read(path).unwrap();
    records(&bytes).into_iter().map(decode_event).collect()
}

/// The one event file in `dir`, its name as TensorBoard's writers give it.
fn the_event_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap();
    let rest = name.strip_prefix("events.out.tfevents.").expect(name);
    let (seconds, host) = rest.split_once('.').expect(name);
    assert!(seconds.parse::<u64>().is_ok() && !host.is_empty(), "{name}");
    files[0].clone()
}

/// Checks the file's framing and first record, its config text at step 0
/// (holding `expect_in_config`), then returns its epochs' scalars by step.
fn check_event_file(path: &Path, expect_in_config: &str) -> Vec<(u64, BTreeMap<String, f32>)> {
    let events = read_events(path);
    assert!(events.len() >= 2, "{events:?}");
    assert_eq!(events[0].file_version.as_deref(), Some(FILE_VERSION));
    assert!(events[0].values.is_empty());
    for pair in events.windows(2) {
        assert!(pair[0].wall_time <= pair[1].wall_time, "time goes back");
        assert!(
            pair[0].wall_time > 1.5e9,
            "a wall time in seconds since 1970"
        );
    }

    let config = &events[1];
    assert_eq!(config.step, 0);
    assert_eq!(config.values.len(), 1);
    let text = &config.values[0];
    assert_eq!(text.tag, CONFIG_TAG);
    assert_eq!(text.plugin.as_deref(), Some("text"));
    assert_eq!(text.simple_value, None);
    let tensor = text.tensor.as_ref().expect("text is a string tensor");
    assert_eq!(tensor.dtype, 7, "DT_STRING");
    assert_eq!(tensor.dims, 0, "a scalar");
    assert_eq!(tensor.strings.len(), 1);
    let markdown = &tensor.strings[0];
    assert!(markdown.contains(expect_in_config), "{markdown}");
    let json = markdown
        .split_once("```json\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("the config in a json code block")
        .0;
    let config: mnist_mlp::TrainConfig = serde_json::from_str(json).unwrap();
    assert_eq!(config.hidden.to_string(), "8");

    events[2..]
        .iter()
        .map(|event| {
            assert!(event.file_version.is_none());
            let scalars = event
                .values
                .iter()
                .map(|v| {
                    assert!(v.tensor.is_none() && v.plugin.is_none(), "{v:?}");
                    (v.tag.clone(), v.simple_value.expect("a scalar"))
                })
                .collect();
            (event.step, scalars)
        })
        .collect()
}

fn number(record: &serde_json::Value, key: &str) -> f32 {
    record[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} in {record}")) as f32
}

/// Each epoch's scalars are the metrics file's figures, rounded to f32,
/// under the documented tags, at step = epoch.
fn assert_scalars_match(scalars: &[(u64, BTreeMap<String, f32>)], metrics: &Path) {
    let records: Vec<serde_json::Value> = std::fs::read_to_string(metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(scalars.len(), records.len());
    for ((step, scalars), record) in scalars.iter().zip(&records) {
        assert_eq!(*step, record["epoch"].as_u64().unwrap());
        let mut expected = BTreeMap::from([
            ("train/loss".to_string(), number(record, "train_loss")),
            ("train/accuracy".into(), number(record, "train_acc")),
            ("test/loss".into(), number(record, "test_loss")),
            ("test/accuracy".into(), number(record, "test_acc")),
            ("lr".into(), number(record, "lr")),
            ("time/train_seconds".into(), number(record, "train_seconds")),
            ("time/eval_seconds".into(), number(record, "eval_seconds")),
            (
                "time/epoch_seconds".into(),
                (record["train_seconds"].as_f64().unwrap()
                    + record["eval_seconds"].as_f64().unwrap()) as f32,
            ),
        ]);
        if record.get("val_loss").is_some() {
            expected.insert("validation/loss".into(), number(record, "val_loss"));
            expected.insert("validation/accuracy".into(), number(record, "val_acc"));
        }
        for (i, norm) in record["weight_norms"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            expected.insert(
                format!("weights/layer{i}_norm"),
                norm.as_f64().unwrap() as f32,
            );
        }
        assert_eq!(scalars, &expected, "epoch {step}");
    }
}

fn fixture_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(400, 100), true);
    dir
}

#[test]
fn crc32c_matches_the_known_vector() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(masked_crc32c(b"123456789"), mask(0xE306_9283));
    assert_eq!(masked_crc32c(b""), mask(0));
}

#[test]
fn train_writes_each_epochs_metrics_figures_and_its_config() {
    let data = fixture_dir();
    let out = tempfile::tempdir().unwrap();
    let board = out.path().join("board/run1");
    let metrics = out.path().join("m.jsonl");
    let output = mnist_mlp(&[
        "train",
        "--offline",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--hidden",
        "8",
        "--epochs",
        "3",
        "--validation",
        "100",
        "--threads",
        "1",
        "--metrics-out",
        metrics.to_str().unwrap(),
        "--tensorboard",
        board.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let file = the_event_file(&board);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("tensorboard: {}", file.display())),
        "{stdout}"
    );
    let scalars = check_event_file(&file, "784-8-10");
    assert_eq!(scalars.len(), 3);
    assert!(scalars[0].1.contains_key("validation/accuracy"));
    assert!(scalars[0].1.contains_key("weights/layer1_norm"));
    assert_scalars_match(&scalars, &metrics);
}

#[test]
fn a_resumed_run_writes_its_config_at_the_step_it_starts_from() {
    let data = fixture_dir();
    let out = tempfile::tempdir().unwrap();
    let board = out.path().join("board");
    let model = out.path().join("m.safetensors");
    let d = data.path().to_str().unwrap();
    let first = mnist_mlp(&[
        "train",
        "--offline",
        "--data-dir",
        d,
        "--hidden",
        "8",
        "--epochs",
        "2",
        "--save",
        model.to_str().unwrap(),
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    let resumed = mnist_mlp(&[
        "train",
        "--offline",
        "--data-dir",
        d,
        "--resume",
        model.to_str().unwrap(),
        "--epochs",
        "1",
        "--tensorboard",
        board.to_str().unwrap(),
    ]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let events = read_events(&the_event_file(&board));
    let steps: Vec<u64> = events[1..].iter().map(|e| e.step).collect();
    assert_eq!(steps, [2, 3], "config after epoch 2, then epoch 3");
    assert_eq!(events[1].values[0].tag, CONFIG_TAG);
}

fn report(epoch: usize) -> EpochReport {
    EpochReport {
        epoch,
        last_epoch: 3,
        lr: 0.5,
        train_loss: 0.25,
        train_acc: 0.9,
        val_loss: None,
        val_acc: None,
        test_loss: f64::NAN,
        test_acc: 0.875,
        train_seconds: 1.5,
        eval_seconds: 0.25,
        diverged: false,
        output_saturation: 0.0,
        weight_norms: vec![3.0],
        averaged_epochs: 0,
    }
}

#[test]
fn each_epoch_is_in_the_file_before_the_next_and_no_file_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = EventWriter::create(dir.path()).unwrap();
    first.epoch(&report(1)).unwrap();
    // Read while the writer is still open, as TensorBoard does.
    let events = read_events(first.path());
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].step, 1);
    let test_loss = events[1]
        .values
        .iter()
        .find(|v| v.tag == "test/loss")
        .and_then(|v| v.simple_value)
        .unwrap();
    assert!(test_loss.is_nan(), "a NaN loss stays NaN");
    assert!(events[1]
        .values
        .iter()
        .all(|v| !v.tag.starts_with("validation/")));

    // A second writer in the same second gets a name of its own.
    let before = std::fs::read(first.path()).unwrap();
    let second = EventWriter::create(dir.path()).unwrap();
    assert_ne!(second.path(), first.path());
    assert_eq!(std::fs::read(first.path()).unwrap(), before);
    assert_eq!(read_events(second.path()).len(), 1);
    first.epoch(&report(2)).unwrap();
    assert_eq!(read_events(first.path()).len(), 3);
}

#[test]
fn a_folder_that_cannot_be_made_is_one_line_and_exit_2_before_training() {
    let data = fixture_dir();
    let blocker = data.path().join("a-file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let board = blocker.join("board");
    for command in ["train", "sweep"] {
        let sweep_out = data.path().join("sweep-out");
        let mut args = vec![
            command,
            "--offline",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--epochs",
            "1",
            "--tensorboard",
            board.to_str().unwrap(),
        ];
        if command == "sweep" {
            args.extend(["--out", sweep_out.to_str().unwrap(), "--lr", "1,3"]);
        }
        let output = mnist_mlp(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{command}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{command}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains("cannot create the TensorBoard folder"),
            "{command}: {err}"
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            !stdout.contains("epoch ") && !stdout.contains("test "),
            "{command} trained: {stdout}"
        );
    }
}

#[test]
fn sweep_writes_a_folder_per_run_named_as_its_files() {
    let data = fixture_dir();
    let out = tempfile::tempdir().unwrap();
    let sweep_dir = out.path().join("sweep");
    let board = out.path().join("board");
    let output = mnist_mlp(&[
        "sweep",
        "--offline",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--out",
        sweep_dir.to_str().unwrap(),
        "--tensorboard",
        board.to_str().unwrap(),
        "--hidden",
        "8",
        "--lr",
        "1,3",
        "--epochs",
        "2",
        "--jobs",
        "2",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut runs: Vec<String> = std::fs::read_dir(&board)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    runs.sort();
    assert_eq!(runs, ["lr-1", "lr-3"]);
    for run in &runs {
        let scalars = check_event_file(
            &the_event_file(&board.join(run)),
            &format!("sweep run {run}"),
        );
        assert_eq!(scalars.len(), 2);
        assert_scalars_match(
            &scalars,
            &sweep_dir.join("runs").join(format!("{run}.jsonl")),
        );
    }
}

#[test]
fn tensorboard_is_a_sweep_option_not_an_axis() {
    let help = mnist_mlp(&["sweep", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    let line = help
        .lines()
        .find(|l| l.trim_start().starts_with("--tensorboard"))
        .unwrap_or_else(|| panic!("no --tensorboard in {help}"));
    assert!(line.contains("<DIR>"), "{line}");
    let axes = help.split("Axes").nth(1).expect("an axes heading");
    assert!(!axes.contains("--tensorboard"), "{help}");
}
