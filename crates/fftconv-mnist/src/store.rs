//! Saving and loading a trained model without ever leaving a partly written file where a
//! good one was.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Bytes;

/// The temporary file a save to `path` writes before renaming it over `path`: the whole file
/// name plus the process id, so that targets differing only in extension, or two processes
/// saving the same target, never share one.
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "model".into(),
        |name| name.to_string_lossy().into_owned(),
    );
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Saves `model` to `path` (any extension) through [`partial_path`], creating the parent
/// directories; an interrupted save leaves the previous file untouched.
pub fn save_model<M: Module>(model: &M, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let partial = partial_path(path);
    let written = model
        .save_into(
            &mut BurnpackStore::from_file(&partial)
                .auto_extension(false)
                .overwrite(true),
        )
        .map_err(|e| format!("saving {}: {e:?}", partial.display()))
        .and_then(|()| {
            std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))
        });
    if written.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Loads the parameters saved by [`save_model`] into `model`, which must have the same
/// structure. Reads the file into memory first: burn 0.22.1's lazily read file store fails
/// to read some parameters back on Flex.
pub fn load_model<M: Module>(model: &mut M, path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let result = model
        .load_from(&mut BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(
            bytes,
        ))))
        .map_err(|e| {
            format!(
                "{}: not a model saved by this example: {e:?}",
                path.display()
            )
        })?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        return Err(format!(
            "{}: does not fit this model: {result:?}",
            path.display()
        ));
    }
    Ok(())
}
