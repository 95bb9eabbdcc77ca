//! The 16-byte token records of `sys.dic` / `unk.dic`.

/// One dictionary entry: `u16 left_id, u16 right_id, u16 pos_id, i16 word_cost,
/// u32 feature offset, u32 compound`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// Left context id (row of the connection matrix when this token follows another).
    pub left_id: u16,
    /// Right context id (column when another token follows this one).
    pub right_id: u16,
    /// Part-of-speech id.
    pub pos_id: u16,
    /// Cost of the word itself.
    pub word_cost: i16,
    /// Offset of the NUL-terminated feature string in the file's feature blob.
    pub feature: u32,
    /// Compound information (unused by analysis).
    pub compound: u32,
}

impl Token {
    /// Decodes a raw little-endian record.
    #[inline]
    pub fn from_raw(raw: [u32; 4]) -> Token {
        let w0 = u32::from_le(raw[0]);
        let w1 = u32::from_le(raw[1]);
        Token {
            left_id: w0 as u16,
            right_id: (w0 >> 16) as u16,
            pos_id: w1 as u16,
            word_cost: (w1 >> 16) as u16 as i16,
            feature: u32::from_le(raw[2]),
            compound: u32::from_le(raw[3]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_fields_in_order() {
        let bytes: [u8; 16] = [1, 0, 2, 0, 3, 0, 0xFE, 0xFF, 5, 0, 0, 0, 6, 0, 0, 0];
        let raw: [u32; 4] = std::array::from_fn(|i| {
            u32::from_ne_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ])
        });
        let t = Token::from_raw(raw);
        assert_eq!(
            t,
            Token {
                left_id: 1,
                right_id: 2,
                pos_id: 3,
                word_cost: -2,
                feature: 5,
                compound: 6
            }
        );
    }
}
