//! Finding the compiled MeCab dictionary directory: unidic-lite by default, or the
//! dictionary a model's `tokenizer_config.json` names (`ipadic`, `unidic`), found where
//! transformers' `MecabTokenizer` finds it (the Python package's `DICDIR`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::MecabDic;
use crate::error::TokenizerError;

/// Files a directory must hold to count as a compiled MeCab dictionary.
pub const REQUIRED_FILES: [&str; 4] = ["sys.dic", "unk.dic", "matrix.bin", "char.bin"];

/// The environment variable naming the dictionary directory.
pub const DICDIR_ENV: &str = "TOKKEN_DICDIR";

/// Where packaged MeCab installs usually put unidic-lite.
const USUAL_LOCATIONS: [&str; 8] = [
    "/usr/lib/x86_64-linux-gnu/mecab/dic/unidic-lite",
    "/usr/lib/aarch64-linux-gnu/mecab/dic/unidic-lite",
    "/usr/lib/mecab/dic/unidic-lite",
    "/usr/local/lib/mecab/dic/unidic-lite",
    "/usr/share/mecab/dic/unidic-lite",
    "/var/lib/mecab/dic/unidic-lite",
    "/opt/homebrew/lib/mecab/dic/unidic-lite",
    "/opt/local/lib/mecab/dic/unidic-lite",
];

/// Finds the unidic-lite dictionary directory: `explicit` (the `--dicdir` flag), then
/// `$TOKKEN_DICDIR`, then the `unidic_lite` Python package's `DICDIR`, then the usual MeCab
/// locations. A directory given explicitly (flag or variable) must be valid: it is an error,
/// not skipped, when it lacks a dictionary.
pub fn find_dicdir(explicit: Option<&Path>) -> Result<PathBuf, TokenizerError> {
    find_dicdir_for(explicit, &MecabDic::UnidicLite)
}

/// [`find_dicdir`] for the dictionary `dic` of a model's `mecab_kwargs`: the flag first,
/// then a directory the model's `mecab_option` names (`-d`). `ipadic` and `unidic` come from
/// their Python packages' `DICDIR`, as transformers finds them; `$TOKKEN_DICDIR` is not
/// read for them, since it stands for the default dictionary (unidic-lite) and a model
/// trained on ipadic tokenized with unidic-lite would quietly get the wrong ids. A system
/// dictionary (`mecab_dic: null`) needs the flag or the variable.
pub fn find_dicdir_for(explicit: Option<&Path>, dic: &MecabDic) -> Result<PathBuf, TokenizerError> {
    if let Some(dir) = explicit {
        return check_explicit(dir, "--dicdir");
    }
    let env = std::env::var_os(DICDIR_ENV).filter(|v| !v.is_empty());
    // (Python module, install command, usual MeCab locations)
    let (module, install, locations): (&str, &str, &[&str]) = match dic {
        MecabDic::Dir(dir) => return check_explicit(dir, "mecab_option"),
        MecabDic::Other(name) if name == "ipadic" => ("ipadic", "pip install ipadic", &[]),
        // The unidic package fetches its dictionary after installing.
        MecabDic::Other(name) if name == "unidic" => (
            "unidic",
            "pip install unidic && python3 -m unidic download",
            &[],
        ),
        // The variable names the default dictionary, or a system one (`mecab_dic: null`).
        _ if let Some(dir) = &env => return check_explicit(Path::new(dir), DICDIR_ENV),
        MecabDic::UnidicLite => ("unidic_lite", "pip install unidic-lite", &USUAL_LOCATIONS),
        MecabDic::Other(name) => {
            return Err(TokenizerError::Invalid(format!(
                "mecab_dic `{name}` names no dictionary package: pass --dicdir (or set \
                 {DICDIR_ENV}) to its compiled dictionary directory"
            )))
        }
    };
    let mut tried = Vec::new();
    tried.push(match env {
        None => format!("  --dicdir: not given; ${DICDIR_ENV}: not set"),
        Some(_) => format!(
            "  --dicdir: not given; ${DICDIR_ENV}: set, but it names the default dictionary \
             (unidic-lite), not {module}: pass {module}'s directory with --dicdir"
        ),
    });
    match python_dicdir(module) {
        Ok(dir) => {
            if missing_files(&dir).is_empty() {
                return Ok(dir);
            }
            tried.push(format!(
                "  python3 {module}.DICDIR = {} (missing {})",
                dir.display(),
                missing_files(&dir).join(", ")
            ));
        }
        Err(why) => tried.push(format!("  python3 -c 'import {module}': {why}")),
    }
    for loc in locations {
        let dir = Path::new(loc);
        if dir.is_dir() && missing_files(dir).is_empty() {
            return Ok(dir.to_path_buf());
        }
        tried.push(format!("  {loc}"));
    }
    Err(TokenizerError::DicdirNotFound {
        name: module.replace('_', "-"),
        install: install.to_string(),
        tried: tried.join("\n"),
    })
}

/// The required files `dir` lacks.
pub fn missing_files(dir: &Path) -> Vec<&'static str> {
    REQUIRED_FILES
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect()
}

fn check_explicit(dir: &Path, source: &str) -> Result<PathBuf, TokenizerError> {
    if !dir.is_dir() {
        return Err(TokenizerError::NotADicdir {
            path: dir.to_path_buf(),
            reason: format!("given by {source}, but no such directory"),
        });
    }
    let missing = missing_files(dir);
    if !missing.is_empty() {
        return Err(TokenizerError::NotADicdir {
            path: dir.to_path_buf(),
            reason: format!("given by {source}, but it lacks {}", missing.join(", ")),
        });
    }
    Ok(dir.to_path_buf())
}

/// Asks Python where the package `module` keeps its dictionary.
fn python_dicdir(module: &str) -> Result<PathBuf, String> {
    let out = Command::new("python3")
        .args(["-c", &format!("import {module}; print({module}.DICDIR)")])
        .output()
        .map_err(|e| format!("could not run python3 ({e})"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("failed").trim().to_string();
        return Err(last);
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if dir.is_empty() {
        return Err("printed nothing".into());
    }
    Ok(PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_dir_must_be_a_dictionary() {
        let dir = tempfile::Builder::new()
            .prefix("tokken-dicdir-")
            .tempdir()
            .unwrap();
        let tmp = dir.path();
        let err = find_dicdir(Some(tmp)).unwrap_err().to_string();
        assert!(err.contains("sys.dic") && err.contains("--dicdir"), "{err}");
        let err = find_dicdir(Some(&tmp.join("nope")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such directory"), "{err}");
        for f in REQUIRED_FILES {
            std::fs::write(tmp.join(f), b"x").unwrap();
        }
        assert_eq!(find_dicdir(Some(tmp)).unwrap(), tmp);
    }

    #[test]
    fn not_found_message_is_actionable() {
        let msg = TokenizerError::DicdirNotFound {
            name: "unidic-lite".into(),
            install: "pip install unidic-lite".into(),
            tried: "  here".into(),
        }
        .to_string();
        assert!(
            msg.contains("pip install unidic-lite") && msg.contains("TOKKEN_DICDIR"),
            "{msg}"
        );
    }
}
