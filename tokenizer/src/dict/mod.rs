//! Readers for compiled MeCab dictionary binaries (`sys.dic`, `unk.dic`, `matrix.bin`,
//! `char.bin`, `dicrc`), memory-mapped and validated so that a truncated or corrupt file is
//! an error at load time, never a panic or a wrong answer later.

pub mod char_property;
pub mod connector;
pub mod darts;
pub mod dic_file;
pub mod dicrc;
pub mod matrix;
pub mod token;

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::TokenizerError;
use crate::huge_copy::HugeCopy;
use char_property::{CharInfo, CharProperty};
use connector::{Connector, WordIds};
use darts::DoubleArray;
use dic_file::{split_value, DicFile, DicType};
use dicrc::Dicrc;
use matrix::Matrix;

/// A whole compiled MeCab dictionary directory.
#[derive(Debug)]
pub struct Dictionary {
    dir: PathBuf,
    /// Known words (`sys.dic`).
    pub sys: DicFile,
    /// Unknown-word tokens per character category (`unk.dic`).
    pub unk: DicFile,
    /// Connection costs (`matrix.bin`).
    pub matrix: Matrix,
    /// Character categories (`char.bin`).
    pub chars: CharProperty,
    /// `unk_tokens[category id]` = (first token, count) in `unk.dic`.
    pub unk_tokens: Vec<(u32, u32)>,
    /// U+0020's CharInfo: the whitespace skipped before every word.
    pub space: CharInfo,
    /// Settings from `dicrc`.
    pub rc: Dicrc,
    /// [65536] `sys.dic` double-array node reached from the root by each BMP character's
    /// UTF-8 bytes ([`NO_NODE`] when no key starts with it): skips the first character's
    /// three dependent, cache-missing steps of every lookup.
    pub first_char_node: Vec<i32>,
    /// The connection costs in a cache-friendly numbering of the context ids.
    pub conn: Connector,
    /// [sys lexsize] what the lattice reads of each `sys.dic` token, in `conn`'s numbering.
    pub sys_words: HugeCopy<WordIds>,
    /// `sys.dic`'s double array, copied into huge pages.
    sys_units: HugeCopy<[u32; 2]>,
    /// [unk lexsize] the same for `unk.dic`.
    pub unk_words: Vec<WordIds>,
    /// User dictionaries (`mecab -u`), looked up after `sys.dic` in this order.
    pub user: Vec<UserDic>,
}

/// A user dictionary (compiled by `mecab-dict-index -u` against this dictionary's
/// context ids): its file and what the lattice reads of its tokens.
#[derive(Debug)]
pub struct UserDic {
    pub file: DicFile,
    /// [lexsize] context ids in the connector's numbering and word costs.
    pub words: Vec<WordIds>,
}

/// Most user dictionaries one analyzer takes (a node keeps the index in a byte).
pub const MAX_USER_DICS: usize = 255;

/// "No key starts this way" in [`Dictionary::first_char_node`].
pub const NO_NODE: i32 = i32::MIN;

impl Dictionary {
    /// Opens and validates the dictionary in `dir`.
    pub fn open(dir: &Path) -> Result<Dictionary, TokenizerError> {
        Dictionary::open_with_user_dics(dir, &[])
    }

    /// Opens the dictionary in `dir` and the user dictionaries `user` (MeCab's `-u`): each
    /// must be a user dictionary compiled for the same connection matrix.
    pub fn open_with_user_dics(dir: &Path, user: &[PathBuf]) -> Result<Dictionary, TokenizerError> {
        if user.len() > MAX_USER_DICS {
            return Err(TokenizerError::Invalid(format!(
                "{} user dictionaries given; at most {MAX_USER_DICS} are supported",
                user.len()
            )));
        }
        let sys = DicFile::open(&dir.join("sys.dic"), DicType::System)?;
        let unk = DicFile::open(&dir.join("unk.dic"), DicType::Unknown)?;
        let matrix = Matrix::open(&dir.join("matrix.bin"))?;
        let char_path = dir.join("char.bin");
        let char_bytes = std::fs::read(&char_path).map_err(|source| TokenizerError::Io {
            path: char_path.clone(),
            source,
        })?;
        let chars = CharProperty::parse(&char_path, &char_bytes)?;
        let rc = Dicrc::read(&dir.join("dicrc"))?;

        let user_files = user
            .iter()
            .map(|p| DicFile::open(p, DicType::User))
            .collect::<Result<Vec<_>, _>>()?;
        for d in [&sys, &unk].into_iter().chain(&user_files) {
            if d.lsize != matrix.lsize() || d.rsize != matrix.rsize() {
                return Err(TokenizerError::CorruptDictionary {
                    path: d.path().to_path_buf(),
                    reason: format!(
                        "compiled for a {}x{} connection matrix but {} is {}x{}",
                        d.lsize,
                        d.rsize,
                        matrix.path().display(),
                        matrix.lsize(),
                        matrix.rsize()
                    ),
                });
            }
            d.validate(matrix.lsize(), matrix.rsize())?;
        }

        let mut unk_tokens = Vec::with_capacity(chars.len());
        for id in 0..chars.len() {
            let name = chars.name(id);
            let value = unk.darts().exact_match(name.as_bytes()).ok_or_else(|| {
                TokenizerError::CorruptDictionary {
                    path: unk.path().to_path_buf(),
                    reason: format!("no unknown-word entry for character category {name:?}"),
                }
            })?;
            unk_tokens.push(split_value(value));
        }
        let space = chars.info(0x20);
        let first_char_node = first_char_nodes(&sys);
        let conn = Connector::new(&matrix, &sys, &unk)?;
        let sys_words = HugeCopy::new(&conn.table(&sys));
        let sys_units = HugeCopy::new(sys.darts().units());
        let unk_words = conn.table(&unk);
        let user = user_files
            .into_iter()
            .map(|file| UserDic {
                words: conn.table(&file),
                file,
            })
            .collect();
        Ok(Dictionary {
            dir: dir.to_path_buf(),
            sys,
            unk,
            matrix,
            chars,
            unk_tokens,
            space,
            rc,
            first_char_node,
            conn,
            sys_words,
            sys_units,
            unk_words,
            user,
        })
    }

    /// `sys.dic`'s double array (from the huge-page copy).
    #[inline]
    pub fn sys_darts(&self) -> DoubleArray<'_> {
        DoubleArray::new(self.sys_units.as_slice())
    }

    /// The file whose token table and features a word's token is in: `unk.dic` for
    /// unknown words, else user dictionary `user_dic` when given (`sys.dic` if out of range),
    /// else `sys.dic`.
    pub fn token_file(&self, is_unknown: bool, user_dic: Option<u8>) -> &DicFile {
        match (is_unknown, user_dic) {
            (true, _) => &self.unk,
            (false, None) => &self.sys,
            (false, Some(u)) => self.user.get(u as usize).map_or(&self.sys, |d| &d.file),
        }
    }

    /// The directory the dictionary was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The double-array node after each BMP character (see [`Dictionary::first_char_node`]).
fn first_char_nodes(sys: &DicFile) -> Vec<i32> {
    let da = sys.darts();
    let mut table = vec![NO_NODE; 0x10000];
    let Some(root) = da.root() else { return table };
    let mut buf = [0u8; 4];
    for (cp, slot) in table.iter_mut().enumerate() {
        if let Some(ch) = char::from_u32(cp as u32) {
            if let Some(b) = da.walk(root, ch.encode_utf8(&mut buf).as_bytes()) {
                if b >= 0 {
                    *slot = b;
                }
            }
        }
    }
    table
}

/// Memory-maps a whole file read-only.
pub(crate) fn map_file(path: &Path) -> Result<Mmap, TokenizerError> {
    let io = |source| TokenizerError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Err(TokenizerError::CorruptDictionary {
            path: path.to_path_buf(),
            reason: "empty file".into(),
        });
    }
    // SAFETY: the map is read-only and private to this process. Like every mmap reader we
    // rely on the dictionary files not being truncated or rewritten while in use;
    // dictionaries are installed once and never modified in place.
    unsafe { Mmap::map(&file) }.map_err(io)
}
