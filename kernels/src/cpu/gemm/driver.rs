//! The cache-blocked GEMM driver (BLIS-style loop nest), generic over the micro-kernel.
//!
//! Loop nest, outer to inner (row-major C `m x n`):
//! 1. rows of C in blocks of `MC` (the packed A block, `MC x KC`, shared by all tasks);
//! 2. K in blocks of `KC` (first block applies `beta`, or starts each tile at a bias; later
//!    ones accumulate into C);
//!    pack the A block (parallel over panel ranges);
//! 3. parallel tasks, each owning a column range of at most `NB` columns (and, when there
//!    are too few column ranges for the threads, a row range): pack that B block into the
//!    worker's own buffer. With more column ranges than threads the workers claim them
//!    in shrinking ranges of half-panel units (`guided.rs`), so they finish together;
//! 4. `MR`-row panels of A x `NR`-column panels of B: the micro-kernel, A panel reused
//!    across all B panels of the task.
//!
//! Blocking: the 14 x 32 AVX-512 tile does 28 FMAs per 64 + 56 bytes loaded, so streaming
//! the panels from L2/L3 keeps up with the FMA units; on Zen 4 large `KC` (fewer passes
//! over C, each of which costs cache misses on C) and large `NB` measured faster than
//! L1/L2-sized blocks. Buffers are thread-local and reused, so a steady stream of GEMMs
//! allocates nothing (they stay allocated: up to ~19 MB for A on a thread that drove a big
//! product, ~6 MB for B per worker).

use rayon::prelude::*;

use super::conv::Convert;
use super::epilogue::{Epilogue, TileStart};
use super::guided::Guided;
use super::pack::{pack, panel_len, with_buf, View, BUF_A, BUF_B};

/// Below this many flops (2mnk) a GEMM runs on the calling thread: fork/join would cost more.
pub(crate) const PAR_MIN_FLOPS: usize = 1 << 22;

/// A register-blocked micro-kernel: `C[mr x nr] = alpha * Apanel * Bpanel + beta * C`.
///
/// Implementors are zero-sized tokens that can only be built once their CPU features were
/// detected, so holding one proves the instructions exist.
pub(crate) trait Micro: Copy + Send + Sync {
    /// Rows of C per tile (A panel height).
    const MR: usize;
    /// Columns of C per tile (B panel width).
    const NR: usize;
    /// K values per packed group (1 for f32, 2 for bf16 pairs).
    const G: usize;
    /// K block (a multiple of `G`).
    const KC: usize;
    /// Row block of A (rounded down to a multiple of `MR`).
    const MC: usize;
    /// Column block of B per task (a multiple of `NR`).
    const NB: usize;
    /// Packed element type.
    type E: bytemuck::Pod + Default + Send + Sync;

    /// The cache blocking used on this CPU: [`Micro::KC`], [`Micro::MC`] and [`Micro::NB`]
    /// unless the kernel picks other sizes for the CPU it runs on.
    fn blocking() -> Blocking {
        Blocking::constants::<Self>()
    }

    /// Multiply one packed A panel (`kg * MR * G` elements) by one packed B panel
    /// (`kg * NR * G`), both 64-byte aligned, and update the `mr x nr` tile of C at `c`
    /// (row stride `ldc`). `beta == 0` ignores C's old contents.
    ///
    /// # Safety
    /// The panels must hold the stated number of elements and every element `c + i * ldc + j`
    /// for `i < mr <= MR`, `j < nr <= NR` must be valid for reads and writes.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        self,
        kg: usize,
        a: *const Self::E,
        b: *const Self::E,
        c: *mut f32,
        ldc: usize,
        alpha: f32,
        beta: f32,
        mr: usize,
        nr: usize,
    );

    /// Whether [`Micro::tile_rows`] exists (f32 kernels that can read A in place).
    const DIRECT_A: bool = false;

    /// [`Micro::tile`] with A read in place: `mr` f32 rows of `kc` values at `a`, row stride
    /// `lda`, instead of a packed panel. Same arithmetic in the same order as `tile` on the
    /// packed panel of those rows, so the same result bit for bit.
    ///
    /// # Safety
    /// As [`Micro::tile`], and `a + i * lda + p` valid for reads for `i < mr`, `p < kc`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_rows(
        self,
        _kc: usize,
        _a: *const f32,
        _lda: usize,
        _b: *const Self::E,
        _c: *mut f32,
        _ldc: usize,
        _alpha: f32,
        _beta: f32,
        _mr: usize,
        _nr: usize,
    ) {
        unreachable!("gemm: this kernel packs A (internal)")
    }

    /// Whether [`Micro::tile_rows_from`] exists.
    const START_IN_TILE: bool = false;

    /// [`Micro::tile_rows`] for a tile whose C starts at `start` (C's old contents
    /// ignored): `C = start + alpha * A B`, the start added in the write-back, with the bits
    /// of [`Micro::tile_rows`] with beta = 1 on a C tile filled by
    /// [`Epilogue::fill_tile`], without that fill.
    ///
    /// # Safety
    /// As [`Micro::tile_rows`]; `start` valid for the `mr x nr` tile.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_rows_from(
        self,
        _kc: usize,
        _a: *const f32,
        _lda: usize,
        _b: *const Self::E,
        _c: *mut f32,
        _ldc: usize,
        _alpha: f32,
        _start: TileStart,
        _mr: usize,
        _nr: usize,
    ) {
        unreachable!("gemm: this kernel does not add a start in its write-back (internal)")
    }
}

/// Cache blocking of the loop nest (module docs): K block, row block of A, column block of
/// B per task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Blocking {
    pub kc: usize,
    pub mc: usize,
    pub nb: usize,
}

impl Blocking {
    /// The kernel's constants [`Micro::KC`], [`Micro::MC`], [`Micro::NB`].
    pub(crate) fn constants<K: Micro>() -> Blocking {
        Blocking {
            kc: K::KC,
            mc: K::MC,
            nb: K::NB,
        }
    }
}

/// C as a raw pointer shared by tasks that write disjoint tiles (each tile is bounds-checked
/// against `len` before the kernel touches it).
#[derive(Clone, Copy)]
pub(crate) struct SharedC {
    pub ptr: *mut f32,
    pub len: usize,
}
// SAFETY: tasks write disjoint tiles of C; the pointer outlives the parallel region.
unsafe impl Send for SharedC {}
unsafe impl Sync for SharedC {}

impl SharedC {
    /// Pointer to the tile at element `off` spanning `mr` rows of `nr` (checked against C).
    pub(crate) fn tile(&self, off: usize, mr: usize, nr: usize, ldc: usize) -> *mut f32 {
        assert!(
            off + (mr - 1) * ldc + nr <= self.len,
            "gemm tile out of bounds (internal error)"
        );
        // SAFETY: in bounds of C (asserted above).
        unsafe { self.ptr.add(off) }
    }
}

/// `C = beta * C` over the `m x n` view (`beta == 0` writes zeros, ignoring NaN).
pub(crate) fn scale_c(c: &mut [f32], m: usize, n: usize, ldc: usize, beta: f32) {
    for i in 0..m {
        let row = &mut c[i * ldc..i * ldc + n];
        if beta == 0.0 {
            row.fill(0.0);
        } else if beta != 1.0 {
            row.iter_mut().for_each(|x| *x *= beta);
        }
    }
}

/// Scalar update of a partial tile from a spilled accumulator `tile` (row stride `ts`).
///
/// # Safety
/// As [`Micro::tile`]: `c + i * ldc + j` valid for `i < mr`, `j < nr`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn update_tile_scalar(
    tile: &[f32],
    ts: usize,
    c: *mut f32,
    ldc: usize,
    alpha: f32,
    beta: f32,
    mr: usize,
    nr: usize,
) {
    for i in 0..mr {
        for j in 0..nr {
            let cp = c.add(i * ldc + j);
            let t = alpha * tile[i * ts + j];
            *cp = if beta == 0.0 { t } else { t + beta * *cp };
        }
    }
}

/// Where the driver gets op(B)'s NR-column panels for one task: packed on the fly from the
/// operand ([`PackB`]) or taken from a copy packed once (`super::packed_b`). Both give the
/// same panels, so the product is the same bit for bit.
pub(crate) trait BPanels<E>: Sync {
    /// Run `f` on the panels of columns `[j0, j0 + ncols)` (`j0` a multiple of NR) over K
    /// `[pc, pc + kc)`, laid out as [`pack`] lays them out (`ceil(ncols / NR)` panels).
    fn with_panels<R>(
        &self,
        pc: usize,
        kc: usize,
        j0: usize,
        ncols: usize,
        f: impl FnOnce(&[E]) -> R,
    ) -> R;
}

/// op(B) packed per task into the worker's own buffer: `b` seen as `n x k`, values
/// converted by `conv` while packing.
pub(crate) struct PackB<'a, S, F> {
    pub b: View<'a, S>,
    pub conv: F,
    /// NR of the kernel.
    pub nr: usize,
    /// G of the kernel.
    pub g: usize,
}

impl<'a, S, F> PackB<'a, S, F> {
    /// Panels for micro-kernel `K`'s NR and G.
    pub(crate) fn new<K: Micro>(_kern: K, b: View<'a, S>, conv: F) -> Self {
        PackB {
            b,
            conv,
            nr: K::NR,
            g: K::G,
        }
    }
}

impl<S: Copy + Sync, E: bytemuck::Pod + Default, F: Convert<S, E>> BPanels<E> for PackB<'_, S, F> {
    fn with_panels<R>(
        &self,
        pc: usize,
        kc: usize,
        j0: usize,
        ncols: usize,
        f: impl FnOnce(&[E]) -> R,
    ) -> R {
        let len = ncols.div_ceil(self.nr) * panel_len(self.nr, kc, self.g);
        with_buf(&BUF_B, len, |bpack: &mut [E]| {
            pack_any::<S, E>(self.g, self.b, j0, ncols, pc, kc, self.nr, bpack, self.conv);
            f(bpack)
        })
    }
}

/// How the driver reads op(A) (`m x k`).
pub(crate) enum ASource<'a, SA, F> {
    /// Packed per (row block, K block) into MR-row panels, values converted by `F`.
    Pack(View<'a, SA>, F),
    /// f32 stored `[m, k]` with row stride `lda`, read in place by [`Micro::tile_rows`]
    /// (only for kernels with [`Micro::DIRECT_A`]).
    Rows(&'a [f32], usize),
}

/// Whether op(A) may be read in place (see [`ASource::Rows`]): the kernel supports it and
/// A needs no conversion and is stored row-major. (Row strides that alias in L1, multiples
/// of 4 KiB, are the kernel's concern: see `Avx512F32::tile_rows`.)
pub(crate) fn direct_a<K: Micro>(ta: super::Trans, _lda: usize) -> bool {
    K::DIRECT_A && ta == super::Trans::N
}

/// `C = alpha * op(A) * op(B) + beta * C` through micro-kernel `kern`; op(A) (`m x k`) from
/// `a`, op(B) (`k x n`) as panels from `b`. Arguments must already be validated (see
/// `check_args`). `parallel` allows the global rayon pool.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm<K: Micro, SA: Copy + Sync, FA: Convert<SA, K::E>>(
    kern: K,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: ASource<'_, SA, FA>,
    b: &impl BPanels<K::E>,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
    parallel: bool,
) {
    let start = CStart::Beta(beta);
    gemm_from(kern, m, n, k, alpha, a, b, start, c, ldc, parallel)
}

/// What the product is added to: `beta * C`, or a bias broadcast over the rows of C.
#[derive(Clone, Copy)]
pub(crate) enum CStart<'a> {
    /// `C = alpha * op(A) * op(B) + beta * C` (`beta == 0` ignores C's old contents).
    Beta(f32),
    /// `C = residual + bias + alpha * op(A) * op(B)` (C's old contents ignored). Each
    /// tile is set to `residual + bias` right before its first K block's kernel call, which
    /// then runs with beta = 1: the kernel sees exactly the C of a caller that filled C
    /// that way and asked for beta = 1, so the result is the same bit for bit, but C is
    /// written once from a cache-hot tile instead of in a separate pass. Kernels with
    /// [`Micro::START_IN_TILE`] reading A in place add the start in their write-back
    /// instead (no fill at all).
    Bias(Epilogue<'a>),
}

/// [`gemm`] with C starting at `start` (see [`CStart`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_from<K: Micro, SA: Copy + Sync, FA: Convert<SA, K::E>>(
    kern: K,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: ASource<'_, SA, FA>,
    b: &impl BPanels<K::E>,
    start: CStart<'_>,
    c: &mut [f32],
    ldc: usize,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let beta = match start {
        CStart::Beta(beta) => beta,
        CStart::Bias(e) => {
            assert!(e.bias.len() >= n, "gemm: bias shorter than n (internal)");
            1.0
        }
    };
    if k == 0 || alpha == 0.0 {
        match start {
            CStart::Beta(beta) => scale_c(c, m, n, ldc, beta),
            CStart::Bias(e) => e.fill(c, m, n, ldc),
        }
        return;
    }
    let flops = m.saturating_mul(n).saturating_mul(k).saturating_mul(2);
    let threads = if parallel && flops >= PAR_MIN_FLOPS {
        rayon::current_num_threads().max(1)
    } else {
        1
    };
    let (mr_, nr_, g) = (K::MR, K::NR, K::G);
    let mc_max = (K::blocking().mc / mr_).max(1) * mr_;
    let kc_max = k_block_len::<K>(k);
    let shared = SharedC {
        ptr: c.as_mut_ptr(),
        len: c.len(),
    };

    for ic in (0..m).step_by(mc_max) {
        let mc = mc_max.min(m - ic);
        let mpanels = mc.div_ceil(mr_);
        for pc in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - pc);
            let kg = kc.div_ceil(g);
            let beta_pc = if pc == 0 { beta } else { 1.0 };
            let alen = panel_len(mr_, kc, g);
            // All tasks of this (ic, pc) step, with A panel `ip` from `apack` (packed) or
            // in place (`apack` None).
            let run = |apack: Option<&[K::E]>| {
                let plan = Plan::new::<K>(n, mpanels, threads);
                // Rows `row..row + mr` of A at K `pc..pc + kc`, read in place (checked to
                // lie in `data`).
                let a_rows = |data: &[f32], lda: usize, row: usize, mr: usize| {
                    let at = row * lda + pc;
                    assert!(
                        at + (mr - 1) * lda + kc <= data.len(),
                        "gemm: A rows out of bounds (internal error)"
                    );
                    data[at..].as_ptr()
                };
                let block = |j0: usize, ncols: usize, p_lo: usize, p_hi: usize| {
                    let npanels = ncols.div_ceil(nr_);
                    let blen = panel_len(nr_, kc, g);
                    b.with_panels(pc, kc, j0, ncols, |bpack: &[K::E]| {
                        for ip in p_lo..p_hi {
                            let row = ic + ip * mr_;
                            let mr = mr_.min(ic + mc - row);
                            let ap = apack.map(|ap| &ap[ip * alen..(ip + 1) * alen]);
                            for jp in 0..npanels {
                                let col = j0 + jp * nr_;
                                let nr = nr_.min(j0 + ncols - col);
                                let bp = &bpack[jp * blen..(jp + 1) * blen];
                                let cp = shared.tile(row * ldc + col, mr, nr, ldc);
                                if let (0, CStart::Bias(e), ASource::Rows(data, lda), true) =
                                    (pc, start, &a, K::START_IN_TILE)
                                {
                                    // The start goes straight into the write-back.
                                    let st = e.tile_start((row, col), mr, nr);
                                    // SAFETY: A rows checked by `a_rows`, the start by
                                    // `tile_start`; B and C as below.
                                    unsafe {
                                        kern.tile_rows_from(
                                            kc,
                                            a_rows(data, *lda, row, mr),
                                            *lda,
                                            bp.as_ptr(),
                                            cp,
                                            ldc,
                                            alpha,
                                            st,
                                            mr,
                                            nr,
                                        )
                                    };
                                    continue;
                                }
                                if let (0, CStart::Bias(e)) = (pc, start) {
                                    // SAFETY: the tile lies inside C (asserted) and no
                                    // other task writes it.
                                    unsafe { e.fill_tile(cp, ldc, (row, col), mr, nr) };
                                }
                                match (ap, &a) {
                                    // SAFETY: panel lengths are exact (slices above); the
                                    // tile lies inside C (asserted) and no other task
                                    // writes it.
                                    (Some(ap), _) => unsafe {
                                        kern.tile(
                                            kg,
                                            ap.as_ptr(),
                                            bp.as_ptr(),
                                            cp,
                                            ldc,
                                            alpha,
                                            beta_pc,
                                            mr,
                                            nr,
                                        )
                                    },
                                    (None, ASource::Rows(data, lda)) => {
                                        // SAFETY: A rows checked by `a_rows`; B and C as
                                        // above.
                                        unsafe {
                                            kern.tile_rows(
                                                kc,
                                                a_rows(data, *lda, row, mr),
                                                *lda,
                                                bp.as_ptr(),
                                                cp,
                                                ldc,
                                                alpha,
                                                beta_pc,
                                                mr,
                                                nr,
                                            )
                                        }
                                    }
                                    (None, ASource::Pack(..)) => {
                                        unreachable!("gemm: packed A without panels")
                                    }
                                }
                            }
                        }
                    });
                };
                let task = |t: usize| {
                    let (tn, tm) = (t % plan.ntasks_n, t / plan.ntasks_n);
                    let j0 = tn * plan.cols_per_task;
                    if j0 >= n {
                        return;
                    }
                    let ncols = plan.cols_per_task.min(n - j0);
                    let p_lo = tm * plan.mpanels_per_task;
                    let p_hi = (p_lo + plan.mpanels_per_task).min(mpanels);
                    block(j0, ncols, p_lo, p_hi)
                };
                let ntasks = plan.ntasks_n * plan.ntasks_m;
                if threads > 1 && plan.ntasks_m == 1 && plan.ntasks_n > threads {
                    // Column panels claimed in shrinking ranges (`guided.rs`) instead of
                    // fixed blocks: with those the core that finished first sat idle
                    // ≈ 4-5 % of a batched forward (half a block per GEMM on average,
                    // 5-10 ms for FFN2), more when one core runs slower. A unit is half a
                    // panel's rows, so the last claims (one unit each) end within half a
                    // panel of each other; a claim runs its whole panels a B block at a
                    // time, and a half panel at either end on its own. Which thread
                    // computes a tile does not change its arithmetic.
                    let half = mpanels.div_ceil(2);
                    let ranges = Guided::new(2 * n.div_ceil(nr_), threads, 2);
                    let max = plan.cols_per_task / nr_;
                    let cols = |p: usize, q: usize| (p * nr_, (q * nr_).min(n) - p * nr_);
                    (0..threads).into_par_iter().for_each(|_| {
                        while let Some(claim) = ranges.claim() {
                            let (mut u, end) = (claim.start, claim.end);
                            if u % 2 == 1 {
                                let (j0, w) = cols(u / 2, u / 2 + 1);
                                block(j0, w, half, mpanels);
                                u += 1;
                            }
                            // Whole panels [u / 2, end / 2), at most one B block per pass
                            // over A.
                            for p in (u / 2..end / 2).step_by(max) {
                                let (j0, w) = cols(p, (p + max).min(end / 2));
                                block(j0, w, 0, mpanels);
                            }
                            if end % 2 == 1 && end > u {
                                let (j0, w) = cols(end / 2, end / 2 + 1);
                                block(j0, w, 0, half);
                            }
                        }
                    });
                } else if threads > 1 && ntasks > 1 {
                    (0..ntasks).into_par_iter().for_each(task);
                } else {
                    (0..ntasks).for_each(task);
                }
            };
            match &a {
                ASource::Pack(view, conv_a) => {
                    with_buf(&BUF_A, mpanels * alen, |apack: &mut [K::E]| {
                        pack_block::<K, SA>(*view, ic, mc, pc, kc, apack, *conv_a, threads);
                        run(Some(apack))
                    })
                }
                ASource::Rows(..) => {
                    assert!(
                        K::DIRECT_A,
                        "gemm: kernel cannot read A in place (internal)"
                    );
                    run(None)
                }
            }
        }
    }
}

/// K block length for a K of `k`: K split into equal blocks of at most KC (a multiple of
/// G), so there is no short last pass. The prepacked path uses the same blocks.
pub(crate) fn k_block_len<K: Micro>(k: usize) -> usize {
    let g = K::G;
    let kc_max = (K::blocking().kc / g).max(1) * g;
    k.div_ceil(k.div_ceil(kc_max)).div_ceil(g) * g
}

/// How the columns (and, if needed, rows) of one `(ic, pc)` step are split into tasks.
pub(crate) struct Plan {
    pub cols_per_task: usize,
    pub ntasks_n: usize,
    pub mpanels_per_task: usize,
    pub ntasks_m: usize,
}

impl Plan {
    pub(crate) fn new<K: Micro>(n: usize, mpanels: usize, threads: usize) -> Plan {
        let npanels = n.div_ceil(K::NR);
        let nb_panels = (K::blocking().nb / K::NR).max(1).min(npanels.max(1));
        // Column panels per task: at most a B block's worth. With several threads, the
        // width that leaves the busiest thread the fewest panels, the widest among equals
        // (72 panels in blocks of 5 leave one thread 37 of them; in blocks of 4, 36).
        let per = if threads > 1 {
            (1..=nb_panels)
                .rev()
                .min_by_key(|&per| busiest_thread_panels(npanels, per, threads))
                .unwrap_or(nb_panels)
        } else {
            nb_panels
        };
        let ntasks_n = npanels.div_ceil(per);
        let want_m = if ntasks_n >= threads {
            1
        } else {
            threads.div_ceil(ntasks_n)
        };
        let mpanels_per_task = mpanels.div_ceil(want_m.min(mpanels));
        Plan {
            cols_per_task: per * K::NR,
            ntasks_n,
            mpanels_per_task,
            ntasks_m: mpanels.div_ceil(mpanels_per_task),
        }
    }
}

/// Column panels of the busiest of `threads` threads when `npanels` are cut into tasks of
/// `per` (the last task takes the rest), whole tasks handed out as evenly as they go.
fn busiest_thread_panels(npanels: usize, per: usize, threads: usize) -> usize {
    let (full, rest) = (npanels / per, npanels % per);
    if full.is_multiple_of(threads) {
        full / threads * per + rest
    } else {
        // A thread with one full task fewer takes the rest, which is shorter than a task.
        full.div_ceil(threads) * per
    }
}

/// Pack the A block (rows `[ic, ic + mc)`, K `[pc, pc + kc)`) into MR panels, in parallel
/// over panel ranges when `threads > 1`.
#[allow(clippy::too_many_arguments)]
fn pack_block<K: Micro, SA: Copy + Sync>(
    a: View<'_, SA>,
    ic: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    apack: &mut [K::E],
    conv_a: impl Convert<SA, K::E>,
    threads: usize,
) {
    let (mr, g) = (K::MR, K::G);
    let alen = panel_len(mr, kc, g);
    let mpanels = mc.div_ceil(mr);
    if threads > 1 && mpanels > 1 {
        let per = mpanels.div_ceil(threads);
        apack
            .par_chunks_mut(per * alen)
            .enumerate()
            .for_each(|(t, chunk)| {
                let r0 = t * per * mr;
                let rows = (per * mr).min(mc - r0);
                pack_any::<SA, K::E>(g, a, ic + r0, rows, pc, kc, mr, chunk, conv_a);
            });
    } else {
        pack_any::<SA, K::E>(g, a, ic, mc, pc, kc, mr, apack, conv_a);
    }
}

/// [`pack`] with the group size chosen at run time (monomorphised for 1 and 2); row-major
/// f32 sources with a conversion it implements take the AVX-512 row packer when the CPU
/// has AVX-512F/BW (same bytes, `pack_avx512.rs`), and plain f32 copies the AVX2 one on
/// CPUs with AVX2 only (same bytes, `pack_avx2.rs`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_any<S: Copy, E: bytemuck::Pod + Default>(
    g: usize,
    src: View<'_, S>,
    r0: usize,
    rows: usize,
    p0: usize,
    kc: usize,
    r: usize,
    out: &mut [E],
    conv: impl Convert<S, E>,
) {
    #[cfg(target_arch = "x86_64")]
    let block = super::pack::RowBlock::new(src.rs, r0, rows, p0, kc, r);
    // The panels a row packer writes.
    #[cfg(target_arch = "x86_64")]
    let len = rows.div_ceil(r) * panel_len(r, kc, g);
    #[cfg(target_arch = "x86_64")]
    if avx512_packing() {
        if let (1, Some((kind, data))) = (src.ks, conv.f32_rows(src.data)) {
            assert_eq!(kind.group(), g, "pack: conversion and group size disagree");
            let out32: &mut [u32] = bytemuck::cast_slice_mut(&mut out[..len]);
            // SAFETY: AVX-512F/BW were detected.
            unsafe { super::pack_avx512::pack_rows_avx512(data, block, out32, kind) };
            return;
        }
        // SAFETY: AVX-512F/BW were detected.
        unsafe { pack_any_avx512(g, src, r0, rows, p0, kc, r, out, conv) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if g == 1 && avx2_packing() {
        if let (1, Some((super::conv::RowConv::Copy, data))) = (src.ks, conv.f32_rows(src.data)) {
            let out: &mut [f32] = bytemuck::cast_slice_mut(&mut out[..len]);
            // SAFETY: AVX2 was detected.
            unsafe { super::pack_avx2::pack_rows_avx2(data, block, out) };
            return;
        }
    }
    pack_generic(g, src, r0, rows, p0, kc, r, out, conv)
}

/// Whether the AVX2 row packer may run (CPUs without AVX-512), detected once.
#[cfg(target_arch = "x86_64")]
fn avx2_packing() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| is_x86_feature_detected!("avx2"))
}

/// [`pack`] with the group size chosen at run time.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pack_generic<S: Copy, E: bytemuck::Pod + Default>(
    g: usize,
    src: View<'_, S>,
    r0: usize,
    rows: usize,
    p0: usize,
    kc: usize,
    r: usize,
    out: &mut [E],
    conv: impl Convert<S, E>,
) {
    let conv = |x: S| conv.convert(x);
    match g {
        1 => pack::<S, E, 1>(src, r0, rows, p0, kc, r, out, conv),
        2 => pack::<S, E, 2>(src, r0, rows, p0, kc, r, out, conv),
        _ => unreachable!("packing group size must be 1 or 2"),
    }
}

/// Whether packing may use AVX-512 (F and BW: the f32 -> bf16 narrowing), detected once.
#[cfg(target_arch = "x86_64")]
fn avx512_packing() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw"))
}

/// [`pack_generic`] compiled for AVX-512: the conversion loops (f32 -> bf16 rounding above
/// all) vectorize 16 wide instead of SSE2's 4. Same values.
///
/// # Safety
/// AVX-512F and AVX-512BW must be present.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_any_avx512<S: Copy, E: bytemuck::Pod + Default>(
    g: usize,
    src: View<'_, S>,
    r0: usize,
    rows: usize,
    p0: usize,
    kc: usize,
    r: usize,
    out: &mut [E],
    conv: impl Convert<S, E>,
) {
    pack_generic(g, src, r0, rows, p0, kc, r, out, conv)
}

#[cfg(test)]
mod tests {
    use super::super::portable::PortableF32;
    use super::*;

    #[test]
    fn busiest_thread_gets_whole_tasks_and_the_rest() {
        // 72 panels: 14 tasks of 5 and one of 2 -> 7 * 5 + 2; 18 tasks of 4 -> 9 * 4.
        assert_eq!(busiest_thread_panels(72, 5, 2), 37);
        assert_eq!(busiest_thread_panels(72, 4, 2), 36);
        // 96 panels: 19 tasks of 5 (one thread 10 of them) and one of 1.
        assert_eq!(busiest_thread_panels(96, 5, 2), 50);
        assert_eq!(busiest_thread_panels(96, 4, 2), 48);
        assert_eq!(busiest_thread_panels(3, 2, 2), 2);
        assert_eq!(busiest_thread_panels(7, 7, 1), 7);
    }

    /// Every plan covers every column panel and row panel, with no task wider than a B
    /// block, and on two threads splits the columns as evenly as whole panels allow.
    #[test]
    fn plans_cover_everything_and_balance_threads() {
        let nr = PortableF32::NR;
        let nb_panels = PortableF32::blocking().nb / nr;
        for n in [1, nr, 3 * nr + 1, 72 * nr, 96 * nr, 100 * nr + 5] {
            for threads in 1..=4 {
                let plan = Plan::new::<PortableF32>(n, 7, threads);
                let npanels = n.div_ceil(nr);
                let per = plan.cols_per_task / nr;
                assert!(per <= nb_panels.max(1), "n {n}, threads {threads}");
                assert!(plan.ntasks_n * per >= npanels && (plan.ntasks_n - 1) * per < npanels);
                assert!(plan.ntasks_m * plan.mpanels_per_task >= 7);
                if threads == 2 && npanels >= 2 {
                    let busiest = busiest_thread_panels(npanels, per, 2);
                    assert!(busiest <= npanels.div_ceil(2) + per / 2, "n {n}: {busiest}");
                }
            }
        }
    }
}
