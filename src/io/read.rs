//! Reading a whole input file into memory, bounded.
//!
//! Every file the program reads whole (a model, a sweep config, a metrics
//! file, an IDX file) goes through [`read_capped`], so that a path naming
//! `/dev/zero` (or a symlink to it) cannot be read until memory runs out, a
//! FIFO cannot hang the program waiting for a writer, and a huge file is
//! refused before it is read.

use std::fs::{File, FileType};
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::error::{Error, Result};

/// What a file that is not a regular one is, for error messages.
pub(crate) fn describe(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// `bytes` in the largest whole unit, for messages about sizes.
pub(crate) fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads the file at `path` (following symlinks) whole, refusing with a
/// one-line error naming `path` anything that is not a regular file
/// (directory, device, FIFO, socket) or that holds more than `cap` bytes.
/// `what` names the kind of file in those errors ("model", "sweep config",
/// "IDX"), as in "IDX files must be regular files".
///
/// Pick `cap` generously above the largest real file of the kind: it is
/// there to bound memory, not to judge content. For a saved model a few
/// hundred MB is plenty (H = 10 000 hidden units take 32 MB).
///
/// At most `cap + 1` bytes are ever read, so a file whose size changes
/// while it is read (or a special file that reports no size) cannot make
/// the buffer grow past the cap.
pub fn read_capped(path: &Path, cap: u64, what: &str) -> Result<Vec<u8>> {
    let io_error = Error::io(path);
    // Checked before opening: opening a FIFO for reading blocks until
    // someone writes to it.
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    refuse_unless_regular(path, metadata.file_type(), what)?;
    let file = File::open(path).map_err(io_error)?;
    // Checked again on the open file, in case the path was swapped between
    // the two looks.
    let metadata = file.metadata().map_err(io_error)?;
    refuse_unless_regular(path, metadata.file_type(), what)?;
    let too_big = || {
        Error::Data(format!(
            "{}: larger than {}, more than any {what} file should be",
            path.display(),
            human_size(cap)
        ))
    };
    if metadata.len() > cap {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > cap {
        return Err(too_big());
    }
    Ok(bytes)
}

/// [`read_capped`] for text files: the bytes must be UTF-8.
pub fn read_capped_to_string(path: &Path, cap: u64, what: &str) -> Result<String> {
    String::from_utf8(read_capped(path, cap, what)?).map_err(|e| {
        Error::Data(format!(
            "{}: not UTF-8 text (invalid byte at offset {}); {what} files are text",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

fn refuse_unless_regular(path: &Path, file_type: FileType, what: &str) -> Result<()> {
    if file_type.is_file() {
        return Ok(());
    }
    Err(Error::Data(format!(
        "{}: is {}; {what} files must be regular files",
        path.display(),
        describe(file_type)
    )))
}
