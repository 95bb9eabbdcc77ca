//! `sys.dic` / `unk.dic`: header, double array, token table and feature blob.

use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::dict::darts::DoubleArray;
use crate::dict::map_file;
use crate::dict::token::Token;
use crate::error::TokenizerError;

/// XOR-ed with the file length to give the header's magic number.
const MAGIC_ID: u32 = 0xEF71_8F77;
/// The only format version MeCab 0.996 writes.
const VERSION: u32 = 102;
/// Ten u32 then a 32-byte charset.
const HEADER_BYTES: usize = 72;
/// Bytes of one token record.
const TOKEN_BYTES: usize = 16;

/// What a dictionary file holds (the header's `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DicType {
    /// `sys.dic`
    System = 0,
    /// a user dictionary
    User = 1,
    /// `unk.dic`: unknown-word tokens keyed by character category name.
    Unknown = 2,
}

/// A memory-mapped, validated dictionary file.
#[derive(Debug)]
pub struct DicFile {
    path: PathBuf,
    mmap: Mmap,
    /// Left-id count the entries were compiled for.
    pub lsize: usize,
    /// Right-id count the entries were compiled for.
    pub rsize: usize,
    /// The header's charset field, as written.
    pub charset: String,
    darts: Range<usize>,
    tokens: Range<usize>,
    features: Range<usize>,
}

impl DicFile {
    /// Maps `path` and checks its header and section sizes. The contents (token ids,
    /// feature offsets, double-array values) are checked by [`DicFile::validate`].
    pub fn open(path: &Path, expected: DicType) -> Result<DicFile, TokenizerError> {
        let mmap = map_file(path)?;
        let corrupt = |reason: String| TokenizerError::CorruptDictionary {
            path: path.to_path_buf(),
            reason,
        };
        let len = mmap.len();
        if len < HEADER_BYTES {
            return Err(corrupt(format!(
                "{len} bytes, shorter than the {HEADER_BYTES}-byte header"
            )));
        }
        let h: [u32; 10] = std::array::from_fn(|i| {
            u32::from_le_bytes([
                mmap[4 * i],
                mmap[4 * i + 1],
                mmap[4 * i + 2],
                mmap[4 * i + 3],
            ])
        });
        let [magic, version, kind, lexsize, lsize, rsize, dsize, tsize, fsize, _dummy] = h;
        if (magic ^ MAGIC_ID) as u64 != len as u64 {
            return Err(corrupt(format!(
                "bad magic number (file is {len} bytes but the header was written for {}; \
                 truncated or not a MeCab dictionary)",
                magic ^ MAGIC_ID
            )));
        }
        if version != VERSION {
            return Err(corrupt(format!(
                "format version {version}, expected {VERSION}"
            )));
        }
        if kind != expected as u32 {
            let name = |k: u32| match k {
                0 => "a system dictionary (sys.dic)",
                1 => "a user dictionary",
                2 => "an unknown-word dictionary (unk.dic)",
                _ => "of an unknown type",
            };
            return Err(corrupt(format!(
                "the file is {} (type {kind}), expected {}",
                name(kind),
                name(expected as u32)
            )));
        }
        let total = HEADER_BYTES as u64 + dsize as u64 + tsize as u64 + fsize as u64;
        if total != len as u64 {
            return Err(corrupt(format!(
                "header sizes (72 + {dsize} + {tsize} + {fsize}) do not add up to the file length {len}"
            )));
        }
        if !dsize.is_multiple_of(8) || !(tsize as usize).is_multiple_of(TOKEN_BYTES) {
            return Err(corrupt(format!(
                "double array size {dsize} or token table size {tsize} is not a whole number of records"
            )));
        }
        if tsize as usize / TOKEN_BYTES != lexsize as usize {
            return Err(corrupt(format!(
                "header says {lexsize} entries but the token table holds {}",
                tsize as usize / TOKEN_BYTES
            )));
        }
        let raw_charset = &mmap[40..72];
        let end = raw_charset.iter().position(|&b| b == 0).unwrap_or(32);
        let charset = String::from_utf8_lossy(&raw_charset[..end]).into_owned();
        if !matches!(charset.to_ascii_lowercase().as_str(), "utf8" | "utf-8") {
            return Err(TokenizerError::UnsupportedCharset {
                path: path.to_path_buf(),
                charset,
            });
        }
        let d0 = HEADER_BYTES;
        let t0 = d0 + dsize as usize;
        let f0 = t0 + tsize as usize;
        let file = DicFile {
            path: path.to_path_buf(),
            lsize: lsize as usize,
            rsize: rsize as usize,
            charset,
            darts: d0..t0,
            tokens: t0..f0,
            features: f0..len,
            mmap,
        };
        if bytemuck::try_cast_slice::<u8, [u32; 2]>(&file.mmap[file.darts.clone()]).is_err()
            || bytemuck::try_cast_slice::<u8, [u32; 4]>(&file.mmap[file.tokens.clone()]).is_err()
        {
            return Err(corrupt("sections are misaligned".into()));
        }
        Ok(file)
    }

    /// Checks every token (context ids inside a `matrix_lsize` x `matrix_rsize` matrix,
    /// feature offset inside the blob) and every value the double array can return (a
    /// token range inside the table), so lookups never read out of bounds.
    pub fn validate(&self, matrix_lsize: usize, matrix_rsize: usize) -> Result<(), TokenizerError> {
        let corrupt = |reason: String| TokenizerError::CorruptDictionary {
            path: self.path.clone(),
            reason,
        };
        let features = self.features();
        if !self.tokens().is_empty() && features.last() != Some(&0) {
            return Err(corrupt("feature blob does not end with NUL".into()));
        }
        for (i, &raw) in self.tokens().iter().enumerate() {
            let t = Token::from_raw(raw);
            if t.right_id as usize >= matrix_lsize || t.left_id as usize >= matrix_rsize {
                return Err(corrupt(format!(
                    "token {i} has context ids ({}, {}) outside the {matrix_lsize}x{matrix_rsize} matrix",
                    t.left_id, t.right_id
                )));
            }
            if t.feature as usize >= features.len() {
                return Err(corrupt(format!(
                    "token {i} has feature offset {} past the {}-byte feature blob",
                    t.feature,
                    features.len()
                )));
            }
        }
        let n = self.tokens().len() as u64;
        for v in self.darts().values() {
            let (first, count) = split_value(v);
            if first as u64 + count as u64 > n {
                return Err(corrupt(format!(
                    "double array points at tokens {first}..{} of {n}",
                    first as u64 + count as u64
                )));
            }
        }
        Ok(())
    }

    /// Where the file was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The double array over surfaces (or category names, in `unk.dic`).
    #[inline]
    pub fn darts(&self) -> DoubleArray<'_> {
        DoubleArray::new(bytemuck::try_cast_slice(&self.mmap[self.darts.clone()]).unwrap_or(&[]))
    }

    /// [lexsize] raw token records.
    #[inline]
    pub fn tokens(&self) -> &[[u32; 4]] {
        bytemuck::try_cast_slice(&self.mmap[self.tokens.clone()]).unwrap_or(&[])
    }

    /// The feature blob: NUL-terminated strings.
    #[inline]
    pub fn features(&self) -> &[u8] {
        &self.mmap[self.features.clone()]
    }

    /// The feature bytes at `offset` up to (not including) their NUL.
    pub fn feature_bytes(&self, offset: u32) -> &[u8] {
        let blob = self.features();
        let rest = blob.get(offset as usize..).unwrap_or(&[]);
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        &rest[..end]
    }
}

/// Splits a double-array value into (first token, token count).
#[inline]
pub fn split_value(v: u32) -> (u32, u32) {
    (v >> 8, v & 0xFF)
}
