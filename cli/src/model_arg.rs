//! The one resolver every `--model` flag goes through: a dir path as it is, or a hub id
//! (`org/name[@revision]`) looked up in the local Hugging Face cache and downloaded when
//! missing (see `tokken_model::hub`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use tokken_model::hub;

/// `--model` value → model dir. A path that exists wins; `HF_HUB_OFFLINE=1` never downloads.
pub fn resolve(arg: &Path) -> Result<PathBuf> {
    let downloader = hub::default_downloader();
    let dir = hub::resolve_model(arg, downloader.as_ref())?;
    note_default_dictionary(&dir);
    Ok(dir)
}

/// One line on stderr when the model's tokenizer_config.json configures MeCab without naming
/// a dictionary: tokken then uses unidic-lite, as transformers has since 4.45, but the v1
/// models were pre-trained on ipadic, which the older default gave them.
fn note_default_dictionary(dir: &Path) {
    let path = dir.join("tokenizer_config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let Ok(serde_json::Value::Object(config)) = serde_json::from_str(&text) else {
        return;
    };
    if tokken_tokenizer::config::names_no_mecab_dictionary(&config) {
        eprintln!(
            "note: {} names no MeCab dictionary, so unidic-lite is used (as in transformers \
             >= 4.45). If the model was pre-trained on ipadic (the v1 cl-tohoku models were), \
             add \"mecab_kwargs\": {{\"mecab_dic\": \"ipadic\"}} to it.",
            path.display()
        );
    }
}
