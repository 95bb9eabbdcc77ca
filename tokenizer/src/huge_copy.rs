//! Read-mostly tables copied into anonymous memory that asks for huge pages.
//!
//! The lattice reads the double array (18 MB for unidic-lite) and the per-token context ids
//! (4.5 MB) at random, several times per character. Mapped from the file, or on the heap,
//! they sit in 4 KB pages: thousands of pages, more than the TLB holds, so many of those
//! reads also walk the page tables. In 2 MB pages a dozen entries cover them (measured:
//! analysis +6 %, dictionary load +20 ms). The copies are the same bytes.

use std::path::Path;

use memmap2::MmapMut;

use crate::error::TokenizerError;

/// A copy of some `T`s in anonymous memory with a huge-page hint.
#[derive(Debug)]
pub struct HugeCopy<T> {
    mem: MmapMut,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: bytemuck::Pod> HugeCopy<T> {
    /// Copies `items`; `path` names the file they came from, for errors.
    pub fn new(items: &[T], path: &Path) -> Result<HugeCopy<T>, TokenizerError> {
        let bytes: &[u8] = bytemuck::cast_slice(items);
        let mut mem =
            MmapMut::map_anon(bytes.len().max(1)).map_err(|source| TokenizerError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        // Only a hint: without huge pages the copy is the same, just in small pages.
        #[cfg(target_os = "linux")]
        let _ = mem.advise(memmap2::Advice::HugePage);
        mem[..bytes.len()].copy_from_slice(bytes);
        Ok(HugeCopy {
            mem,
            len: items.len(),
            _t: std::marker::PhantomData,
        })
    }

    /// The copied items.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        // An anonymous map is page-aligned, so any Pod type's alignment holds.
        bytemuck::try_cast_slice(&self.mem[..self.len * std::mem::size_of::<T>()]).unwrap_or(&[])
    }
}
