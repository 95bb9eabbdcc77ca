//! The one resolver every `--model` flag goes through: a dir path as it is, or a hub id
//! (`org/name[@revision]`) looked up in the local Hugging Face cache and downloaded when
//! missing (see `tokken_model::hub`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use tokken_model::hub;

/// `--model` value → model dir. A path that exists wins; `HF_HUB_OFFLINE=1` never downloads.
pub fn resolve(arg: &Path) -> Result<PathBuf> {
    let downloader = hub::default_downloader();
    Ok(hub::resolve_model(arg, downloader.as_ref())?)
}
