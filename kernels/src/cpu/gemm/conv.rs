//! Value conversions applied while packing an operand (source `S` -> packed element `E`).
//!
//! Any closure `Fn(S) -> E` is a conversion (the generic packer calls it per value). The
//! three conversions of f32 activations the GEMMs use on their hot paths are also named
//! types ([`Identity`], [`RoundToBf16`], [`ToBf16`]): a named one tells the packer what it
//! computes ([`RowConv`]), so row-major f32 operands can take the AVX-512 row packer
//! (`pack_avx512.rs`), which computes the same values with integer vector ops.

// The row packer exists on x86-64 only: elsewhere the row-packer hooks go unused.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use half::bf16 as Bf16;

use super::pack::f32_to_bf16;

/// A conversion of one source value into one packed element.
pub(crate) trait Convert<S, E>: Copy + Sync {
    /// The packed element of `x`.
    fn convert(&self, x: S) -> E;

    /// If this conversion is one the AVX-512 row packer implements: which one, and `src`
    /// seen as f32 (what `S` is for those conversions). `None`: only the generic packer.
    fn f32_rows<'a>(&self, _src: &'a [S]) -> Option<(RowConv, &'a [f32])> {
        None
    }
}

impl<S, E, F: Fn(S) -> E + Copy + Sync> Convert<S, E> for F {
    #[inline(always)]
    fn convert(&self, x: S) -> E {
        self(x)
    }
}

/// The f32 conversions the AVX-512 row packer implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowConv {
    /// f32 -> f32 unchanged (bits kept, NaN payloads too); K groups of 1.
    Copy,
    /// f32 -> f32 rounded to bf16 ([`f32_to_bf16`]) and widened back exactly; K groups of 1.
    RoundToBf16,
    /// f32 -> bf16 ([`f32_to_bf16`]); K pairs (groups of 2).
    ToBf16,
}

impl RowConv {
    /// K values per packed group (4 bytes).
    pub(crate) fn group(self) -> usize {
        match self {
            RowConv::Copy | RowConv::RoundToBf16 => 1,
            RowConv::ToBf16 => 2,
        }
    }
}

/// f32 -> f32 unchanged.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Identity;

impl Convert<f32, f32> for Identity {
    #[inline(always)]
    fn convert(&self, x: f32) -> f32 {
        x
    }

    fn f32_rows<'a>(&self, src: &'a [f32]) -> Option<(RowConv, &'a [f32])> {
        Some((RowConv::Copy, src))
    }
}

/// f32 -> f32 rounded to bf16 (nearest even) and widened back: what an f32 kernel
/// multiplies when it stands in for a bf16 one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RoundToBf16;

impl Convert<f32, f32> for RoundToBf16 {
    #[inline(always)]
    fn convert(&self, x: f32) -> f32 {
        f32_to_bf16(x).to_f32()
    }

    fn f32_rows<'a>(&self, src: &'a [f32]) -> Option<(RowConv, &'a [f32])> {
        Some((RowConv::RoundToBf16, src))
    }
}

/// f32 -> bf16, nearest even ([`f32_to_bf16`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ToBf16;

impl Convert<f32, Bf16> for ToBf16 {
    #[inline(always)]
    fn convert(&self, x: f32) -> Bf16 {
        f32_to_bf16(x)
    }

    fn f32_rows<'a>(&self, src: &'a [f32]) -> Option<(RowConv, &'a [f32])> {
        Some((RowConv::ToBf16, src))
    }
}
