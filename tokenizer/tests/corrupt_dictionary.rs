//! A truncated or corrupt dictionary is a `TokenizerError` naming the file, never a panic.
//! Builds scratch dictionary directories from the real unidic-lite: the small files
//! (unk.dic, char.bin, dicrc) are copied and damaged, the big ones linked or cut short.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};

use tokken_tokenizer::{find_dicdir, Analyzer, TokenizerError};

fn real_dicdir() -> Option<PathBuf> {
    match find_dicdir(None) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipping: no dictionary ({e})");
            None
        }
    }
}

/// A scratch copy of the dictionary: small files copied, big ones symlinked; in a temp dir
/// removed when the `Scratch` drops (also when the test panics).
struct Scratch {
    tmp: tempfile::TempDir,
}

impl Scratch {
    fn new(real: &Path, name: &str) -> Scratch {
        let tmp = common::scratch(&format!("corrupt-{name}"));
        let dir = tmp.path();
        for f in ["unk.dic", "char.bin", "dicrc"] {
            std::fs::copy(real.join(f), dir.join(f)).unwrap();
        }
        for f in ["sys.dic", "matrix.bin"] {
            std::os::unix::fs::symlink(real.join(f), dir.join(f)).unwrap();
        }
        Scratch { tmp }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn edit(&self, file: &str, f: impl FnOnce(&mut Vec<u8>)) {
        let p = self.dir().join(file);
        let mut bytes = std::fs::read(&p).unwrap();
        let _ = std::fs::remove_file(&p);
        f(&mut bytes);
        std::fs::write(&p, bytes).unwrap();
    }

    fn open_err(&self) -> TokenizerError {
        match Analyzer::open(self.dir()) {
            Ok(_) => panic!(
                "{}: damaged dictionary opened without error",
                self.dir().display()
            ),
            Err(e) => e,
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Asserts `e` is a corrupt-dictionary error about `file` whose reason contains `what`.
fn assert_corrupt(e: &TokenizerError, file: &str, what: &str) {
    let msg = e.to_string();
    assert!(
        matches!(e, TokenizerError::CorruptDictionary { path, .. } if path.ends_with(file)),
        "want a corrupt {file} error, got: {msg}"
    );
    assert!(msg.contains(what), "{msg:?} should mention {what:?}");
}

#[test]
fn scratch_copy_of_the_real_dictionary_opens() {
    let Some(real) = real_dicdir() else { return };
    let s = Scratch::new(&real, "ok");
    let a = Analyzer::open(s.dir()).unwrap();
    let mut out = Vec::new();
    a.worker().analyze("東京ABC", &mut out);
    assert_eq!(out.len(), 2);
}

#[test]
fn truncated_unk_dic() {
    let Some(real) = real_dicdir() else { return };
    let s = Scratch::new(&real, "trunc-unk");
    s.edit("unk.dic", |b| b.truncate(b.len() - 1));
    assert_corrupt(&s.open_err(), "unk.dic", "magic");
    s.edit("unk.dic", |b| b.truncate(50));
    assert_corrupt(&s.open_err(), "unk.dic", "header");
}

#[test]
fn empty_file() {
    let Some(real) = real_dicdir() else { return };
    let s = Scratch::new(&real, "empty");
    s.edit("char.bin", |b| b.clear());
    assert_corrupt(&s.open_err(), "char.bin", "empty");
}

#[test]
fn bad_header_fields() {
    let Some(real) = real_dicdir() else { return };
    let s = Scratch::new(&real, "header");
    s.edit("unk.dic", |b| put_u32(b, 4, 101));
    assert_corrupt(&s.open_err(), "unk.dic", "version");

    let s = Scratch::new(&real, "type");
    s.edit("unk.dic", |b| put_u32(b, 8, 0));
    assert_corrupt(&s.open_err(), "unk.dic", "type");

    let s = Scratch::new(&real, "sizes");
    // Declare a feature blob one byte shorter: the sections no longer fill the file.
    s.edit("unk.dic", |b| {
        let f = u32_at(b, 32);
        put_u32(b, 32, f - 1)
    });
    assert_corrupt(&s.open_err(), "unk.dic", "add up");
}

#[test]
fn unsupported_charset_is_named() {
    let Some(real) = real_dicdir() else { return };
    let s = Scratch::new(&real, "charset");
    s.edit("unk.dic", |b| {
        b[40..72].fill(0);
        b[40..46].copy_from_slice(b"euc-jp");
    });
    let e = s.open_err();
    assert!(
        matches!(e, TokenizerError::UnsupportedCharset { ref charset, .. } if charset == "euc-jp"),
        "{e}"
    );
    assert!(e.to_string().contains("utf8"), "{e}");
}

/// Byte offset of token `i` in unk.dic.
fn unk_token_at(b: &[u8], i: usize) -> usize {
    72 + u32_at(b, 24) as usize + 16 * i
}

#[test]
fn token_fields_out_of_range() {
    let Some(real) = real_dicdir() else { return };
    let s = Scratch::new(&real, "feature");
    s.edit("unk.dic", |b| {
        let t = unk_token_at(b, 3);
        put_u32(b, t + 8, 0x7FFF_FFFF);
    });
    assert_corrupt(&s.open_err(), "unk.dic", "feature offset");

    let s = Scratch::new(&real, "ids");
    s.edit("unk.dic", |b| {
        let t = unk_token_at(b, 0);
        b[t..t + 2].copy_from_slice(&60000u16.to_le_bytes());
    });
    assert_corrupt(&s.open_err(), "unk.dic", "context ids");
}

#[test]
fn double_array_value_past_the_token_table() {
    let Some(real) = real_dicdir() else { return };
    let s = Scratch::new(&real, "darts");
    s.edit("unk.dic", |b| {
        let units = u32_at(b, 24) as usize / 8;
        // A unit that ends a key: check == its own index, base < 0.
        let i = (0..units)
            .find(|&i| u32_at(b, 72 + 8 * i + 4) == i as u32 && (u32_at(b, 72 + 8 * i) as i32) < 0)
            .expect("unk.dic has keys");
        let value: u32 = (1000 << 8) | 1;
        put_u32(b, 72 + 8 * i, (-(value as i64) - 1) as i32 as u32);
    });
    assert_corrupt(&s.open_err(), "unk.dic", "double array");
}

#[test]
fn char_bin_damage() {
    let Some(real) = real_dicdir() else { return };
    let s = Scratch::new(&real, "char-trunc");
    s.edit("char.bin", |b| b.truncate(b.len() - 4));
    assert_corrupt(&s.open_err(), "char.bin", "bytes");

    let s = Scratch::new(&real, "char-default");
    s.edit("char.bin", |b| {
        let n = u32_at(b, 0) as usize;
        let at = 4 + 32 * n + 4 * 0x3042; // あ
        let v = u32_at(b, at) | (0xFF << 18);
        put_u32(b, at, v);
    });
    assert_corrupt(&s.open_err(), "char.bin", "default category");

    // A category unk.dic has no entry for.
    let s = Scratch::new(&real, "char-name");
    s.edit("char.bin", |b| b[4..8].copy_from_slice(b"ZZZZ"));
    assert_corrupt(&s.open_err(), "unk.dic", "no unknown-word entry");
}

#[test]
fn truncated_sys_dic_and_matrix() {
    let Some(real) = real_dicdir() else { return };
    let s = Scratch::new(&real, "sys");
    let mut head = vec![0u8; 1 << 16];
    use std::io::Read;
    std::fs::File::open(real.join("sys.dic"))
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    std::fs::remove_file(s.dir().join("sys.dic")).unwrap();
    std::fs::write(s.dir().join("sys.dic"), &head).unwrap();
    assert_corrupt(&s.open_err(), "sys.dic", "magic");

    let s = Scratch::new(&real, "matrix-short");
    std::fs::remove_file(s.dir().join("matrix.bin")).unwrap();
    let mut m = Vec::new();
    m.extend_from_slice(&5981u16.to_le_bytes());
    m.extend_from_slice(&5981u16.to_le_bytes());
    m.extend_from_slice(&[0u8; 1000]);
    std::fs::write(s.dir().join("matrix.bin"), &m).unwrap();
    assert_corrupt(&s.open_err(), "matrix.bin", "needs");

    let s = Scratch::new(&real, "matrix-small");
    std::fs::remove_file(s.dir().join("matrix.bin")).unwrap();
    std::fs::write(
        s.dir().join("matrix.bin"),
        [2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    )
    .unwrap();
    assert_corrupt(&s.open_err(), "sys.dic", "connection matrix");
}

#[test]
fn bad_dicrc_names_file_and_line() {
    let Some(real) = real_dicdir() else { return };
    let s = Scratch::new(&real, "dicrc");
    s.edit("dicrc", |b| {
        b.extend_from_slice(b"\nmax-grouping-size = lots\n")
    });
    let e = s.open_err();
    assert!(matches!(e, TokenizerError::BadDicrc { .. }), "{e}");
    assert!(e.to_string().contains("dicrc:"), "{e}");
}
