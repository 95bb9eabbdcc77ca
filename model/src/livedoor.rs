//! Import of the livedoor news corpus directory layout into our JSONL.
//!
//! The corpus (`ldcc-*.tar.gz`, dir `text/`) holds one directory per category, named after
//! it (`dokujo-tsushin/`, `it-life-hack/`, …), with one article per `.txt` file:
//!
//! ```text
//! line 1  URL
//! line 2  date (ISO 8601)
//! line 3  title
//! line 4… body
//! ```
//!
//! Each category dir also has a `LICENSE.txt`, and the top dir a `README.txt` and
//! `CHANGES.txt`: those are skipped, as are hidden files and files not ending in `.txt`.
//! Files may carry a UTF-8 BOM and CRLF line ends; invalid UTF-8 is an error naming the
//! file and line.
//!
//! Output rows are `{"id", "text", "label", "url", "date", "title"}` (id: the file stem, label:
//! the category dir name); [`split_three_ways`] makes a seeded stratified train/dev/test
//! split.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};

/// Which part of the article becomes `text`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArticleField {
    Title,
    Body,
    /// Title, a newline, then the body.
    TitleAndBody,
}

impl std::str::FromStr for ArticleField {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "title" => Ok(ArticleField::Title),
            "body" => Ok(ArticleField::Body),
            "title+body" => Ok(ArticleField::TitleAndBody),
            _ => Err(format!(
                "unknown field {s:?} (expected title, body or title+body)"
            )),
        }
    }
}

/// One article as read from its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Article {
    pub id: String,
    /// The category (its directory name).
    pub label: String,
    pub url: String,
    pub date: String,
    pub title: String,
    /// Lines 4… joined with `\n`, leading and trailing blank lines removed.
    pub body: String,
}

impl Article {
    /// The text for `field`.
    pub fn text(&self, field: ArticleField) -> String {
        match field {
            ArticleField::Title => self.title.clone(),
            ArticleField::Body => self.body.clone(),
            ArticleField::TitleAndBody => format!("{}\n{}", self.title, self.body),
        }
    }

    /// The output JSONL row.
    pub fn to_json(&self, field: ArticleField) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "text": self.text(field),
            "label": self.label,
            "url": self.url,
            "date": self.date,
            "title": self.title,
        })
    }
}

/// True for files that are not articles (licences, readmes, change logs, hidden files).
fn is_skipped(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    name.starts_with('.')
        || !name.ends_with(".txt")
        || upper.starts_with("LICENSE")
        || upper.starts_with("README")
        || upper.starts_with("CHANGES")
}

fn io_err(path: &Path, source: std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads every article under `dir` (categories and files in name order).
pub fn read_corpus(dir: &Path) -> Result<Vec<Article>> {
    let mut categories: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    categories.sort();
    let mut articles = Vec::new();
    for cat in &categories {
        let Some(label) = cat.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(cat)
            .map_err(|e| io_err(cat, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !is_skipped(n))
            })
            .collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).map_err(|e| io_err(&file, e))?;
            articles.push(parse_article(&bytes, &file, label)?);
        }
    }
    if articles.is_empty() {
        return Err(ModelError::DataFile {
            path: dir.to_path_buf(),
            msg: "no articles found (expected one directory per category holding .txt files: \
                  URL, date, title, body)"
                .into(),
        });
    }
    Ok(articles)
}

/// Parses one article file's bytes (`path` names it in errors, `label` is its category).
pub fn parse_article(bytes: &[u8], path: &Path, label: &str) -> Result<Article> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let data_err = |line: usize, msg: String| ModelError::Data {
        path: path.to_path_buf(),
        line,
        msg,
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return Err(data_err(line, "invalid UTF-8".into()));
        }
    };
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let field = |i: usize, what: &str| -> Result<String> {
        match lines.get(i).map(|l| l.trim()) {
            Some(l) if !l.is_empty() => Ok(l.to_string()),
            _ => Err(data_err(
                i + 1,
                format!("expected the {what} on line {}", i + 1),
            )),
        }
    };
    let url = field(0, "article URL")?;
    let date = field(1, "date")?;
    let title = field(2, "title")?;
    let body_lines = lines.get(3..).unwrap_or(&[]);
    let first = body_lines.iter().position(|l| !l.trim().is_empty());
    let last = body_lines.iter().rposition(|l| !l.trim().is_empty());
    let body = match (first, last) {
        (Some(a), Some(b)) => body_lines[a..=b].join("\n"),
        _ => String::new(),
    };
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Article {
        id,
        label: label.to_string(),
        url,
        date,
        title,
        body,
    })
}

/// Parses `--split 0.8,0.1,0.1` (train, dev, test; must sum to 1 within 1e-6, each ≥ 0).
pub fn parse_split(s: &str) -> std::result::Result<[f64; 3], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 3 {
        return Err(format!(
            "split {s:?}: expected three fractions train,dev,test"
        ));
    }
    let mut f = [0.0; 3];
    for (slot, p) in f.iter_mut().zip(&parts) {
        *slot = p
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("split {s:?}: {p:?} is not a fraction ≥ 0"))?;
    }
    if (f.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
        return Err(format!("split {s:?}: fractions must sum to 1"));
    }
    Ok(f)
}

/// Indices into the article list for each part, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreeWaySplit {
    pub train: Vec<usize>,
    pub dev: Vec<usize>,
    pub test: Vec<usize>,
}

/// Seeded stratified split: each label's articles are shuffled (SplitMix64-driven
/// Fisher–Yates from `seed`), then dev takes `round(n·dev)` and test `round(n·test)` of them
/// (capped so train keeps the rest), train the remainder. Same input and seed, same split.
pub fn split_three_ways(labels: &[&str], fractions: [f64; 3], seed: u64) -> ThreeWaySplit {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        groups.entry(l).or_default().push(i);
    }
    let mut state = seed;
    let mut next = move || {
        // SplitMix64.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut split = ThreeWaySplit {
        train: Vec::new(),
        dev: Vec::new(),
        test: Vec::new(),
    };
    for group in groups.values_mut() {
        for i in (1..group.len()).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            group.swap(i, j);
        }
        let n = group.len();
        let n_dev = ((n as f64 * fractions[1]).round() as usize).min(n);
        let n_test = ((n as f64 * fractions[2]).round() as usize).min(n - n_dev);
        split.dev.extend_from_slice(&group[..n_dev]);
        split.test.extend_from_slice(&group[n_dev..n_dev + n_test]);
        split.train.extend_from_slice(&group[n_dev + n_test..]);
    }
    split.train.sort_unstable();
    split.dev.sort_unstable();
    split.test.sort_unstable();
    split
}

/// `data/out.jsonl` + `dev` → `data/out.dev.jsonl` (the part goes before the extension;
/// appended when there is none).
pub fn part_path(out: &Path, part: &str) -> PathBuf {
    match (out.file_stem(), out.extension()) {
        (Some(stem), Some(ext)) => out.with_file_name(format!(
            "{}.{part}.{}",
            stem.to_string_lossy(),
            ext.to_string_lossy()
        )),
        _ => PathBuf::from(format!("{}.{part}", out.display())),
    }
}

/// Writes `articles[indices]` as JSONL to `path`, atomically.
pub fn write_jsonl(
    path: &Path,
    articles: &[Article],
    indices: impl IntoIterator<Item = usize>,
    field: ArticleField,
) -> Result<()> {
    let mut bytes = Vec::new();
    for i in indices {
        let row = articles[i].to_json(field);
        // Serialising a json! value of strings cannot fail.
        serde_json::to_writer(&mut bytes, &row).map_err(|e| ModelError::Other(e.to_string()))?;
        bytes.push(b'\n');
    }
    tokken_engine::write_file_atomically(path, |w| w.write_all(&bytes))
        .map_err(ModelError::from)?;
    Ok(())
}
