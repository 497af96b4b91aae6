//! Downloading against a local HTTP server on 127.0.0.1 started by the test:
//! mirrors that hang, trickle, answer 404 or send the wrong bytes (or a gzip
//! bomb) are passed over, the correct one is verified, nothing partial is
//! left behind, and what is verified is what the loader reads.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{gzip, names_in, synthetic_mnist};
use mnist_mlp::internals::data::dataset::{
    load_mnist, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
};
use mnist_mlp::internals::data::fetch::{fetch_files, FetchOptions, Fetched};
use mnist_mlp::internals::data::idx::{encode_idx, IdxKind, MAX_IDX_BYTES};
use sha2::{Digest, Sha256};

/// File name → the bytes a mirror serves.
type Served = HashMap<String, Vec<u8>>;

/// The four files as a mirror serves them (gzip) and their checksums.
fn canonical_files() -> (Served, Vec<(&'static str, String)>) {
    let data = synthetic_mnist(50, 20);
    let raw = [
        (
            TRAIN_IMAGES,
            encode_idx(IdxKind::Images, 50, data.train.images()),
        ),
        (
            TRAIN_LABELS,
            encode_idx(IdxKind::Labels, 50, data.train.labels()),
        ),
        (
            TEST_IMAGES,
            encode_idx(IdxKind::Images, 20, data.test.images()),
        ),
        (
            TEST_LABELS,
            encode_idx(IdxKind::Labels, 20, data.test.labels()),
        ),
    ];
    let served = raw
        .iter()
        .map(|(name, bytes)| (format!("{name}.gz"), gzip(bytes)))
        .collect();
    let sums = raw
        .iter()
        .map(|(name, bytes)| {
            let hex: String = Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (*name, hex)
        })
        .collect();
    (served, sums)
}

/// How long /trickle/ takes to send a file: far past the deadlines the
/// tests set, though no single read waits long.
const TRICKLE_PIECES: usize = 20;
const TRICKLE_PAUSE: Duration = Duration::from_millis(150);

/// Gzip of a little more zeros than any IDX file may inflate to: about
/// 100 KB on the wire.
fn gzip_bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::copy(
            &mut std::io::Read::take(std::io::repeat(0), MAX_IDX_BYTES + 1),
            &mut encoder,
        )
        .unwrap();
        encoder.finish().unwrap()
    })
}

/// Serves /good/<file>, /corrupt/<file> (valid gzip, wrong content),
/// /truncated/<file>, /missing/<file> (404), /hang/<file> (never
/// answers), /trickle/<file> (the right bytes, a piece at a time) and
/// /bomb/<file> (a gzip bomb), on a port of 127.0.0.1. Returns the base
/// URL.
fn start_server(files: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let files = Arc::new(files);
    std::thread::spawn(move || {
        // Bounded: far more than the tests make, then the server stops.
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            let files = Arc::clone(&files);
            std::thread::spawn(move || {
                let mut request = String::new();
                BufReader::new(&stream).read_line(&mut request).unwrap_or(0);
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut parts = path.trim_start_matches('/').splitn(2, '/');
                let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let body = match (kind, files.get(name)) {
                    ("hang", _) => {
                        std::thread::sleep(Duration::from_secs(5));
                        return;
                    }
                    ("good", Some(bytes)) => Some(bytes.clone()),
                    ("corrupt", Some(_)) => {
                        Some(gzip(b"these are not the bytes you are looking for"))
                    }
                    ("truncated", Some(bytes)) => Some(bytes[..bytes.len() / 2].to_vec()),
                    ("bomb", Some(_)) => Some(gzip_bomb().to_vec()),
                    ("trickle", Some(bytes)) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            bytes.len()
                        );
                        let _ = stream.write_all(head.as_bytes());
                        for piece in bytes.chunks(bytes.len().div_ceil(TRICKLE_PIECES)) {
                            std::thread::sleep(TRICKLE_PAUSE);
                            if stream.write_all(piece).is_err() {
                                return;
                            }
                        }
                        return;
                    }
                    _ => None,
                };
                let response = match body {
                    Some(body) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend(body);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = stream.write_all(&response);
            });
        }
    });
    base
}

#[test]
fn bad_mirrors_are_passed_over_and_only_verified_files_land() {
    let (served, sums) = canonical_files();
    let base = start_server(served);
    let sums: Vec<(&str, &str)> = sums.iter().map(|(n, s)| (*n, s.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    let options = FetchOptions {
        mirrors: ["hang", "missing", "corrupt", "truncated", "good"]
            .iter()
            .map(|k| format!("{base}/{k}/"))
            .collect(),
        timeout: Duration::from_millis(500),
    };
    let mut log = Vec::new();
    let outcomes = fetch_files(&data, &sums, &options, &mut |l| log.push(l.to_string())).unwrap();
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes
        .iter()
        .all(|(_, f)| matches!(f, Fetched::Downloaded { mirror } if mirror.ends_with("/good/"))));
    let log = log.join("\n");
    for expected in ["timed out", "HTTP 404", "wrong SHA-256", "corrupt gzip"] {
        assert!(
            log.to_lowercase().contains(&expected.to_lowercase()),
            "no {expected:?} in:\n{log}"
        );
    }
    // Exactly the four canonical files: nothing partial or temporary.
    assert_eq!(
        names_in(&data),
        [
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz"
        ]
    );
    let loaded = load_mnist(&data).unwrap();
    assert_eq!((loaded.train.len(), loaded.test.len()), (50, 20));

    // A second fetch finds them verified and downloads nothing.
    let again = fetch_files(&data, &sums, &options, &mut |_| {}).unwrap();
    assert!(again.iter().all(|(_, f)| *f == Fetched::AlreadyThere));
}

#[test]
fn when_every_mirror_fails_the_error_says_what_to_do_and_nothing_is_written() {
    let (served, sums) = canonical_files();
    let base = start_server(served);
    let sums: Vec<(&str, &str)> = sums.iter().map(|(n, s)| (*n, s.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        mirrors: vec![format!("{base}/missing/"), format!("{base}/corrupt")],
        timeout: Duration::from_secs(2),
    };
    let message = fetch_files(dir.path(), &sums, &options, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert_eq!(message.lines().count(), 1, "{message}");
    for expected in [
        "/missing/",
        "/corrupt",
        "HTTP 404",
        "--data-dir",
        "$MNIST_DIR",
    ] {
        assert!(message.contains(expected), "no {expected:?} in {message}");
    }
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn fetch_command_uses_given_mirrors() {
    let (served, _) = canonical_files();
    let base = start_server(served);
    let dir = tempfile::tempdir().unwrap();
    // The real MNIST checksums cannot match the synthetic files: the command
    // must try every mirror and fail with exit status 2 and one line.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args([
            "fetch",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--timeout",
            "2",
        ])
        .args([
            "--mirror",
            &format!("{base}/good/"),
            "--mirror",
            &format!("{base}/missing/"),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("wrong SHA-256") && stderr.contains("HTTP 404"),
        "{stderr}"
    );
    assert!(names_in(dir.path()).is_empty());
}

fn sums_of<'a>(sums: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    sums.iter().map(|(n, s)| (*n, s.as_str())).collect()
}

fn mirrors(base: &str, kinds: &[&str]) -> Vec<String> {
    kinds.iter().map(|k| format!("{base}/{k}/")).collect()
}

#[test]
fn each_file_has_a_deadline_however_the_mirror_trickles() {
    let (served, sums) = canonical_files();
    let base = start_server(served);
    let sums = sums_of(&sums);
    let dir = tempfile::tempdir().unwrap();
    let deadline = Duration::from_secs(1);
    let options = FetchOptions {
        // The trickling mirror is on the same host as the good one.
        mirrors: mirrors(&base, &["trickle", "good"]),
        timeout: deadline,
    };
    let started = Instant::now();
    let outcomes = fetch_files(dir.path(), &sums, &options, &mut |_| {}).unwrap();
    let elapsed = started.elapsed();
    assert!(
        outcomes.iter().all(
            |(_, f)| matches!(f, Fetched::Downloaded { mirror } if mirror.ends_with("/good/"))
        ),
        "{outcomes:?}"
    );
    // Each file waits out one deadline on the trickling mirror, far less
    // than the trickle itself takes.
    let trickle = TRICKLE_PAUSE * TRICKLE_PIECES as u32;
    assert!(trickle > 2 * deadline);
    assert!(
        elapsed < sums.len() as u32 * (deadline + trickle) / 2,
        "took {elapsed:?}"
    );
}

#[test]
fn a_gzip_bomb_from_a_mirror_is_not_inflated_past_the_cap() {
    let (served, sums) = canonical_files();
    let base = start_server(served);
    let sums = sums_of(&sums);
    let dir = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        mirrors: mirrors(&base, &["bomb", "good"]),
        timeout: Duration::from_secs(10),
    };
    let mut log = Vec::new();
    fetch_files(dir.path(), &sums[..1], &options, &mut |l| {
        log.push(l.to_string())
    })
    .unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].contains("/bomb/") && log[0].contains("inflates to more than"),
        "{log:?}"
    );
}

#[test]
fn the_log_says_each_file_once_and_a_failure_only_in_the_error() {
    let (served, sums) = canonical_files();
    let base = start_server(served);
    let sums = sums_of(&sums);
    let dir = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        mirrors: mirrors(&base, &["missing", "good"]),
        timeout: Duration::from_secs(10),
    };
    let mut log = Vec::new();
    fetch_files(dir.path(), &sums, &options, &mut |l| {
        log.push(l.to_string())
    })
    .unwrap();
    assert_eq!(log.len(), sums.len(), "{log:?}");
    for ((name, _), line) in sums.iter().zip(&log) {
        assert!(line.contains(name) && line.contains("HTTP 404"), "{line}");
    }

    let empty = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        mirrors: mirrors(&base, &["missing", "corrupt"]),
        timeout: Duration::from_secs(10),
    };
    let mut log = Vec::new();
    let message = fetch_files(empty.path(), &sums, &options, &mut |l| {
        log.push(l.to_string())
    })
    .unwrap_err()
    .to_string();
    assert!(log.is_empty(), "said before the error: {log:?}");
    for mirror in &options.mirrors {
        assert_eq!(message.matches(mirror.as_str()).count(), 1, "{message}");
    }
}

#[test]
fn fetch_verifies_the_file_the_loader_reads() {
    let (served, sums) = canonical_files();
    let base = start_server(served);
    let sums = sums_of(&sums);
    let dir = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        mirrors: mirrors(&base, &["good"]),
        timeout: Duration::from_secs(10),
    };
    fetch_files(dir.path(), &sums, &options, &mut |_| {}).unwrap();

    // A raw file beside the verified .gz, which the loader reads instead.
    let tampered = dir.path().join(TRAIN_LABELS);
    std::fs::write(&tampered, encode_idx(IdxKind::Labels, 50, &[7; 50])).unwrap();
    assert!(load_mnist(dir.path())
        .unwrap()
        .train
        .labels()
        .iter()
        .all(|&l| l == 7));
    let message = fetch_files(dir.path(), &sums, &options, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains(&tampered.display().to_string()) && message.contains("wrong SHA-256"),
        "{message}"
    );
    assert!(tampered.exists(), "the user's file is theirs to remove");

    // A bad .gz, when it is what the loader reads, is fetched again.
    std::fs::remove_file(&tampered).unwrap();
    let gz = dir.path().join(format!("{TRAIN_LABELS}.gz"));
    std::fs::write(&gz, gzip(&encode_idx(IdxKind::Labels, 50, &[7; 50]))).unwrap();
    let outcomes = fetch_files(dir.path(), &sums, &options, &mut |_| {}).unwrap();
    let replaced: Vec<_> = outcomes
        .iter()
        .filter(|(_, f)| matches!(f, Fetched::Downloaded { .. }))
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(replaced, [TRAIN_LABELS]);
    assert!(load_mnist(dir.path())
        .unwrap()
        .train
        .labels()
        .iter()
        .any(|&l| l != 7));
}

#[test]
fn fetch_refuses_offline() {
    let dir = tempfile::tempdir().unwrap();
    // A closed port, so that not even a wrong build reaches the network.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args(["fetch", "--offline", "--mirror", "http://127.0.0.1:1/"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--offline"), "{stderr}");
}
