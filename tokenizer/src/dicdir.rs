//! Finding the compiled MeCab dictionary (unidic-lite) directory.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Finds the dictionary directory: `explicit` (the `--dicdir` flag), then `$TOKKEN_DICDIR`,
/// then the `unidic_lite` Python package's `DICDIR`, then the usual MeCab locations.
/// A directory given explicitly (flag or variable) must be valid: it is an error, not
/// skipped, when it lacks a dictionary.
pub fn find_dicdir(explicit: Option<&Path>) -> Result<PathBuf, TokenizerError> {
    if let Some(dir) = explicit {
        return check_explicit(dir, "--dicdir");
    }
    if let Some(dir) = std::env::var_os(DICDIR_ENV).filter(|v| !v.is_empty()) {
        return check_explicit(Path::new(&dir), DICDIR_ENV);
    }
    let mut tried = Vec::new();
    tried.push(format!("  --dicdir: not given; ${DICDIR_ENV}: not set"));
    match python_unidic_lite() {
        Ok(dir) => {
            if missing_files(&dir).is_empty() {
                return Ok(dir);
            }
            tried.push(format!(
                "  python3 unidic_lite.DICDIR = {} (missing {})",
                dir.display(),
                missing_files(&dir).join(", ")
            ));
        }
        Err(why) => tried.push(format!("  python3 -c 'import unidic_lite': {why}")),
    }
    for loc in USUAL_LOCATIONS {
        let dir = Path::new(loc);
        if dir.is_dir() && missing_files(dir).is_empty() {
            return Ok(dir.to_path_buf());
        }
        tried.push(format!("  {loc}"));
    }
    Err(TokenizerError::DicdirNotFound {
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

/// Asks Python where `unidic_lite` keeps its dictionary.
fn python_unidic_lite() -> Result<PathBuf, String> {
    let out = Command::new("python3")
        .args(["-c", "import unidic_lite; print(unidic_lite.DICDIR)"])
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
        let tmp = std::env::temp_dir().join(format!("tokken-dicdir-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let err = find_dicdir(Some(&tmp)).unwrap_err().to_string();
        assert!(err.contains("sys.dic") && err.contains("--dicdir"), "{err}");
        let err = find_dicdir(Some(&tmp.join("nope")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such directory"), "{err}");
        for f in REQUIRED_FILES {
            std::fs::write(tmp.join(f), b"x").unwrap();
        }
        assert_eq!(find_dicdir(Some(&tmp)).unwrap(), tmp);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn not_found_message_is_actionable() {
        let msg = TokenizerError::DicdirNotFound {
            tried: "  here".into(),
        }
        .to_string();
        assert!(
            msg.contains("pip install unidic-lite") && msg.contains("TOKKEN_DICDIR"),
            "{msg}"
        );
    }
}
