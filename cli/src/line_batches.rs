//! Input lines in batches, for the commands that read texts line by line (`predict`,
//! `tokenize`).
//!
//! A file is read in full batches (`max` lines), so big inputs stream in bounded memory
//! and each batch is worked on in parallel. Standard input may be another program feeding
//! one line at a time and waiting for each answer: there a batch is whatever has arrived
//! once one line is there (up to `max`), so every line is answered as soon as it comes,
//! and bulk input still makes full batches (a reader thread keeps reading ahead while a
//! batch is worked on).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};

use anyhow::{Context, Result};

/// Lines per batch for the commands: big enough to keep every core busy on a batch, small
/// enough that a big input streams in bounded memory.
pub const BATCH_LINES: usize = 4096;

/// Batches of input lines; see the module docs.
pub struct LineBatches {
    /// Lines from the reader thread, in order; closed at the end of input or after an error.
    lines: Receiver<std::io::Result<String>>,
    /// The file's name for messages (`<stdin>` for standard input).
    name: String,
    /// Most lines per batch.
    max: usize,
    /// Wait for `max` lines (a file) instead of taking what has arrived (a stream).
    fill: bool,
    /// 1-based number of the next line to hand out.
    next_line: usize,
}

impl LineBatches {
    /// Lines of `path`, or of standard input when it is None or `-`.
    pub fn open(path: Option<&Path>, max: usize) -> Result<LineBatches> {
        let max = max.max(1);
        let (reader, name, fill): (Box<dyn BufRead + Send>, String, bool) = match path {
            Some(p) if p.as_os_str() != "-" => {
                let file =
                    std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
                (
                    Box::new(BufReader::new(file)),
                    p.display().to_string(),
                    true,
                )
            }
            _ => (
                Box::new(BufReader::new(std::io::stdin())),
                "<stdin>".into(),
                false,
            ),
        };
        let (tx, rx) = sync_channel(max);
        std::thread::spawn(move || {
            for line in reader.lines() {
                let failed = line.is_err();
                // The receiver is gone when the command stopped early (an error).
                if tx.send(line).is_err() || failed {
                    return;
                }
            }
        });
        Ok(LineBatches {
            lines: rx,
            name,
            max,
            fill,
            next_line: 1,
        })
    }

    /// The input's name for messages: the path, or `<stdin>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next batch as (number of its first line, counting from 1; its lines), or None
    /// at the end of the input. A line that cannot be read is an error naming file:line.
    pub fn next_batch(&mut self) -> Result<Option<(usize, Vec<String>)>> {
        let first_line = self.next_line;
        let mut batch = Vec::new();
        // Block for the first line; then, for a stream, take only what is already here.
        while batch.len() < self.max {
            let next = if batch.is_empty() || self.fill {
                match self.lines.recv() {
                    Ok(line) => line,
                    Err(_) => break,
                }
            } else {
                match self.lines.try_recv() {
                    Ok(line) => line,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            };
            let line =
                next.with_context(|| format!("{}:{}: reading", self.name, self.next_line))?;
            batch.push(line);
            self.next_line += 1;
        }
        Ok((!batch.is_empty()).then_some((first_line, batch)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh empty `<prefix>….txt` in the temp dir, removed when the returned guard drops
    /// (also when the test panics).
    fn temp_file(prefix: &str) -> tempfile::NamedTempFile {
        tempfile::Builder::new()
            .prefix(prefix)
            .suffix(".txt")
            .tempfile()
            .unwrap()
    }

    #[test]
    fn a_file_comes_in_full_batches_with_line_numbers() {
        let file = temp_file("tokken-lines-");
        let path = file.path();
        let text: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        std::fs::write(path, text).unwrap();
        let mut b = LineBatches::open(Some(path), 4).unwrap();
        assert_eq!(b.name(), path.display().to_string());
        let mut got = Vec::new();
        while let Some((first, lines)) = b.next_batch().unwrap() {
            got.push((first, lines.len()));
            assert_eq!(lines[0], format!("line {first}"));
        }
        assert_eq!(got, [(1, 4), (5, 4), (9, 2)]);
    }

    #[test]
    fn unreadable_lines_name_the_file_and_line() {
        let file = temp_file("tokken-badutf8-");
        let path = file.path();
        std::fs::write(path, b"ok\n\xff\xfe\n").unwrap();
        let mut b = LineBatches::open(Some(path), 8).unwrap();
        let err = format!("{:#}", b.next_batch().unwrap_err());
        assert!(err.contains(&format!("{}:2", path.display())), "{err}");
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let err = LineBatches::open(Some(Path::new("/no/such/file")), 8)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains("/no/such/file"), "{err}");
    }
}
