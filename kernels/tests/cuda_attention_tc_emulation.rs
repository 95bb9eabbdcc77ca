//! CPU emulation of `kernels/cuda/attention_tc.cu` (tensor-core attention forward and the two
//! backward passes), checked without a GPU: the f32 -> f16 staging, the Q / K / V fragment addressing through
//! `ldmatrix`, the `mma.m16n8k16` S and P V products, the scale / mask / uniform rule, the
//! per-quad online softmax (max and sum across the 4 lanes of a row), the reuse of the S
//! accumulators as P's A fragments (with dropout, rounded to f16) and the output / lse
//! mapping, and in the backward the dS / P^T fragments and the dQ, dK, dV products, are
//! replayed lane by lane with the PTX ISA's instruction models
//! (`cuda_common::mma`), and compared with the naive f64 reference on the same f16-rounded
//! inputs. What it cannot check: CUDA syntax (the NVRTC test does), barriers and speed (a GPU
//! run does).

mod common;
mod cuda_common;

use common::{assert_close, randn, rng};
use cuda_common::mma::{ldmatrix_x4, mma, Acc, Frag};
use cuda_common::{attention_reference, close_to_scale, test_mask};
use tokken_kernels::cuda::dropout_keys::DropoutKeys;

const TC_Q: usize = 64;
const TC_KEYS: usize = 64;
const PAD: usize = 8;

fn f16r(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

/// `tc_stage`: rows r0..r0+rows of columns col..col+hs, rounded by `round` (f16, or bf16 for
/// `tc_stage<.., true>`), into [rows][hs + PAD]; rows past T are zero; the pad columns are
/// never read (NaN here, so a read would show).
#[allow(clippy::too_many_arguments)]
fn stage(
    round: fn(f32) -> f32,
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
                round(seq[r * stride + col + d])
            } else {
                0.0
            };
        }
    }
    dst
}

fn bf16r(x: f32) -> f32 {
    half::bf16::from_f32(x).to_f32()
}

/// This warp's 16 rows of a staged tile as A fragments, one per k step of 16.
fn row_frags(smem: &[f32], w: usize, p: usize, kt: usize) -> Vec<Frag<4>> {
    (0..kt)
        .map(|kk| {
            ldmatrix_x4(
                smem,
                |l| {
                    let (g, r) = (l >> 3, l & 7);
                    (w * 16 + r + (g & 1) * 8) * p + kk * 16 + (g >> 1) * 8
                },
                false,
            )
        })
        .collect()
}

/// `tc_rows_times_chunk`: 8 tiles (16 rows x 64 columns) = `af` times the 64 rows of `bs`.
fn rows_times_chunk(af: &[Frag<4>], bs: &[f32], p: usize) -> Vec<Acc> {
    let mut acc: Vec<Acc> = vec![[[0.0; 4]; 32]; 8];
    for np in 0..4 {
        for (kk, a) in af.iter().enumerate() {
            let tf = ldmatrix_x4(
                bs,
                |l| {
                    let (g, r) = (l >> 3, l & 7);
                    (np * 16 + r + (g >> 1) * 8) * p + kk * 16 + (g & 1) * 8
                },
                false,
            );
            let b0: Frag<2> = std::array::from_fn(|x| [tf[x][0], tf[x][1]]);
            let b1: Frag<2> = std::array::from_fn(|x| [tf[x][2], tf[x][3]]);
            mma(&mut acc[np * 2], a, &b0);
            mma(&mut acc[np * 2 + 1], a, &b1);
        }
    }
    acc
}

/// `tc_frags_times_chunk`: acc (HS / 8 tiles) += `af` (4 key steps) times `bs` read as [k][n].
fn frags_times_chunk(acc: &mut [Acc], af: &[Frag<4>], bs: &[f32], p: usize) {
    for (ks, a) in af.iter().enumerate() {
        for dp in 0..acc.len() / 2 {
            let tf = ldmatrix_x4(
                bs,
                |l| {
                    let (g, r) = (l >> 3, l & 7);
                    (ks * 16 + r + (g & 1) * 8) * p + dp * 16 + (g >> 1) * 8
                },
                true,
            );
            let b0: Frag<2> = std::array::from_fn(|x| [tf[x][0], tf[x][1]]);
            let b1: Frag<2> = std::array::from_fn(|x| [tf[x][2], tf[x][3]]);
            mma(&mut acc[dp * 2], a, &b0);
            mma(&mut acc[dp * 2 + 1], a, &b1);
        }
    }
}

/// Element values of the 8 S-shaped tiles (per lane: rows qg, qg + 8; 2 columns per tile)
/// packed as the A fragments of 4 key steps: `frags[nt >> 1][lane][(nt & 1) * 2 (+1)]`.
fn pack_frags(values: &[[[f32; 4]; 32]], round: fn(f32) -> f32) -> Vec<Frag<4>> {
    let mut frags: Vec<Frag<4>> = vec![[[(0.0, 0.0); 4]; 32]; 4];
    for (nt, tile) in values.iter().enumerate() {
        for (lane, v) in tile.iter().enumerate() {
            frags[nt >> 1][lane][(nt & 1) * 2] = (round(v[0]), round(v[1]));
            frags[nt >> 1][lane][(nt & 1) * 2 + 1] = (round(v[2]), round(v[3]));
        }
    }
    frags
}

fn keep_scale(dr: Option<DropoutKeys>, index: u32) -> f32 {
    match dr {
        None => 1.0,
        Some(k) if k.keep(index) => k.scale,
        Some(_) => 0.0,
    }
}

/// `((b NH + h) T + i) T` with the kernel's u32 wrap-around.
fn row_index(bh: u32, t: usize, i: usize) -> u32 {
    bh.wrapping_mul(t as u32)
        .wrapping_add(i as u32)
        .wrapping_mul(t as u32)
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
    for bi in 0..b {
        let seq = &qkv[bi * t * stride..];
        let mask_b = &mask[bi * t..(bi + 1) * t];
        let uniform = !mask_b.iter().any(|&m| m != 0);
        for h in 0..nh {
            for q0 in (0..t).step_by(TC_Q) {
                let qs = stage(f16r, seq, stride, h * hs, q0, t, TC_Q, hs);
                for w in 0..4 {
                    let qf = row_frags(&qs, w, p, kt);
                    let mut m = [[f32::NEG_INFINITY; 2]; 32];
                    let mut l = [[0.0f32; 2]; 32];
                    let mut o: Vec<Acc> = vec![[[0.0; 4]; 32]; dt_count];
                    let bh = (bi * nh + h) as u32;
                    let row_of = |lane: usize, hr: usize| q0 + w * 16 + (lane >> 2) + hr * 8;
                    for j0 in (0..t).step_by(TC_KEYS) {
                        let ks = stage(f16r, seq, stride, c + h * hs, j0, t, TC_KEYS, hs);
                        let vs = stage(f16r, seq, stride, 2 * c + h * hs, j0, t, TC_KEYS, hs);
                        let valid: Vec<bool> = (0..TC_KEYS)
                            .map(|jj| {
                                let j = j0 + jj;
                                j < t && (uniform || mask_b[j] != 0)
                            })
                            .collect();
                        let mut s = rows_times_chunk(&qf, &ks, p);
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
                        // P with dropout, packed as f16 A fragments.
                        let mut pd = vec![[[0.0f32; 4]; 32]; 8];
                        for (nt, tile) in s.iter().enumerate() {
                            for lane in 0..32 {
                                for e in 0..4 {
                                    let hr = e >> 1;
                                    let v = tile[lane][e];
                                    let pv = if v == f32::NEG_INFINITY {
                                        0.0
                                    } else {
                                        (v - m[lane][hr]).exp()
                                    };
                                    l[lane][hr] += pv;
                                    let j = (j0 + nt * 8 + (lane & 3) * 2 + (e & 1)) as u32;
                                    pd[nt][lane][e] = pv
                                        * keep_scale(
                                            dr,
                                            row_index(bh, t, row_of(lane, hr)).wrapping_add(j),
                                        );
                                }
                            }
                        }
                        let pf = pack_frags(&pd, f16r);
                        frags_times_chunk(&mut o, &pf, &vs, p);
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

/// The two backward passes: returns dqkv (dsum as the dQ pass writes it feeds the dK/dV
/// pass).
#[allow(clippy::too_many_arguments)]
fn backward_tc(
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    qkv: &[f32],
    mask: &[u8],
    dout: &[f32],
    out: &[f32],
    lse: &[f32],
    dr: Option<DropoutKeys>,
) -> Vec<f32> {
    let hs = c / nh;
    let (p, kt, dt_count) = (hs + PAD, hs / 16, hs / 8);
    let stride = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    let mut dqkv = vec![f32::NAN; b * t * stride];
    let mut dsum = vec![f32::NAN; b * nh * t];
    let stage_bf16 =
        |src: &[f32], st: usize, col: usize, r0: usize| stage(bf16r, src, st, col, r0, t, 64, hs);
    for bi in 0..b {
        let seq = &qkv[bi * t * stride..];
        let dout_b = &dout[bi * t * c..];
        let mask_b = &mask[bi * t..(bi + 1) * t];
        let uniform = !mask_b.iter().any(|&m| m != 0);
        for h in 0..nh {
            let bh = (bi * nh + h) as u32;
            let lse_bh = &lse[(bi * nh + h) * t..][..t];
            // dQ pass.
            for q0 in (0..t).step_by(TC_Q) {
                let qs = stage(f16r, seq, stride, h * hs, q0, t, TC_Q, hs);
                let dos = stage_bf16(dout_b, c, h * hs, q0);
                let mut d_s = [0.0f32; TC_Q];
                for (ii, ds) in d_s.iter_mut().enumerate() {
                    let i = q0 + ii;
                    if i < t {
                        *ds = (0..hs)
                            .map(|d| {
                                dout_b[i * c + h * hs + d] * out[(bi * t + i) * c + h * hs + d]
                            })
                            .sum();
                        dsum[(bi * nh + h) * t + i] = *ds;
                    }
                }
                for w in 0..4 {
                    let qf = row_frags(&qs, w, p, kt);
                    let df = row_frags(&dos, w, p, kt);
                    let row_of = |lane: usize, hr: usize| q0 + w * 16 + (lane >> 2) + hr * 8;
                    let mut dq: Vec<Acc> = vec![[[0.0; 4]; 32]; dt_count];
                    for j0 in (0..t).step_by(TC_KEYS) {
                        let ks = stage(f16r, seq, stride, c + h * hs, j0, t, TC_KEYS, hs);
                        let kb = stage_bf16(seq, stride, c + h * hs, j0);
                        let vb = stage_bf16(seq, stride, 2 * c + h * hs, j0);
                        let sc = rows_times_chunk(&qf, &ks, p);
                        let dp = rows_times_chunk(&df, &vb, p);
                        let mut ds = vec![[[0.0f32; 4]; 32]; 8];
                        for nt in 0..8 {
                            for lane in 0..32 {
                                for e in 0..4 {
                                    let hr = e >> 1;
                                    let jj = nt * 8 + (lane & 3) * 2 + (e & 1);
                                    let (i, j) = (row_of(lane, hr), j0 + jj);
                                    let valid = i < t && j < t && (uniform || mask_b[j] != 0);
                                    let v = if uniform {
                                        0.0
                                    } else {
                                        sc[nt][lane][e] * scale
                                    };
                                    let pv = if valid { (v - lse_bh[i]).exp() } else { 0.0 };
                                    let dd = if i < t { d_s[i - q0] } else { 0.0 };
                                    let keep =
                                        keep_scale(dr, row_index(bh, t, i).wrapping_add(j as u32));
                                    ds[nt][lane][e] = pv * (dp[nt][lane][e] * keep - dd);
                                }
                            }
                        }
                        frags_times_chunk(&mut dq, &pack_frags(&ds, bf16r), &kb, p);
                    }
                    for lane in 0..32 {
                        for hr in 0..2 {
                            let i = row_of(lane, hr);
                            if i >= t {
                                continue;
                            }
                            for (dt, tile) in dq.iter().enumerate() {
                                let d = dt * 8 + (lane & 3) * 2;
                                let base = (bi * t + i) * stride + h * hs + d;
                                dqkv[base] = scale * tile[lane][hr * 2];
                                dqkv[base + 1] = scale * tile[lane][hr * 2 + 1];
                            }
                        }
                    }
                }
            }
            // dK / dV pass.
            for k0 in (0..t).step_by(TC_KEYS) {
                let kss = stage(f16r, seq, stride, c + h * hs, k0, t, TC_KEYS, hs);
                let vbs = stage_bf16(seq, stride, 2 * c + h * hs, k0);
                for w in 0..4 {
                    let kf = row_frags(&kss, w, p, kt);
                    let vf = row_frags(&vbs, w, p, kt);
                    let key_of = |lane: usize, hr: usize| k0 + w * 16 + (lane >> 2) + hr * 8;
                    let mut dk: Vec<Acc> = vec![[[0.0; 4]; 32]; dt_count];
                    let mut dv: Vec<Acc> = vec![[[0.0; 4]; 32]; dt_count];
                    for i0 in (0..t).step_by(TC_Q) {
                        let qs = stage(f16r, seq, stride, h * hs, i0, t, TC_Q, hs);
                        let qb = stage_bf16(seq, stride, h * hs, i0);
                        let dob = stage_bf16(dout_b, c, h * hs, i0);
                        let st = rows_times_chunk(&kf, &qs, p);
                        let dpt = rows_times_chunk(&vf, &dob, p);
                        let mut pm = vec![[[0.0f32; 4]; 32]; 8];
                        let mut ds = vec![[[0.0f32; 4]; 32]; 8];
                        for nt in 0..8 {
                            for lane in 0..32 {
                                for e in 0..4 {
                                    let hr = e >> 1;
                                    let i = i0 + nt * 8 + (lane & 3) * 2 + (e & 1);
                                    let j = key_of(lane, hr);
                                    let key_ok = j < t && (uniform || mask_b[j] != 0);
                                    let valid = key_ok && i < t;
                                    let v = if uniform {
                                        0.0
                                    } else {
                                        st[nt][lane][e] * scale
                                    };
                                    let (l_i, d_i) = if i < t {
                                        (lse_bh[i], dsum[(bi * nh + h) * t + i])
                                    } else {
                                        (0.0, 0.0)
                                    };
                                    let pv = if valid { (v - l_i).exp() } else { 0.0 };
                                    let keep =
                                        keep_scale(dr, row_index(bh, t, i).wrapping_add(j as u32));
                                    pm[nt][lane][e] = pv * keep;
                                    ds[nt][lane][e] = if valid {
                                        pv * (dpt[nt][lane][e] * keep - d_i)
                                    } else {
                                        0.0
                                    };
                                }
                            }
                        }
                        frags_times_chunk(&mut dv, &pack_frags(&pm, bf16r), &dob, p);
                        frags_times_chunk(&mut dk, &pack_frags(&ds, bf16r), &qb, p);
                    }
                    for lane in 0..32 {
                        for hr in 0..2 {
                            let j = key_of(lane, hr);
                            if j >= t {
                                continue;
                            }
                            for dt in 0..dt_count {
                                let d = dt * 8 + (lane & 3) * 2;
                                let base = (bi * t + j) * stride + h * hs + d;
                                dqkv[base + c] = scale * dk[dt][lane][hr * 2];
                                dqkv[base + c + 1] = scale * dk[dt][lane][hr * 2 + 1];
                                dqkv[base + 2 * c] = dv[dt][lane][hr * 2];
                                dqkv[base + 2 * c + 1] = dv[dt][lane][hr * 2 + 1];
                            }
                        }
                    }
                }
            }
        }
    }
    dqkv
}

#[test]
fn attention_tc_cu_backward_fragments_match_reference() {
    let mut r = rng(93);
    // Head sizes 16, 32, 64; padding, a padded first chunk, all-padding, dropout.
    for &(b, t, c, nh, p) in &[
        (2, 7, 32, 2, 0.0f32),
        (3, 70, 64, 2, 0.1),
        (3, 65, 128, 2, 0.3),
    ] {
        let qkv = randn(&mut r, b * t * 3 * c, 1.0);
        let dout = randn(&mut r, b * t * c, 1.0);
        let mask = test_mask(&mut r, b, t, 64);
        let dropout = (p > 0.0).then_some((p, 17u64));
        let dr = dropout.map(|(p, seed)| DropoutKeys::new(p, seed));
        let (_, _, dqkv_ref) = attention_reference(&qkv, &mask, &dout, b, t, c, nh, dropout);
        // The backward reads the tensor-core forward's out and lse, as on the GPU.
        let (out, lse) = forward_tc(b, t, c, nh, &qkv, &mask, dr);
        let dqkv = backward_tc(b, t, c, nh, &qkv, &mask, &dout, &out, &lse, dr);
        let name = format!("b{b} t{t} c{c} nh{nh} p{p}");
        // bf16 gradient operands: about 2e-3 of the gradients' scale (relative l2 and worst
        // element), so 6e-3 leaves a margin and a wrong fragment is off by the whole scale.
        close_to_scale(&format!("{name} dqkv"), &dqkv, &dqkv_ref, 6e-3);
    }
}

#[test]
fn attention_tc_cu_fragments_match_reference() {
    let mut r = rng(91);
    // Head sizes 16, 32, 64; a sequence whose whole first 64-key chunk is padding (the
    // m == -inf path), an all-padding sequence (uniform rule), T not a multiple of 64, dropout.
    for &(b, t, c, nh, p) in &[
        (2, 7, 32, 2, 0.0f32),
        (3, 70, 64, 2, 0.0),
        (2, 65, 128, 2, 0.1),
        (3, 33, 64, 1, 0.3),
    ] {
        let qkv = randn(&mut r, b * t * 3 * c, 1.0);
        let mask = test_mask(&mut r, b, t, 64);
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
        "ldmatrix_x4(af[kk], tile + (w * 16 + r + (g & 1) * 8) * P + kk * 16 + (g >> 1) * 8);",
        "tc_row_frags<HS>(qf, Qs, w, g, r);",
        "tc_row_frags<HS>(df, dOs, w, g, r);",
        "tc_row_frags<HS>(kf, Ks, w, g, r);",
        "tc_row_frags<HS>(vf, Vb, w, g, r);",
        "ldmatrix_x4(t, bs + (np * 16 + r + (g >> 1) * 8) * P + kk * 16 + (g & 1) * 8);",
        "mma_16816<!BF16>(acc[np * 2], af[kk], b0);",
        "ldmatrix_x4_trans(t, bs + (ks * 16 + r + (g & 1) * 8) * P + dp * 16 + (g >> 1) * 8);",
        "mma_16816<!BF16>(acc[dp * 2], af[ks], b0);",
        "tc_rows_times_chunk<HS, false>(s, qf, Ks, g, r);",
        "tc_frags_times_chunk<HS, false>(o, pf, Vs, g, r);",
        "tc_rows_times_chunk<HS, false>(sc, qf, Ks, g, r);",
        "tc_rows_times_chunk<HS, true>(dp, df, Vb, g, r);",
        "tc_frags_times_chunk<HS, true>(dq, sf, Kb, g, r);",
        "tc_rows_times_chunk<HS, false>(st, kf, Qs, g, r);",
        "tc_rows_times_chunk<HS, true>(dpt, vf, dOb, g, r);",
        "tc_frags_times_chunk<HS, true>(dv, pf, dOb, g, r);",
        "tc_frags_times_chunk<HS, true>(dk, sf, Qb, g, r);",
        "const int jj = nt * 8 + qc * 2 + (e & 1);",
        "const float v = valid_s[jj] ? (uniform ? 0.0f : s[nt][e] * scale) : NEG_INF;",
        "const float mn = fmaxf(m[hr], quad_max(mx[hr]));",
        "corr[hr] = mn == NEG_INF ? 1.0f : expf(m[hr] - mn);",
        "const float p = s[nt][e] == NEG_INF ? 0.0f : expf(s[nt][e] - m[hr]);",
        "pd[e] = p * keep_scale(dr, row_index[hr] + j);",
        "pf[nt >> 1][(nt & 1) * 2] = pack_f16x2(pd[0], pd[1]);",
        "pf[nt >> 1][(nt & 1) * 2 + 1] = pack_f16x2(pd[2], pd[3]);",
        "const float p = row_ok[hr] && valid_s[jj] ? expf(v - lse_r[hr]) : 0.0f;",
        "ds[e] = p * (dp[nt][e] * keep_scale(dr, row_index[hr] + (u32)(j0 + jj)) - d_r[hr]);",
        "sf[nt >> 1][(nt & 1) * 2] = pack_x2<true>(ds[0], ds[1]);",
        "const int hr = e >> 1, ii = nt * 8 + qc * 2 + (e & 1), i = i0 + ii;",
        "const bool valid = key_ok[hr] && i < T;",
        "const float p = valid ? expf(v - lse_s[ii]) : 0.0f;",
        "const u32 index = (((u32)bh * (u32)T + (u32)i) * (u32)T) + key[hr];",
        "ds[e] = valid ? p * (dpt[nt][e] * ks - d_s[ii]) : 0.0f;",
        "pf[nt >> 1][(nt & 1) * 2] = pack_x2<true>(pm[0], pm[1]);",
        "row[d] = scale * dq[dt][hr * 2];",
        "row[C + d] = scale * dk[dt][hr * 2];",
        "row[2 * C + d] = dv[dt][hr * 2];",
        "const int i_lo = q0 + w * 16 + qg, i_hi = i_lo + 8;",
        "const int j_lo = k0 + w * 16 + qg, j_hi = j_lo + 8;",
        "const int d = dt * 8 + qc * 2;",
        "if (qc == 0) lse[((long long)b * NH + h) * T + i] = m[hr] + logf(lt);",
    ] {
        assert!(
            src.contains(f),
            "attention_tc.cu no longer contains `{f}`: update this emulation"
        );
    }
}
