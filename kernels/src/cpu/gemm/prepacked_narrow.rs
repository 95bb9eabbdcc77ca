//! Few-token path of the prepacked GEMM: `C[m, N] = alpha X · Wᵀ + beta C` (or the dense
//! layer with `residual + bias`) for `m <=` [`NARROW_MAX_TOKENS`], on AVX-512.
//!
//! Why: the tile path always computes a whole 14 x 32 (features x tokens) tile, so one
//! token (a classifier's [CLS] row in the last layer) costs as much as 32. Here the lanes
//! run over features instead: for one W panel, one zmm holds its 14 features' weights at
//! one K step (f32) or K pair (bf16, the u32 pair the panel already stores), times the
//! broadcast token value(s), so the work scales with the tokens and W streams once.
//!
//! Same bits as the tile path: each output gets one accumulator per K block, starting at
//! zero, with the instruction the 14 x 32 micro-kernel uses per element in the same K order
//! (`vfmadd` for f32: `w * x + acc`, the product commutative; `vdpbf16ps(acc, w_pair,
//! x_pair)` for bf16: the same operands in the same places, the W pair broadcast there and
//! loaded here). Each block's accumulator is folded into the running value as the kernel's
//! `store_tile` does (`alpha * acc`, then `+ beta * C` by one FMA when beta != 0, beta = 1
//! after the first block), the same K blocks, and the dense layer starts at
//! `residual + bias` (`r + b`). Several panels and up to 8 tokens are accumulated at once so
//! the FMA chains overlap; more tokens take another pass over W.
//!
//! Runs for the AVX-512 kinds only (f32 on AVX-512F, bf16 kinds: f32 standing in on
//! AVX-512F, or `vdpbf16ps` on AVX512-BF16); [`gemm`] returns false elsewhere and the caller
//! takes the tile path.

use std::arch::x86_64::*;

use half::bf16 as Bf16;

use super::conv::{Convert, RoundToBf16, ToBf16};
use super::driver::{SharedC, PAR_MIN_FLOPS};
use super::epilogue::Epilogue;
use super::guided::for_each_claimed;
use super::pack::panel_len;
use super::prepacked::{KBlock, PackedKind, PackedWeight};
use super::{Bf16Kernel, Kernel};

/// Up to this many tokens the narrow path runs. Measured on Zen 4, one thread, BERT-base's
/// dense shapes: 12-14x faster than the tile path at 1 token, 3.4x at 8, ~1.7x at 16;
/// the two cost about the same near 28 tokens (see docs/STATUS.md).
pub(crate) const NARROW_MAX_TOKENS: usize = 16;
/// W this large (bytes) is split over the threads even for one token (see `Job::run`).
const PAR_MIN_W_BYTES: usize = 1 << 20;
/// Tokens per pass over W (more tokens take several passes, W then mostly in cache).
const CHUNK: usize = 8;

/// W panel height of the AVX-512 kernels.
const MR: usize = 14;
/// Lanes of a W panel step.
const PANEL_LANES: __mmask16 = (1 << MR) - 1;
/// How many K steps ahead each W panel is prefetched (as the tile kernels). Only groups of
/// at most 3 panels prefetch: with more parallel streams the hardware prefetcher keeps up
/// and the extra instructions cost time (measured, W streaming from memory, one token:
/// 0.35 vs 0.45 ms f32 at 3072 x 768; eight tokens, one panel: 0.58 vs 0.92 ms without).
const PF: usize = 32;

/// The arithmetic of one packed kind.
#[derive(Clone, Copy)]
enum Lanes {
    /// f32 W and X (X rounded to bf16 first when f32 stands in for bf16).
    F32 { round: bool },
    /// bf16 K pairs, `vdpbf16ps`.
    Bf16,
}

/// Call `$call` with const `$p` panels per group and `$t = m` tokens: about a dozen
/// accumulators (8 panels for one token, 1 for 7-8 tokens).
macro_rules! dispatch_m {
    ($m:expr, $p:ident, $t:ident => $call:expr) => {
        match $m {
            1 => {
                const $p: usize = 8;
                const $t: usize = 1;
                $call
            }
            2 => {
                const $p: usize = 6;
                const $t: usize = 2;
                $call
            }
            3 => {
                const $p: usize = 4;
                const $t: usize = 3;
                $call
            }
            4 => {
                const $p: usize = 3;
                const $t: usize = 4;
                $call
            }
            5 => {
                const $p: usize = 2;
                const $t: usize = 5;
                $call
            }
            6 => {
                const $p: usize = 2;
                const $t: usize = 6;
                $call
            }
            7 => {
                const $p: usize = 1;
                const $t: usize = 7;
                $call
            }
            8 => {
                const $p: usize = 1;
                const $t: usize = 8;
                $call
            }
            _ => unreachable!("narrow GEMM: m > CHUNK (internal)"),
        }
    };
}

/// Panels per group of [`Job::run`] for `m` tokens (as [`dispatch_m`]).
fn panels_per_group(m: usize) -> usize {
    match m {
        1 => 8,
        2 => 6,
        3 => 4,
        4 => 3,
        5 | 6 => 2,
        _ => 1,
    }
}

/// `C = alpha X · Wᵀ + beta C` (`epi`: `C = X · Wᵀ + (residual + bias)`, alpha 1) for
/// `1 <= m <= NARROW_MAX_TOKENS`, K > 0, alpha != 0, bit for bit the tile path. Returns
/// false (nothing done) when this kind or CPU has no narrow path. Shapes were checked by
/// the caller.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    alpha: f32,
    x: &[f32],
    ldx: usize,
    w: &PackedWeight,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
    epi: Option<Epilogue<'_>>,
) -> bool {
    let lanes = match w.kind {
        PackedKind::F32(Kernel::Avx512) => Lanes::F32 { round: false },
        PackedKind::Bf16(Bf16Kernel::F32(Kernel::Avx512)) => Lanes::F32 { round: true },
        PackedKind::Bf16(Bf16Kernel::Avx512Bf16) => Lanes::Bf16,
        _ => return false,
    };
    let ok = is_x86_feature_detected!("avx512f")
        && (!matches!(lanes, Lanes::Bf16) || is_x86_feature_detected!("avx512bf16"));
    if !ok || m == 0 || m > NARROW_MAX_TOKENS || w.n == 0 || w.k == 0 || alpha == 0.0 {
        return false;
    }
    // Tokens are independent: passes of at most CHUNK tokens.
    for t0 in (0..m).step_by(CHUNK) {
        let mc = CHUNK.min(m - t0);
        let epi = epi.map(|e| Epilogue {
            bias: e.bias,
            residual: e.residual.map(|(r, ldr)| (&r[t0 * ldr..], ldr)),
        });
        let (x, c) = (&x[t0 * ldx..], &mut c[t0 * ldc..]);
        gemm_chunk(lanes, mc, alpha, x, ldx, w, beta, c, ldc, epi);
    }
    true
}

/// [`gemm`] for `m <= CHUNK` tokens.
#[allow(clippy::too_many_arguments)]
fn gemm_chunk(
    lanes: Lanes,
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
    let k = w.k;
    assert!(x.len() >= (m - 1) * ldx + k, "gemm: x too short (internal)");
    let shared = SharedC {
        ptr: c.as_mut_ptr(),
        len: c.len(),
    };
    // An epilogue is C's starting value: every K block accumulates onto it.
    let beta = if epi.is_some() { 1.0 } else { beta };
    let rows = |t: usize| &x[t * ldx..t * ldx + k];
    match lanes {
        Lanes::F32 { round } => {
            // X token-major, converted as the tile path's packer converts it.
            let mut xb = Vec::with_capacity(m * k);
            for t in 0..m {
                if round {
                    xb.extend(rows(t).iter().map(|&v| RoundToBf16.convert(v)));
                } else {
                    xb.extend_from_slice(rows(t));
                }
            }
            let job = Job {
                m,
                n: w.n,
                alpha,
                beta,
                w: w.panels.elems::<f32>(),
                blocks: &w.panels.blocks,
                g: 1,
                x: &xb,
                xs: k,
                c: shared,
                ldc,
                epi,
            };
            job.run(|j, ip0, np| {
                // SAFETY: AVX-512F detected above.
                unsafe { dispatch_m!(j.m, P, T => group_f32::<P, T>(j, ip0, np)) }
            });
        }
        Lanes::Bf16 => {
            // X token-major as u32 K pairs (low half the even K), odd K padded with +0,
            // as the packer stores them.
            let kp = k.div_ceil(2);
            let mut xb = Vec::with_capacity(m * kp);
            for t in 0..m {
                let row = rows(t);
                xb.extend(row.chunks(2).map(|pair| {
                    let lo = ToBf16.convert(pair[0]).to_bits() as u32;
                    let hi = pair
                        .get(1)
                        .map_or(0, |&v| ToBf16.convert(v).to_bits() as u32);
                    lo | hi << 16
                }));
            }
            let welems: &[Bf16] = w.panels.elems();
            let job = Job {
                m,
                n: w.n,
                alpha,
                beta,
                w: bytemuck::cast_slice::<Bf16, u32>(welems),
                blocks: &w.panels.blocks,
                g: 2,
                x: &xb,
                xs: kp,
                c: shared,
                ldc,
                epi,
            };
            job.run(|j, ip0, np| {
                // SAFETY: AVX-512F and AVX512-BF16 detected above.
                unsafe { dispatch_m!(j.m, P, T => group_bf16::<P, T>(j, ip0, np)) }
            });
        }
    }
}

/// One narrow product: packed W (`E`: f32, or u32 bf16 pairs), converted X, C.
struct Job<'a, E> {
    m: usize,
    n: usize,
    alpha: f32,
    beta: f32,
    /// W's packed panels, block after block (`PackedWeight`'s layout).
    w: &'a [E],
    blocks: &'a [KBlock],
    /// K values per `E` (1: f32, 2: a bf16 pair in a u32); the blocks' offsets count
    /// packed values (f32 or bf16), so in `E` they are divided by `g`.
    g: usize,
    /// `[m, xs]`: X converted (f32 values or u32 pairs), token-major.
    x: &'a [E],
    xs: usize,
    c: SharedC,
    ldc: usize,
    epi: Option<Epilogue<'a>>,
}

impl<E: Sync> Job<'_, E> {
    /// Run `group(job, first panel, panels)` over W's panels in groups, in parallel over
    /// contiguous runs of groups when the product is big enough.
    fn run(&self, group: impl Fn(&Self, usize, usize) + Sync) {
        let wpanels = self.n.div_ceil(MR);
        let per = panels_per_group(self.m);
        let groups = wpanels.div_ceil(per);
        let k: usize = self.blocks.iter().map(|b| b.kc).sum();
        let flops = (self.m * self.n * k).saturating_mul(2);
        // Few tokens make few FLOPs but W still streams from memory: two cores pull it in
        // faster than one, so a big W runs in parallel whatever the FLOPs.
        let w_bytes = std::mem::size_of_val(self.w);
        let threads = if flops >= PAR_MIN_FLOPS || w_bytes >= PAR_MIN_W_BYTES {
            rayon::current_num_threads().clamp(1, groups)
        } else {
            1
        };
        let run_groups = |range: std::ops::Range<usize>| {
            for gi in range {
                let ip0 = gi * per;
                group(self, ip0, per.min(wpanels - ip0));
            }
        };
        // Claimed ranges of groups, not fixed shares: 55 panels make 7 groups of 8, which
        // fixed shares split 3 : 4, and a worker that starts late takes less.
        for_each_claimed(groups, threads, 1, run_groups);
    }

    /// Features `feat..feat + mr` of panel `ip`, with `mr`'s lane mask.
    fn features(&self, ip: usize) -> (usize, usize, __mmask16) {
        let feat = ip * MR;
        let mr = MR.min(self.n - feat);
        (feat, mr, ((1u32 << mr) - 1) as __mmask16)
    }

    /// Pointer to panel `ip` (< the panel count) of block `blk`, asserting it is inside W.
    fn panel(&self, blk: &KBlock, ip: usize) -> *const E {
        let len = panel_len(MR, blk.kc, self.g) / self.g;
        let start = blk.offset / self.g + ip * len;
        assert!(
            start + len <= self.w.len(),
            "narrow GEMM: W panel (internal)"
        );
        self.w[start..].as_ptr()
    }

    /// Pointer to token `t`'s converted X from K group `p0`, asserting `kg` groups exist.
    fn xrow(&self, t: usize, p0: usize, kg: usize) -> *const E {
        assert!(
            t < self.m && p0 + kg <= self.xs,
            "narrow GEMM: X row (internal)"
        );
        self.x[t * self.xs + p0..].as_ptr()
    }

    /// The starting values of the `P x T` (panel, token) outputs of the group at `ip0`:
    /// `residual + bias` or `bias` with an epilogue, C when `beta != 0`, else zero.
    ///
    /// # Safety
    /// AVX-512F present (inlined into the group kernels).
    #[inline(always)]
    unsafe fn start<const P: usize, const T: usize>(
        &self,
        ip0: usize,
        np: usize,
    ) -> [[__m512; T]; P] {
        let mut cur = [[_mm512_setzero_ps(); T]; P];
        for (q, cur_q) in cur.iter_mut().enumerate().take(np) {
            let (feat, mr, mask) = self.features(ip0 + q);
            for (t, v) in cur_q.iter_mut().enumerate() {
                // SAFETY (loads): `mr` lanes at feature `feat` of token `t < m`, inside the
                // slices as asserted; masked-off lanes are never read.
                *v = match self.epi {
                    Some(e) => {
                        assert!(e.bias.len() >= feat + mr, "narrow GEMM: bias (internal)");
                        let b = unsafe { _mm512_maskz_loadu_ps(mask, e.bias[feat..].as_ptr()) };
                        match e.residual {
                            Some((r, ldr)) => {
                                let at = t * ldr + feat;
                                assert!(at + mr <= r.len(), "narrow GEMM: residual (internal)");
                                let r = unsafe { _mm512_maskz_loadu_ps(mask, r[at..].as_ptr()) };
                                _mm512_add_ps(r, b)
                            }
                            None => b,
                        }
                    }
                    None if self.beta != 0.0 => {
                        let cp = self.c.tile(t * self.ldc + feat, 1, mr, self.ldc);
                        unsafe { _mm512_maskz_loadu_ps(mask, cp) }
                    }
                    None => _mm512_setzero_ps(),
                };
            }
        }
        cur
    }

    /// Fold one K block's accumulators into the running values as the kernels'
    /// `store_tile` does: `alpha * acc`, then `beta * C + that` by one FMA unless beta is 0.
    ///
    /// # Safety
    /// AVX-512F present (inlined into the group kernels).
    #[inline(always)]
    unsafe fn fold<const P: usize, const T: usize>(
        &self,
        blk: &KBlock,
        acc: &[[__m512; T]; P],
        cur: &mut [[__m512; T]; P],
    ) {
        let beta = if blk.pc == 0 { self.beta } else { 1.0 };
        let (va, vb) = (_mm512_set1_ps(self.alpha), _mm512_set1_ps(beta));
        for (acc_q, cur_q) in acc.iter().zip(cur.iter_mut()) {
            for (a, v) in acc_q.iter().zip(cur_q.iter_mut()) {
                let mut out = _mm512_mul_ps(va, *a);
                if beta != 0.0 {
                    out = _mm512_fmadd_ps(vb, *v, out);
                }
                *v = out;
            }
        }
    }

    /// Store the group's outputs: `mr` features per token.
    ///
    /// # Safety
    /// AVX-512F present; no other task writes these panels' features.
    #[inline(always)]
    unsafe fn store<const P: usize, const T: usize>(
        &self,
        ip0: usize,
        np: usize,
        cur: &[[__m512; T]; P],
    ) {
        for (q, cur_q) in cur.iter().enumerate().take(np) {
            let (feat, mr, mask) = self.features(ip0 + q);
            for (t, v) in cur_q.iter().enumerate() {
                let cp = self.c.tile(t * self.ldc + feat, 1, mr, self.ldc);
                // SAFETY: `mr` lanes inside C (checked by `tile`); this task's features.
                unsafe { _mm512_mask_storeu_ps(cp, mask, *v) };
            }
        }
    }
}

/// `np <= P` f32 W panels from `ip0` times `T = m` tokens: per K step one masked load of
/// each panel's 14 weights and one FMA per (panel, token) with the token's value broadcast.
/// Panels past `np` repeat the last one (their sums are discarded).
///
/// # Safety
/// AVX-512F present; `T == job.m`.
#[target_feature(enable = "avx512f")]
unsafe fn group_f32<const P: usize, const T: usize>(job: &Job<'_, f32>, ip0: usize, np: usize) {
    // SAFETY: AVX-512F present (this function's contract).
    let mut cur = unsafe { job.start::<P, T>(ip0, np) };
    for blk in job.blocks {
        let panels: [*const f32; P] = std::array::from_fn(|q| job.panel(blk, ip0 + q.min(np - 1)));
        let xs: [*const f32; T] = std::array::from_fn(|t| job.xrow(t, blk.pc, blk.kc));
        let mut acc = [[_mm512_setzero_ps(); T]; P];
        for p in 0..blk.kc {
            for (wp, acc_q) in panels.iter().zip(acc.iter_mut()) {
                // SAFETY: step p < kc of a panel of kc * MR values (asserted by `panel`);
                // the prefetch never faults.
                let wv = unsafe {
                    if P <= 3 {
                        _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add((p + PF) * MR) as *const i8);
                    }
                    _mm512_maskz_loadu_ps(PANEL_LANES, wp.add(p * MR))
                };
                for (xp, a) in xs.iter().zip(acc_q.iter_mut()) {
                    // SAFETY: K value p < kc of the token's block (asserted by `xrow`).
                    let xv = _mm512_set1_ps(unsafe { *xp.add(p) });
                    *a = _mm512_fmadd_ps(wv, xv, *a);
                }
            }
        }
        // SAFETY: AVX-512F present.
        unsafe { job.fold(blk, &acc, &mut cur) };
    }
    // SAFETY: AVX-512F present; the group's panels belong to this task.
    unsafe { job.store(ip0, np, &cur) };
}

/// [`group_f32`] for bf16 K pairs: per K pair one masked load of each panel's 14 pairs and
/// one `vdpbf16ps(acc, W pairs, token pair broadcast)` per (panel, token).
///
/// # Safety
/// AVX-512F and AVX512-BF16 present; `T == job.m`.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn group_bf16<const P: usize, const T: usize>(job: &Job<'_, u32>, ip0: usize, np: usize) {
    // SAFETY: AVX-512F present (this function's contract).
    let mut cur = unsafe { job.start::<P, T>(ip0, np) };
    for blk in job.blocks {
        let kg = blk.kc.div_ceil(2);
        let panels: [*const u32; P] = std::array::from_fn(|q| job.panel(blk, ip0 + q.min(np - 1)));
        let xs: [*const u32; T] = std::array::from_fn(|t| job.xrow(t, blk.pc / 2, kg));
        let mut acc = [[_mm512_setzero_ps(); T]; P];
        for p in 0..kg {
            for (wp, acc_q) in panels.iter().zip(acc.iter_mut()) {
                // SAFETY: pair p < kg of a panel of kg * MR pairs (asserted by `panel`);
                // the prefetch never faults.
                let wv: __m512bh = unsafe {
                    if P <= 3 {
                        _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add((p + PF) * MR) as *const i8);
                    }
                    std::mem::transmute(_mm512_maskz_loadu_epi32(
                        PANEL_LANES,
                        wp.add(p * MR) as *const i32,
                    ))
                };
                for (xp, a) in xs.iter().zip(acc_q.iter_mut()) {
                    // SAFETY: pair p < kg of the token's block (asserted by `xrow`).
                    let xv: __m512bh =
                        unsafe { std::mem::transmute(_mm512_set1_epi32(*xp.add(p) as i32)) };
                    *a = _mm512_dpbf16_ps(*a, wv, xv);
                }
            }
        }
        // SAFETY: AVX-512F present.
        unsafe { job.fold(blk, &acc, &mut cur) };
    }
    // SAFETY: AVX-512F present; the group's panels belong to this task.
    unsafe { job.store(ip0, np, &cur) };
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::super::prepacked::run_tiles;
    use super::*;

    /// The AVX-512 kinds this CPU runs (the narrow path's kinds).
    fn kinds() -> Vec<PackedKind> {
        let mut kinds = Vec::new();
        if is_x86_feature_detected!("avx512f") {
            kinds.push(PackedKind::F32(Kernel::Avx512));
            kinds.push(PackedKind::Bf16(Bf16Kernel::F32(Kernel::Avx512)));
            if is_x86_feature_detected!("avx512bf16") {
                kinds.push(PackedKind::Bf16(Bf16Kernel::Avx512Bf16));
            }
        }
        kinds
    }

    /// Values of mixed sign and magnitude, some -0.0 and some below bf16's normal range
    /// (denormals-as-zero in `vdpbf16ps` must hit both paths the same way).
    fn values(rng: &mut StdRng, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| match rng.random_range(0..50) {
                0 => -0.0,
                1 => 1e-39 * rng.random_range(-4.0f32..4.0),
                _ => rng.random_range(-1.0f32..1.0) * 2f32.powi(rng.random_range(-6..4)),
            })
            .collect()
    }

    /// How the output is formed: the dense layer (bias, with or without a residual), or
    /// `alpha X·Wᵀ + beta C`.
    #[derive(Clone, Copy, Debug)]
    enum Out {
        Bias { residual: bool },
        Gemm { alpha: f32, beta: f32 },
    }

    /// The narrow path equals the tile path bit for bit: m 1..16 tokens (one or two passes), partial and whole
    /// W panels and panel groups, K in one to three K blocks (odd K for the bf16 pairs),
    /// bias / bias + residual / beta 0, 1 and -0.3 with alpha != 1, padded strides, 1–3
    /// threads, every AVX-512 kind this CPU has. C's padding is left untouched.
    #[test]
    fn narrow_equals_tile_path_bitwise() {
        let kinds = kinds();
        if kinds.is_empty() {
            eprintln!("skipping: no AVX-512F on this CPU");
            return;
        }
        let pools: Vec<rayon::ThreadPool> = (1..=3)
            .map(|t| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap()
            })
            .collect();
        let outs = [
            Out::Bias { residual: false },
            Out::Bias { residual: true },
            Out::Gemm {
                alpha: 1.0,
                beta: 0.0,
            },
            Out::Gemm {
                alpha: -0.5,
                beta: 1.0,
            },
            Out::Gemm {
                alpha: 1.75,
                beta: -0.3,
            },
        ];
        let mut rng = StdRng::seed_from_u64(21);
        let mut runs = 0;
        for kind in kinds {
            for (n, k) in [
                (5, 1),
                (14, 7),
                (29, 200),
                (123, 1600),
                (250, 3073),
                (43, 3072),
            ] {
                let w = values(&mut rng, n * k);
                let packed = PackedWeight::from_f32(kind, &w, n, k);
                let bias = values(&mut rng, n);
                for m in 1..=NARROW_MAX_TOKENS {
                    let (ldx, ldc, ldr) = (k + m % 3, n + m % 2, n + 3);
                    let x = values(&mut rng, (m - 1) * ldx + k);
                    let res = values(&mut rng, (m - 1) * ldr + n);
                    let c0 = values(&mut rng, m * ldc);
                    for (oi, out) in outs.iter().enumerate() {
                        let (alpha, beta, epi) = match *out {
                            Out::Bias { residual } => {
                                let residual = residual.then_some((&res[..], ldr));
                                (
                                    1.0,
                                    0.0,
                                    Some(Epilogue {
                                        bias: &bias,
                                        residual,
                                    }),
                                )
                            }
                            Out::Gemm { alpha, beta } => (alpha, beta, None),
                        };
                        let threads = 1 + (m + oi) % 3;
                        let (mut got, mut want) = (c0.clone(), c0.clone());
                        pools[threads - 1].install(|| {
                            run_tiles(m, alpha, &x, ldx, &packed, beta, &mut want, ldc, epi);
                            let ran = gemm(m, alpha, &x, ldx, &packed, beta, &mut got, ldc, epi);
                            assert!(ran, "{kind:?}: narrow path did not run");
                        });
                        runs += 1;
                        let what = format!("{kind:?} m {m} n {n} k {k} {out:?} threads {threads}");
                        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                            assert_eq!(g.to_bits(), w.to_bits(), "{what}: element {i}: {g} vs {w}");
                        }
                        assert!(
                            got.iter().zip(&c0).any(|(g, c)| g != c),
                            "{what}: no output"
                        );
                    }
                }
            }
        }
        assert!(runs > 0);
    }

    /// Not for the narrow path: other kinds, more tokens, K = 0 or alpha = 0.
    #[test]
    fn narrow_declines_what_it_does_not_cover() {
        let w = vec![0.5f32; 6 * 4];
        let x = vec![1.0f32; 16 * 4];
        let mut c = vec![0.0f32; 16 * 6];
        let portable = PackedWeight::from_f32(PackedKind::F32(Kernel::Portable), &w, 6, 4);
        assert!(!gemm(1, 1.0, &x, 4, &portable, 0.0, &mut c, 6, None));
        for kind in kinds() {
            let packed = PackedWeight::from_f32(kind, &w, 6, 4);
            let m = NARROW_MAX_TOKENS + 1;
            assert!(!gemm(m, 1.0, &x, 4, &packed, 0.0, &mut c, 6, None));
            assert!(!gemm(2, 0.0, &x, 4, &packed, 0.0, &mut c, 6, None));
            let empty = PackedWeight::from_f32(kind, &[], 6, 0);
            assert!(!gemm(2, 1.0, &x, 4, &empty, 0.0, &mut c, 6, None));
            assert!(gemm(2, 1.0, &x, 4, &packed, 0.0, &mut c, 6, None));
            assert_eq!(&c[..12], &[2.0; 12]);
        }
    }
}
