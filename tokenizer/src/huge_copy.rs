//! Read-mostly tables copied into anonymous memory that asks for huge pages.
//!
//! The lattice reads the double array (18 MB for unidic-lite) and the per-token context ids
//! (4.5 MB) at random, several times per character. Mapped from a file, or on the heap,
//! they sit in 4 KB pages: thousands of pages, more than the TLB holds, so many of those
//! reads also walk the page tables. In 2 MB pages a dozen entries cover them (measured:
//! analysis +6 %, dictionary load about +15 ms). The copies are the same bytes. Only
//! tables of several megabytes gain: the kernel backs whole, aligned 2 MB ranges only.

use memmap2::MmapMut;

/// A copy of some `T`s in anonymous memory with a huge-page hint (on the heap should the
/// system refuse the mapping).
#[derive(Debug)]
pub struct HugeCopy<T> {
    mem: Storage<T>,
    len: usize,
}

#[derive(Debug)]
enum Storage<T> {
    Mapped(MmapMut),
    Heap(Vec<T>),
}

impl<T: bytemuck::Pod> HugeCopy<T> {
    /// Copies `items`.
    pub fn new(items: &[T]) -> HugeCopy<T> {
        let bytes: &[u8] = bytemuck::cast_slice(items);
        let mem = match MmapMut::map_anon(bytes.len().max(1)) {
            Ok(mut mem) => {
                // Only a hint: without huge pages the copy is the same, in small pages.
                #[cfg(target_os = "linux")]
                let _ = mem.advise(memmap2::Advice::HugePage);
                mem[..bytes.len()].copy_from_slice(bytes);
                Storage::Mapped(mem)
            }
            Err(_) => Storage::Heap(items.to_vec()),
        };
        HugeCopy {
            mem,
            len: items.len(),
        }
    }

    /// The copied items.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match &self.mem {
            // An anonymous map is page-aligned, so any Pod type's alignment holds.
            Storage::Mapped(m) => {
                bytemuck::try_cast_slice(&m[..self.len * std::mem::size_of::<T>()]).unwrap_or(&[])
            }
            Storage::Heap(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_item() {
        let items: Vec<[u32; 2]> = (0..100_000).map(|i| [i, i ^ 0xABCD]).collect();
        assert_eq!(HugeCopy::new(&items).as_slice(), &items[..]);
        assert!(HugeCopy::<u16>::new(&[]).as_slice().is_empty());
    }
}
