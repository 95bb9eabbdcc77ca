//! op(B) packed once: `C = alpha * op(A) · op(B) + beta * C` where the right operand (a
//! frozen weight, in either orientation) is packed into the driver's NR-column panels at
//! construction, so a call packs only A.
//!
//! Why: training multiplies by every frozen weight twice per step, `Y = X · Wᵀ` forward and
//! `dX = dY · W` for the input gradient, at 1,000+ rows, where the row-major driver with its
//! direct tile stores is the fastest path (the transposed [`super::PackedWeight`] path
//! pays for its tile copies there). Packing W per call was ≈ 6 % of a LoRA step; a
//! [`PackedB`] per orientation removes it (`Trans::T` for the forward, `Trans::N` for dX).
//!
//! The panels are those the driver would pack per task (same kernel, same K blocks, same
//! conversion), so the result is bit for bit that of [`super::sgemm_with`] /
//! [`super::gemm_f32_bf16_with`] on the same kernel, for every `beta` and thread count.
//!
//! [`gemm_packed_b_bias`] is the forward of a dense layer: C starts at the bias, bit for
//! bit the same as filling C with the bias and calling [`gemm_packed_b`] with beta = 1.
//!
//! Memory: one packed copy of the operand per orientation (K rounded up to the pair size
//! for bf16, N to a multiple of NR).

// Off x86-64 the AVX512-BF16 arms of `with_bf16_micro!` reduce to `unavailable(..)`, which
// leaves their closures unused and the macro's tail unreachable.
#![cfg_attr(
    not(target_arch = "x86_64"),
    allow(unused_variables, unused_imports, unreachable_code)
)]

use half::bf16 as Bf16;

use super::conv::{Convert, Identity, RoundToBf16, ToBf16};
use super::driver::{self, ASource, BPanels, CStart, Micro};
use super::epilogue::Epilogue;
use super::pack::{f32_to_bf16, panel_len, View};
use super::prepacked::{with_bf16_micro, with_f32_micro, Panels};
use super::{check_operand, unavailable, Bf16Kernel, Kernel, PackedKind, Trans};

/// op(B) (`k x n`) packed into the B-panel layout of one micro-kernel (see the module docs).
/// Immutable and `Send + Sync`: share it across threads.
pub struct PackedB {
    kind: PackedKind,
    k: usize,
    n: usize,
    panels: Panels,
}

impl std::fmt::Debug for PackedB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedB")
            .field("kind", &self.kind)
            .field("k", &self.k)
            .field("n", &self.n)
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl PackedB {
    /// Pack f32 op(B), `k x n`: `b` stored `[k, n]` (`Trans::N`) or `[n, k]` (`Trans::T`)
    /// with row stride `ldb`, as [`super::sgemm`] reads it. Bf16 kinds round it to bf16
    /// (nearest even). Panics on a short slice or if this CPU lacks the kernel.
    pub fn from_f32(
        kind: PackedKind,
        tb: Trans,
        b: &[f32],
        ldb: usize,
        k: usize,
        n: usize,
    ) -> PackedB {
        check_operand("b", tb, k, n, b.len(), ldb);
        let view = View::b(tb, b, ldb);
        match kind {
            PackedKind::F32(kernel) | PackedKind::Bf16(Bf16Kernel::F32(kernel)) => {
                let round = matches!(kind, PackedKind::Bf16(_));
                let conv = move |x: f32| if round { f32_to_bf16(x).to_f32() } else { x };
                with_f32_micro!(kernel, kern => pack_b(kern, kind, view, k, n, conv))
            }
            PackedKind::Bf16(Bf16Kernel::Avx512Bf16) => {
                with_bf16_micro!(kern => pack_b(kern, kind, view, k, n, f32_to_bf16))
            }
        }
    }

    /// Pack bf16 op(B) (layout as [`PackedB::from_f32`]) for a bf16 `kind`. Panics for an
    /// f32 kind or a path this CPU lacks.
    pub fn from_bf16(
        kind: PackedKind,
        tb: Trans,
        b: &[Bf16],
        ldb: usize,
        k: usize,
        n: usize,
    ) -> PackedB {
        check_operand("b", tb, k, n, b.len(), ldb);
        let view = View::b(tb, b, ldb);
        match kind {
            PackedKind::F32(_) => panic!("gemm: bf16 operands need a bf16 PackedKind"),
            PackedKind::Bf16(Bf16Kernel::F32(kernel)) => {
                let widen = |x: Bf16| x.to_f32();
                with_f32_micro!(kernel, kern => pack_b(kern, kind, view, k, n, widen))
            }
            PackedKind::Bf16(Bf16Kernel::Avx512Bf16) => {
                let id = |x: Bf16| x;
                with_bf16_micro!(kern => pack_b(kern, kind, view, k, n, id))
            }
        }
    }

    pub fn kind(&self) -> PackedKind {
        self.kind
    }

    /// K (rows of op(B))
    pub fn k(&self) -> usize {
        self.k
    }

    /// N (columns of op(B))
    pub fn n(&self) -> usize {
        self.n
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.panels.bytes()
    }
}

fn pack_b<K: Micro, S: Copy + Sync>(
    kern: K,
    kind: PackedKind,
    b: View<'_, S>,
    k: usize,
    n: usize,
    conv: impl Fn(S) -> K::E + Sync + Copy,
) -> PackedB {
    PackedB {
        kind,
        k,
        n,
        panels: Panels::pack(kern, K::NR, b, n, k, conv),
    }
}

/// The packed panels as the driver asks for them.
struct Prepanels<'a, E> {
    panels: &'a Panels,
    elems: &'a [E],
    nr: usize,
    g: usize,
}

impl<E: bytemuck::Pod + Sync> BPanels<E> for Prepanels<'_, E> {
    fn with_panels<R>(
        &self,
        pc: usize,
        kc: usize,
        j0: usize,
        ncols: usize,
        f: impl FnOnce(&[E]) -> R,
    ) -> R {
        let blk = self
            .panels
            .blocks
            .iter()
            .find(|b| b.pc == pc)
            .expect("gemm: packed K blocks match the driver's (internal)");
        assert_eq!(blk.kc, kc, "gemm: packed K block length (internal)");
        let plen = panel_len(self.nr, kc, self.g);
        let start = blk.offset + j0 / self.nr * plen;
        f(&self.elems[start..start + ncols.div_ceil(self.nr) * plen])
    }
}

/// `C[m, n] = alpha * op(A) · op(B) + beta * C` with op(A) `m x k` (stored `[m, k]` for
/// `Trans::N`, `[k, m]` for `Trans::T`, row stride `lda`) and op(B) from `b`; `beta == 0`
/// ignores C's old contents. Bit for bit the GEMM of `b.kind()` (module docs). Panics on
/// short slices or leading dimensions, like the other entry points.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed_b(
    ta: Trans,
    m: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    let av = Operand { ta, a, lda };
    dispatch(m, alpha, av, b, CStart::Beta(beta), c, ldc);
}

/// A dense layer's forward with its weight packed once: `C[m, n] = bias + alpha · op(A) ·
/// op(B)`, `bias` `[n]` broadcast over the rows; C is write-only. Bit for bit
/// [`gemm_packed_b`] with `beta = 1` on a C whose every row was first set to `bias`, but
/// without that separate pass over C: each tile starts at the bias right before its first
/// K block (see the driver's `CStart::Bias`). Panics on short slices or leading
/// dimensions, or a bias that is not `[n]`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed_b_bias(
    ta: Trans,
    m: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    bias: &[f32],
    c: &mut [f32],
    ldc: usize,
) {
    let start = CStart::Bias(Epilogue::checked(m, b.n, bias, None));
    let av = Operand { ta, a, lda };
    dispatch(m, alpha, av, b, start, c, ldc);
}

/// Check the operands and run the product on `b`'s kernel.
fn dispatch(
    m: usize,
    alpha: f32,
    av: Operand<'_>,
    b: &PackedB,
    start: CStart<'_>,
    c: &mut [f32],
    ldc: usize,
) {
    let (k, n) = (b.k, b.n);
    check_operand("a", av.ta, m, k, av.a.len(), av.lda);
    check_operand("c", Trans::N, m, n, c.len(), ldc);
    match b.kind {
        PackedKind::F32(kernel) => {
            with_f32_micro!(kernel, kern => run(kern, m, alpha, av, Identity, true, b, start, c, ldc))
        }
        PackedKind::Bf16(Bf16Kernel::F32(kernel)) => {
            with_f32_micro!(kernel, kern => run(kern, m, alpha, av, RoundToBf16, false, b, start, c, ldc))
        }
        PackedKind::Bf16(Bf16Kernel::Avx512Bf16) => {
            with_bf16_micro!(kern => run(kern, m, alpha, av, ToBf16, false, b, start, c, ldc))
        }
    }
}

/// op(A) as given to [`gemm_packed_b`].
#[derive(Clone, Copy)]
struct Operand<'a> {
    ta: Trans,
    a: &'a [f32],
    lda: usize,
}

/// The product on kernel `kern`; `exact` says `conv_a` is the identity, so A may be read in
/// place when the kernel can.
#[allow(clippy::too_many_arguments)]
fn run<K: Micro>(
    kern: K,
    m: usize,
    alpha: f32,
    a: Operand<'_>,
    conv_a: impl Convert<f32, K::E>,
    exact: bool,
    b: &PackedB,
    start: CStart<'_>,
    c: &mut [f32],
    ldc: usize,
) {
    let src = Prepanels {
        panels: &b.panels,
        elems: b.panels.elems(),
        nr: K::NR,
        g: K::G,
    };
    let asrc = if exact && driver::direct_a::<K>(a.ta, a.lda) {
        ASource::Rows(a.a, a.lda)
    } else {
        ASource::Pack(View::a(a.ta, a.a, a.lda), conv_a)
    };
    driver::gemm_from(kern, m, b.n, b.k, alpha, asrc, &src, start, c, ldc, true);
}
