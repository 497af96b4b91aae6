//! Files that appear whole or not at all: written under a temporary name
//! beside their destination and renamed into place when complete, so an
//! interrupted run never leaves a half-written file under the name the user
//! asked for, nor destroys the file that was there.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written under its temporary name. Dropped uncommitted, it
/// removes its temporary file.
pub struct AtomicFile {
    temp_path: PathBuf,
    final_path: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self> {
        let mut temp_name = path.file_name().unwrap_or_default().to_owned();
        temp_name.push(format!(".partial-{}", std::process::id()));
        let temp_path = path.with_file_name(temp_name);
        let file = File::create(&temp_path).map_err(|source| Error::Io {
            path: temp_path.clone(),
            source,
        })?;
        Ok(Self {
            temp_path,
            final_path: path.to_owned(),
            writer: Some(BufWriter::new(file)),
        })
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.temp_path.clone(),
            source,
        }
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let writer = self.writer.as_mut().expect("not yet committed");
        writer.write_all(bytes).map_err(|e| self.io_error(e))
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("committed once");
        let file = writer
            .into_inner()
            .map_err(|e| self.io_error(e.into_error()))?;
        file.sync_all().map_err(|e| self.io_error(e))?;
        std::fs::rename(&self.temp_path, &self.final_path).map_err(|source| Error::Io {
            path: self.final_path.clone(),
            source,
        })
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.temp_path);
        }
    }
}

/// Writes `bytes` to `path` whole, through a temporary file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}
