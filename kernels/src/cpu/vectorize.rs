//! Runtime ISA dispatch for the element-wise and row-wise kernels.
//!
//! [`multiversion!`] compiles one function body three times: portable (SSE2 on x86-64, NEON
//! on aarch64) and, on x86-64, with AVX2+FMA and with AVX-512F enabled; the widest copy the
//! CPU supports is picked at run time. The bodies are plain loops over fixed-width lane arrays that LLVM
//! vectorizes, and all copies give bit-identical results: the only fused multiply-adds are
//! explicit `mul_add`s (the polynomials of `math`), one `vfmadd` in the AVX2/AVX-512 copies
//! and libm's correctly rounded `fmaf` in the portable one (slower there on x86-64 CPUs
//! without FMA, the same bits).
//!
//! Helpers called from a multiversioned body must be `#[inline(always)]` so they are
//! compiled with the caller's target features.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// Lanes of the fixed-width accumulators (two AVX2 registers; independent lanes let LLVM
/// vectorize reductions without reassociating floating-point sums).
pub const LANES: usize = 16;

/// Instruction-set levels the multiversioned kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Baseline of the target (SSE2 on x86-64, NEON on aarch64).
    Portable = 0,
    /// AVX2 + FMA (x86-64).
    Avx2 = 1,
    /// AVX-512F (x86-64).
    Avx512 = 2,
}

static ISA_CAP: AtomicU8 = AtomicU8::new(Isa::Avx512 as u8);

/// The best level this CPU supports (detected once).
pub fn detected_isa() -> Isa {
    static DETECTED: OnceLock<Isa> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    })
}

/// Caps the level used from now on, process-wide (tests and benchmarks compare the
/// copies; all of them give bit-identical results).
pub fn limit_isa(max: Isa) {
    ISA_CAP.store(max as u8, Ordering::Relaxed);
}

/// The level the kernels use: the detected one, capped by [`limit_isa`].
pub fn isa() -> Isa {
    let cap = ISA_CAP.load(Ordering::Relaxed);
    let det = detected_isa();
    if (det as u8) <= cap {
        det
    } else if cap >= Isa::Avx2 as u8 {
        Isa::Avx2
    } else {
        Isa::Portable
    }
}

/// Defines `fn $name(..)` whose body runs with AVX-512F or AVX2+FMA when the CPU has them
/// (see [`isa`]).
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn generic($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    generic($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    generic($($arg),*)
                }
                match $crate::cpu::vectorize::isa() {
                    // SAFETY: `isa()` never exceeds what the CPU supports.
                    $crate::cpu::vectorize::Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::cpu::vectorize::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::cpu::vectorize::Isa::Portable => {}
                }
            }
            generic($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Sum of `x` with [`LANES`] independent partial sums (vectorizable, deterministic).
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for ch in chunks {
        for l in 0..LANES {
            acc[l] += ch[l];
        }
    }
    reduce(acc) + tail.iter().sum::<f32>()
}

/// Dot product of `a` and `b` (same length) with [`LANES`] partial sums.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    reduce(acc) + tail
}

/// Sum of squared deviations from `mean` (second pass of a two-pass variance).
#[inline(always)]
pub fn sum_sq_dev(x: &[f32], mean: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    for ch in chunks {
        for l in 0..LANES {
            let d = ch[l] - mean;
            acc[l] += d * d;
        }
    }
    reduce(acc) + tail
}

/// Maximum of `x` (`-inf` when empty).
#[inline(always)]
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for ch in chunks {
        for l in 0..LANES {
            acc[l] = acc[l].max(ch[l]);
        }
    }
    acc.iter().fold(tail, |m, &v| m.max(v))
}

/// `y += a * x`.
#[inline(always)]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (yv, xv) in y.iter_mut().zip(x) {
        *yv += a * xv;
    }
}

/// Pairwise tree sum of the lanes (fixed order).
#[inline(always)]
fn reduce(acc: [f32; LANES]) -> f32 {
    let mut h = [0.0f32; LANES / 2];
    for l in 0..LANES / 2 {
        h[l] = acc[l] + acc[l + LANES / 2];
    }
    let mut q = [0.0f32; LANES / 4];
    for l in 0..LANES / 4 {
        q[l] = h[l] + h[l + LANES / 4];
    }
    (q[0] + q[2]) + (q[1] + q[3])
}

/// A mutable slice shared by parallel tasks that write provably disjoint index sets
/// (e.g. different heads' columns of `[B, T, C]`), which safe slices cannot express.
pub(crate) struct DisjointMut<'a> {
    ptr: *mut f32,
    len: usize,
    _borrow: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: callers only create non-overlapping sub-slices from different threads.
unsafe impl Send for DisjointMut<'_> {}
unsafe impl Sync for DisjointMut<'_> {}

impl<'a> DisjointMut<'a> {
    pub(crate) fn new(s: &'a mut [f32]) -> Self {
        Self {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            _borrow: std::marker::PhantomData,
        }
    }

    /// `s[start..start + len]`.
    ///
    /// # Safety
    /// No two live slices obtained from `self` may overlap.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.len, "DisjointMut: range out of bounds");
        std::slice::from_raw_parts_mut(self.ptr.add(start), len)
    }
}
