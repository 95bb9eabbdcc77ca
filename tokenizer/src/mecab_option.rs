//! The MeCab options a `tokenizer_config.json` may pass in `mecab_kwargs.mecab_option`
//! (transformers hands the string to MeCab through fugashi), limited to those that choose
//! dictionaries: `-d` / `--dicdir`, `-u` / `--userdic` and `-r` / `--rcfile`. Any other
//! option is refused, since the analyzer would not honour it.

use std::path::{Path, PathBuf};

/// Dictionaries named by a MeCab option string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MecabOptions {
    /// The system dictionary directory (`-d`, else the rc file's `dicdir`).
    pub dicdir: Option<PathBuf>,
    /// User dictionaries (`-u a.dic,b.dic`, else the rc file's `userdic`), in order.
    pub user_dics: Vec<PathBuf>,
}

/// Parses `option`. As in MeCab, a later option overrides an earlier one, and options
/// override the rc file (`-r FILE`), which is read here: its `dicdir` and `userdic` keys,
/// with `$(rcpath)` standing for the file's directory.
pub fn parse(option: &str) -> Result<MecabOptions, String> {
    let mut dicdir = None;
    let mut user = None;
    let mut rcfile = None;
    let words = split_words(option);
    let mut words = words.iter().map(String::as_str);
    while let Some(w) = words.next() {
        let (key, inline) = match w.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v)),
            _ => match w.get(..2) {
                Some(k @ ("-d" | "-u" | "-r")) if w.len() > 2 => (k, Some(&w[2..])),
                _ => (w, None),
            },
        };
        let key = match key {
            "-d" | "--dicdir" => "dicdir",
            "-u" | "--userdic" => "userdic",
            "-r" | "--rcfile" => "rcfile",
            _ => {
                return Err(format!(
                    "option `{w}` is not supported (only -d / --dicdir, -u / --userdic and \
                     -r / --rcfile)"
                ))
            }
        };
        let value = match inline {
            Some(v) => v,
            None => words.next().ok_or_else(|| format!("`{w}` needs a value"))?,
        };
        match key {
            "dicdir" => dicdir = Some(PathBuf::from(value)),
            "userdic" => user = Some(split_list(value)),
            _ => rcfile = Some(PathBuf::from(value)),
        }
    }
    if let Some(rc) = rcfile {
        let (rc_dicdir, rc_user) = read_rc(&rc)?;
        dicdir = dicdir.or(rc_dicdir);
        user = user.or(rc_user);
    }
    Ok(MecabOptions {
        dicdir,
        user_dics: user.unwrap_or_default(),
    })
}

/// Whitespace-separated words; double or single quotes group a word with spaces (the
/// quotes transformers puts around paths) and are removed.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// MeCab splits a user-dictionary list at commas.
fn split_list(list: &str) -> Vec<PathBuf> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// The `dicdir` and `userdic` of a mecabrc (`key = value` lines, `;` or `#` comments).
fn read_rc(path: &Path) -> Result<(Option<PathBuf>, Option<Vec<PathBuf>>), String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("rc file {}: {e}", path.display()))?;
    let rcpath = path.parent().unwrap_or(Path::new("."));
    let (mut dicdir, mut user) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with([';', '#']) {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().replace("$(rcpath)", &rcpath.to_string_lossy());
        match key.trim() {
            "dicdir" => dicdir = Some(PathBuf::from(value)),
            "userdic" => user = Some(split_list(&value)),
            _ => {}
        }
    }
    Ok((dicdir, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn dictionaries_from_options() {
        assert_eq!(parse("").unwrap(), MecabOptions::default());
        let o = parse("-u a.dic -ub.dic,c.dic --userdic=d.dic").unwrap();
        assert_eq!(
            o.user_dics,
            paths(&["d.dic"]),
            "the last -u wins, as in MeCab"
        );
        let o = parse(r#"-d "/x/my dic" --userdic "a.dic,b.dic""#).unwrap();
        assert_eq!(o.dicdir, Some(PathBuf::from("/x/my dic")));
        assert_eq!(o.user_dics, paths(&["a.dic", "b.dic"]));
        assert_eq!(parse("--dicdir=/d -d/e").unwrap().dicdir, Some("/e".into()));
    }

    #[test]
    fn rc_file_gives_defaults_that_options_override() {
        let tmp = tempfile::Builder::new()
            .prefix("tokken-mecabrc-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let rc = dir.join("mecabrc");
        std::fs::write(
            &rc,
            "; comment\ndicdir = $(rcpath)/dic\nuserdic = u1.dic, u2.dic\ncost-factor = 800\n",
        )
        .unwrap();
        let o = parse(&format!("-r {}", rc.display())).unwrap();
        assert_eq!(o.dicdir, Some(dir.join("dic")));
        assert_eq!(o.user_dics, paths(&["u1.dic", "u2.dic"]));
        let o = parse(&format!("-d /other -r {} -u x.dic", rc.display())).unwrap();
        assert_eq!(o.dicdir, Some("/other".into()));
        assert_eq!(o.user_dics, paths(&["x.dic"]));
        let e = parse("-r /no/such/mecabrc").unwrap_err();
        assert!(e.contains("/no/such/mecabrc"), "{e}");
    }

    #[test]
    fn other_options_are_refused() {
        for (o, needle) in [
            ("-Owakati", "`-Owakati`"),
            ("-N2", "`-N2`"),
            ("-u", "needs a value"),
            ("--unk-feature=x", "`--unk-feature=x`"),
        ] {
            let e = parse(o).unwrap_err();
            assert!(e.contains(needle), "{o}: {e}");
        }
    }
}
