//! CPU emulation of `kernels/cuda/attention.cu`'s algorithm, checked without a GPU: each
//! kernel's per-warp loop (32-key / 32-query chunks, one lane per key or query, the online
//! softmax with its `m == -inf` skip and rescaling, the all-padded uniform rule, the dropout
//! index and scale, the dQ / D and dK / dV passes) is replayed in f32 lane by lane and
//! compared with the naive f64 reference. Warp reductions are plain sums here (the GPU's
//! butterfly order only changes rounding). What it cannot check: CUDA syntax (the NVRTC
//! test does), shared-memory races and barriers (a GPU run does).

mod common;
mod cuda_common;

use common::{assert_close, randn, rng};
use cuda_common::{attention_reference, test_mask};
use tokken_kernels::cuda::dropout_keys::DropoutKeys;

const CHUNK: usize = 32;

struct Shape {
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
}

fn keep_scale(dr: Option<DropoutKeys>, index: u32) -> f32 {
    match dr {
        None => 1.0,
        Some(k) => {
            if k.keep(index) {
                k.scale
            } else {
                0.0
            }
        }
    }
}

fn row_index(s: &Shape, bi: usize, h: usize, i: usize) -> u32 {
    ((bi * s.nh + h) as u32)
        .wrapping_mul(s.t as u32)
        .wrapping_add(i as u32)
        .wrapping_mul(s.t as u32)
}

/// attention_forward_f32: returns (out, lse).
fn forward(s: &Shape, qkv: &[f32], mask: &[u8], dr: Option<DropoutKeys>) -> (Vec<f32>, Vec<f32>) {
    let (t, c, nh) = (s.t, s.c, s.nh);
    let hs = c / nh;
    let stride = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    let mut out = vec![0.0f32; s.b * t * c];
    let mut lse = vec![0.0f32; s.b * nh * t];
    for bi in 0..s.b {
        let seq = &qkv[bi * t * stride..];
        let mask_b = &mask[bi * t..(bi + 1) * t];
        let uniform = !mask_b.iter().any(|&m| m != 0);
        for h in 0..nh {
            for i in 0..t {
                let q = &seq[i * stride + h * hs..][..hs];
                let (mut m, mut l) = (f32::NEG_INFINITY, 0.0f32);
                let mut o = vec![0.0f32; hs];
                let ri = row_index(s, bi, h, i);
                for j0 in (0..t).step_by(CHUNK) {
                    let krow = |jj: usize, part: usize, d: usize| {
                        let j = j0 + jj;
                        if j < t {
                            seq[j * stride + part * c + h * hs + d]
                        } else {
                            0.0
                        }
                    };
                    let mut sc = [0.0f32; CHUNK];
                    let mut valid = [false; CHUNK];
                    for lane in 0..CHUNK {
                        let j = j0 + lane;
                        valid[lane] = j < t && (uniform || mask_b[j] != 0);
                        let mut v = 0.0f32;
                        if !uniform {
                            for (d, &qd) in q.iter().enumerate() {
                                v += qd * krow(lane, 1, d);
                            }
                            v *= scale;
                        }
                        sc[lane] = if valid[lane] { v } else { f32::NEG_INFINITY };
                    }
                    let m_new = m.max(sc.iter().cloned().fold(f32::NEG_INFINITY, f32::max));
                    if m_new == f32::NEG_INFINITY {
                        continue;
                    }
                    let p: Vec<f32> = (0..CHUNK)
                        .map(|lane| {
                            if valid[lane] {
                                (sc[lane] - m_new).exp()
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    let corr = (m - m_new).exp();
                    l = l * corr + p.iter().sum::<f32>();
                    m = m_new;
                    let pd: Vec<f32> = (0..CHUNK)
                        .map(|lane| p[lane] * keep_scale(dr, ri.wrapping_add((j0 + lane) as u32)))
                        .collect();
                    for (d, od) in o.iter_mut().enumerate() {
                        *od *= corr;
                        for (jj, &pj) in pd.iter().enumerate() {
                            *od += pj * krow(jj, 2, d);
                        }
                    }
                }
                for d in 0..hs {
                    out[(bi * t + i) * c + h * hs + d] = o[d] * (1.0 / l);
                }
                lse[(bi * nh + h) * t + i] = m + l.ln();
            }
        }
    }
    (out, lse)
}

/// attention_backward_dq_f32 then attention_backward_dkv_f32: returns dqkv.
#[allow(clippy::too_many_arguments)]
fn backward(
    s: &Shape,
    dout: &[f32],
    qkv: &[f32],
    out: &[f32],
    lse: &[f32],
    mask: &[u8],
    dr: Option<DropoutKeys>,
) -> Vec<f32> {
    let (t, c, nh) = (s.t, s.c, s.nh);
    let hs = c / nh;
    let stride = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    let mut dqkv = vec![f32::NAN; s.b * t * stride];
    let mut dsum = vec![f32::NAN; s.b * nh * t];
    for bi in 0..s.b {
        let seq = &qkv[bi * t * stride..];
        let mask_b = &mask[bi * t..(bi + 1) * t];
        let uniform = !mask_b.iter().any(|&m| m != 0);
        for h in 0..nh {
            let at = |row: usize, part: usize, d: usize| {
                if row < t {
                    seq[row * stride + part * c + h * hs + d]
                } else {
                    0.0
                }
            };
            let d_out = |row: usize, d: usize| {
                if row < t {
                    dout[(bi * t + row) * c + h * hs + d]
                } else {
                    0.0
                }
            };
            // dQ pass, one warp per query row.
            for i in 0..t {
                let tok = (bi * t + i) * c + h * hs;
                let di: f32 = (0..hs).map(|d| dout[tok + d] * out[tok + d]).sum();
                let lse_i = lse[(bi * nh + h) * t + i];
                let ri = row_index(s, bi, h, i);
                let mut dq = vec![0.0f32; hs];
                for j0 in (0..t).step_by(CHUNK) {
                    let ds: Vec<f32> = (0..CHUNK)
                        .map(|lane| {
                            let j = j0 + lane;
                            let valid = j < t && (uniform || mask_b[j] != 0);
                            let (mut sv, mut dpv) = (0.0f32, 0.0f32);
                            for d in 0..hs {
                                sv += at(i, 0, d) * at(j, 1, d);
                                dpv += d_out(i, d) * at(j, 2, d);
                            }
                            let sv = if uniform { 0.0 } else { sv * scale };
                            let p = if valid { (sv - lse_i).exp() } else { 0.0 };
                            p * (dpv * keep_scale(dr, ri.wrapping_add(j as u32)) - di)
                        })
                        .collect();
                    for (d, g) in dq.iter_mut().enumerate() {
                        for (jj, &dsj) in ds.iter().enumerate() {
                            *g += dsj * at(j0 + jj, 1, d);
                        }
                    }
                }
                for d in 0..hs {
                    dqkv[(bi * t + i) * stride + h * hs + d] = scale * dq[d];
                }
                dsum[(bi * nh + h) * t + i] = di;
            }
            // dK / dV pass, one warp per key row.
            for j in 0..t {
                let key_valid = uniform || mask_b[j] != 0;
                let (mut dk, mut dv) = (vec![0.0f32; hs], vec![0.0f32; hs]);
                for i0 in (0..t).step_by(CHUNK) {
                    let mut pm = [0.0f32; CHUNK];
                    let mut ds = [0.0f32; CHUNK];
                    for lane in 0..CHUNK {
                        let i = i0 + lane;
                        let (mut sv, mut dpv) = (0.0f32, 0.0f32);
                        for d in 0..hs {
                            sv += at(i, 0, d) * at(j, 1, d);
                            dpv += d_out(i, d) * at(j, 2, d);
                        }
                        let sv = if uniform { 0.0 } else { sv * scale };
                        let valid = key_valid && i < t;
                        let p = if valid {
                            (sv - lse[(bi * nh + h) * t + i]).exp()
                        } else {
                            0.0
                        };
                        let ks = keep_scale(dr, row_index(s, bi, h, i).wrapping_add(j as u32));
                        pm[lane] = p * ks;
                        ds[lane] = if valid {
                            p * (dpv * ks - dsum[(bi * nh + h) * t + i])
                        } else {
                            0.0
                        };
                    }
                    for d in 0..hs {
                        for ii in 0..CHUNK {
                            dv[d] += pm[ii] * d_out(i0 + ii, d);
                            dk[d] += ds[ii] * at(i0 + ii, 0, d);
                        }
                    }
                }
                for d in 0..hs {
                    dqkv[(bi * t + j) * stride + c + h * hs + d] = scale * dk[d];
                    dqkv[(bi * t + j) * stride + 2 * c + h * hs + d] = dv[d];
                }
            }
        }
    }
    dqkv
}

#[test]
fn attention_cu_algorithm_matches_reference() {
    let mut r = rng(77);
    for &(b, t, c, nh, p) in &[
        (2, 7, 16, 2, 0.0f32),
        (3, 40, 64, 2, 0.0),
        (2, 33, 96, 1, 0.1),
        (3, 65, 128, 4, 0.3),
    ] {
        let s = Shape { b, t, c, nh };
        let qkv = randn(&mut r, b * t * 3 * c, 1.0);
        let dout = randn(&mut r, b * t * c, 1.0);
        // Sequence 0 real, the last all padding (uniform rule), others random padding
        // except sequence 1's whole first chunk (the online softmax's m == -inf skip).
        let mask = test_mask(&mut r, b, t, 32);
        let dropout = (p > 0.0).then_some((p, 99u64));
        let dr = dropout.map(|(p, seed)| DropoutKeys::new(p, seed));
        let (out_ref, lse_ref, dqkv_ref) =
            attention_reference(&qkv, &mask, &dout, b, t, c, nh, dropout);
        let (out, lse) = forward(&s, &qkv, &mask, dr);
        let name = format!("b{b} t{t} c{c} nh{nh} p{p}");
        assert_close(&format!("{name} out"), &out, &out_ref, 1e-5, 1e-4);
        assert_close(&format!("{name} lse"), &lse, &lse_ref, 1e-5, 1e-4);
        let dqkv = backward(&s, &dout, &qkv, &out, &lse, &mask, dr);
        assert_close(&format!("{name} dqkv"), &dqkv, &dqkv_ref, 1e-4, 1e-3);
    }
}

/// The emulated steps are still the kernel's.
#[test]
fn emulated_steps_are_still_in_attention_cu() {
    let src = include_str!("../cuda/attention.cu");
    for f in [
        "#define CHUNK 32",
        "s = valid ? s : NEG_INF;",
        "if (m_new == NEG_INF) continue;",
        "l = l * corr + warp_sum(p);",
        "const float pd = p * keep_scale(dr, row_index + (u32)j);",
        "const u32 row_index = ((u32)(b * NH + h) * (u32)T + (u32)i) * (u32)T;",
        "const float ds = p * (dpv * keep_scale(dr, row_index + (u32)j) - Di);",
        "const u32 index = (((u32)(b * NH + h) * (u32)T + (u32)i) * (u32)T) + (u32)j;",
        "const float ds = valid ? p * (dpv * ks - d_bh[i]) : 0.0f;",
        "s = uniform ? 0.0f : s * scale;",
        "if (lane == 0) lse[((long long)b * NH + h) * T + i] = m + logf(l);",
    ] {
        assert!(
            src.contains(f),
            "attention.cu no longer contains `{f}`: update this emulation"
        );
    }
}
