//! Zeroed, 64-byte aligned buffers for packed weights, in 2 MB pages where the system
//! allows.
//!
//! Why: a prepacked BERT-base is 325 MB (f32) that every forward streams from memory. In
//! 4 KB pages that is some 80,000 pages per pass, each a TLB miss and a page walk, and
//! the hardware prefetchers stop at every page boundary. With transparent huge pages the
//! same bytes take 160 pages (measured: one headline about 1.5 % faster).
//!
//! How: a buffer of 2 MB or more is an anonymous mapping whose length is rounded up to a
//! whole number of 2 MB pages (Linux then places it on a 2 MB boundary), and its whole
//! 2 MB pages that hold data ask for huge pages (`madvise(MADV_HUGEPAGE)`; only a hint,
//! honoured when THP is `always` or `madvise`). The partly used last page stays in small
//! pages, so no memory is spent on padding. Smaller buffers, and any system that refuses
//! the mapping, use the heap: same bytes, small pages.

use memmap2::MmapMut;

use super::pack::Chunk;

/// Size of one huge page on x86-64 and aarch64 (4 KB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// A zero-filled byte buffer, 64-byte aligned (see the module docs).
pub(crate) struct HugeBuf {
    mem: Storage,
    len: usize,
}

enum Storage {
    Mapped(MmapMut),
    Heap(Vec<Chunk>),
}

impl HugeBuf {
    /// `len` zero bytes.
    pub(crate) fn zeroed(len: usize) -> HugeBuf {
        let mem = if len >= HUGE_PAGE {
            match MmapMut::map_anon(len.div_ceil(HUGE_PAGE) * HUGE_PAGE) {
                Ok(map) => {
                    // Only a hint: without it the pages are small, the bytes the same.
                    #[cfg(target_os = "linux")]
                    let _ =
                        map.advise_range(memmap2::Advice::HugePage, 0, len / HUGE_PAGE * HUGE_PAGE);
                    Storage::Mapped(map)
                }
                Err(_) => Storage::Heap(Vec::new()),
            }
        } else {
            Storage::Heap(Vec::new())
        };
        let mem = match mem {
            Storage::Heap(_) => Storage::Heap(vec![
                <Chunk as bytemuck::Zeroable>::zeroed();
                len.div_ceil(64)
            ]),
            mapped => mapped,
        };
        HugeBuf { mem, len }
    }

    /// Bytes held (rounded up to whole 64-byte chunks on the heap).
    pub(crate) fn capacity(&self) -> usize {
        match &self.mem {
            Storage::Mapped(m) => m.len(),
            Storage::Heap(v) => v.len() * 64,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.mem {
            Storage::Mapped(m) => &m[..self.len],
            Storage::Heap(v) => &bytemuck::cast_slice(v)[..self.len],
        }
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match &mut self.mem {
            Storage::Mapped(m) => &mut m[..self.len],
            Storage::Heap(v) => &mut bytemuck::cast_slice_mut(v)[..self.len],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_aligned_and_writable_on_both_sides_of_the_huge_page_size() {
        for len in [
            0,
            1,
            63,
            64,
            4096,
            HUGE_PAGE - 1,
            HUGE_PAGE,
            HUGE_PAGE + 4100,
        ] {
            let mut buf = HugeBuf::zeroed(len);
            assert_eq!(buf.bytes().len(), len);
            assert!(buf.capacity() >= len);
            assert!(buf.bytes().iter().all(|&b| b == 0), "len {len}: not zeroed");
            assert_eq!(
                buf.bytes().as_ptr() as usize % 64,
                0,
                "len {len}: misaligned"
            );
            for (i, b) in buf.bytes_mut().iter_mut().enumerate() {
                *b = i as u8;
            }
            assert!(buf.bytes().iter().enumerate().all(|(i, &b)| b == i as u8));
        }
    }
}
