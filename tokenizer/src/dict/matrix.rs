//! `matrix.bin`: connection costs between adjacent words.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use crate::dict::map_file;
use crate::error::TokenizerError;

/// The connection-cost matrix: `u16 lsize, u16 rsize`, then `lsize * rsize` i16.
/// The cost of `prev` followed by `next` is `costs[prev.right_id + lsize * next.left_id]`.
/// Cloning shares the mapping.
#[derive(Clone, Debug)]
pub struct Matrix {
    path: PathBuf,
    mmap: Arc<Mmap>,
    lsize: usize,
    rsize: usize,
}

impl Matrix {
    /// Maps and validates `matrix.bin`.
    pub fn open(path: &Path) -> Result<Matrix, TokenizerError> {
        let mmap = map_file(path)?;
        let corrupt = |reason: String| TokenizerError::CorruptDictionary {
            path: path.to_path_buf(),
            reason,
        };
        if mmap.len() < 4 {
            return Err(corrupt(format!(
                "{} bytes, shorter than its header",
                mmap.len()
            )));
        }
        let lsize = u16::from_le_bytes([mmap[0], mmap[1]]) as usize;
        let rsize = u16::from_le_bytes([mmap[2], mmap[3]]) as usize;
        let expected = 4 + 2 * lsize * rsize;
        if mmap.len() != expected {
            return Err(corrupt(format!(
                "a {lsize}x{rsize} matrix needs {expected} bytes but the file has {}",
                mmap.len()
            )));
        }
        if bytemuck::try_cast_slice::<u8, i16>(&mmap[4..]).is_err() {
            return Err(corrupt("cost table is misaligned".into()));
        }
        Ok(Matrix {
            path: path.to_path_buf(),
            mmap: Arc::new(mmap),
            lsize,
            rsize,
        })
    }

    /// Number of right ids of a preceding word (the stride of one row).
    pub fn lsize(&self) -> usize {
        self.lsize
    }

    /// Number of left ids of a following word (the number of rows).
    pub fn rsize(&self) -> usize {
        self.rsize
    }

    /// Where the matrix was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [rsize, lsize] costs, little-endian i16: row `next.left_id`, column `prev.right_id`.
    #[inline]
    pub fn costs(&self) -> &[i16] {
        bytemuck::try_cast_slice(&self.mmap[4..]).unwrap_or(&[])
    }

    /// Connection cost of a word with right id `right_id` followed by one with left id
    /// `left_id` (0 when out of range, which validated tokens never are).
    #[inline]
    pub fn cost(&self, right_id: u16, left_id: u16) -> i16 {
        let i = right_id as usize + self.lsize * left_id as usize;
        self.costs().get(i).map_or(0, |&c| i16::from_le(c))
    }
}
