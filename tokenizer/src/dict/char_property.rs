//! `char.bin`: character categories (MeCab `CharProperty`).
//!
//! Layout: `u32 n`, `n` category names of 32 NUL-padded bytes (id = position), then 65535
//! `u32` [`CharInfo`] entries for U+0000..=U+FFFE.

use std::path::Path;

use crate::error::TokenizerError;

/// Entries in `char.bin`: one per code point U+0000..=U+FFFE.
const MAP_ENTRIES: usize = 0xFFFF;
/// Bytes of one category name.
const NAME_BYTES: usize = 32;

/// One character's categories, packed as MeCab's `CharInfo` bitfield (LSB first):
/// bits 0–17 category bitset, 18–25 default category id, 26–29 length, 30 group, 31 invoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CharInfo(pub u32);

impl CharInfo {
    /// Bitset of the categories this character belongs to.
    #[inline]
    pub fn categories(self) -> u32 {
        self.0 & 0x3FFFF
    }
    /// Category whose unknown-word rules apply when a word starts with this character.
    #[inline]
    pub fn default_type(self) -> usize {
        ((self.0 >> 18) & 0xFF) as usize
    }
    /// How many fixed-length unknown words (1..=length characters) to try.
    #[inline]
    pub fn length(self) -> usize {
        ((self.0 >> 26) & 0xF) as usize
    }
    /// Whether a run of compatible characters becomes one unknown word.
    #[inline]
    pub fn group(self) -> bool {
        (self.0 >> 30) & 1 == 1
    }
    /// Whether unknown words are added even when the dictionary matched.
    #[inline]
    pub fn invoke(self) -> bool {
        (self.0 >> 31) == 1
    }
    /// MeCab's `isKindOf`: the two share at least one category.
    #[inline]
    pub fn is_kind_of(self, other: CharInfo) -> bool {
        self.categories() & other.categories() != 0
    }
}

/// Character categories read from `char.bin`.
#[derive(Debug)]
pub struct CharProperty {
    /// Category names, id = index.
    names: Vec<String>,
    /// [65536] CharInfo per UCS-2 code unit; the last (U+FFFF) is all zero as MeCab reads it.
    map: Vec<CharInfo>,
}

impl CharProperty {
    /// Parses and validates `char.bin` bytes read from `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<CharProperty, TokenizerError> {
        let corrupt = |reason: String| TokenizerError::CorruptDictionary {
            path: path.to_path_buf(),
            reason,
        };
        let n = read_u32(bytes, 0).ok_or_else(|| corrupt("shorter than 4 bytes".into()))? as usize;
        let expected = n
            .checked_mul(NAME_BYTES)
            .and_then(|v| v.checked_add(4 + 4 * MAP_ENTRIES));
        if expected != Some(bytes.len()) {
            return Err(corrupt(format!(
                "{} categories need {} bytes but the file has {}",
                n,
                expected.map_or("too many".to_string(), |e| e.to_string()),
                bytes.len()
            )));
        }
        if n == 0 || n > 256 {
            return Err(corrupt(format!("{n} categories (expected 1..=256)")));
        }
        let mut names = Vec::with_capacity(n);
        for i in 0..n {
            let raw = &bytes[4 + i * NAME_BYTES..4 + (i + 1) * NAME_BYTES];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(NAME_BYTES);
            let name = std::str::from_utf8(&raw[..end])
                .map_err(|_| corrupt(format!("category name {i} is not UTF-8")))?;
            names.push(name.to_string());
        }
        let base = 4 + n * NAME_BYTES;
        let mut map = Vec::with_capacity(MAP_ENTRIES + 1);
        for cp in 0..MAP_ENTRIES {
            let info = CharInfo(read_u32(bytes, base + 4 * cp).unwrap_or(0));
            if info.default_type() >= n {
                return Err(corrupt(format!(
                    "U+{cp:04X} has default category {} of {n}",
                    info.default_type()
                )));
            }
            map.push(info);
        }
        map.push(CharInfo(0));
        Ok(CharProperty { names, map })
    }

    /// Number of categories.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no categories (never true for a loaded file).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Category name by id.
    pub fn name(&self, id: usize) -> &str {
        &self.names[id]
    }

    /// Info of a UCS-2 code unit (U+FFFF reads as all zero).
    #[inline]
    pub fn info(&self, code: u16) -> CharInfo {
        self.map[code as usize]
    }

    /// The whole table: [65536] CharInfo indexed by UCS-2 code unit.
    #[inline]
    pub fn map(&self) -> &[CharInfo] {
        &self.map
    }
}

/// MeCab's `utf8_to_ucs2`: decodes the character at the start of `bytes` (which ends where
/// MeCab's `end` is), returning the UCS-2 code unit and the byte length it steps over.
/// Code points above U+FFFF read as 0; a sequence cut short by the end reads as 0 with length
/// 1. `bytes` must not be empty.
#[inline]
pub fn utf8_to_ucs2(bytes: &[u8]) -> (u16, usize) {
    let len = bytes.len();
    let b0 = bytes[0];
    if b0 < 0x80 {
        (b0 as u16, 1)
    } else if len >= 2 && b0 & 0xE0 == 0xC0 {
        ((((b0 & 0x1F) as u16) << 6) | (bytes[1] & 0x3F) as u16, 2)
    } else if len >= 3 && b0 & 0xF0 == 0xE0 {
        let c = (((b0 & 0x0F) as u16) << 12)
            | (((bytes[1] & 0x3F) as u16) << 6)
            | (bytes[2] & 0x3F) as u16;
        (c, 3)
    } else if len >= 4 && b0 & 0xF8 == 0xF0 {
        (0, 4)
    } else if len >= 5 && b0 & 0xFC == 0xF8 {
        (0, 5)
    } else if len >= 6 && b0 & 0xFE == 0xFC {
        (0, 6)
    } else {
        (0, 1)
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_mecab() {
        assert_eq!(utf8_to_ucs2(b"a"), (0x61, 1));
        assert_eq!(utf8_to_ucs2("é".as_bytes()), (0xE9, 2));
        assert_eq!(utf8_to_ucs2("あ".as_bytes()), (0x3042, 3));
        // Above the BMP: entry 0, 4 bytes.
        assert_eq!(utf8_to_ucs2("😀".as_bytes()), (0, 4));
        // Cut short by `end`: entry 0, one byte.
        assert_eq!(utf8_to_ucs2(&"あ".as_bytes()[..2]), (0, 1));
        // A continuation byte on its own.
        assert_eq!(utf8_to_ucs2(&[0x81]), (0, 1));
    }

    #[test]
    fn bitfield_layout() {
        let ci = CharInfo(0b101 | (7 << 18) | (2 << 26) | (1 << 30) | (1 << 31));
        assert_eq!(ci.categories(), 0b101);
        assert_eq!(ci.default_type(), 7);
        assert_eq!(ci.length(), 2);
        assert!(ci.group());
        assert!(ci.invoke());
        assert!(ci.is_kind_of(CharInfo(0b100)));
        assert!(!ci.is_kind_of(CharInfo(0b010)));
    }

    #[test]
    fn rejects_wrong_size() {
        let mut bytes = vec![0u8; 4 + 32 + 4 * MAP_ENTRIES];
        bytes[0] = 1;
        assert!(CharProperty::parse(Path::new("char.bin"), &bytes).is_ok());
        assert!(CharProperty::parse(Path::new("char.bin"), &bytes[..bytes.len() - 1]).is_err());
        assert!(CharProperty::parse(Path::new("char.bin"), &bytes[..2]).is_err());
        bytes[0] = 2;
        assert!(CharProperty::parse(Path::new("char.bin"), &bytes).is_err());
    }
}
