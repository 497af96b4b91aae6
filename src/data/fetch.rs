//! Downloading the four IDX files from public mirrors, verified.
//!
//! Each file is tried on each mirror in turn; a mirror that fails (HTTP
//! error, the download not done within the timeout, truncated or corrupt
//! gzip, wrong SHA-256 of the decompressed bytes) only moves on to the next.
//! A verified file is written under a temporary name and renamed, so the
//! data folder never holds a partial or unverified file under a canonical
//! name.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::data::dataset::{data_file, load_mnist, resolve_data_dir, Mnist, Source};
use crate::data::idx::{gunzip, is_gzip, read_idx_bytes};
use crate::error::{Error, Result};
use crate::io::atomic_file::write_atomically;

/// Well-known mirrors of the canonical `.gz` files, tried in order. The
/// original host (yann.lecun.com) is often down; torchvision moved to the
/// first MNIST mirror, TensorFlow's tutorials use the second, Keras the first
/// Fashion-MNIST one and torchvision the second.
pub fn default_mirrors(source: Source) -> Vec<String> {
    let mirrors: &[&str] = match source {
        Source::Mnist => &[
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ],
        Source::Fashion => &[
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ],
    };
    mirrors.iter().map(|m| m.to_string()).collect()
}

/// Nothing MNIST-like is larger than this; a mirror sending more is wrong.
const MAX_DOWNLOAD_BYTES: u64 = 64 << 20;

/// How a fetch goes: where from, how long to wait.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub mirrors: Vec<String>,
    /// The whole download of one file from one mirror, from connecting to
    /// the last byte, must be done within this; then the next mirror is
    /// tried. A limit per read would let a mirror that trickles a byte at a
    /// time hold the program forever.
    pub timeout: Duration,
}

/// What happened to each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    AlreadyThere,
    Downloaded { mirror: String },
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `content` (decompressed IDX bytes) is the canonical file.
fn check_sha256(content: &[u8], sha256: &str) -> std::result::Result<(), String> {
    if sha256_hex(content) == sha256 {
        Ok(())
    } else {
        Err("wrong SHA-256: the file is not the canonical one".to_string())
    }
}

fn download(agent: &ureq::Agent, url: &str) -> std::result::Result<Vec<u8>, String> {
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, _) => format!("HTTP {code}"),
        ureq::Error::Transport(t) => {
            let detail = t
                .message()
                .map(str::to_string)
                .or_else(|| std::error::Error::source(&t).map(|cause| cause.to_string()));
            match detail {
                Some(detail) => format!("{}: {detail}", t.kind()),
                None => t.kind().to_string(),
            }
        }
    })?;
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_DOWNLOAD_BYTES)
        .read_to_end(&mut body)
        .map_err(|e| format!("download cut off ({e})"))?;
    Ok(body)
}

/// Makes sure the file the loader reads for each `(name, sha256)` in `dir`
/// (see [`data_file`]) is verified, downloading `name.gz` where there is
/// none or the one there is not canonical. A raw `name` that fails is an
/// error: it is the user's, and it would still be read before any `.gz`.
/// `log` hears one line per file downloaded, naming the mirrors passed over.
pub fn fetch_files(
    dir: &Path,
    files: &[(&str, &str)],
    options: &FetchOptions,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<(String, Fetched)>> {
    let agent = ureq::AgentBuilder::new().timeout(options.timeout).build();
    let mut outcomes = Vec::new();
    for &(name, sha256) in files {
        let gz_name = format!("{name}.gz");
        // Why each candidate was passed over, the file already there first.
        let mut passed_over = Vec::new();
        if let Some(path) = data_file(dir, name) {
            let verdict = read_idx_bytes(&path)
                .map_err(|e| e.to_string())
                .and_then(|content| {
                    check_sha256(&content, sha256)
                        .map_err(|why| format!("{}: {why}", path.display()))
                });
            match verdict {
                Ok(()) => {
                    outcomes.push((name.to_string(), Fetched::AlreadyThere));
                    continue;
                }
                Err(why) if !path.ends_with(&gz_name) => {
                    return Err(Error::Data(format!(
                        "{why}; it is read before {gz_name}, so move it away and fetch again"
                    )))
                }
                Err(why) => passed_over.push(why),
            }
        }
        let mut fetched = None;
        for mirror in &options.mirrors {
            let url = format!("{}{gz_name}", with_slash(mirror));
            let attempt = download(&agent, &url).and_then(|body| {
                let verdict = if is_gzip(&body) {
                    gunzip(&body)
                        .map_err(|problem| problem.to_string())
                        .and_then(|content| check_sha256(&content, sha256))
                } else {
                    check_sha256(&body, sha256)
                };
                verdict.map(|()| body)
            });
            match attempt {
                Ok(body) => {
                    // Made only now, so a failed fetch leaves no empty folder.
                    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
                    let target: PathBuf = dir.join(&gz_name);
                    write_atomically(&target, &body)?;
                    let mut line = format!("fetched {gz_name} from {mirror} (verified)");
                    if !passed_over.is_empty() {
                        line.push_str(&format!("; passed over {}", passed_over.join("; ")));
                    }
                    log(&line);
                    fetched = Some(mirror.clone());
                    break;
                }
                Err(why) => passed_over.push(format!("{mirror} ({why})")),
            }
        }
        match fetched {
            Some(mirror) => outcomes.push((name.to_string(), Fetched::Downloaded { mirror })),
            None => {
                return Err(Error::Data(format!(
                    "could not download {gz_name}, tried {}; put the four files in {} yourself, or point --data-dir DIR (or $MNIST_DIR / $FASHION_MNIST_DIR) at a folder that has them",
                    passed_over.join("; "),
                    dir.display()
                )))
            }
        }
    }
    Ok(outcomes)
}

fn with_slash(mirror: &str) -> String {
    if mirror.ends_with('/') {
        mirror.to_string()
    } else {
        format!("{mirror}/")
    }
}

/// Whether `dir` lacks any of the four files of `source` (it is then
/// fetched, unless offline).
pub fn missing_files(dir: &Path, source: Source) -> bool {
    source
        .checksums()
        .iter()
        .any(|(name, _)| data_file(dir, name).is_none())
}

/// How long one file's download from one mirror may take before the next
/// mirror is tried.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Downloads `source`'s four files into `dir` from the default mirrors
/// (see [`fetch_files`]), `log` hearing a line per file downloaded.
pub fn fetch_source(dir: &Path, source: Source, log: &mut dyn FnMut(&str)) -> Result<()> {
    let options = FetchOptions {
        mirrors: default_mirrors(source),
        timeout: DEFAULT_TIMEOUT,
    };
    fetch_files(dir, &source.checksums(), &options, log).map(drop)
}

impl Mnist {
    /// Loads MNIST from `dir`, first downloading the files it lacks from
    /// public mirrors (verified by SHA-256; the folder is made if need
    /// be).
    pub fn fetch(dir: impl AsRef<Path>) -> Result<Mnist> {
        let dir = dir.as_ref();
        if missing_files(dir, Source::Mnist) {
            fetch_source(dir, Source::Mnist, &mut |_| {})?;
        }
        load_mnist(dir)
    }

    /// [`Mnist::fetch`] into where the program looks: `$MNIST_DIR`, else
    /// `./data/mnist`.
    pub fn fetch_default() -> Result<Mnist> {
        Mnist::fetch(resolve_data_dir(None, Source::Mnist))
    }
}
