//! CPU emulation of `kernels/cuda/gemm.cu`'s data movement, checked without a GPU: the
//! cp.async tile loads, the ldmatrix lane addresses (with and without `.trans`), the
//! fragment layouts of `mma.sync.m16n8k16.row.col` and the epilogue's accumulator ->
//! (row, column) mapping are emulated per lane exactly as the PTX ISA defines them, and
//! the product must equal the reference for NN, NT and TN with ragged edges.
//!
//! The index formulas below are transcriptions of gemm.cu (same names); when the kernel
//! changes, this file must change with it. What this cannot catch: PTX syntax (the NVRTC
//! test does) and timing (barriers, the cp.async pipeline), which need a GPU.

mod cuda_common;

use cuda_common::mma::{assert_exact_product, ldmatrix_x4, mma, small_ints};

const BM: usize = 128;
const BN: usize = 128;
const BK: usize = 32;
const PAD: usize = 8;
const THREADS: usize = 256;

/// Shared tiles of one k-step, filled by the emulated `load_a` / `load_b`.
struct Tiles {
    a: Vec<f32>,
    b: Vec<f32>,
}

#[allow(clippy::too_many_arguments)]
fn load_tiles(
    ta: bool,
    tb: bool,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    m: usize,
    n: usize,
    k: usize,
    m0: usize,
    n0: usize,
    k0: usize,
) -> Tiles {
    let a_elems = if ta { BK * (BM + PAD) } else { BM * (BK + PAD) };
    let b_elems = if tb { BN * (BK + PAD) } else { BK * (BN + PAD) };
    let mut t = Tiles {
        a: vec![f32::NAN; a_elems],
        b: vec![f32::NAN; b_elems],
    };
    for tid in 0..THREADS {
        for it in 0..2 {
            let c = tid + it * THREADS;
            // load_a
            let (dst, ok, src) = if !ta {
                let (row, kc) = (c >> 2, (c & 3) * 8);
                let (mm, kk) = (m0 + row, k0 + kc);
                (row * (BK + PAD) + kc, mm < m && kk < k, mm * lda + kk)
            } else {
                let (row, mc) = (c >> 4, (c & 15) * 8);
                let (kk, mm) = (k0 + row, m0 + mc);
                (row * (BM + PAD) + mc, kk < k && mm < m, kk * lda + mm)
            };
            for e in 0..8 {
                t.a[dst + e] = if ok { a[src + e] } else { 0.0 };
            }
            // load_b
            let (dst, ok, src) = if tb {
                let (row, kc) = (c >> 2, (c & 3) * 8);
                let (nn, kk) = (n0 + row, k0 + kc);
                (row * (BK + PAD) + kc, nn < n && kk < k, nn * ldb + kk)
            } else {
                let (row, nc) = (c >> 4, (c & 15) * 8);
                let (kk, nn) = (k0 + row, n0 + nc);
                (row * (BN + PAD) + nc, kk < k && nn < n, kk * ldb + nn)
            };
            for e in 0..8 {
                t.b[dst + e] = if ok { b[src + e] } else { 0.0 };
            }
        }
    }
    t
}

/// The whole kernel for one block tile, emulated warp by warp; returns C.
#[allow(clippy::too_many_arguments)]
fn emulate(ta: bool, tb: bool, m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
    let (lda, ldb) = (if ta { m } else { k }, if tb { k } else { n });
    let mut c = vec![f32::NAN; m * n];
    for by in 0..m.div_ceil(BM) {
        for bx in 0..n.div_ceil(BN) {
            let (m0, n0) = (by * BM, bx * BN);
            // acc[warp][mt][nt][lane][e]
            let mut acc = vec![[[[[0.0f32; 4]; 32]; 4]; 4]; 8];
            for k0 in (0..k).step_by(BK) {
                let tiles = load_tiles(ta, tb, a, lda, b, ldb, m, n, k, m0, n0, k0);
                for (warp, acc_w) in acc.iter_mut().enumerate() {
                    let (wm, wn) = ((warp >> 2) * 64, (warp & 3) * 32);
                    for kk in (0..BK).step_by(16) {
                        let af: Vec<_> = (0..4)
                            .map(|mt| {
                                let mb = wm + mt * 16;
                                if !ta {
                                    ldmatrix_x4(
                                        &tiles.a,
                                        |l| {
                                            let (g, r) = (l >> 3, l & 7);
                                            (mb + r + (g & 1) * 8) * (BK + PAD) + kk + (g >> 1) * 8
                                        },
                                        false,
                                    )
                                } else {
                                    ldmatrix_x4(
                                        &tiles.a,
                                        |l| {
                                            let (g, r) = (l >> 3, l & 7);
                                            (kk + r + (g >> 1) * 8) * (BM + PAD) + mb + (g & 1) * 8
                                        },
                                        true,
                                    )
                                }
                            })
                            .collect();
                        let mut bf = [[[(0.0, 0.0); 2]; 32]; 4];
                        for np in 0..2 {
                            let nb = wn + np * 16;
                            let t = if tb {
                                ldmatrix_x4(
                                    &tiles.b,
                                    |l| {
                                        let (g, r) = (l >> 3, l & 7);
                                        (nb + r + (g >> 1) * 8) * (BK + PAD) + kk + (g & 1) * 8
                                    },
                                    false,
                                )
                            } else {
                                ldmatrix_x4(
                                    &tiles.b,
                                    |l| {
                                        let (g, r) = (l >> 3, l & 7);
                                        (kk + r + (g & 1) * 8) * (BN + PAD) + nb + (g >> 1) * 8
                                    },
                                    true,
                                )
                            };
                            for lane in 0..32 {
                                bf[np * 2][lane] = [t[lane][0], t[lane][1]];
                                bf[np * 2 + 1][lane] = [t[lane][2], t[lane][3]];
                            }
                        }
                        for (mt, acc_m) in acc_w.iter_mut().enumerate() {
                            for (nt, acc_mn) in acc_m.iter_mut().enumerate() {
                                mma(acc_mn, &af[mt], &bf[nt]);
                            }
                        }
                    }
                }
            }
            // Epilogue mapping.
            for (warp, acc_w) in acc.iter().enumerate() {
                let (wm, wn) = ((warp >> 2) * 64, (warp & 3) * 32);
                for (mt, acc_m) in acc_w.iter().enumerate() {
                    for (nt, acc_mn) in acc_m.iter().enumerate() {
                        for (lane, regs) in acc_mn.iter().enumerate() {
                            for (e, &v) in regs.iter().enumerate() {
                                let row = m0 + wm + mt * 16 + (lane >> 2) + (e >> 1) * 8;
                                let col = n0 + wn + nt * 8 + (lane & 3) * 2 + (e & 1);
                                if row < m && col < n {
                                    assert!(
                                        c[row * n + col].is_nan(),
                                        "({row}, {col}) written twice"
                                    );
                                    c[row * n + col] = v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    c
}

#[test]
fn gemm_cu_fragment_addressing_computes_the_product() {
    // Small integers: every product and sum is exact in f32, so equality is exact.
    let mut next = small_ints(0x1234_5678);
    for (ta, tb) in [(false, false), (false, true), (true, false)] {
        for &(m, n, k) in &[(8, 8, 8), (136, 264, 40), (128, 128, 64)] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let got = emulate(ta, tb, m, n, k, &a, &b);
            let what = format!("ta {ta} tb {tb} {m}x{n}x{k}");
            assert_exact_product(&what, &got, ta, tb, (m, n, k), &a, &b);
        }
    }
}

/// The transcribed formulas above are still the kernel's (so a change to gemm.cu that is
/// not mirrored here fails instead of leaving this emulation testing stale code).
#[test]
fn emulated_formulas_are_still_in_gemm_cu() {
    let src = include_str!("../cuda/gemm.cu");
    for f in [
        "(mb + r + (g & 1) * 8) * (BK + PAD) + kk + (g >> 1) * 8",
        "(kk + r + (g >> 1) * 8) * (BM + PAD) + mb + (g & 1) * 8",
        "(nb + r + (g >> 1) * 8) * (BK + PAD) + kk + (g & 1) * 8",
        "(kk + r + (g & 1) * 8) * (BN + PAD) + nb + (g >> 1) * 8",
        "const int m = m0 + wm + mt * 16 + (lane >> 2) + (e >> 1) * 8;",
        "const int n = n0 + wn + nt * 8 + (lane & 3) * 2 + (e & 1);",
        "const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;",
        "const int row = c >> 2, kc = (c & 3) * 8;",
        "const int row = c >> 4, mc = (c & 15) * 8;",
        "const int row = c >> 4, nc = (c & 15) * 8;",
        "bf[np * 2][0] = t[0];",
        "bf[np * 2 + 1][0] = t[2];",
    ] {
        assert!(
            src.contains(f),
            "gemm.cu no longer contains `{f}`: update this emulation"
        );
    }
}
