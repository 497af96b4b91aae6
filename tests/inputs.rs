//! Reading inputs whole, bounded: a device, FIFO or directory where a file
//! belongs is refused at once (never read until memory runs out, never
//! waited on), and a file over the cap for its kind is refused.

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use mnist_mlp::app::sweep::Grid;
use mnist_mlp::io::metrics::read_metrics;
use mnist_mlp::io::read::{read_capped, read_capped_to_string};

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
