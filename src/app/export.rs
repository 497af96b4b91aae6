//! `export`: a saved model (or checkpoint) as a file other programs run.

use std::io::Write;
use std::path::Path;

use crate::app::check_output_folder;
use crate::data::batch::Normalisation;
use crate::error::{Error, Result};
use crate::model::Model;

/// Writes the model at `model_path` as an ONNX graph to `onnx_path`
/// (whole or not at all) and says on `out` what it wrote and how to feed
/// it.
pub fn export_onnx(model_path: &Path, onnx_path: &Path, out: &mut impl Write) -> Result<()> {
    // A missing folder is named before the model is read.
    check_output_folder(onnx_path)?;
    if same_file(model_path, onnx_path) {
        return Err(Error::Config(format!(
            "--onnx {}: that is the model itself; name another file, the model is kept",
            onnx_path.display()
        )));
    }
    let model = Model::load(model_path)?;
    model.export_onnx(onnx_path)?;
    let bytes = std::fs::metadata(onnx_path).map_or(0, |m| m.len());
    let info = &model.info;
    let feed = match info.normalisation {
        Normalisation::Fixed { .. } => "any batch size".to_string(),
        Normalisation::PerBatch => format!(
            "batches of {} as trained: it standardises each input batch as a whole",
            info.config.batch_size
        ),
    };
    let _ = writeln!(
        out,
        "wrote {} ({} bytes): {}; input pixels float32 [N, 784] 0..255 in {feed}; outputs probabilities [N, 10], digit [N]",
        onnx_path.display(),
        bytes,
        info.arch().describe(),
    );
    Ok(())
}

/// Whether the two paths name one file (through links or `..`), so that
/// writing the second would replace the first.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
