//! Reading inputs whole, bounded: a device, FIFO or directory where a file
//! belongs is refused at once (never read until memory runs out, never
//! waited on), and a file over the cap for its kind is refused, whether it
//! is that large on disk or only once inflated.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use common::{synthetic_mnist, write_mnist_dir};
use mnist_mlp::internals::app::sweep::grid::Grid;
use mnist_mlp::internals::data::dataset::{load_mnist, TEST_LABELS};
use mnist_mlp::internals::data::idx::{encode_idx, read_idx_file, IdxKind, MAX_IDX_BYTES};
use mnist_mlp::internals::io::metrics::read_metrics;
use mnist_mlp::internals::io::read::{read_capped, read_capped_to_string};

/// Runs `read` on another thread and gives its error message, failing the
/// test if it succeeds or has not returned within a few seconds (a FIFO
/// with no writer blocks whoever opens it to read).
fn error_within_seconds<T: Send + 'static>(
    read: impl FnOnce() -> mnist_mlp::Result<T> + Send + 'static,
) -> String {
    let (sent, received) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sent.send(read().err().map(|e| e.to_string()));
    });
    received
        .recv_timeout(Duration::from_secs(10))
        .expect("the read hung")
        .expect("the read must fail")
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

fn assert_names(message: &str, path: &Path, what: &str) {
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains(&path.display().to_string()) && message.contains(what),
        "expected {} and {what:?} in {message}",
        path.display()
    );
}

#[test]
fn only_regular_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let cases = [
        (zero, "a character device"),
        (fifo, "a FIFO"),
        (dir.path().to_owned(), "a directory"),
    ];
    for (path, kind) in cases {
        let reading = path.clone();
        let message = error_within_seconds(move || read_capped(&reading, 1 << 20, "model"));
        assert_names(&message, &path, kind);
    }
}

#[test]
fn files_over_the_cap_are_refused_and_at_the_cap_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.toml");
    let cap = 4096u64;
    std::fs::write(&path, vec![b'#'; cap as usize]).unwrap();
    assert_eq!(
        read_capped_to_string(&path, cap, "sweep config")
            .unwrap()
            .len() as u64,
        cap
    );
    std::fs::write(&path, vec![b'#'; cap as usize + 1]).unwrap();
    let message = read_capped(&path, cap, "sweep config")
        .unwrap_err()
        .to_string();
    assert_names(&message, &path, "larger than 4096 bytes");
}

#[test]
fn metrics_input_that_is_a_fifo_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("m.jsonl");
    mkfifo(&fifo);
    let reading = fifo.clone();
    let message = error_within_seconds(move || read_metrics(&reading));
    assert_names(&message, &fifo, "a FIFO");
}

#[test]
fn metrics_input_over_the_cap_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.jsonl");
    // Sparse: 64 MiB of holes costs no disk.
    std::fs::File::create(&path)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let message = read_metrics(&path).unwrap_err().to_string();
    assert_names(&message, &path, "larger than");
}

#[test]
fn a_sweep_config_must_be_a_regular_file_under_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    // /dev/null reads as an empty grid, which would silently mean the
    // default one.
    let null = dir.path().join("null.toml");
    std::os::unix::fs::symlink("/dev/null", &null).unwrap();
    let message = Grid::from_toml_file(&null).unwrap_err().to_string();
    assert_names(&message, &null, "a character device");

    // Comments are valid TOML: only the size is wrong here.
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "#".repeat((1 << 20) + 1)).unwrap();
    let message = Grid::from_toml_file(&big).unwrap_err().to_string();
    assert_names(&message, &big, "larger than");
}

#[test]
fn an_idx_file_that_is_a_fifo_is_refused_not_waited_on_nor_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(30, 10), true);
    // The raw name comes first: a FIFO there must be reported, not skipped
    // for the .gz beside it.
    let fifo = dir.path().join(TEST_LABELS);
    mkfifo(&fifo);
    let folder = dir.path().to_owned();
    let message = error_within_seconds(move || load_mnist(&folder));
    assert_names(&message, &fifo, "a FIFO");

    let reading = fifo.clone();
    let message = error_within_seconds(move || read_idx_file(&reading, IdxKind::Labels));
    assert_names(&message, &fifo, "a FIFO");
}

#[test]
fn an_idx_file_over_the_cap_is_refused_on_disk_or_inflated() {
    // A valid IDX image file just over the cap, all zero pixels.
    let count = (MAX_IDX_BYTES as usize - 16) / 784 + 1;
    let header = encode_idx(IdxKind::Images, count, &[]);
    let size = header.len() + count * 784;
    assert!(size as u64 > MAX_IDX_BYTES);
    let dir = tempfile::tempdir().unwrap();

    // Sparse on disk: the zeros are holes.
    let raw = dir.path().join("raw");
    let mut file = std::fs::File::create(&raw).unwrap();
    file.write_all(&header).unwrap();
    file.set_len(size as u64).unwrap();
    let message = read_idx_file(&raw, IdxKind::Images)
        .unwrap_err()
        .to_string();
    assert_names(&message, &raw, "larger than");

    // Zeros compress a thousandfold: a small file, a large inflation.
    let compressed = dir.path().join("bomb.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&compressed).unwrap(),
        flate2::Compression::fast(),
    );
    encoder.write_all(&header).unwrap();
    std::io::copy(
        &mut std::io::repeat(0).take((count * 784) as u64),
        &mut encoder,
    )
    .unwrap();
    encoder.finish().unwrap();
    let message = read_idx_file(&compressed, IdxKind::Images)
        .unwrap_err()
        .to_string();
    assert_names(&message, &compressed, "inflates to more than");
}
