//! The Darts double array MeCab stores its dictionary keys in.
//!
//! 8-byte units `{i32 base, u32 check}`. From `b = unit[0].base`, input byte `c` moves to
//! `p = b + c + 1` iff `unit[p].check == b` (then `b = unit[p].base`). A key ends at `b` iff
//! `unit[b].check == b` and `unit[b].base < 0`; its value is `-base - 1`.
//!
//! Every index is bounds-checked: Darts does not pad its array, so a transition past the
//! end is simply absent (MeCab would read whatever follows in memory).

/// A read-only view of a double array.
#[derive(Clone, Copy, Debug)]
pub struct DoubleArray<'a> {
    /// [N] units `[base, check]`, little-endian.
    units: &'a [[u32; 2]],
}

impl<'a> DoubleArray<'a> {
    /// Wraps units read from a dictionary file.
    pub fn new(units: &'a [[u32; 2]]) -> Self {
        DoubleArray { units }
    }

    /// The units, as stored.
    pub fn units(&self) -> &'a [[u32; 2]] {
        self.units
    }

    /// Number of units.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// Whether the array has no units.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    #[inline]
    fn unit(&self, p: usize) -> Option<(i32, u32)> {
        self.units
            .get(p)
            .map(|u| (u32::from_le(u[0]) as i32, u32::from_le(u[1])))
    }

    /// The value stored for a key ending at node `b`, if one ends there.
    #[inline]
    fn value_at(&self, b: i32) -> Option<u32> {
        if b < 0 {
            return None;
        }
        match self.unit(b as usize) {
            Some((base, check)) if check == b as u32 && base < 0 => {
                Some((-(base as i64) - 1) as u32)
            }
            _ => None,
        }
    }

    /// Follows byte `c` from node `b`.
    #[inline]
    fn step(&self, b: i32, c: u8) -> Option<i32> {
        let p = b as i64 + c as i64 + 1;
        if p < 0 {
            return None;
        }
        match self.unit(p as usize) {
            Some((base, check)) if check == b as u32 => Some(base),
            _ => None,
        }
    }

    /// Calls `found(value, byte_length)` for every key that is a prefix of `key`, shortest
    /// first (MeCab's `commonPrefixSearch`).
    #[inline]
    pub fn common_prefix_search(&self, key: &[u8], mut found: impl FnMut(u32, usize)) {
        let Some((mut b, _)) = self.unit(0) else {
            return;
        };
        for (i, &c) in key.iter().enumerate() {
            if let Some(v) = self.value_at(b) {
                found(v, i);
            }
            match self.step(b, c) {
                Some(next) => b = next,
                None => return,
            }
        }
        if let Some(v) = self.value_at(b) {
            found(v, key.len());
        }
    }

    /// Hints the CPU to start loading what a search resumed at node `b` with next byte
    /// `c` reads first (the end check at `b` and the step on `c`): lookups at the next
    /// position then find them in cache.
    #[inline]
    pub fn prefetch(&self, b: i32, c: u8) {
        if b >= 0 {
            prefetch(self.units, b as usize);
            prefetch(self.units, b as usize + c as usize + 1);
        }
    }

    /// The root node (where every search starts).
    #[inline]
    pub fn root(&self) -> Option<i32> {
        self.unit(0).map(|(base, _)| base)
    }

    /// The node reached from `b` by consuming all of `bytes`, if every step exists.
    pub fn walk(&self, mut b: i32, bytes: &[u8]) -> Option<i32> {
        for &c in bytes {
            b = self.step(b, c)?;
        }
        Some(b)
    }

    /// [`DoubleArray::common_prefix_search`] over UTF-8 text resumed at node `b`, reached by
    /// consuming `key[..start]` (`start` a character boundary). Ends are only looked for at
    /// character boundaries (and at the end of `key`): a word never splits a character.
    ///
    /// This is where tokken deliberately differs from MeCab, which matches bytes: a key that
    /// ends inside a character would make MeCab cut the text there and print invalid UTF-8.
    /// Sound dictionaries have no such key; Debian's jumandic has one (`で` and the first two
    /// bytes of a hiragana, left by a broken conversion), which MeCab picks in about one
    /// random mixed-script line in 3,200 and never in the livedoor corpus.
    #[inline]
    pub fn common_prefix_search_utf8_from(
        &self,
        mut b: i32,
        key: &[u8],
        start: usize,
        mut found: impl FnMut(u32, usize),
    ) {
        for (i, &c) in key.iter().enumerate().skip(start) {
            if c & 0xC0 != 0x80 {
                if let Some(v) = self.value_at(b) {
                    found(v, i);
                }
            }
            match self.step(b, c) {
                Some(next) => b = next,
                None => return,
            }
        }
        if let Some(v) = self.value_at(b) {
            found(v, key.len());
        }
    }

    /// The value stored for exactly `key` (MeCab's `exactMatchSearch`).
    pub fn exact_match(&self, key: &[u8]) -> Option<u32> {
        let (mut b, _) = self.unit(0)?;
        for &c in key {
            b = self.step(b, c)?;
        }
        self.value_at(b)
    }

    /// Every value a lookup could ever return (units that end a key), for load-time checks.
    pub fn values(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.units.len()).filter_map(move |i| {
            if i > i32::MAX as usize {
                return None;
            }
            self.value_at(i as i32)
        })
    }
}

/// Starts loading `slice[i]` into cache (no-op when out of range or not on x86-64).
#[inline]
fn prefetch<T>(slice: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = slice.get(i) {
        // SAFETY: prefetching only hints the cache; the pointer is valid and never read here.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (x as *const T).cast::<i8>(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slice, i);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-built array holding "a" -> 5 and "ab" -> 7.
    fn tiny() -> Vec<[u32; 2]> {
        // root base 1: 'a' (0x61) goes to 1 + 0x61 + 1 = 99, check 1.
        // node 99 has base 200: terminal at 200 (check 200, base -6 => value 5),
        // 'b' (0x62) goes to 200 + 0x62 + 1 = 299, check 200, base 300;
        // terminal at 300 (check 300, base -8 => value 7).
        let mut u = vec![[0u32, u32::MAX]; 301];
        u[0] = [1, 0];
        u[99] = [200, 1];
        u[200] = [(-6i32) as u32, 200];
        u[299] = [300, 200];
        u[300] = [(-8i32) as u32, 300];
        u
    }

    #[test]
    fn prefix_and_exact() {
        let units = tiny();
        let da = DoubleArray::new(&units);
        let mut hits = vec![];
        da.common_prefix_search(b"abc", |v, l| hits.push((v, l)));
        assert_eq!(hits, vec![(5, 1), (7, 2)]);
        assert_eq!(da.exact_match(b"ab"), Some(7));
        assert_eq!(da.exact_match(b"b"), None);
        let mut vals: Vec<u32> = da.values().collect();
        vals.sort();
        assert_eq!(vals, vec![5, 7]);
    }

    #[test]
    fn resumed_utf8_search_matches_plain_search() {
        let units = tiny();
        let da = DoubleArray::new(&units);
        let b = da.walk(da.root().unwrap(), b"a").unwrap();
        let mut hits = vec![];
        da.common_prefix_search_utf8_from(b, b"abc", 1, |v, l| hits.push((v, l)));
        assert_eq!(hits, vec![(5, 1), (7, 2)]);
        assert_eq!(da.walk(da.root().unwrap(), b"b"), None);
    }

    #[test]
    fn out_of_range_transitions_are_absent() {
        let units = tiny();
        let da = DoubleArray::new(&units[..250]);
        let mut hits = vec![];
        da.common_prefix_search(b"ab", |v, l| hits.push((v, l)));
        assert_eq!(hits, vec![(5, 1)]);
        let empty = DoubleArray::new(&[]);
        empty.common_prefix_search(b"ab", |_, _| panic!("no keys"));
    }
}
