//! A simple caching device allocator: freed buffers go back to a pool keyed by element
//! type and length, and the next request for the same shape reuses one instead of calling
//! `cuMemAlloc` (slow and synchronising). Training allocates the same shapes every step,
//! so after the first step nothing new is allocated.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaSlice, CudaStream, DeviceRepr, ValidAsZeroBits};

use super::error::CudaError;

/// Free buffers by (element type, length); each box holds a `CudaSlice<T>` of that type.
type Pool = HashMap<(TypeId, usize), Vec<Box<dyn Any + Send>>>;

/// Pool of free device buffers for one stream.
pub struct CachingAllocator {
    stream: Arc<CudaStream>,
    free: Mutex<Pool>,
}

impl CachingAllocator {
    pub fn new(stream: Arc<CudaStream>) -> Self {
        Self {
            stream,
            free: Mutex::new(HashMap::new()),
        }
    }

    /// A buffer of `len` elements with unspecified contents (a reused one when available).
    pub fn alloc<T: DeviceRepr + ValidAsZeroBits + Send + 'static>(
        &self,
        len: usize,
    ) -> Result<CudaSlice<T>, CudaError> {
        let key = (TypeId::of::<T>(), len);
        let reused = self
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&key)
            .and_then(|v| v.pop());
        if let Some(b) = reused {
            if let Ok(s) = b.downcast::<CudaSlice<T>>() {
                return Ok(*s);
            }
        }
        Ok(self.stream.alloc_zeros::<T>(len.max(1))?)
    }

    /// A zero-filled buffer of `len` elements.
    pub fn zeros<T: DeviceRepr + ValidAsZeroBits + Send + 'static>(
        &self,
        len: usize,
    ) -> Result<CudaSlice<T>, CudaError> {
        let mut s = self.alloc::<T>(len)?;
        self.stream.memset_zeros(&mut s)?;
        Ok(s)
    }

    /// Returns a buffer to the pool.
    pub fn recycle<T: DeviceRepr + Send + 'static>(&self, buf: CudaSlice<T>) {
        let key = (TypeId::of::<T>(), buf.len());
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .push(Box::new(buf));
    }

    /// Frees every pooled buffer.
    pub fn clear(&self) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
