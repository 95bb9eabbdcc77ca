//! CPU emulation of `kernels/cuda/attention_tc.cu` (tensor-core attention forward), checked
//! without a GPU: the f32 -> f16 staging, the Q / K / V fragment addressing through
//! `ldmatrix`, the `mma.m16n8k16` S and P V products, the scale / mask / uniform rule, the
//! per-quad online softmax (max and sum across the 4 lanes of a row), the reuse of the S
//! accumulators as P's A fragments (with dropout, rounded to f16) and the output / lse
//! mapping are replayed lane by lane with the PTX ISA's instruction models
//! (`cuda_common::mma`), and compared with the naive f64 reference on the same f16-rounded
//! inputs. What it cannot check: CUDA syntax (the NVRTC test does), barriers and speed (a GPU
//! run does).

mod common;
mod cuda_common;

use common::{assert_close, randn, rng};
use cuda_common::attention_reference;
use cuda_common::mma::{ldmatrix_x4, mma, Acc, Frag};
use rand::Rng;
use tokken_kernels::cuda::dropout_keys::DropoutKeys;

const TC_Q: usize = 64;
const TC_KEYS: usize = 64;
const PAD: usize = 8;

fn f16r(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

/// `tc_stage`: rows r0..r0+rows of columns col..col+hs as f16 into [rows][hs + PAD]; rows
/// past T are zero; the pad columns are never read (NaN here, so a read would show).
fn stage(
    seq: &[f32],
    stride: usize,
    col: usize,
    r0: usize,
    t: usize,
    rows: usize,
    hs: usize,
) -> Vec<f32> {
    let p = hs + PAD;
    let mut dst = vec![f32::NAN; rows * p];
    for rr in 0..rows {
        for d in 0..hs {
            let r = r0 + rr;
            dst[rr * p + d] = if r < t {
                f16r(seq[r * stride + col + d])
            } else {
                0.0
            };
        }
    }
    dst
}

/// The kernel: returns (out, lse).
#[allow(clippy::too_many_arguments)]
fn forward_tc(
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    qkv: &[f32],
    mask: &[u8],
    dr: Option<DropoutKeys>,
) -> (Vec<f32>, Vec<f32>) {
    let hs = c / nh;
    let (p, kt, dt_count) = (hs + PAD, hs / 16, hs / 8);
    let stride = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    let mut out = vec![f32::NAN; b * t * c];
    let mut lse = vec![f32::NAN; b * nh * t];
    let keep_scale = |index: u32| match dr {
        None => 1.0,
        Some(k) if k.keep(index) => k.scale,
        Some(_) => 0.0,
    };
    for bi in 0..b {
        let seq = &qkv[bi * t * stride..];
        let mask_b = &mask[bi * t..(bi + 1) * t];
        let uniform = !mask_b.iter().any(|&m| m != 0);
        for h in 0..nh {
            for q0 in (0..t).step_by(TC_Q) {
                let qs = stage(seq, stride, h * hs, q0, t, TC_Q, hs);
                for w in 0..4 {
                    let qf: Vec<Frag<4>> = (0..kt)
                        .map(|kk| {
                            ldmatrix_x4(
                                &qs,
                                |l| {
                                    let (g, r) = (l >> 3, l & 7);
                                    (w * 16 + r + (g & 1) * 8) * p + kk * 16 + (g >> 1) * 8
                                },
                                false,
                            )
                        })
                        .collect();
                    let mut m = [[f32::NEG_INFINITY; 2]; 32];
                    let mut l = [[0.0f32; 2]; 32];
                    let mut o: Vec<Acc> = vec![[[0.0; 4]; 32]; dt_count];
                    let bh = (bi * nh + h) as u32;
                    let row_of = |lane: usize, hr: usize| q0 + w * 16 + (lane >> 2) + hr * 8;
                    let row_index = |i: usize| {
                        bh.wrapping_mul(t as u32)
                            .wrapping_add(i as u32)
                            .wrapping_mul(t as u32)
                    };
                    for j0 in (0..t).step_by(TC_KEYS) {
                        let ks = stage(seq, stride, c + h * hs, j0, t, TC_KEYS, hs);
                        let vs = stage(seq, stride, 2 * c + h * hs, j0, t, TC_KEYS, hs);
                        let valid: Vec<bool> = (0..TC_KEYS)
                            .map(|jj| {
                                let j = j0 + jj;
                                j < t && (uniform || mask_b[j] != 0)
                            })
                            .collect();
                        let mut s: Vec<Acc> = vec![[[0.0; 4]; 32]; 8];
                        for np in 0..4 {
                            for (kk, qfk) in qf.iter().enumerate() {
                                let tf = ldmatrix_x4(
                                    &ks,
                                    |l| {
                                        let (g, r) = (l >> 3, l & 7);
                                        (np * 16 + r + (g >> 1) * 8) * p + kk * 16 + (g & 1) * 8
                                    },
                                    false,
                                );
                                let b0: Frag<2> = std::array::from_fn(|x| [tf[x][0], tf[x][1]]);
                                let b1: Frag<2> = std::array::from_fn(|x| [tf[x][2], tf[x][3]]);
                                mma(&mut s[np * 2], qfk, &b0);
                                mma(&mut s[np * 2 + 1], qfk, &b1);
                            }
                        }
                        // Scale, mask, per-lane row maxima, then across the quad.
                        let mut mx = [[f32::NEG_INFINITY; 2]; 32];
                        for (nt, tile) in s.iter_mut().enumerate() {
                            for (lane, regs) in tile.iter_mut().enumerate() {
                                for (e, v) in regs.iter_mut().enumerate() {
                                    let jj = nt * 8 + (lane & 3) * 2 + (e & 1);
                                    *v = if valid[jj] {
                                        if uniform {
                                            0.0
                                        } else {
                                            *v * scale
                                        }
                                    } else {
                                        f32::NEG_INFINITY
                                    };
                                    mx[lane][e >> 1] = mx[lane][e >> 1].max(*v);
                                }
                            }
                        }
                        let mut corr = [[1.0f32; 2]; 32];
                        for lane in 0..32 {
                            for hr in 0..2 {
                                let quad = (lane & !3)..(lane & !3) + 4;
                                let qmax =
                                    quad.map(|x| mx[x][hr]).fold(f32::NEG_INFINITY, f32::max);
                                let mn = m[lane][hr].max(qmax);
                                corr[lane][hr] = if mn == f32::NEG_INFINITY {
                                    1.0
                                } else {
                                    (m[lane][hr] - mn).exp()
                                };
                                m[lane][hr] = mn;
                                l[lane][hr] *= corr[lane][hr];
                            }
                        }
                        for tile in o.iter_mut() {
                            for (lane, regs) in tile.iter_mut().enumerate() {
                                for (e, v) in regs.iter_mut().enumerate() {
                                    *v *= corr[lane][e >> 1];
                                }
                            }
                        }
                        // P with dropout as f16 A fragments (pf[nt >> 1][(nt & 1) * 2 (+1)]).
                        let mut pf: Vec<Frag<4>> = vec![[[(0.0, 0.0); 4]; 32]; 4];
                        for (nt, tile) in s.iter().enumerate() {
                            for lane in 0..32 {
                                let mut pd = [0.0f32; 4];
                                for (e, pde) in pd.iter_mut().enumerate() {
                                    let hr = e >> 1;
                                    let v = tile[lane][e];
                                    let pv = if v == f32::NEG_INFINITY {
                                        0.0
                                    } else {
                                        (v - m[lane][hr]).exp()
                                    };
                                    l[lane][hr] += pv;
                                    let j = (j0 + nt * 8 + (lane & 3) * 2 + (e & 1)) as u32;
                                    *pde = pv
                                        * keep_scale(row_index(row_of(lane, hr)).wrapping_add(j));
                                }
                                pf[nt >> 1][lane][(nt & 1) * 2] = (f16r(pd[0]), f16r(pd[1]));
                                pf[nt >> 1][lane][(nt & 1) * 2 + 1] = (f16r(pd[2]), f16r(pd[3]));
                            }
                        }
                        for (kstep, pfk) in pf.iter().enumerate() {
                            for dp in 0..dt_count / 2 {
                                let tf = ldmatrix_x4(
                                    &vs,
                                    |l| {
                                        let (g, r) = (l >> 3, l & 7);
                                        (kstep * 16 + r + (g & 1) * 8) * p + dp * 16 + (g >> 1) * 8
                                    },
                                    true,
                                );
                                let b0: Frag<2> = std::array::from_fn(|x| [tf[x][0], tf[x][1]]);
                                let b1: Frag<2> = std::array::from_fn(|x| [tf[x][2], tf[x][3]]);
                                mma(&mut o[dp * 2], pfk, &b0);
                                mma(&mut o[dp * 2 + 1], pfk, &b1);
                            }
                        }
                    }
                    // Finish: l summed over the quad, out = O / l, lse = m + ln l.
                    for lane in 0..32 {
                        for hr in 0..2 {
                            let quad = (lane & !3)..(lane & !3) + 4;
                            let lt: f32 = quad.map(|x| l[x][hr]).sum();
                            let i = row_of(lane, hr);
                            if i >= t {
                                continue;
                            }
                            for (dt, tile) in o.iter().enumerate() {
                                let d = dt * 8 + (lane & 3) * 2;
                                let base = (bi * t + i) * c + h * hs + d;
                                out[base] = tile[lane][hr * 2] / lt;
                                out[base + 1] = tile[lane][hr * 2 + 1] / lt;
                            }
                            if lane & 3 == 0 {
                                lse[(bi * nh + h) * t + i] = m[lane][hr] + lt.ln();
                            }
                        }
                    }
                }
            }
        }
    }
    (out, lse)
}

#[test]
fn attention_tc_cu_fragments_match_reference() {
    let mut r = rng(91);
    // Head sizes 16, 32, 64, 128; a sequence whose whole first 64-key chunk is padding (the
    // m == -inf path), an all-padding sequence (uniform rule), T not a multiple of 64, dropout.
    for &(b, t, c, nh, p) in &[
        (2, 7, 32, 2, 0.0f32),
        (3, 70, 64, 2, 0.0),
        (2, 65, 128, 2, 0.1),
        (3, 33, 128, 1, 0.3),
    ] {
        let qkv = randn(&mut r, b * t * 3 * c, 1.0);
        let mut mask = vec![1u8; b * t];
        for bi in 1..b {
            for j in 0..t {
                mask[bi * t + j] = if bi == b - 1 {
                    0
                } else if bi == 1 {
                    (j >= 64.min(t - 1)) as u8
                } else {
                    (r.random_range(0..4) != 0) as u8
                };
            }
        }
        let dropout = (p > 0.0).then_some((p, 5u64));
        let dr = dropout.map(|(p, seed)| DropoutKeys::new(p, seed));
        // The reference sees the kernel's f16-rounded inputs: what remains is P's rounding.
        let rounded: Vec<f32> = qkv.iter().map(|&x| f16r(x)).collect();
        let dout = vec![0.0f32; b * t * c];
        let (out_ref, lse_ref, _) =
            attention_reference(&rounded, &mask, &dout, b, t, c, nh, dropout);
        let (out, lse) = forward_tc(b, t, c, nh, &qkv, &mask, dr);
        let name = format!("b{b} t{t} c{c} nh{nh} p{p}");
        assert_close(&format!("{name} out"), &out, &out_ref, 3e-3, 3e-3);
        assert_close(&format!("{name} lse"), &lse, &lse_ref, 1e-4, 1e-4);
    }
}

/// The emulated formulas are still the kernel's.
#[test]
fn emulated_formulas_are_still_in_attention_tc_cu() {
    let src = include_str!("../cuda/attention_tc.cu");
    for f in [
        "#define TC_Q 64",
        "#define TC_KEYS 64",
        "#define TC_PAD 8",
        "ldmatrix_x4(qf[kk], Qs + (w * 16 + r + (g & 1) * 8) * P + kk * 16 + (g >> 1) * 8);",
        "ldmatrix_x4(t, Ks + (np * 16 + r + (g >> 1) * 8) * P + kk * 16 + (g & 1) * 8);",
        "mma_16816<true>(s[np * 2], qf[kk], b0);",
        "mma_16816<true>(s[np * 2 + 1], qf[kk], b1);",
        "const int jj = nt * 8 + qc * 2 + (e & 1);",
        "const float v = valid_s[jj] ? (uniform ? 0.0f : s[nt][e] * scale) : NEG_INF;",
        "const float mn = fmaxf(m[hr], quad_max(mx[hr]));",
        "corr[hr] = mn == NEG_INF ? 1.0f : expf(m[hr] - mn);",
        "const float p = s[nt][e] == NEG_INF ? 0.0f : expf(s[nt][e] - m[hr]);",
        "pd[e] = p * tc_keep_scale(dr, row_index[hr] + j);",
        "pf[nt >> 1][(nt & 1) * 2] = pack_f16x2(pd[0], pd[1]);",
        "pf[nt >> 1][(nt & 1) * 2 + 1] = pack_f16x2(pd[2], pd[3]);",
        "ldmatrix_x4_trans(t, Vs + (ks * 16 + r + (g & 1) * 8) * P + dp * 16 + (g >> 1) * 8);",
        "mma_16816<true>(o[dp * 2], pf[ks], b0);",
        "const int i_lo = q0 + w * 16 + qg, i_hi = i_lo + 8;",
        "const int d = dt * 8 + qc * 2;",
        "if (qc == 0) lse[((long long)b * NH + h) * T + i] = m[hr] + logf(lt);",
    ] {
        assert!(
            src.contains(f),
            "attention_tc.cu no longer contains `{f}`: update this emulation"
        );
    }
}
