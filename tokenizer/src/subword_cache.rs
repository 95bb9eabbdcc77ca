//! A per-worker memo of WordPiece results by surface.
//!
//! Text repeats its words: in news bodies a few thousand surfaces make up most MeCab words.
//! WordPiece on a surface that is not one vocabulary token probes the vocabulary (a table
//! of a megabyte or more, mostly out of cache) once per candidate length and piece. The
//! memo keeps the last result per slot of a small direct-mapped table, so a repeated surface
//! costs one probe into memory that stays cached. Results are a pure function of the
//! surface (same vocabulary, same worker), so the output is unchanged.

use crate::vocab::{hash_packed, pack, Vocab, INLINE};
use crate::wordpiece::{split_surface, SubwordMode};

/// Slots in the table (a power of two): 4096 x 40 bytes = 160 KB.
const SLOTS: usize = 4096;
/// Most pieces one memoized surface may have; longer results are not kept.
const PIECES: usize = 4;

/// One memoized surface: its [`pack`]ed bytes and its pieces, contiguous from byte 0.
/// All zeros is an empty slot.
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Slot {
    key: [u64; 2],
    /// [PIECES] token ids.
    ids: [u32; PIECES],
    /// [PIECES] byte end of each piece in the surface.
    ends: [u8; PIECES],
    /// Number of pieces; 0 marks an empty slot.
    len: u8,
    _pad: [u8; 3],
}

/// A slot's bytes, for allocating the table as zeroed memory (which the system hands out
/// lazily): a worker that encodes one short text touches a few pages, not 160 KB.
type SlotWords = [u64; 5];

/// WordPiece results of recent surfaces.
#[derive(Debug, Default)]
pub(crate) struct SubwordCache {
    /// [SLOTS] slots, allocated at the first WordPiece split.
    slots: Vec<SlotWords>,
}

impl SubwordCache {
    /// [`split_surface`], answered from the memo when `surface` was split before.
    /// Only WordPiece results of short surfaces whose pieces tile the surface are kept
    /// (character mode is already a direct lookup per character).
    pub fn split(
        &mut self,
        vocab: &Vocab,
        mode: SubwordMode,
        unk_id: u32,
        surface: &str,
        scratch: &mut String,
        emit: &mut impl FnMut(u32, usize, usize),
    ) {
        if mode != SubwordMode::WordPiece || surface.is_empty() || surface.len() > INLINE {
            split_surface(vocab, mode, unk_id, surface, scratch, emit);
            return;
        }
        if self.slots.is_empty() {
            self.slots = vec![[0; 5]; SLOTS];
        }
        let slots: &mut [Slot] = bytemuck::cast_slice_mut(&mut self.slots[..]);
        let key = pack(surface.as_bytes());
        let i = (hash_packed(key) >> (64 - SLOTS.trailing_zeros())) as usize;
        let slot = &slots[i];
        if slot.len > 0 && slot.key == key {
            let mut start = 0;
            for (&id, &end) in slot.ids.iter().zip(&slot.ends).take(slot.len as usize) {
                emit(id, start, end as usize);
                start = end as usize;
            }
            return;
        }
        let mut fresh = Slot {
            key,
            ..Slot::default()
        };
        let mut tiles = true;
        let mut covered = 0;
        split_surface(vocab, mode, unk_id, surface, scratch, &mut |id, s, e| {
            emit(id, s, e);
            if s != covered || fresh.len as usize == PIECES {
                tiles = false;
            } else {
                fresh.ids[fresh.len as usize] = id;
                fresh.ends[fresh.len as usize] = e as u8;
                fresh.len += 1;
            }
            covered = e;
        });
        if tiles && covered == surface.len() && fresh.len > 0 {
            slots[i] = fresh;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(
        cache: &mut SubwordCache,
        vocab: &Vocab,
        mode: SubwordMode,
        s: &str,
    ) -> Vec<(u32, usize, usize)> {
        let mut out = Vec::new();
        let mut scratch = String::new();
        cache.split(vocab, mode, 1, s, &mut scratch, &mut |id, a, b| {
            out.push((id, a, b))
        });
        out
    }

    /// Repeated and colliding surfaces (more surfaces than slots) give exactly what
    /// `split_surface` gives, first time and every time after.
    #[test]
    fn memo_answers_equal_direct_splits() {
        let vocab = Vocab::from_text(
            "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n東京\n東\n##京\n##都\n都\nab\n##c\n##bc\na\n##a\n",
        );
        let mut surfaces: Vec<String> =
            ["東京都", "東京", "abc", "ab c", "都", "x", "aaaa", "aaaaa"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        for i in 0..3 * SLOTS {
            surfaces.push(format!("a{}", "a".repeat(i % 14)));
            surfaces.push(format!("東{i}"));
        }
        surfaces.push("東京都東京都東京".into()); // more than INLINE bytes
        let mut cache = SubwordCache::default();
        for round in 0..2 {
            for s in &surfaces {
                for mode in [SubwordMode::WordPiece, SubwordMode::Character] {
                    let mut direct = Vec::new();
                    split_surface(&vocab, mode, 1, s, &mut String::new(), &mut |id, a, b| {
                        direct.push((id, a, b))
                    });
                    let memo = pieces(&mut cache, &vocab, mode, s);
                    assert_eq!(memo, direct, "round {round} {mode:?} {s:?}");
                }
            }
        }
    }
}
