//! TensorBoard event files, so a run (or each run of a sweep) can be
//! watched with `tensorboard --logdir DIR` while it trains.
//!
//! An event file is a sequence of records, each
//!   u64 LE length | u32 LE masked CRC-32C of those 8 bytes |
//!   data | u32 LE masked CRC-32C of the data
//! whose data is an `Event` protobuf (tensorboard/compat/proto/event.proto):
//!   Event { wall_time = 1 (double), step = 2 (int64),
//!           file_version = 3 (string), summary = 5 (Summary) }
//!   Summary { repeated Value value = 1 }
//!   Value { tag = 1 (string), simple_value = 2 (float),
//!           tensor = 8 (TensorProto), metadata = 9 (SummaryMetadata) }
//!   SummaryMetadata { plugin_data = 1 { plugin_name = 1 (string) } }
//!   TensorProto { dtype = 1 (DataType enum), tensor_shape = 2,
//!                 repeated bytes string_val = 8 }
//! The first record says `file_version: "brain.Event:2"`. Those few fields
//! are written by hand here; a protobuf crate would bring a code generator
//! for five messages.
//!
//! The file is written in place, never renamed: TensorBoard reads it as it
//! grows. Each call writes whole records with one `write` on an unbuffered
//! file, so a reader never waits on a buffer and sees each epoch as soon as
//! it ends.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::io::metrics::EpochReport;
use crate::io::protobuf::Message;
use crate::train::config::TrainConfig;

/// What the first record of every event file says.
pub const FILE_VERSION: &str = "brain.Event:2";

/// The tag of the run's settings, a text summary.
pub const CONFIG_TAG: &str = "config";

/// TensorFlow's `DT_STRING` (tensorboard/compat/proto/types.proto).
const DT_STRING: u64 = 7;

/// Names tried after the first is taken, before giving up: far more files
/// than one process makes in one second.
const MAX_NAME_TRIES: usize = 1000;

/// The CRC-32C of `bytes`, masked as TensorFlow's record format does
/// (rotated right by 15 bits, plus a constant) so that a CRC of data that
/// itself holds CRCs does not look like one.
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// Appends one record holding `data` to `out`.
fn frame_record(data: &[u8], out: &mut Vec<u8>) {
    let length = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc32c(&length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

/// An `Event` at `step`, stamped now, with its `what` field set by `what`.
fn event(step: u64, what: impl FnOnce(&mut Message)) -> Message {
    let wall_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut event = Message::default();
    event.double(1, wall_time).int(2, step);
    what(&mut event);
    event
}

/// An `Event` holding a `Summary` of `values`.
fn summary_event(step: u64, values: &[Message]) -> Message {
    let mut summary = Message::default();
    for value in values {
        summary.message(1, value);
    }
    event(step, |e| {
        e.message(5, &summary);
    })
}

/// A scalar `Summary.Value`, as TensorBoard's scalar dashboard plots.
fn scalar(tag: &str, value: f32) -> Message {
    let mut scalar = Message::default();
    scalar.string(1, tag).float(2, value);
    scalar
}

/// A text `Summary.Value`: a scalar string tensor marked for the text
/// plugin, which renders it as markdown.
fn text(tag: &str, markdown: &str) -> Message {
    let mut plugin = Message::default();
    plugin.string(1, "text");
    let mut metadata = Message::default();
    metadata.message(1, &plugin);
    let mut tensor = Message::default();
    tensor
        .int(1, DT_STRING)
        // An empty shape: a scalar.
        .message(2, &Message::default())
        .string(8, markdown);
    let mut text = Message::default();
    text.string(1, tag)
        .message(9, &metadata)
        .message(8, &tensor);
    text
}

/// This machine's name, as TensorBoard's own writers put in file names.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().replace('/', "-"))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Creates `dir` and its parents if missing, or says in one line why not.
/// Called before a run trains, so a bad folder fails at once.
pub fn create_folder(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Config(format!(
            "{}: cannot create the TensorBoard folder: {e}",
            dir.display()
        ))
    })
}

/// One event file, written as the run goes.
pub struct EventWriter {
    file: File,
    path: PathBuf,
}

impl EventWriter {
    /// Creates `dir` if missing and a new event file in it, named as
    /// TensorBoard's writers name theirs (`events.out.tfevents.<seconds>.
    /// <host>`), and writes its first record. An existing file is never
    /// touched: if the name is taken (two runs in one second), the process
    /// id and a count are added.
    pub fn create(dir: &Path) -> Result<Self> {
        create_folder(dir)?;
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let base = format!("events.out.tfevents.{seconds}.{}", hostname());
        let mut n = 0;
        let (file, path) = loop {
            let path = dir.join(match n {
                0 => base.clone(),
                n => format!("{base}.{}.{n}", std::process::id()),
            });
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => break (file, path),
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists && n + 1 < MAX_NAME_TRIES =>
                {
                    n += 1
                }
                Err(e) => return Err(Error::io(&path)(e)),
            }
        };
        let mut writer = Self { file, path };
        writer.write(&[event(0, |e| {
            e.string(3, FILE_VERSION);
        })])?;
        Ok(writer)
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames `events` and writes them at once.
    fn write(&mut self, events: &[Message]) -> Result<()> {
        let mut records = Vec::new();
        for event in events {
            frame_record(event.as_bytes(), &mut records);
        }
        self.file.write_all(&records).map_err(Error::io(&self.path))
    }

    /// Writes `markdown` as text under `tag` at `step`.
    pub fn text(&mut self, step: usize, tag: &str, markdown: &str) -> Result<()> {
        self.write(&[summary_event(step as u64, &[text(tag, markdown)])])
    }

    /// Writes the run's settings as text at `step` (0, or the epochs a
    /// resumed model had trained): `about` (a line saying what trains),
    /// then the whole config as JSON, as the model files keep it.
    pub fn config(&mut self, step: usize, about: &str, config: &TrainConfig) -> Result<()> {
        let json = serde_json::to_string_pretty(config).expect("configs serialise");
        self.text(
            step,
            CONFIG_TAG,
            &format!("{about}\n\n```json\n{json}\n```\n"),
        )
    }

    /// Writes one epoch's figures as scalars at step `report.epoch`, under
    /// the tags TensorBoard users know from PyTorch's examples:
    /// `train/loss`, `train/accuracy`, `validation/…` (when there is a
    /// validation set), `test/…`, `lr`, `weights/layer<i>_norm` (the
    /// Frobenius norm of layer i's weights, input layer 0) and
    /// `time/{train,eval,epoch}_seconds` (the epoch is both).
    pub fn epoch(&mut self, report: &EpochReport) -> Result<()> {
        let mut values = vec![
            scalar("train/loss", report.train_loss as f32),
            scalar("train/accuracy", report.train_acc as f32),
        ];
        if let (Some(loss), Some(acc)) = (report.val_loss, report.val_acc) {
            values.push(scalar("validation/loss", loss as f32));
            values.push(scalar("validation/accuracy", acc as f32));
        }
        values.extend([
            scalar("test/loss", report.test_loss as f32),
            scalar("test/accuracy", report.test_acc as f32),
            scalar("lr", report.lr),
        ]);
        for (i, norm) in report.weight_norms.iter().enumerate() {
            values.push(scalar(&format!("weights/layer{i}_norm"), *norm));
        }
        values.extend([
            scalar("time/train_seconds", report.train_seconds as f32),
            scalar("time/eval_seconds", report.eval_seconds as f32),
            scalar(
                "time/epoch_seconds",
                (report.train_seconds + report.eval_seconds) as f32,
            ),
        ]);
        self.write(&[summary_event(report.epoch as u64, &values)])
    }
}
