//! Writing outputs: a regular file is replaced whole through a temporary
//! file; a device or FIFO is written in place and never replaced; anything
//! else is refused; no temporary file outlives a failure; errors name the
//! path the user gave.
//!
//! Devices are reached through symlinks to /dev/null and /dev/full, or
//! through copies made with mknod where that is allowed, never by writing
//! to /dev/null itself: were the code wrong, the test must not replace the
//! machine's /dev/null.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use common::{
    assert_one_line_error, mnist_mlp, names_in, stderr, synthetic_mnist, write_mnist_dir,
};
use mnist_mlp::internals::io::atomic_file::{write_atomically, AtomicFile};

fn no_partial_files(dir: &Path) {
    let names = names_in(dir);
    assert!(
        names.iter().all(|n| !n.contains("partial")),
        "temporary file left in {}: {names:?}",
        dir.display()
    );
}

/// Character devices to write to, each a path in `dir` that is not the
/// system's own node: symlinks to /dev/null and /dev/full, and (where the
/// test may mknod) copies of them.
fn device_paths(dir: &Path) -> Vec<(PathBuf, bool)> {
    let mut paths = Vec::new();
    for (name, minor, full) in [("null", "3", false), ("full", "7", true)] {
        let link = dir.join(format!("link-to-{name}"));
        std::os::unix::fs::symlink(format!("/dev/{name}"), &link).unwrap();
        paths.push((link, full));
        let copy = dir.join(format!("copy-of-{name}"));
        let made = Command::new("mknod")
            .arg(&copy)
            .args(["c", "1", minor])
            .output()
            .is_ok_and(|o| o.status.success());
        if made {
            paths.push((copy, full));
        }
    }
    paths
}

fn is_char_device(path: &Path) -> bool {
    std::fs::metadata(path)
        .unwrap()
        .file_type()
        .is_char_device()
}

#[test]
fn a_character_device_is_written_in_place_and_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    for (path, full) in device_paths(dir.path()) {
        let was_link = path.symlink_metadata().unwrap().file_type().is_symlink();
        let result = write_atomically(&path, b"some output\n");
        if full {
            let message = result.expect_err("/dev/full must fail").to_string();
            assert!(
                message.contains("No space left on device"),
                "{}: {message}",
                path.display()
            );
            assert!(
                message.starts_with(&path.display().to_string()),
                "{message}"
            );
        } else {
            result.unwrap();
        }
        assert!(is_char_device(&path), "{} was replaced", path.display());
        assert_eq!(
            path.symlink_metadata().unwrap().file_type().is_symlink(),
            was_link,
            "{}",
            path.display()
        );
    }
    no_partial_files(dir.path());
}

#[test]
fn a_fifo_is_written_in_place_and_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (sent, received) = mpsc::channel();
    let reader_path = fifo.clone();
    // Opening a FIFO blocks until the other end opens: the reader waits in
    // its own thread, and is abandoned if the writer never comes.
    std::thread::spawn(move || {
        let _ = sent.send(std::fs::read(&reader_path).unwrap());
    });
    write_atomically(&fifo, b"through the pipe").unwrap();
    let file_type = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(file_type.is_fifo(), "the FIFO was replaced");
    let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(got, b"through the pipe");
    no_partial_files(dir.path());
}

#[test]
fn directories_and_sockets_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let socket = dir.path().join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    for (path, kind) in [(&folder, "a directory"), (&socket, "a socket")] {
        let message = write_atomically(path, b"x").unwrap_err().to_string();
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(
            message.contains(&path.display().to_string()) && message.contains(kind),
            "{message}"
        );
    }
    assert!(folder.is_dir());
    let file_type = std::fs::symlink_metadata(&socket).unwrap().file_type();
    assert!(file_type.is_socket(), "the socket was replaced");
    no_partial_files(dir.path());
}

#[test]
fn a_symlink_to_a_regular_file_survives_and_its_target_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    std::fs::create_dir(&real_dir).unwrap();
    let target = real_dir.join("metrics.jsonl");
    std::fs::write(&target, "old\n").unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink("real/metrics.jsonl", &link).unwrap();

    write_atomically(&link, b"new\n").unwrap();
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("real/metrics.jsonl")
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
    no_partial_files(dir.path());
    no_partial_files(&real_dir);

    // A dangling symlink is followed too, as a shell's `>` would: the file
    // it names is created and the link kept.
    let dangling = dir.path().join("dangling.jsonl");
    std::os::unix::fs::symlink("real/later.jsonl", &dangling).unwrap();
    write_atomically(&dangling, b"later\n").unwrap();
    assert!(dangling
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(real_dir.join("later.jsonl")).unwrap(),
        "later\n"
    );
}

#[test]
fn a_failed_rename_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut file = AtomicFile::create(&path).unwrap();
    file.write_all(b"weights").unwrap();
    // A directory appears where the file was to go: the rename fails.
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("inside"), "x").unwrap();
    let message = file.commit().unwrap_err().to_string();
    assert!(!message.contains("partial"), "{message}");
    assert_eq!(names_in(dir.path()), ["model.safetensors"]);
}

#[test]
fn errors_name_the_path_given_not_the_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodir").join("m.jsonl");
    let message = AtomicFile::create(&path)
        .err()
        .expect("the folder is missing")
        .to_string();
    assert!(
        message.starts_with(&path.display().to_string()) && !message.contains("partial"),
        "{message}"
    );
}

// The binary, as users meet these cases.

fn trained_epochs(output: &Output) -> usize {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with("epoch "))
        .count()
}

fn fixture_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(200, 50), true);
    dir
}

#[test]
fn metrics_onto_dev_full_reports_the_write_error() {
    let dir = fixture_dir();
    let link = dir.path().join("full.jsonl");
    std::os::unix::fs::symlink("/dev/full", &link).unwrap();
    let output = mnist_mlp(&[
        "train",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--metrics-out",
        link.to_str().unwrap(),
    ]);
    assert_one_line_error(&output, "No space left on device");
    assert!(stderr(&output).contains("full.jsonl"));
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(is_char_device(&link));
    no_partial_files(dir.path());
}

#[test]
fn metrics_to_stdout_go_down_its_pipe() {
    let dir = fixture_dir();
    // What /dev/stdout is, made here so that no version of the code can
    // replace the system's: a link to /proc's magic link for fd 1, which
    // leads to a pipe no path names.
    let stdout = dir.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &stdout).unwrap();
    let output = mnist_mlp(&[
        "train",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--metrics-out",
        stdout.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    let records: Vec<serde_json::Value> = printed
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{printed}");
    assert!(stdout.symlink_metadata().unwrap().file_type().is_symlink());
    no_partial_files(dir.path());
}

#[test]
fn outputs_that_cannot_be_written_fail_before_training() {
    let dir = fixture_dir();
    let d = dir.path().to_str().unwrap();
    let folder = dir.path().join("a-folder");
    std::fs::create_dir(&folder).unwrap();
    // /proc takes no new files, even from root, yet it is a folder that
    // exists: only trying to create a file there tells.
    let cases: [(&str, &Path, &str); 4] = [
        ("--save", &folder, "a directory"),
        ("--metrics-out", &folder, "a directory"),
        (
            "--save",
            Path::new("/proc/m.safetensors"),
            "/proc/m.safetensors",
        ),
        ("--metrics-out", Path::new("/proc/m.jsonl"), "/proc/m.jsonl"),
    ];
    for (flag, path, expect) in cases {
        let output = mnist_mlp(&[
            "train",
            "--data-dir",
            d,
            "--epochs",
            "1",
            "--hidden",
            "8",
            flag,
            path.to_str().unwrap(),
        ]);
        assert_one_line_error(&output, expect);
        assert_eq!(trained_epochs(&output), 0, "{flag} {}", path.display());
    }
    let missing = dir.path().join("nodir").join("m.jsonl");
    let output = mnist_mlp(&[
        "train",
        "--data-dir",
        d,
        "--metrics-out",
        missing.to_str().unwrap(),
    ]);
    assert_one_line_error(&output, "m.jsonl");
    assert!(!stderr(&output).contains("partial"), "{}", stderr(&output));
    assert!(folder.is_dir() && names_in(&folder).is_empty());
    no_partial_files(dir.path());
}

#[test]
fn metrics_onto_a_full_disk_leave_no_temporary_file() {
    let dir = fixture_dir();
    let metrics = dir.path().join("m.jsonl");
    // A file-size limit stands in for a full disk: writes past one block
    // (512 bytes or 1 KiB, by shell) fail with EFBIG, the signal that would
    // kill the process being ignored. Ten epochs of records (about 3 KB)
    // are larger than that, and are only written when the buffer is
    // flushed at the end.
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 1; exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args(["train", "--data-dir", dir.path().to_str().unwrap()])
        .args(["--epochs", "10", "--hidden", "8", "--metrics-out"])
        .arg(&metrics)
        .env_remove("MNIST_DIR")
        .output()
        .unwrap();
    assert_one_line_error(&output, "m.jsonl");
    assert_eq!(trained_epochs(&output), 10);
    assert!(!metrics.exists());
    no_partial_files(dir.path());
}
