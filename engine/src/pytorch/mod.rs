//! Reader for PyTorch's zip checkpoint format (`pytorch_model.bin`, torch >= 1.6).

use std::path::Path;

use crate::weights::LoadedFile;
use crate::EngineError;

pub(crate) fn load(path: &Path) -> Result<LoadedFile, EngineError> {
    Err(EngineError::bad_file(
        path,
        "pytorch_model.bin reading is not implemented yet",
    ))
}
