//! CPU emulation of `kernels/cuda/gemm_wgmma.cu` (the Hopper path), checked without a GPU.
//!
//! Two sides meet in an emulated shared memory:
//! - the kernel's side, transcribed from gemm_wgmma.cu (same names): the cp.async tile loads
//!   into the 4-stage ring two k tiles ahead, the matrix descriptors it builds, and its
//!   epilogue's (value -> row, column) mapping;
//! - the hardware's side, written from the PTX ISA's definitions as CUTLASS encodes them
//!   (`make_gmma_desc`, `Layout_{K,MN}_SW128_Atom`, `CLayout_64xN`): descriptor bit fields,
//!   the canonical 128-byte-swizzle layouts for K-major and MN-major operands, the swizzle
//!   on absolute shared-memory addresses, and the accumulator layout of `m64nNk16`.
//!
//! The product must equal the reference exactly (small integers) for NN, NT and TN with
//! ragged edges and several k tiles. What this cannot catch: PTX syntax (the NVRTC test
//! does), the asynchronous ordering (fences, barriers, wait_group counts) and speed, which
//! need a GPU (`kernels/tests/cuda_kernels.rs`).

mod cuda_common;

use cuda_common::mma::{assert_exact_product, small_ints};

const BM: usize = 128;
const BK: usize = 64;
const STAGES: usize = 4;
const THREADS: usize = 256;
/// The A tile's bytes; a stage is A then B (`bn * BK * 2` bytes).
const TILE_BYTES: usize = BM * BK * 2;

fn stage_bytes(bn: usize) -> usize {
    TILE_BYTES + bn * BK * 2
}
/// Where the emulated dynamic shared memory starts (the kernel rounds up to 1024 itself).
const RAW_BASE: u32 = 0x90;

/// Shared memory: one f32 per 16-bit element, indexed by byte address / 2.
struct Smem {
    cells: Vec<f32>,
}

impl Smem {
    fn new(bn: usize) -> Smem {
        Smem {
            cells: vec![f32::NAN; (RAW_BASE as usize + 1024 + STAGES * stage_bytes(bn)) / 2],
        }
    }

    /// A 16-byte cp.async chunk: 8 elements (zeros when `src` is None).
    fn write_chunk(&mut self, addr: u32, src: Option<&[f32]>) {
        assert_eq!(
            addr % 16,
            0,
            "cp.async destination {addr:#x} not 16-byte aligned"
        );
        for e in 0..8 {
            self.cells[addr as usize / 2 + e] = src.map_or(0.0, |s| s[e]);
        }
    }
}

// ---------------------------------------------------------------- the kernel's side

/// `wg_desc` of gemm_wgmma.cu.
fn wg_desc(addr: u32, lbo: u32, sbo: u32) -> u64 {
    ((addr & 0x3FFFF) >> 4) as u64
        | ((((lbo & 0x3FFFF) >> 4) as u64) << 16)
        | ((((sbo & 0x3FFFF) >> 4) as u64) << 32)
        | (1u64 << 62)
}

/// `wg_load_kmajor<ROWS>`: `tile_rows` rows r0.. of a stored `[rows][K]` operand (leading
/// dimension ld).
#[allow(clippy::too_many_arguments)]
fn wg_load_kmajor(
    smem: &mut Smem,
    tile_rows: usize,
    tile: u32,
    src: &[f32],
    ld: usize,
    rows: usize,
    k_len: usize,
    r0: usize,
    k0: usize,
) {
    for tid in 0..THREADS {
        for it in 0..tile_rows / 32 {
            let q = tid + it * THREADS;
            let (r, c) = (q >> 3, q & 7);
            let (row, k) = (r0 + r, k0 + c * 8);
            let ok = row < rows && k < k_len;
            let dst = tile + (r * 128 + ((c ^ (r & 7)) << 4)) as u32;
            smem.write_chunk(dst, ok.then(|| &src[row * ld + k..row * ld + k + 8]));
        }
    }
}

/// `wg_load_mnmajor<COLS>`: k rows k0.. of a stored `[K][cols]` operand, `tile_cols` columns
/// from c0.
#[allow(clippy::too_many_arguments)]
fn wg_load_mnmajor(
    smem: &mut Smem,
    tile_cols: usize,
    tile: u32,
    src: &[f32],
    ld: usize,
    cols: usize,
    k_len: usize,
    c0: usize,
    k0: usize,
) {
    for tid in 0..THREADS {
        for it in 0..tile_cols / 32 {
            let q = tid + it * THREADS;
            let (r, c16) = (q / (tile_cols / 8), q % (tile_cols / 8));
            let (a, c) = (c16 >> 3, c16 & 7);
            let (k, col) = (k0 + r, c0 + c16 * 8);
            let ok = k < k_len && col < cols;
            let dst = tile + (a * 8192 + r * 128 + ((c ^ (r & 7)) << 4)) as u32;
            smem.write_chunk(dst, ok.then(|| &src[k * ld + col..k * ld + col + 8]));
        }
    }
}

// ---------------------------------------------------------------- the hardware's side

/// A decoded shared-memory matrix descriptor (PTX ISA "matrix descriptor format").
struct Desc {
    start: u32,
    lbo: u32,
    sbo: u32,
}

fn decode(desc: u64) -> Desc {
    assert_eq!(desc >> 62, 1, "layout type must be 1 (128-byte swizzle)");
    assert_eq!((desc >> 49) & 7, 0, "base offset must be 0");
    Desc {
        start: ((desc & 0x3FFF) << 4) as u32,
        lbo: (((desc >> 16) & 0x3FFF) << 4) as u32,
        sbo: (((desc >> 32) & 0x3FFF) << 4) as u32,
    }
}

/// Swizzle<3,4,3> on a byte address: bits 4-6 (the 16-byte chunk in a 128-byte row) XOR
/// bits 7-9 (the row mod 8).
fn swizzle128(addr: u32) -> u32 {
    addr ^ (((addr >> 7) & 7) << 4)
}

/// Byte address of element (mn, k) of an operand (mn: m of A or n of B; k < 16) in the
/// canonical 128-byte-swizzle layouts, 16-bit elements (T = 8 per 16 bytes):
/// K-major  ((8,m),(T,2)) : ((8T,SBO),(1,T))
/// MN-major ((T,8,m),(8,k)) : ((1,T,LBO),(8T,SBO)).
fn operand_addr(d: &Desc, mn_major: bool, mn: usize, k: usize) -> u32 {
    let elems = if !mn_major {
        (mn % 8) * 64 + (k % 8) + (k / 8) * 8
    } else {
        (mn % 8) + ((mn / 8) % 8) * 8 + (k % 8) * 64
    };
    let outer = if !mn_major {
        (mn / 8) as u32 * d.sbo
    } else {
        (mn / 64) as u32 * d.lbo + (k / 8) as u32 * d.sbo
    };
    swizzle128(d.start + outer + (elems * 2) as u32)
}

/// `wgmma.mma_async.m64nNk16` (N = `d.len() / 64`) with operands from shared memory: D
/// (64 x N, row-major) += A (64 x 16) * B (16 x N). `trans_a` / `trans_b`: the imm-trans
/// operands (1 = MN-major; 0 = K-major, the default: A row-major, B column-major).
fn wgmma_m64nk16(d: &mut [f32], smem: &Smem, da: u64, db: u64, trans_a: u32, trans_b: u32) {
    let n_len = d.len() / 64;
    let (da, db) = (decode(da), decode(db));
    let read = |addr: u32| {
        let v = smem.cells[addr as usize / 2];
        assert!(!v.is_nan(), "read of unwritten shared memory at {addr:#x}");
        v
    };
    for m in 0..64 {
        for n in 0..n_len {
            let mut s = 0.0f32;
            for k in 0..16 {
                s += read(operand_addr(&da, trans_a == 1, m, k))
                    * read(operand_addr(&db, trans_b == 1, n, k));
            }
            d[m * n_len + n] += s;
        }
    }
}

/// CLayout_64xN (CUTLASS): thread t (of 128) value v -> (m, n) of the 64 x N accumulator,
/// shape ((4,8,4),(2,2,N/8)), stride ((128,1,16),(64,8,512)) into a column-major 64 x N.
fn accumulator_position(t: usize, v: usize) -> (usize, usize) {
    let idx = (t % 4) * 128
        + ((t / 4) % 8)
        + (t / 32) * 16
        + (v % 2) * 64
        + ((v / 2) % 2) * 8
        + (v / 4) * 512;
    (idx % 64, idx / 64)
}

// ---------------------------------------------------------------- the kernel, emulated

/// The whole kernel with `bn`-wide tiles: every block tile, the k loop with its ring, the
/// epilogue. Returns C.
#[allow(clippy::too_many_arguments)]
fn emulate(
    bn: usize,
    ta: bool,
    tb: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
) -> Vec<f32> {
    let (lda, ldb) = (if ta { m } else { k }, if tb { k } else { n });
    let mut c = vec![f32::NAN; m * n];
    // The kernel's alignment of the dynamic shared memory.
    let raw = RAW_BASE;
    let base = raw + (((raw + 1023) & !1023) - raw);
    assert_eq!(base % 1024, 0);
    let (a_lbo, b_lbo) = (if ta { 8192 } else { 16 }, if tb { 16 } else { 8192 });
    let (a_step, b_step) = (if ta { 2048 } else { 32 }, if tb { 32 } else { 2048 });
    for by in 0..m.div_ceil(BM) {
        for bx in 0..n.div_ceil(bn) {
            let (m0, n0) = (by * BM, bx * bn);
            let mut smem = Smem::new(bn);
            // Accumulators of the two warpgroups, as 64 x bn matrices.
            let mut d = vec![vec![0.0f32; 64 * bn]; 2];
            let kt_count = k.div_ceil(BK);
            let load_stage = |smem: &mut Smem, kt: usize| {
                let a_tile = base + ((kt % STAGES) * stage_bytes(bn)) as u32;
                let b_tile = a_tile + TILE_BYTES as u32;
                if ta {
                    wg_load_mnmajor(smem, BM, a_tile, a, lda, m, k, m0, kt * BK);
                } else {
                    wg_load_kmajor(smem, BM, a_tile, a, lda, m, k, m0, kt * BK);
                }
                if tb {
                    wg_load_kmajor(smem, bn, b_tile, b, ldb, n, k, n0, kt * BK);
                } else {
                    wg_load_mnmajor(smem, bn, b_tile, b, ldb, n, k, n0, kt * BK);
                }
            };
            for s in 0..STAGES - 2 {
                if s < kt_count {
                    load_stage(&mut smem, s);
                }
            }
            for kt in 0..kt_count {
                if kt + STAGES - 2 < kt_count {
                    load_stage(&mut smem, kt + STAGES - 2);
                }
                for (wg, dw) in d.iter_mut().enumerate() {
                    let a_addr = base + ((kt % STAGES) * stage_bytes(bn)) as u32 + wg as u32 * 8192;
                    let b_addr = base + ((kt % STAGES) * stage_bytes(bn) + TILE_BYTES) as u32;
                    for s in 0..(BK / 16) as u32 {
                        wgmma_m64nk16(
                            dw,
                            &smem,
                            wg_desc(a_addr + s * a_step, a_lbo, 1024),
                            wg_desc(b_addr + s * b_step, b_lbo, 1024),
                            u32::from(ta),
                            u32::from(!tb),
                        );
                    }
                }
            }
            // Epilogue: the kernel's formulas pick the value the hardware put in each
            // thread's register 4j + e.
            for (wg, dw) in d.iter().enumerate() {
                for t in 0..128 {
                    let (lane, warp_in_wg) = (t & 31, t >> 5);
                    let row0 = m0 + wg * 64 + warp_in_wg * 16 + (lane >> 2);
                    let col0 = n0 + (lane & 3) * 2;
                    for j in 0..bn / 8 {
                        for e in 0..4 {
                            let (hm, hn) = accumulator_position(t, 4 * j + e);
                            let value = dw[hm * bn + hn];
                            let mm = row0 + (e >> 1) * 8;
                            let nn = col0 + j * 8 + (e & 1);
                            if mm >= m || nn >= n {
                                continue;
                            }
                            assert!(c[mm * n + nn].is_nan(), "({mm}, {nn}) written twice");
                            c[mm * n + nn] = value;
                        }
                    }
                }
            }
        }
    }
    c
}

#[test]
fn gemm_wgmma_cu_layouts_compute_the_product() {
    let mut next = small_ints(0x2545_f491);
    for (bn, ta, tb) in [128, 256]
        .into_iter()
        .flat_map(|bn| [(bn, false, false), (bn, false, true), (bn, true, false)])
    {
        // One tile; ragged M, N and K over several tiles; K spanning the whole 4-stage ring
        // more than once (K = 320: 5 k tiles); N over two 256-wide tiles.
        for &(m, n, k) in &[(8, 8, 8), (136, 200, 72), (128, 128, 320), (72, 392, 136)] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let got = emulate(bn, ta, tb, m, n, k, &a, &b);
            let what = format!("bn {bn} ta {ta} tb {tb} {m}x{n}x{k}");
            assert_exact_product(&what, &got, ta, tb, (m, n, k), &a, &b);
        }
    }
}

/// The hardware side is not tuned to the kernel: a layout written without the swizzle, or
/// with the MN-major offsets swapped, must not reproduce the product.
#[test]
fn hardware_model_rejects_wrong_layouts() {
    // K-major element (mn = 9, k = 3) with SBO 1024 from a 1024-aligned start: row 1 of the
    // second 8-row group, chunk 0 XOR row 1 = chunk 1.
    let d = decode(wg_desc(4096, 16, 1024));
    assert_eq!(operand_addr(&d, false, 9, 3), 4096 + 1024 + 128 + 16 + 6);
    // MN-major element (mn = 70, k = 9): atom 1 (LBO 8192), k group 1 (SBO 1024), k row 1,
    // chunk 0 XOR 1 = 1, element 6.
    let d = decode(wg_desc(4096, 8192, 1024));
    assert_eq!(
        operand_addr(&d, true, 70, 9),
        4096 + 8192 + 1024 + 128 + 16 + 12
    );
    // The CLayout: thread 5 (lane 5 of warp 0) holds rows 1 and 9, columns 2, 3, 10, 11, ...
    assert_eq!(accumulator_position(5, 0), (1, 2));
    assert_eq!(accumulator_position(5, 3), (9, 3));
    assert_eq!(accumulator_position(5, 4), (1, 10));
    assert_eq!(accumulator_position(37, 0), (17, 2));
}

/// The transcribed formulas above are still the kernel's.
#[test]
fn emulated_formulas_are_still_in_gemm_wgmma_cu() {
    let src = include_str!("../cuda/gemm_wgmma.cu");
    for f in [
        "const int r = q >> 3, c = q & 7;",
        "tile + r * 128 + ((c ^ (r & 7)) << 4)",
        "const int r = q / (COLS / 8), c16 = q % (COLS / 8);",
        "for (int it = 0; it < ROWS / 32; ++it) {",
        "for (int it = 0; it < COLS / 32; ++it) {",
        "constexpr int STAGE_BYTES = WG_TILE_BYTES + BN * WG_BK * 2;",
        "if (TA) wg_load_mnmajor<WG_BM>(a_tile, A, lda, M, K, m0, kt * WG_BK);",
        "else wg_load_kmajor<WG_BM>(a_tile, A, lda, M, K, m0, kt * WG_BK);",
        "if (TB) wg_load_kmajor<BN>(b_tile, B, ldb, N, K, n0, kt * WG_BK);",
        "else wg_load_mnmajor<BN>(b_tile, B, ldb, N, K, n0, kt * WG_BK);",
        "for (int j = 0; j < BN / 8; ++j)",
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.",
        "const int a = c16 >> 3, c = c16 & 7;",
        "tile + a * 8192 + r * 128 + ((c ^ (r & 7)) << 4)",
        "(u64)((addr & 0x3FFFF) >> 4) | ((u64)((lbo & 0x3FFFF) >> 4) << 16) |",
        "((u64)((sbo & 0x3FFFF) >> 4) << 32) | (1ull << 62)",
        "const u32 a_lbo = TA ? 8192 : 16, b_lbo = TB ? 16 : 8192;",
        "const u32 a_step = TA ? 2048 : 32, b_step = TB ? 32 : 2048;",
        "const u32 a_addr = base + (kt % WG_STAGES) * STAGE_BYTES + wg * 8192;",
        "const u32 b_addr = base + (kt % WG_STAGES) * STAGE_BYTES + WG_TILE_BYTES;",
        "wg_mma<F16, TA ? 1 : 0, TB ? 0 : 1, BN>(d, wg_desc(a_addr + s * a_step, a_lbo, 1024),",
        "wg_desc(b_addr + s * b_step, b_lbo, 1024));",
        "if (kt + WG_STAGES - 2 < KT) load_stage(kt + WG_STAGES - 2);",
        "cp_async_wait<WG_STAGES - 3>();",
        "const int row0 = m0 + wg * 64 + warp_in_wg * 16 + (lane >> 2);",
        "const int col0 = n0 + (lane & 3) * 2;",
        "const int m = row0 + (e >> 1) * 8;",
        "const int n = col0 + j * 8 + (e & 1);",
        "gemm_store(C, ldc, m, n, d[4 * j + e], alpha, beta, bias);",
        "unsigned char* smem = wg_smem_raw + (((raw + 1023u) & ~1023u) - raw);",
        "m64n128k16",
    ] {
        assert!(
            src.contains(f),
            "gemm_wgmma.cu no longer contains `{f}`: update this emulation"
        );
    }
}
