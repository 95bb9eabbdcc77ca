//! CSV and TSV readers (via the `csv` crate): a header row names the columns.
//!
//! CSV follows RFC 4180 quoting (a quoted cell may hold commas, quotes as `""`, and line
//! breaks). TSV has no quoting: every tab separates and `"` is an ordinary character, as
//! Japanese text often contains quotes. Blank lines are skipped, a BOM and CRLF line ends are
//! tolerated, and so are trailing separators (empty cells past the header's last column).

use std::collections::BTreeMap;
use std::path::Path;

use super::{clean_labels, data_error, strip_bom, Example, LabelTarget, ReadOptions};
use crate::error::{ModelError, Result};

pub(super) fn parse(
    path: &Path,
    bytes: &[u8],
    delimiter: u8,
    options: &ReadOptions,
) -> Result<Vec<Example>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .quoting(delimiter != b'\t')
        .from_reader(strip_bom(bytes));
    let lines = LineIndex::new(strip_bom(bytes));
    let mut records = reader.byte_records();
    let Some(first) = records.next() else {
        return Err(ModelError::DataFile {
            path: path.to_path_buf(),
            msg: "empty file: expected a header row naming the columns".into(),
        });
    };
    let first = first.map_err(|e| csv_error(path, &lines, e))?;
    let header_line = lines.line_of(&first);
    let header = header(path, header_line, &first, options)?;
    let mut examples = Vec::new();
    for record in records {
        let record = record.map_err(|e| csv_error(path, &lines, e))?;
        let line = lines.line_of(&record);
        let cells = cells(path, line, &record, &header.names)?;
        examples.push(example(path, line, &header, cells, options)?);
    }
    Ok(examples)
}

/// The header row: column names and where the text, pair and label columns are.
struct Header {
    names: Vec<String>,
    text: usize,
    text_pair: Option<usize>,
    label: usize,
}

fn header(
    path: &Path,
    line: usize,
    record: &csv::ByteRecord,
    options: &ReadOptions,
) -> Result<Header> {
    let mut names = Vec::with_capacity(record.len());
    for (i, cell) in record.iter().enumerate() {
        let name = std::str::from_utf8(cell).map_err(|_| {
            data_error(
                path,
                line,
                format!("invalid UTF-8 in header column {}", i + 1),
            )
        })?;
        names.push(name.trim().to_string());
    }
    // Trailing separators make empty trailing names: drop them.
    while names.last().is_some_and(|n| n.is_empty()) {
        names.pop();
    }
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(data_error(
                path,
                line,
                format!("header column {} has no name", i + 1),
            ));
        }
        if names[..i].contains(name) {
            return Err(data_error(
                path,
                line,
                format!("header names column {name:?} twice"),
            ));
        }
    }
    let find = |field: &str| names.iter().position(|n| n == field);
    let missing = |field: &str, what: &str| {
        data_error(
            path,
            line,
            format!(
                "expected a header column {field:?} ({what}); the header has [{}]",
                names.join(", ")
            ),
        )
    };
    let text = find(&options.text_field).ok_or_else(|| missing(&options.text_field, "the text"))?;
    let label_field = options.label_field();
    let label = find(label_field).ok_or_else(|| missing(label_field, "the label"))?;
    Ok(Header {
        text,
        text_pair: find(&options.text_pair_field),
        label,
        names,
    })
}

/// The row's cells as text, one per header column.
fn cells<'r>(
    path: &Path,
    line: usize,
    record: &'r csv::ByteRecord,
    names: &[String],
) -> Result<Vec<&'r str>> {
    let extra_filled = record
        .iter()
        .skip(names.len())
        .any(|c| !c.iter().all(u8::is_ascii_whitespace));
    if record.len() < names.len() || extra_filled {
        return Err(data_error(
            path,
            line,
            format!(
                "expected {} fields as in the header, found {}",
                names.len(),
                record.len()
            ),
        ));
    }
    names
        .iter()
        .zip(record.iter())
        .map(|(name, cell)| {
            std::str::from_utf8(cell).map_err(|e| {
                data_error(
                    path,
                    line,
                    format!(
                        "invalid UTF-8 in column {name:?} at byte {} of the cell (data files must be UTF-8)",
                        e.valid_up_to() + 1
                    ),
                )
            })
        })
        .collect()
}

fn example(
    path: &Path,
    line: usize,
    header: &Header,
    cells: Vec<&str>,
    options: &ReadOptions,
) -> Result<Example> {
    let text = cells[header.text];
    if text.trim().is_empty() {
        return Err(data_error(
            path,
            line,
            format!("expected a text in column {:?}", options.text_field),
        ));
    }
    let text_pair = header
        .text_pair
        .map(|i| cells[i])
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let field = options.label_field();
    let cell = cells[header.label].trim();
    let label = if options.multi_label {
        let raw: Vec<String> = if cell.is_empty() {
            Vec::new()
        } else {
            cell.split(options.label_separator)
                .map(str::to_string)
                .collect()
        };
        LabelTarget::Multi(clean_labels(path, line, field, raw)?)
    } else if cell.is_empty() {
        return Err(data_error(
            path,
            line,
            format!("expected a label in column {field:?}"),
        ));
    } else {
        LabelTarget::Single(cell.to_string())
    };
    let extra: BTreeMap<String, String> = header
        .names
        .iter()
        .zip(&cells)
        .enumerate()
        .filter(|(i, (_, c))| {
            *i != header.text && Some(*i) != header.text_pair && *i != header.label && !c.is_empty()
        })
        .map(|(_, (n, c))| (n.clone(), c.to_string()))
        .collect();
    Ok(Example {
        text: text.to_string(),
        text_pair,
        label,
        extra,
        line,
    })
}

/// Line numbers from byte offsets. The csv crate's own line count lags on CRLF files (a
/// record's position is taken before the `\n` of the previous `\r\n`), so count here.
struct LineIndex<'a> {
    bytes: &'a [u8],
    /// Offsets of every `\n`, ascending.
    newlines: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let newlines = bytes
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i)
            .collect();
        LineIndex { bytes, newlines }
    }

    /// 1-based line of the record's first byte (line ends before it skipped: no record
    /// starts with one).
    fn line_of(&self, record: &csv::ByteRecord) -> usize {
        self.line_at(record.position())
    }

    fn line_at(&self, pos: Option<&csv::Position>) -> usize {
        let Some(pos) = pos else {
            return 0;
        };
        let mut at = pos.byte() as usize;
        while at < self.bytes.len() && matches!(self.bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        1 + self.newlines.partition_point(|&n| n < at)
    }
}

fn csv_error(path: &Path, lines: &LineIndex, e: csv::Error) -> ModelError {
    let line = lines.line_at(e.position());
    data_error(path, line, format!("malformed row: {e}"))
}
