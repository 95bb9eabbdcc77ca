//! The few `dicrc` settings that change analysis.

use std::path::Path;

use crate::error::TokenizerError;

/// MeCab's default when `max-grouping-size` is unset or 0.
pub const DEFAULT_MAX_GROUPING_SIZE: usize = 24;

/// Analysis settings read from `dicrc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dicrc {
    /// Longest run (in characters after the first) a grouping category forms as one word.
    pub max_grouping_size: usize,
    /// Feature string given to every unknown word instead of `unk.dic`'s, if set.
    pub unk_feature: Option<String>,
}

impl Default for Dicrc {
    fn default() -> Self {
        Dicrc {
            max_grouping_size: DEFAULT_MAX_GROUPING_SIZE,
            unk_feature: None,
        }
    }
}

impl Dicrc {
    /// Reads `path`; a missing file gives the defaults.
    pub fn read(path: &Path) -> Result<Dicrc, TokenizerError> {
        match std::fs::read(path) {
            Ok(bytes) => Dicrc::parse(path, &String::from_utf8_lossy(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Dicrc::default()),
            Err(source) => Err(TokenizerError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses `key = value` lines (`;` starts a comment line), MeCab's rc syntax.
    pub fn parse(path: &Path, text: &str) -> Result<Dicrc, TokenizerError> {
        let mut rc = Dicrc::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "max-grouping-size" => {
                    let n: usize = value.parse().map_err(|_| TokenizerError::BadDicrc {
                        path: path.to_path_buf(),
                        line: i + 1,
                        reason: format!("max-grouping-size {value:?} is not a number"),
                    })?;
                    rc.max_grouping_size = if n == 0 { DEFAULT_MAX_GROUPING_SIZE } else { n };
                }
                "unk-feature" if !value.is_empty() => rc.unk_feature = Some(value.to_string()),
                _ => {}
            }
        }
        Ok(rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_settings_and_defaults() {
        let p = Path::new("dicrc");
        assert_eq!(
            Dicrc::parse(p, ";max-grouping-size = 10\ncost-factor = 700\n").unwrap(),
            Dicrc::default()
        );
        let rc = Dicrc::parse(p, "max-grouping-size = 10\nunk-feature = 名詞,*\n").unwrap();
        assert_eq!(rc.max_grouping_size, 10);
        assert_eq!(rc.unk_feature.as_deref(), Some("名詞,*"));
        let err = Dicrc::parse(p, "\nmax-grouping-size = x\n").unwrap_err();
        assert!(err.to_string().contains("dicrc:2"), "{err}");
    }
}
