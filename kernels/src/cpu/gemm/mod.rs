//! General matrix multiply, row-major: `C = alpha * op(A) * op(B) + beta * C`.
//!
//! `op(A)` is `m x k`, `op(B)` is `k x n`, `C` is `m x n`. With [`Trans::N`] A is stored
//! `m x k` with row stride `lda`; with [`Trans::T`] it is stored `k x m` with row stride `lda`
//! (same for B). Leading dimensions may exceed the row length (sub-matrix views).
//! `beta == 0` means C is write-only: its old contents (even NaN) are ignored.
//!
//! Entry points:
//! - [`sgemm`] — f32.
//! - [`sgemm_batched`] — many independent products at fixed strides (attention
//!   `[T, HS] x [HS, T]` per head), parallel over the batch.
//! - [`gemm_bf16`] — bf16 A and B, f32 accumulation and f32 C.
//! - [`gemm_f32_bf16`] — f32 A (activations, rounded to bf16 while packing, round to nearest
//!   even) times bf16 B (pre-converted weights); what a bf16 forward pass uses.
//! - [`sgemm_bias`] / [`gemm_f32_bf16_bias`] — a dense layer `X · Wᵀ + (residual + bias)`
//!   on unpacked weights, bit for bit the matching call with beta = 1 on a C filled first;
//!   C tiles start at residual + bias (`epilogue.rs`).
//! - [`gemm_prepacked`] — `X · Wᵀ` with the weight packed once ([`PackedWeight`]), bit for
//!   bit the matching `sgemm` / `gemm_f32_bf16` call without re-packing W each time;
//!   [`gemm_prepacked_bias`] also adds a bias (and a residual), C tiles starting at them.
//! - [`gemm_packed_b`] — `op(A) · op(B)` with op(B) packed once ([`PackedB`], either
//!   orientation of a frozen weight), bit for bit the matching `sgemm` / `gemm_f32_bf16`.
//! - [`reference_sgemm`] — scalar f64-accumulating reference, for tests.
//! - `*_with` variants force a [`Kernel`] / [`Bf16Kernel`] (tests, benches).
//!
//! Dimension and slice-length contracts are checked with `assert!` (programmer errors): a
//! too-short slice or a too-small leading dimension panics with a message naming it; nothing
//! is ever read or written out of bounds.
//!
//! Implementation (BLIS-style, `driver.rs`): operands are packed (`pack.rs`, transposes and
//! strides handled there) into MR-row panels of A and NR-column panels of B, blocked by
//! KC / MC / NB, and a register-blocked micro-kernel chosen at run time
//! computes each MR x NR tile: AVX-512F 14x32 (`avx512.rs`; it reads a row-major f32 A in
//! place instead of packing it, same bits, unless the row stride is a multiple of 4 KiB;
//! on Intel cores a row-major f32 A is read in place by the 8x48 tile of `avx512_wide.rs`,
//! which gives the same bits),
//! AVX512-BF16 14x32
//! (`bf16.rs`, `vdpbf16ps`), AVX2+FMA 6x16 (`avx2.rs`), NEON 8x12 (`neon.rs`), or the
//! portable `wide` 4x16 (`portable.rs`). Large products run on rayon's global pool; small
//! ones (under 2^22 flops) stay on the calling thread.

mod batched;
mod conv;
mod driver;
mod epilogue;
mod guided;
mod huge_buf;
mod pack;
mod packed_b;
mod portable;
mod prepacked;
mod prepacked_lanes;
mod reference;
mod small;
mod transpose_tile;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avx512_wide;
#[cfg(target_arch = "x86_64")]
mod bf16;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(target_arch = "x86_64")]
mod pack_avx2;
#[cfg(target_arch = "x86_64")]
mod pack_avx512;
#[cfg(all(test, target_arch = "x86_64"))]
mod pack_check;
#[cfg(target_arch = "x86_64")]
mod prepacked_narrow;

use std::sync::OnceLock;

use half::bf16 as Bf16;

pub use batched::{sgemm_batched, sgemm_batched_with};
pub use packed_b::{gemm_packed_b, gemm_packed_b_bias, PackedB};
pub use prepacked::{gemm_prepacked, gemm_prepacked_bias, PackedKind, PackedWeight};
pub use prepacked_lanes::{
    gemm_prepacked_lanes, gemm_prepacked_lanes_from, lanes_supported, RowsOp, LANE_PANEL_ROWS,
    LANE_TOKENS,
};
pub use reference::reference_sgemm;
pub use small::sgemm_unpacked;

use pack::View;

/// Whether an operand is used as stored (`N`) or transposed (`T`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trans {
    N,
    T,
}

/// An f32 micro-kernel. [`Kernel::best`] is what the plain entry points use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512F, 14 x 32 tile (x86-64).
    Avx512,
    /// AVX2 + FMA, 6 x 16 tile (x86-64).
    Avx2,
    /// NEON, 8 x 12 tile (aarch64).
    Neon,
    /// `wide::f32x8`, 4 x 16 tile (any CPU).
    Portable,
}

impl Kernel {
    /// Every kernel, fastest first.
    pub const ALL: [Kernel; 4] = [Kernel::Avx512, Kernel::Avx2, Kernel::Neon, Kernel::Portable];

    /// Human-readable name with the tile shape.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512f 14x32",
            Kernel::Avx2 => "avx2+fma 6x16",
            Kernel::Neon => "neon 8x12",
            Kernel::Portable => "portable wide 4x16",
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => avx512::Avx512F32::new().is_some(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2::Avx2F32::new().is_some(),
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => neon::NeonF32::new().is_some(),
            Kernel::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The kernels this CPU can run, fastest first.
    pub fn available() -> Vec<Kernel> {
        Kernel::ALL
            .into_iter()
            .filter(|k| k.is_available())
            .collect()
    }

    /// The fastest available kernel (detected once).
    pub fn best() -> Kernel {
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(|| Kernel::available()[0])
    }
}

/// How a bf16 GEMM computes: natively with `vdpbf16ps`, or by converting the bf16 inputs to
/// f32 exactly while packing and running an f32 kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AVX512-BF16 `vdpbf16ps`, 14 x 32 tile (x86-64).
    Avx512Bf16,
    /// Exact bf16 -> f32 conversion in packing, then this f32 kernel.
    F32(Kernel),
}

impl Bf16Kernel {
    /// Human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Kernel::Avx512Bf16 => "avx512bf16 14x32 (vdpbf16ps)",
            Bf16Kernel::F32(Kernel::Avx512) => "bf16->f32 + avx512f 14x32",
            Bf16Kernel::F32(Kernel::Avx2) => "bf16->f32 + avx2+fma 6x16",
            Bf16Kernel::F32(Kernel::Neon) => "bf16->f32 + neon 8x12",
            Bf16Kernel::F32(Kernel::Portable) => "bf16->f32 + portable wide 4x16",
        }
    }

    /// Whether this CPU can run it.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Bf16Kernel::Avx512Bf16 => bf16::Avx512Bf16::new().is_some(),
            #[cfg(not(target_arch = "x86_64"))]
            Bf16Kernel::Avx512Bf16 => false,
            Bf16Kernel::F32(k) => k.is_available(),
        }
    }

    /// The bf16 paths this CPU can run, `vdpbf16ps` first, then the widening ones fastest
    /// first (see [`Bf16Kernel::best`] for which runs by default).
    pub fn available() -> Vec<Bf16Kernel> {
        std::iter::once(Bf16Kernel::Avx512Bf16)
            .chain(Kernel::available().into_iter().map(Bf16Kernel::F32))
            .filter(|k| k.is_available())
            .collect()
    }

    /// The fastest available bf16 path (chosen once per process).
    ///
    /// `vdpbf16ps` is not always the fastest: Sapphire / Emerald Rapids issue it at a quarter
    /// of the FMA rate, so there exact widening to f32 and the f32 kernel run twice as fast.
    /// Where both can run, a short probe ([`crate::cpu::peak::bf16_dot_outpaces_f32_fma`])
    /// decides. `TOKKEN_BF16_KERNEL=vdpbf16ps` or `=f32` forces one (tests, benches).
    pub fn best() -> Bf16Kernel {
        static BEST: OnceLock<Bf16Kernel> = OnceLock::new();
        *BEST.get_or_init(|| {
            let widened = Bf16Kernel::F32(Kernel::best());
            let native = Bf16Kernel::Avx512Bf16;
            if !native.is_available() {
                return widened;
            }
            match std::env::var("TOKKEN_BF16_KERNEL").as_deref() {
                Ok("vdpbf16ps") => native,
                Ok("f32") => widened,
                Ok(other) => {
                    eprintln!(
                        "warning: TOKKEN_BF16_KERNEL={other:?} is not `vdpbf16ps` or `f32`; \
                         choosing by speed"
                    );
                    Self::faster(native, widened)
                }
                Err(_) => Self::faster(native, widened),
            }
        })
    }

    /// `native` where `vdpbf16ps` outpaces f32 FMAs on this CPU, else `widened`.
    fn faster(native: Bf16Kernel, widened: Bf16Kernel) -> Bf16Kernel {
        if crate::cpu::peak::bf16_dot_outpaces_f32_fma() {
            native
        } else {
            widened
        }
    }
}

/// Name of the f32 micro-kernel chosen at run time on this CPU.
pub fn selected_kernel() -> &'static str {
    Kernel::best().name()
}

/// Cache blocking of the f32 kernel chosen at run time on this CPU (the AVX-512 kernel picks
/// it per CPU; `TOKKEN_GEMM_BLOCKING=l2|l3` forces one).
pub fn selected_blocking() -> String {
    #[cfg(target_arch = "x86_64")]
    if Kernel::best() == Kernel::Avx512 {
        return avx512::blocking_name();
    }
    "fixed".to_string()
}

/// Name of the bf16 path chosen at run time on this CPU.
pub fn selected_bf16_kernel() -> &'static str {
    Bf16Kernel::best().name()
}

/// Check one operand: `op(X)` is `rows x cols`, stored `rows x cols` (`N`) or `cols x rows`
/// (`T`) with row stride `ld`, in a slice of `len` elements.
fn check_operand(name: &str, trans: Trans, rows: usize, cols: usize, len: usize, ld: usize) {
    let (sr, sc) = match trans {
        Trans::N => (rows, cols),
        Trans::T => (cols, rows),
    };
    assert!(
        ld >= sc.max(1),
        "gemm: ld{name} = {ld} is smaller than the stored row length {sc} of {name}"
    );
    if sr > 0 && sc > 0 {
        let need = (sr - 1)
            .checked_mul(ld)
            .and_then(|x| x.checked_add(sc))
            .unwrap_or_else(|| {
                panic!("gemm: {name} extent {sr} x {sc} with ld{name} = {ld} overflows")
            });
        assert!(
            len >= need,
            "gemm: {name} has {len} elements but a {sr} x {sc} matrix with ld{name} = {ld} needs {need}"
        );
    }
}

/// Validate all GEMM arguments (see the module docs); panics with a clear message.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_args(
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    a_len: usize,
    lda: usize,
    b_len: usize,
    ldb: usize,
    c_len: usize,
    ldc: usize,
) {
    check_operand("a", ta, m, k, a_len, lda);
    check_operand("b", tb, k, n, b_len, ldb);
    check_operand("c", Trans::N, m, n, c_len, ldc);
}

/// Panic for a kernel this CPU lacks (a `_with` caller's mistake).
fn unavailable(name: &str) -> ! {
    panic!("gemm: kernel {name} is not available on this CPU")
}

/// f32 rows of A read in place (see [`run_f32`]).
type RowsA<'a> = Option<(&'a [f32], usize)>;

/// Run an f32 kernel over already-validated operands; values converted to f32 by the
/// `conv_*` functions while packing. `rows_a`: A as f32 rows that need no conversion
/// (stored `[m, k]`, row stride), which a kernel may read in place instead of packing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_f32<SA: Copy + Sync, SB: Copy + Sync>(
    kernel: Kernel,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: View<'_, SA>,
    conv_a: impl conv::Convert<SA, f32>,
    rows_a: RowsA<'_>,
    b: View<'_, SB>,
    conv_b: impl conv::Convert<SB, f32>,
    start: driver::CStart<'_>,
    c: &mut [f32],
    ldc: usize,
    parallel: bool,
) {
    fn go<K: driver::Micro<E = f32>, SA: Copy + Sync, SB: Copy + Sync>(
        kern: K,
        (m, n, k, alpha): (usize, usize, usize, f32),
        (a, conv_a, rows_a): (View<'_, SA>, impl conv::Convert<SA, f32>, RowsA<'_>),
        b: View<'_, SB>,
        conv_b: impl conv::Convert<SB, f32>,
        (start, c, ldc, parallel): (driver::CStart<'_>, &mut [f32], usize, bool),
    ) {
        let bp = driver::PackB::new(kern, b, conv_b);
        let a = match rows_a {
            Some((rows, lda)) if driver::direct_a::<K>(Trans::N, lda) => {
                driver::ASource::Rows(rows, lda)
            }
            _ => driver::ASource::Pack(a, conv_a),
        };
        driver::gemm_from(kern, m, n, k, alpha, a, &bp, start, c, ldc, parallel)
    }
    let dims = (m, n, k, alpha);
    let out = (start, c, ldc, parallel);
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            if rows_a.is_some() && avx512::l2_blocking() && n >= avx512_wide::MIN_N {
                // A read in place on an Intel core, a dense layer's width: the 8 x 48 tile
                // keeps its rows in L1 (`avx512_wide.rs`); the same bits as the 14 x 32
                // tile. (Narrow products such as LoRA's rank-8 one would waste most of
                // its 48 columns.)
                let kern =
                    avx512_wide::Avx512F32Wide::new().unwrap_or_else(|| unavailable(kernel.name()));
                return go(kern, dims, (a, conv_a, rows_a), b, conv_b, out);
            }
            let kern = avx512::Avx512F32::new().unwrap_or_else(|| unavailable(kernel.name()));
            go(kern, dims, (a, conv_a, rows_a), b, conv_b, out)
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            let kern = avx2::Avx2F32::new().unwrap_or_else(|| unavailable(kernel.name()));
            go(kern, dims, (a, conv_a, rows_a), b, conv_b, out)
        }
        #[cfg(target_arch = "aarch64")]
        Kernel::Neon => {
            let kern = neon::NeonF32::new().unwrap_or_else(|| unavailable(kernel.name()));
            go(kern, dims, (a, conv_a, rows_a), b, conv_b, out)
        }
        Kernel::Portable => go(
            portable::PortableF32,
            dims,
            (a, conv_a, rows_a),
            b,
            conv_b,
            out,
        ),
        #[allow(unreachable_patterns)]
        _ => unavailable(kernel.name()),
    }
}

/// f32 GEMM on the fastest kernel (see the module docs for the layout contract).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    sgemm_with(
        Kernel::best(),
        ta,
        tb,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        ldc,
    )
}

/// [`sgemm`] on a chosen kernel; panics if this CPU cannot run it.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_with(
    kernel: Kernel,
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    check_args(ta, tb, m, n, k, a.len(), lda, b.len(), ldb, c.len(), ldc);
    let id = conv::Identity;
    let (va, vb) = (View::a(ta, a, lda), View::b(tb, b, ldb));
    let rows_a = (ta == Trans::N).then_some((a, lda));
    let start = driver::CStart::Beta(beta);
    run_f32(
        kernel, m, n, k, alpha, va, id, rows_a, vb, id, start, c, ldc, true,
    );
}

/// A dense layer on unpacked f32 weights: `C[m, n] = X[m, k] · Wᵀ + (residual + bias)`,
/// X stored `[m, k]` (row stride `ldx`), W `[n, k]` (row stride `ldw`), `bias` `[n]`,
/// `residual` `[m, n]` with its row stride, C `[m, n]` (row stride `ldc`), write-only.
/// Bit for bit [`sgemm`] (N, T) with beta = 1 on a C first set to `residual + bias`, but
/// each C tile is set right before its first kernel call, while it is in cache, instead
/// of in a pass over all of C. Panics on short slices or leading dimensions, or a bias
/// that is not `[n]`.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_bias(
    m: usize,
    n: usize,
    k: usize,
    x: &[f32],
    ldx: usize,
    w: &[f32],
    ldw: usize,
    bias: &[f32],
    residual: Option<(&[f32], usize)>,
    c: &mut [f32],
    ldc: usize,
) {
    let dims = (m, n, k);
    let start = check_layer_args(
        dims,
        (x.len(), ldx),
        (w.len(), ldw),
        bias,
        residual,
        (c.len(), ldc),
    );
    let id = conv::Identity;
    let (va, vb) = (View::a(Trans::N, x, ldx), View::b(Trans::T, w, ldw));
    let rows = Some((x, ldx));
    let kernel = Kernel::best();
    run_f32(
        kernel, m, n, k, 1.0, va, id, rows, vb, id, start, c, ldc, true,
    );
}

/// [`sgemm_bias`] with bf16 weights: bit for bit [`gemm_f32_bf16`] (N, T) with beta = 1
/// on a C first set to `residual + bias`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32_bf16_bias(
    m: usize,
    n: usize,
    k: usize,
    x: &[f32],
    ldx: usize,
    w: &[Bf16],
    ldw: usize,
    bias: &[f32],
    residual: Option<(&[f32], usize)>,
    c: &mut [f32],
    ldc: usize,
) {
    let dims = (m, n, k);
    let start = check_layer_args(
        dims,
        (x.len(), ldx),
        (w.len(), ldw),
        bias,
        residual,
        (c.len(), ldc),
    );
    let (va, vb) = (View::a(Trans::N, x, ldx), View::b(Trans::T, w, ldw));
    f32_bf16_from(Bf16Kernel::best(), (m, n, k, 1.0), va, vb, start, c, ldc);
}

/// Check a dense layer's operands: X `[m, k]`, W `[n, k]` and C `[m, n]` as
/// `(length, row stride)`, the bias (`[n]`) and the residual (`[m, n]`); where C starts.
fn check_layer_args<'a>(
    (m, n, k): (usize, usize, usize),
    (x_len, ldx): (usize, usize),
    (w_len, ldw): (usize, usize),
    bias: &'a [f32],
    residual: Option<(&'a [f32], usize)>,
    (c_len, ldc): (usize, usize),
) -> driver::CStart<'a> {
    check_args(
        Trans::N,
        Trans::T,
        m,
        n,
        k,
        x_len,
        ldx,
        w_len,
        ldw,
        c_len,
        ldc,
    );
    driver::CStart::Bias(epilogue::Epilogue::checked(m, n, bias, residual))
}

/// bf16 GEMM: bf16 A and B, f32 accumulation, f32 C (same layout contract as [`sgemm`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm_bf16(
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[Bf16],
    lda: usize,
    b: &[Bf16],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    gemm_bf16_with(
        Bf16Kernel::best(),
        ta,
        tb,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        ldc,
    )
}

/// [`gemm_bf16`] on a chosen path; panics if this CPU cannot run it.
#[allow(clippy::too_many_arguments)]
pub fn gemm_bf16_with(
    kernel: Bf16Kernel,
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[Bf16],
    lda: usize,
    b: &[Bf16],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    check_args(ta, tb, m, n, k, a.len(), lda, b.len(), ldb, c.len(), ldc);
    let (va, vb) = (View::a(ta, a, lda), View::b(tb, b, ldb));
    match kernel {
        Bf16Kernel::Avx512Bf16 => {
            #[cfg(target_arch = "x86_64")]
            if let Some(kern) = bf16::Avx512Bf16::new() {
                let id = |x: Bf16| x;
                let bp = driver::PackB::new(kern, vb, id);
                let va = driver::ASource::Pack(va, id);
                driver::gemm(kern, m, n, k, alpha, va, &bp, beta, c, ldc, true);
                return;
            }
            unavailable(kernel.name());
        }
        Bf16Kernel::F32(f) => {
            let widen = |x: Bf16| x.to_f32();
            let start = driver::CStart::Beta(beta);
            run_f32(
                f, m, n, k, alpha, va, widen, None, vb, widen, start, c, ldc, true,
            );
        }
    }
}

/// Mixed GEMM: f32 A (activations), bf16 B (weights), f32 C. A is rounded to bf16 (round
/// to nearest even) while packing, on every path, so all paths compute the same products.
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32_bf16(
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[Bf16],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    gemm_f32_bf16_with(
        Bf16Kernel::best(),
        ta,
        tb,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        ldc,
    )
}

/// [`gemm_f32_bf16`] on a chosen path; panics if this CPU cannot run it.
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32_bf16_with(
    kernel: Bf16Kernel,
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[Bf16],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    check_args(ta, tb, m, n, k, a.len(), lda, b.len(), ldb, c.len(), ldc);
    let (va, vb) = (View::a(ta, a, lda), View::b(tb, b, ldb));
    let start = driver::CStart::Beta(beta);
    f32_bf16_from(kernel, (m, n, k, alpha), va, vb, start, c, ldc);
}

/// [`gemm_f32_bf16_with`] on validated operands, C starting at `start`.
fn f32_bf16_from(
    kernel: Bf16Kernel,
    (m, n, k, alpha): (usize, usize, usize, f32),
    va: View<'_, f32>,
    vb: View<'_, Bf16>,
    start: driver::CStart<'_>,
    c: &mut [f32],
    ldc: usize,
) {
    match kernel {
        Bf16Kernel::Avx512Bf16 => {
            #[cfg(target_arch = "x86_64")]
            if let Some(kern) = bf16::Avx512Bf16::new() {
                let round = conv::ToBf16;
                let bp = driver::PackB::new(kern, vb, |x: Bf16| x);
                let va = driver::ASource::Pack(va, round);
                driver::gemm_from(kern, m, n, k, alpha, va, &bp, start, c, ldc, true);
                return;
            }
            unavailable(kernel.name());
        }
        Bf16Kernel::F32(f) => {
            let round = conv::RoundToBf16;
            let widen = |x: Bf16| x.to_f32();
            run_f32(
                f, m, n, k, alpha, va, round, None, vb, widen, start, c, ldc, true,
            );
        }
    }
}
