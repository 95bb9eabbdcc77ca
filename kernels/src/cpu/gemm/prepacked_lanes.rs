//! The dense layer on activations in *token lanes*: `[features][32]`, token `t` of feature
//! `f` at `f * 32 + t` (up to 32 tokens, one headline), instead of `[tokens][features]`.
//!
//! Why: that layout is at once the AVX-512 f32 kernel's packed X panel (per K step, the 32
//! tokens' values side by side: `pack` with `r = 32`, `G = 1`) and its 14 x 32 output tile
//! (14 features x 32 tokens, row stride 32). A layer in token lanes therefore reads its
//! input with no packing pass and writes its output with no transposition, where the
//! row-major prepacked path ([`super::gemm_prepacked_bias`]) packs X on every call and
//! transposes every tile back (at one headline that is about 5 % of the forward), and its
//! output is the next layer's input as it is.
//!
//! Same bits as [`super::gemm_prepacked_bias`] on the same weight (and so as the unpacked
//! layer): every output starts at `residual + bias` (or `bias`) and every K block of the
//! micro-kernel accumulates onto it (`beta = 1`, `alpha = 1`) in the same K order; only
//! where the tile lives differs.
//!
//! Lanes past the real tokens hold whatever the caller put there; the product keeps lanes
//! apart (each output lane reads only that lane of X), so they never reach a real token.
//!
//! bf16 weights widened to f32 (where the bf16 path runs on the f32 kernel) take this path
//! too: X is rounded to bf16 first, into a scratch copy, as their row-major GEMM rounds it
//! while packing.

#[cfg(target_arch = "x86_64")]
use super::driver::{SharedC, PAR_MIN_FLOPS};
#[cfg(target_arch = "x86_64")]
use super::guided::for_each_claimed;
#[cfg(target_arch = "x86_64")]
use super::pack::{with_buf, BUF_A};
#[cfg(target_arch = "x86_64")]
use super::pack_avx512::round_to_bf16_avx512;
use super::prepacked::PackedWeight;
#[cfg(target_arch = "x86_64")]
use super::{prepacked::PackedKind, Bf16Kernel, Kernel};

/// Tokens per lane row: the AVX-512 f32 tile's width.
pub const LANE_TOKENS: usize = 32;

/// Whether [`gemm_prepacked_lanes`] runs `w`: f32 weights packed for the AVX-512 14 x 32
/// kernel on a CPU that has it, or bf16 weights widened to f32 for that kernel.
pub fn lanes_supported(w: &PackedWeight) -> bool {
    #[cfg(target_arch = "x86_64")]
    let ok = matches!(
        w.kind(),
        PackedKind::F32(Kernel::Avx512) | PackedKind::Bf16(Bf16Kernel::F32(Kernel::Avx512))
    ) && Kernel::Avx512.is_available();
    #[cfg(not(target_arch = "x86_64"))]
    let ok = {
        let _ = w;
        false
    };
    ok
}

/// An elementwise op applied to finished output rows (e.g. the FFN's activation), on the
/// thread that computed them while they are in cache.
pub type RowsOp<'a> = &'a (dyn Fn(&mut [f32]) + Sync);

/// `out_t[N][32] = post(W · x_t + bias (+ residual_t))`, all in token lanes (module docs):
/// `x_t` `[K][32]`, `residual_t` and `out_t` `[N][32]`, `bias` `[N]`; `post`, when given,
/// runs on each block of finished rows (whole rows of 32 lanes; must be elementwise).
/// Panics if `w` is not [`lanes_supported`] or a slice is too short.
pub fn gemm_prepacked_lanes(
    x_t: &[f32],
    w: &PackedWeight,
    bias: &[f32],
    residual_t: Option<&[f32]>,
    out_t: &mut [f32],
    post: Option<RowsOp<'_>>,
) {
    gemm_prepacked_lanes_from(x_t, w, bias, residual_t, out_t, post, 0);
}

/// W panel height of the lanes GEMM: [`gemm_prepacked_lanes_from`] starts at a multiple.
pub const LANE_PANEL_ROWS: usize = 14;

/// [`gemm_prepacked_lanes`] for output features `from..N` only (`from` a multiple of
/// [`LANE_PANEL_ROWS`]): rows below `from` of `out_t` are left as they are, the others get
/// the same bits as the whole product gives them (each W panel's rows are computed alone).
pub fn gemm_prepacked_lanes_from(
    x_t: &[f32],
    w: &PackedWeight,
    bias: &[f32],
    residual_t: Option<&[f32]>,
    out_t: &mut [f32],
    post: Option<RowsOp<'_>>,
    from: usize,
) {
    const L: usize = LANE_TOKENS;
    assert!(
        from.is_multiple_of(LANE_PANEL_ROWS) && from <= w.n(),
        "gemm_prepacked_lanes_from: {from} is not a panel start of N = {}",
        w.n()
    );
    assert!(
        lanes_supported(w),
        "gemm_prepacked_lanes: needs f32 (or widened bf16) weights packed for AVX-512 (got {:?})",
        w.kind()
    );
    let (n, k) = (w.n(), w.k());
    assert!(
        x_t.len() >= k * L,
        "gemm_prepacked_lanes: x_t shorter than [K][32]"
    );
    assert!(
        out_t.len() >= n * L,
        "gemm_prepacked_lanes: out_t shorter than [N][32]"
    );
    assert_eq!(bias.len(), n, "gemm_prepacked_lanes: bias must be [N]");
    if let Some(r) = residual_t {
        assert!(
            r.len() >= n * L,
            "gemm_prepacked_lanes: residual_t shorter than [N][32]"
        );
    }
    // The kernel loads X's K steps with aligned loads.
    assert!(
        (x_t.as_ptr() as usize).is_multiple_of(64),
        "gemm_prepacked_lanes: x_t must be 64-byte aligned"
    );
    #[cfg(target_arch = "x86_64")]
    {
        let first_panel = from / LANE_PANEL_ROWS;
        if let PackedKind::Bf16(_) = w.kind() {
            // What the widened weights multiply: X rounded to bf16 (aligned scratch).
            with_buf(&BUF_A, k * L, |x_round: &mut [f32]| {
                // SAFETY: AVX-512F is present (lanes_supported, asserted above).
                unsafe { round_to_bf16_avx512(&x_t[..k * L], x_round) };
                run(x_round, w, bias, residual_t, out_t, post, first_panel)
            });
        } else {
            run(x_t, w, bias, residual_t, out_t, post, first_panel);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (post, from);
}

#[cfg(target_arch = "x86_64")]
fn run(
    x_t: &[f32],
    w: &PackedWeight,
    bias: &[f32],
    residual_t: Option<&[f32]>,
    out_t: &mut [f32],
    post: Option<RowsOp<'_>>,
    first_panel: usize,
) {
    use super::avx512::tile_f32_part;
    use super::driver::Micro;
    use super::pack::panel_len;
    const L: usize = LANE_TOKENS;

    let kern = super::avx512::Avx512F32::new().expect("checked by lanes_supported");
    let mr_ = <super::avx512::Avx512F32 as Micro>::MR;
    // Rows of a half panel.
    const HALF: usize = LANE_PANEL_ROWS / 2;
    assert_eq!(mr_, LANE_PANEL_ROWS, "panel height (internal)");
    assert_eq!(
        <super::avx512::Avx512F32 as Micro>::NR,
        L,
        "lane width (internal)"
    );
    let (n, k) = (w.n(), w.k());
    let wpanels = n.div_ceil(mr_);
    let welems: &[f32] = w.panels.elems();
    let blocks = &w.panels.blocks;
    let panels = wpanels - first_panel;
    let flops = (L * (n - first_panel * mr_) * k).saturating_mul(2);
    let tasks = if flops >= PAR_MIN_FLOPS {
        rayon::current_num_threads().clamp(1, panels.max(1))
    } else {
        1
    };
    let shared = SharedC {
        ptr: out_t.as_mut_ptr(),
        len: out_t.len(),
    };
    // Rows `lo..lo + rows` of panel `ip` (a whole panel, or one half of one).
    let part = |ip: usize, lo: usize, rows: usize| {
        let feat = ip * mr_ + lo;
        // These output rows: `rows` features x 32 tokens, written by this task only.
        let c = shared.tile(feat * L, rows, L, L);
        // SAFETY: these rows of 32 are in `out_t` (checked by `tile`), this task's only.
        let out = unsafe { std::slice::from_raw_parts_mut(c, rows * L) };
        let residual = residual_t.map(|r| &r[feat * L..(feat + rows) * L]);
        // SAFETY: AVX-512F (the kernel exists); `rows` rows of 32 each.
        unsafe { start_rows(out, residual, &bias[feat..feat + rows]) };
        for blk in blocks {
            let alen = panel_len(mr_, blk.kc, 1);
            let a0 = blk.offset + ip * alen;
            let ap = &welems[a0..a0 + alen];
            let bp = &x_t[blk.pc * L..(blk.pc + blk.kc) * L];
            // SAFETY: the A panel holds kc x MR values (rows lo.. of it are read) and the X
            // block kc x 32, 64-byte aligned (x_t asserted); the C rows are this task's.
            unsafe {
                if lo == 0 && rows > HALF {
                    kern.tile(blk.kc, ap.as_ptr(), bp.as_ptr(), c, L, 1.0, 1.0, rows, L);
                } else {
                    let a = ap.as_ptr().add(lo);
                    tile_f32_part::<HALF>(blk.kc, a, bp.as_ptr(), c, L, 1.0, 1.0, rows, L);
                }
            }
        }
        if let Some(op) = post {
            // SAFETY: as `out` above; the kernel is done with them.
            op(unsafe { std::slice::from_raw_parts_mut(c, rows * L) });
        }
    };
    // Work in half panels (so that a range may end inside a panel), handed out by
    // `Guided` in shrinking ranges of whole panels: a worker that starts late takes less,
    // and the two finish within about one small range of each other (fixed halves left
    // one core idle ~15 µs per call at one headline). A range runs whole panels except
    // where it starts or ends inside one.
    let units = 2 * panels;
    let run_range = |range: std::ops::Range<usize>| {
        let (mut u, end) = (range.start + 2 * first_panel, range.end + 2 * first_panel);
        while u < end {
            let ip = u / 2;
            let panel_rows = mr_.min(n - ip * mr_);
            if u % 2 == 0 && u + 2 <= end {
                part(ip, 0, panel_rows);
                u += 2;
            } else {
                let lo = (u % 2) * HALF;
                if panel_rows > lo {
                    part(ip, lo, HALF.min(panel_rows - lo));
                }
                u += 1;
            }
        }
    };
    for_each_claimed(units, tasks, 2, run_range);
}

/// Each 32-lane row `f` of `rows` set to `residual[f] + bias[f]` (or `bias[f]`): the
/// tile's starting value, as the row-major path's `read_t` / `fill_t` compute it.
///
/// # Safety
/// AVX-512F present; `rows` and `residual` hold `bias.len()` rows of 32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn start_rows(rows: &mut [f32], residual: Option<&[f32]>, bias: &[f32]) {
    use std::arch::x86_64::*;
    const L: usize = LANE_TOKENS;
    for (f, &b) in bias.iter().enumerate() {
        let bv = _mm512_set1_ps(b);
        // SAFETY (block): row f of 32 lanes is inside both buffers (caller).
        unsafe {
            let out = rows.as_mut_ptr().add(f * L);
            match residual {
                Some(r) => {
                    let r = r.as_ptr().add(f * L);
                    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(r), bv));
                    _mm512_storeu_ps(out.add(16), _mm512_add_ps(_mm512_loadu_ps(r.add(16)), bv));
                }
                None => {
                    _mm512_storeu_ps(out, bv);
                    _mm512_storeu_ps(out.add(16), bv);
                }
            }
        }
    }
}
