//! Prepacked weights: `C = alpha * X · Wᵀ + beta * C` with the weight `W` `[N, K]` (as
//! `nn.Linear` stores it) packed once, so a call packs only the activations `X` `[M, K]`.
//!
//! Why: at small M (one headline is 32 tokens) re-packing W on every call costs as much as
//! the product itself, and M = 32 fills only 32 of the 42 rows of three 14-row tiles.
//! So the product is computed transposed, `Cᵀ = W · Xᵀ`: W takes the micro-kernel's A role
//! (MR-row panels over K, packed once here, streamed once per call) and X the B role (NR
//! columns per panel: 32 tokens fill the 14 x 32 AVX-512 tile exactly). Each tile is handed
//! to the unchanged micro-kernel as a tile on the stack, kept there across the K blocks and
//! copied transposed into C once (`transpose_tile.rs`), so every kernel keeps its own
//! arithmetic: the result is bit for bit that of [`super::sgemm_with`] /
//! [`super::gemm_f32_bf16_with`] (`Trans::N`, `Trans::T`) on the same kernel whenever
//! `beta` is 0 or 1 (the dot products run in the same K order and K blocks, FMA is
//! commutative in its two factors; for other `beta` a kernel's partial-tile update may round
//! once more, ≤ 1 ulp).
//!
//! [`gemm_prepacked_bias`] is a dense layer's forward in one pass, in the unpacked layer's
//! order: each tile starts at `residual + bias` (read transposed) and every K block
//! accumulates onto it (beta = 1), so K blocks `acc0, acc1, ..` give
//! `.. + (acc1 + (acc0 + (residual + bias)))` as C pre-filled with `residual + bias` and
//! the beta = 1 GEMM do.
//!
//! Up to 16 tokens (a classifier's [CLS] rows) take the narrow path instead
//! (`prepacked_narrow.rs`: lanes over features, the same bits) on AVX-512 CPUs.
//!
//! X is packed once per call for all K blocks; with fewer token panels than threads (one
//! headline is one panel) the panels are split along K so every thread packs a part.
//!
//! Memory: a packed copy is a second copy of the weights (K rounded up to the pair size
//! for bf16, N to a multiple of MR); memory-mapped f32 weights stay mapped but are no
//! longer read by the forward pass.

// Off x86-64 the AVX512-BF16 arms of `with_bf16_micro!` reduce to `unavailable(..)`, which
// leaves their closures unused and the macro's tail unreachable.
#![cfg_attr(
    not(target_arch = "x86_64"),
    allow(unused_variables, unused_imports, unreachable_code)
)]

use half::bf16 as Bf16;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::conv::ToBf16;
use super::conv::{Convert, Identity, RoundToBf16};
use super::driver::{k_block_len, pack_any, scale_c, Micro, Plan, SharedC, PAR_MIN_FLOPS};
use super::epilogue::Epilogue;
use super::guided::for_each_claimed;
use super::huge_buf::HugeBuf;
use super::pack::{f32_to_bf16, panel_len, with_buf, View, BUF_A};
use super::transpose_tile::{fill_t, read_t, write_t};
use super::{check_operand, unavailable, Bf16Kernel, Kernel, Trans};

/// Which GEMM a [`PackedWeight`] reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackedKind {
    /// [`super::sgemm_with`] on this kernel (f32 W and X).
    F32(Kernel),
    /// [`super::gemm_f32_bf16_with`] on this path (bf16 W; X rounded to bf16 while packing).
    Bf16(Bf16Kernel),
}

impl PackedKind {
    /// The fastest f32 kind on this CPU.
    pub fn best_f32() -> PackedKind {
        PackedKind::F32(Kernel::best())
    }

    /// The fastest bf16 kind on this CPU.
    pub fn best_bf16() -> PackedKind {
        PackedKind::Bf16(Bf16Kernel::best())
    }
}

/// One K block of a packed operand.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KBlock {
    /// First K index.
    pub pc: usize,
    /// K values in the block.
    pub kc: usize,
    /// Start of the block's panels, in packed elements.
    pub offset: usize,
}

/// An operand packed once into `r`-row panels (MR rows of A or NR columns of B) per K block,
/// in the layout of [`super::pack`] with the driver's K blocks; each block starts on a
/// 64-byte boundary.
pub(crate) struct Panels {
    pub blocks: Vec<KBlock>,
    /// 64-byte aligned packed elements (f32, or bf16 for the `vdpbf16ps` path), in huge
    /// pages where possible: the forward streams them from memory on every call.
    data: HugeBuf,
}

impl Panels {
    /// Pack all `rows` rows of `src` (seen as `rows x k`) into `r`-row panels for micro-kernel
    /// `K`, in parallel over panels.
    pub(crate) fn pack<K: Micro, S: Copy + Sync>(
        _kern: K,
        r: usize,
        src: View<'_, S>,
        rows: usize,
        k: usize,
        conv: impl Fn(S) -> K::E + Sync + Copy,
    ) -> Panels {
        let g = K::G;
        let panels = rows.div_ceil(r);
        let kc_max = if k == 0 { 1 } else { k_block_len::<K>(k) };
        let align = 64 / std::mem::size_of::<K::E>();
        let mut blocks = Vec::new();
        let mut len = 0;
        let mut pc = 0;
        while pc < k {
            let kc = kc_max.min(k - pc);
            blocks.push(KBlock {
                pc,
                kc,
                offset: len,
            });
            len += (panels * panel_len(r, kc, g)).div_ceil(align) * align;
            pc += kc;
        }
        let mut data = HugeBuf::zeroed(len * std::mem::size_of::<K::E>());
        {
            let elems: &mut [K::E] = bytemuck::cast_slice_mut(data.bytes_mut());
            for blk in &blocks {
                let plen = panel_len(r, blk.kc, g);
                let out = &mut elems[blk.offset..blk.offset + panels * plen];
                // 16 panels per rayon job: big enough to amortise, small enough to balance.
                let per = 16;
                out.par_chunks_mut(per * plen)
                    .enumerate()
                    .for_each(|(t, chunk)| {
                        let r0 = t * per * r;
                        let n = (per * r).min(rows - r0);
                        pack_any::<S, K::E>(g, src, r0, n, blk.pc, blk.kc, r, chunk, conv);
                    });
            }
        }
        Panels { blocks, data }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.data.capacity()
    }

    /// The packed elements.
    pub(crate) fn elems<E: bytemuck::Pod>(&self) -> &[E] {
        bytemuck::cast_slice(self.data.bytes())
    }
}

/// A weight `W` `[N, K]` packed into the A-panel layout of one micro-kernel (see the module
/// docs). Immutable and `Send + Sync`: share it across threads.
pub struct PackedWeight {
    pub(crate) kind: PackedKind,
    pub(crate) n: usize,
    pub(crate) k: usize,
    pub(crate) panels: Panels,
}

impl std::fmt::Debug for PackedWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedWeight")
            .field("kind", &self.kind)
            .field("n", &self.n)
            .field("k", &self.k)
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl PackedWeight {
    /// Pack f32 `w` (`[n, k]`, row stride `k`) for `kind` (bf16 kinds round it to bf16,
    /// nearest even, as `half::bf16::from_f32` does). Panics if this CPU lacks the kernel.
    pub fn from_f32(kind: PackedKind, w: &[f32], n: usize, k: usize) -> PackedWeight {
        check_operand("w", Trans::N, n, k, w.len(), k.max(1));
        let view = View::a(Trans::N, w, k.max(1));
        match kind {
            PackedKind::F32(kernel) | PackedKind::Bf16(Bf16Kernel::F32(kernel)) => {
                let round = matches!(kind, PackedKind::Bf16(_));
                let conv = move |x: f32| if round { f32_to_bf16(x).to_f32() } else { x };
                with_f32_micro!(kernel, kern => pack_weight(kern, kind, view, n, k, conv))
            }
            PackedKind::Bf16(Bf16Kernel::Avx512Bf16) => {
                with_bf16_micro!(kern => pack_weight(kern, kind, view, n, k, f32_to_bf16))
            }
        }
    }

    /// Pack bf16 `w` (`[n, k]`, row stride `k`) for a bf16 `kind`. Panics for an f32 kind
    /// or a path this CPU lacks.
    pub fn from_bf16(kind: PackedKind, w: &[Bf16], n: usize, k: usize) -> PackedWeight {
        check_operand("w", Trans::N, n, k, w.len(), k.max(1));
        let view = View::a(Trans::N, w, k.max(1));
        match kind {
            PackedKind::F32(_) => panic!("gemm: bf16 weights need a bf16 PackedKind"),
            PackedKind::Bf16(Bf16Kernel::F32(kernel)) => {
                let widen = |x: Bf16| x.to_f32();
                with_f32_micro!(kernel, kern => pack_weight(kern, kind, view, n, k, widen))
            }
            PackedKind::Bf16(Bf16Kernel::Avx512Bf16) => {
                let id = |x: Bf16| x;
                with_bf16_micro!(kern => pack_weight(kern, kind, view, n, k, id))
            }
        }
    }

    pub fn kind(&self) -> PackedKind {
        self.kind
    }

    /// N (output features)
    pub fn n(&self) -> usize {
        self.n
    }

    /// K (input features)
    pub fn k(&self) -> usize {
        self.k
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.panels.bytes()
    }
}

/// Run `$body` with `$kern` bound to the f32 micro-kernel token of `$kernel`.
macro_rules! with_f32_micro {
    ($kernel:expr, $kern:ident => $body:expr) => {
        match $kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                let $kern = super::avx512::Avx512F32::new()
                    .unwrap_or_else(|| unavailable(Kernel::Avx512.name()));
                $body
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                let $kern =
                    super::avx2::Avx2F32::new().unwrap_or_else(|| unavailable(Kernel::Avx2.name()));
                $body
            }
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => {
                let $kern =
                    super::neon::NeonF32::new().unwrap_or_else(|| unavailable(Kernel::Neon.name()));
                $body
            }
            Kernel::Portable => {
                let $kern = super::portable::PortableF32;
                $body
            }
            #[allow(unreachable_patterns)]
            other => unavailable(other.name()),
        }
    };
}

/// Run `$body` with `$kern` bound to the AVX512-BF16 micro-kernel token.
macro_rules! with_bf16_micro {
    ($kern:ident => $body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        let out = {
            let $kern = super::bf16::Avx512Bf16::new()
                .unwrap_or_else(|| unavailable(Bf16Kernel::Avx512Bf16.name()));
            $body
        };
        #[cfg(not(target_arch = "x86_64"))]
        let out = unavailable(Bf16Kernel::Avx512Bf16.name());
        out
    }};
}

pub(crate) use {with_bf16_micro, with_f32_micro};

/// Pack all of `w` (`[n, k]`) into MR-row panels per K block.
fn pack_weight<K: Micro, S: Copy + Sync>(
    kern: K,
    kind: PackedKind,
    w: View<'_, S>,
    n: usize,
    k: usize,
    conv: impl Fn(S) -> K::E + Sync + Copy,
) -> PackedWeight {
    PackedWeight {
        kind,
        n,
        k,
        panels: Panels::pack(kern, K::MR, w, n, k, conv),
    }
}

/// `C[m, N] = alpha * X[m, K] · Wᵀ + beta * C` with X stored `[m, K]` (row stride `ldx`)
/// and C `[m, N]` (row stride `ldc`); `beta == 0` ignores C's old contents. Bit for bit the
/// GEMM of `w.kind()` for `beta` 0 or 1 (module docs). Panics on short slices or leading
/// dimensions, like the other entry points.
#[allow(clippy::too_many_arguments)]
pub fn gemm_prepacked(
    m: usize,
    alpha: f32,
    x: &[f32],
    ldx: usize,
    w: &PackedWeight,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    check_operand("x", Trans::N, m, w.k, x.len(), ldx);
    check_operand("c", Trans::N, m, w.n, c.len(), ldc);
    run_xwt(m, alpha, x, ldx, w, beta, c, ldc, None)
}

/// A dense layer in one pass: `C[m, N] = X[m, K] · Wᵀ + (residual[m, N] + bias[N])`, or
/// `+ bias[N]` without a residual (`(values, row stride)`). C is write-only. Bit for bit
/// the unpacked layer that fills C with `residual[t][f] + bias[f]` (or `bias[f]`) and
/// accumulates the GEMM of `w.kind()` onto it (beta = 1), for any number of K blocks: each
/// C tile starts at that value on the stack and every K block adds onto it.
/// Panics on short slices or leading dimensions, or a bias that is not `[N]`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_prepacked_bias(
    m: usize,
    x: &[f32],
    ldx: usize,
    w: &PackedWeight,
    bias: &[f32],
    residual: Option<(&[f32], usize)>,
    c: &mut [f32],
    ldc: usize,
) {
    check_operand("x", Trans::N, m, w.k, x.len(), ldx);
    check_operand("c", Trans::N, m, w.n, c.len(), ldc);
    let epi = Epilogue::checked(m, w.n, bias, residual);
    run_xwt(m, 1.0, x, ldx, w, 0.0, c, ldc, Some(epi))
}

impl Epilogue<'_> {
    /// Start the (feature x token) stack tile of tokens `tok..tok + nr`, features
    /// `feat..feat + mr` (row stride `ts`) at `residual + bias` (or `bias`).
    fn start_tile(
        &self,
        tile: &mut [f32],
        ts: usize,
        tok: usize,
        feat: usize,
        mr: usize,
        nr: usize,
    ) {
        let bias = &self.bias[feat..feat + mr];
        match self.residual {
            Some((r, ldr)) => {
                let r = &r[tok * ldr + feat..];
                assert!(
                    (nr - 1) * ldr + mr <= r.len(),
                    "gemm: residual tile (internal)"
                );
                // SAFETY: the residual tile is in bounds (asserted).
                unsafe { read_t(r.as_ptr(), ldr, tile, ts, mr, nr, Some(bias)) }
            }
            None => fill_t(tile, ts, mr, nr, bias),
        }
    }
}

/// The narrow path for a few tokens where it exists (`prepacked_narrow.rs`, the same
/// bits), else [`run_tiles`].
#[allow(clippy::too_many_arguments)]
fn run_xwt(
    m: usize,
    alpha: f32,
    x: &[f32],
    ldx: usize,
    w: &PackedWeight,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
    epi: Option<Epilogue<'_>>,
) {
    #[cfg(target_arch = "x86_64")]
    if m <= super::prepacked_narrow::NARROW_MAX_TOKENS
        && super::prepacked_narrow::gemm(m, alpha, x, ldx, w, beta, c, ldc, epi)
    {
        return;
    }
    run_tiles(m, alpha, x, ldx, w, beta, c, ldc, epi)
}

/// [`gemm_xwt`] on the micro-kernel of `w.kind()`, X converted as that GEMM converts it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_tiles(
    m: usize,
    alpha: f32,
    x: &[f32],
    ldx: usize,
    w: &PackedWeight,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
    epi: Option<Epilogue<'_>>,
) {
    let xv = View::b(Trans::T, x, ldx);
    let out = (beta, c, ldc, epi);
    // Named conversions (`conv.rs`): X, row-major f32, takes the AVX-512 row packer.
    match w.kind {
        PackedKind::F32(kernel) => {
            with_f32_micro!(kernel, kern => gemm_xwt(kern, m, alpha, xv, Identity, w, out))
        }
        PackedKind::Bf16(Bf16Kernel::F32(kernel)) => {
            let round = RoundToBf16;
            with_f32_micro!(kernel, kern => gemm_xwt(kern, m, alpha, xv, round, w, out))
        }
        PackedKind::Bf16(Bf16Kernel::Avx512Bf16) => {
            with_bf16_micro!(kern => gemm_xwt(kern, m, alpha, xv, ToBf16, w, out))
        }
    }
}

/// Largest MR x NR tile of any kernel (the transposed C tile lives on the stack).
const MAX_TILE: usize = 14 * 32;

/// 64-byte aligned stack tile.
#[repr(C, align(64))]
struct Tile([f32; MAX_TILE]);

/// The driver for [`gemm_prepacked`]: `Cᵀ = W · Xᵀ`, W's panels from `w`, X packed once
/// per call for all K blocks into NR-token panels (shared by the tasks); tasks split W
/// panels (and token panels when there are many tokens). Each C tile stays on the stack
/// across the K blocks (the first block applies `beta`, later ones accumulate: the kernel
/// calls of the K-block-outer loop nest, on the same values, as C would only have held an
/// exact copy of the tile in between) and is written back once, transposed. With an
/// epilogue the tile starts at `residual + bias` and every block accumulates (beta = 1).
#[allow(clippy::type_complexity)]
fn gemm_xwt<K: Micro, SX: Copy + Sync>(
    kern: K,
    m: usize,
    alpha: f32,
    x: View<'_, SX>,
    conv_x: impl Convert<SX, K::E>,
    w: &PackedWeight,
    (beta, c, ldc, epi): (f32, &mut [f32], usize, Option<Epilogue<'_>>),
) {
    let n = w.n;
    if m == 0 || n == 0 {
        return;
    }
    if w.k == 0 || alpha == 0.0 {
        match epi {
            Some(e) => e.fill(c, m, n, ldc),
            None => scale_c(c, m, n, ldc, beta),
        }
        return;
    }
    // An epilogue is C's starting value: every K block accumulates onto it.
    let beta = if epi.is_some() { 1.0 } else { beta };
    assert!(K::MR * K::NR <= MAX_TILE, "gemm: tile too large (internal)");
    let flops = m.saturating_mul(n).saturating_mul(w.k).saturating_mul(2);
    let threads = if flops >= PAR_MIN_FLOPS {
        rayon::current_num_threads().max(1)
    } else {
        1
    };
    let (mr_, nr_, g) = (K::MR, K::NR, K::G);
    let wpanels = n.div_ceil(mr_);
    let xpanels = m.div_ceil(nr_);
    let welems: &[K::E] = w.panels.elems();
    let blocks = &w.panels.blocks;
    // X's panels block after block, each block 64-byte aligned.
    let align = 64 / std::mem::size_of::<K::E>();
    let mut xoffs = Vec::with_capacity(blocks.len());
    let mut xlen = 0;
    for blk in blocks {
        xoffs.push(xlen);
        xlen += (xpanels * panel_len(nr_, blk.kc, g)).div_ceil(align) * align;
    }
    let shared = SharedC {
        ptr: c.as_mut_ptr(),
        len: c.len(),
    };
    with_buf(&BUF_A, xlen, |xpack: &mut [K::E]| {
        pack_x::<K, SX>(x, m, blocks, &xoffs, xpack, conv_x, threads);
        let xpack: &[K::E] = xpack;
        let plan = Plan::new::<K>(m, wpanels, threads);
        // Token columns `tn` of the plan, W panels `panels`.
        let run = |tn: usize, panels: std::ops::Range<usize>| {
            let j0 = tn * plan.cols_per_task;
            if j0 >= m {
                return;
            }
            let ntok = plan.cols_per_task.min(m - j0);
            let mut tile = Tile([0.0; MAX_TILE]);
            for ip in panels {
                let feat = ip * mr_;
                let mr = mr_.min(n - feat);
                for jp in 0..ntok.div_ceil(nr_) {
                    let tok = j0 + jp * nr_;
                    let nr = nr_.min(j0 + ntok - tok);
                    // C tile rows tok.., columns feat..: as the kernel's (feat x tok) tile.
                    let cp = shared.tile(tok * ldc + feat, nr, mr, ldc);
                    let t = &mut tile.0;
                    if let Some(e) = &epi {
                        e.start_tile(t, nr_, tok, feat, mr, nr);
                    } else if beta != 0.0 {
                        // SAFETY: inside the C tile asserted by `shared.tile`.
                        unsafe { read_t(cp, ldc, t, nr_, mr, nr, None) };
                    }
                    for (blk, &xoff) in blocks.iter().zip(&xoffs) {
                        let alen = panel_len(mr_, blk.kc, g);
                        let blen = panel_len(nr_, blk.kc, g);
                        let a0 = blk.offset + ip * alen;
                        let ap = &welems[a0..a0 + alen];
                        let b0 = xoff + tok / nr_ * blen;
                        let bp = &xpack[b0..b0 + blen];
                        let beta_pc = if blk.pc == 0 { beta } else { 1.0 };
                        // SAFETY: panel lengths are exact (slices above); `tile` holds
                        // MR x NR >= mr x nr values with row stride NR.
                        unsafe {
                            kern.tile(
                                blk.kc.div_ceil(g),
                                ap.as_ptr(),
                                bp.as_ptr(),
                                t.as_mut_ptr(),
                                nr_,
                                alpha,
                                beta_pc,
                                mr,
                                nr,
                            )
                        };
                    }
                    // SAFETY: as above; no other task writes this tile.
                    unsafe { write_t(t, nr_, cp, ldc, mr, nr) };
                }
            }
        };
        let task = |t: usize| {
            let (tn, tm) = (t % plan.ntasks_n, t / plan.ntasks_n);
            let p_lo = tm * plan.mpanels_per_task;
            run(tn, p_lo..(p_lo + plan.mpanels_per_task).min(wpanels));
        };
        let ntasks = plan.ntasks_n * plan.ntasks_m;
        if threads > 1 && plan.ntasks_n == 1 && ntasks > 1 {
            // One column of tokens (e.g. one headline) split over W's panels: claimed
            // ranges rather than fixed shares, so that a worker that starts late takes
            // less and both finish together.
            for_each_claimed(wpanels, threads, 1, |panels| run(0, panels));
        } else if threads > 1 && ntasks > 1 {
            (0..ntasks).into_par_iter().for_each(task);
        } else {
            (0..ntasks).for_each(task);
        }
    });
}

/// Pack X (`m` tokens x K) for every K block: block `b`'s NR-token panels at `offs[b]` in
/// `xpack`. With several threads the panels are packed in parallel, and when there are
/// fewer panels than threads (one headline: 32 tokens, one panel) each panel is also cut
/// along K, at K-group boundaries, into one piece per thread: a piece is a contiguous run
/// of its panel (layout in `pack`), so the packed bytes are the same.
fn pack_x<K: Micro, SX: Copy + Sync>(
    x: View<'_, SX>,
    m: usize,
    blocks: &[KBlock],
    offs: &[usize],
    xpack: &mut [K::E],
    conv: impl Convert<SX, K::E>,
    threads: usize,
) {
    let (nr, g) = (K::NR, K::G);
    let xpanels = m.div_ceil(nr);
    let parts = if threads > xpanels {
        threads.div_ceil(xpanels)
    } else {
        1
    };
    // (first token, first K index, K values, output) of each piece.
    let mut pieces: Vec<(usize, usize, usize, &mut [K::E])> = Vec::new();
    let mut rest = xpack;
    let mut at = 0;
    for (blk, &off) in blocks.iter().zip(offs) {
        let blen = panel_len(nr, blk.kc, g);
        let (block, tail) = std::mem::take(&mut rest)[off - at..].split_at_mut(xpanels * blen);
        rest = tail;
        at = off + xpanels * blen;
        // K values per piece, a whole number of groups.
        let kstep = blk.kc.div_ceil(g).div_ceil(parts) * g;
        for (q, panel) in block.chunks_mut(blen).enumerate() {
            for (s, piece) in panel.chunks_mut(kstep * nr).enumerate() {
                let k0 = s * kstep;
                pieces.push((q * nr, blk.pc + k0, kstep.min(blk.kc - k0), piece));
            }
        }
    }
    let run = |(r0, p0, kc, out): (usize, usize, usize, &mut [K::E])| {
        pack_any::<SX, K::E>(g, x, r0, nr.min(m - r0), p0, kc, nr, out, conv)
    };
    if threads > 1 && pieces.len() > 1 {
        pieces.into_par_iter().for_each(run);
    } else {
        pieces.into_iter().for_each(run);
    }
}
