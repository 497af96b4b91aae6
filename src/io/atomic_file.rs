//! Files that appear whole or not at all: written under a temporary name
//! beside their destination and renamed into place when complete, so an
//! interrupted run never leaves a half-written file under the name the user
//! asked for, nor destroys the file that was there.
//!
//! Only a regular file (or nothing) is ever replaced. A character device or a
//! FIFO (`/dev/null`, `/dev/stdout`, a named pipe) is written to in place, as
//! a shell's `>` does: renaming over it would turn it into a regular file,
//! and `--metrics-out /dev/null` run as root would replace the system's own
//! `/dev/null`. Anything else (a directory, a socket, a block device) is
//! refused. Errors name the path the user gave, never the temporary one.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::read::describe;

/// How writing to a path is done.
enum Destination {
    /// Written as `temp`, then renamed over `target`.
    Replace { temp: PathBuf, target: PathBuf },
    /// A character device or FIFO, written in place.
    InPlace,
}

/// Linux's own limit on the symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

/// Follows `path` through symlinks to the file they name, which does not
/// exist yet.
fn resolve_symlinks(path: &Path) -> Result<PathBuf> {
    let io_error = Error::io(path);
    let mut current = path.to_owned();
    for _ in 0..MAX_SYMLINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&current).map_err(io_error)?;
                // A relative link is relative to the folder holding it; an
                // absolute one replaces the whole path in `join`.
                current = current.parent().unwrap_or(Path::new("")).join(link);
            }
            _ => return Ok(current),
        }
    }
    Err(io_error(std::io::Error::other(
        "too many levels of symbolic links",
    )))
}

fn destination(path: &Path) -> Result<Destination> {
    let io_error = Error::io(path);
    // Asked of the kernel, which follows every symlink, /proc's magic ones
    // included: /dev/stdout leads to /proc/self/fd/1 and on to a pipe named
    // "pipe:[…]", which no path can reach.
    match std::fs::metadata(path) {
        // A symlink to a regular file is followed, and the temporary file
        // made beside the file it names: renaming over the symlink itself
        // would replace the link with a copy and leave the file it named
        // stale, and only a temporary file in the target's own folder is
        // sure to be on the same file system, which `rename` needs.
        Ok(m) if m.is_file() => Ok(replace(std::fs::canonicalize(path).map_err(io_error)?)),
        Ok(m) if m.file_type().is_char_device() || m.file_type().is_fifo() => {
            Ok(Destination::InPlace)
        }
        Ok(m) => Err(Error::Config(format!(
            "{}: is {}; cannot write a file there",
            path.display(),
            describe(m.file_type())
        ))),
        // Nothing there, or a dangling symlink: the file it names is
        // created, as a shell's `>` would.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(replace(resolve_symlinks(path)?)),
        Err(source) => Err(io_error(source)),
    }
}

fn replace(target: PathBuf) -> Destination {
    let mut temp_name = target.file_name().unwrap_or_default().to_owned();
    temp_name.push(format!(".partial-{}", std::process::id()));
    Destination::Replace {
        temp: target.with_file_name(temp_name),
        target,
    }
}

/// Fails now if writing `path` later would fail at the start: a directory
/// or socket in the way, a missing folder, a folder that refuses new files
/// (checked by creating and removing the very temporary file the write
/// would use). A device or FIFO is not opened: a FIFO would block until
/// someone reads it.
pub fn check_writable(path: &Path) -> Result<()> {
    match destination(path)? {
        Destination::InPlace => Ok(()),
        Destination::Replace { temp, .. } => {
            let io_error = Error::io(path);
            File::create(&temp).map_err(io_error)?;
            std::fs::remove_file(&temp).map_err(io_error)
        }
    }
}

/// A file being written. Dropped without a successful [`commit`], it
/// removes its temporary file.
///
/// [`commit`]: AtomicFile::commit
pub struct AtomicFile {
    /// As the user gave it: errors name this.
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    /// `(temporary, target)` until the rename is done; `None` when writing
    /// in place.
    pending_rename: Option<(PathBuf, PathBuf)>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self> {
        let io_error = Error::io(path);
        let (file, pending_rename) = match destination(path)? {
            Destination::InPlace => (
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io_error)?,
                None,
            ),
            Destination::Replace { temp, target } => {
                (File::create(&temp).map_err(io_error)?, Some((temp, target)))
            }
        };
        Ok(Self {
            path: path.to_owned(),
            writer: Some(BufWriter::new(file)),
            pending_rename,
        })
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::io(&self.path)(source)
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let writer = self.writer.as_mut().expect("not yet committed");
        writer.write_all(bytes).map_err(|e| self.io_error(e))
    }

    /// Flushes and, for a regular file, syncs and renames into place. A
    /// write error (a full disk, `/dev/full`) is reported here if not
    /// before.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("committed once");
        let file = writer
            .into_inner()
            .map_err(|e| self.io_error(e.into_error()))?;
        // Devices and FIFOs cannot be synced (EINVAL); there is nothing to
        // rename either.
        if let Some((temp, target)) = &self.pending_rename {
            file.sync_all().map_err(|e| self.io_error(e))?;
            std::fs::rename(temp, target).map_err(|e| self.io_error(e))?;
            self.pending_rename = None;
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    /// Reached with a rename pending on every way out but a successful
    /// commit: a failed write, flush, sync or rename, or the caller giving
    /// up.
    fn drop(&mut self) {
        if let Some((temp, _)) = &self.pending_rename {
            let _ = std::fs::remove_file(temp);
        }
    }
}

/// Writes `bytes` to `path` whole, through a temporary file (or in place
/// for a device or FIFO).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}
