//! Inverted dropout (training) with a counter-based keep mask: element `i` is kept when
//! `hash(seed, i)` clears the drop threshold, so the backward regenerates the mask from
//! `(seed, i)` and nothing `[B, T, C]`-sized is stored. Kept values are scaled by `1/(1-p)`
//! (torch `nn.Dropout`). The random stream is ours, not torch's: masks match torch in
//! distribution, not bit for bit.

use rayon::prelude::*;

use super::vectorize::multiversion;

/// Elements per parallel task.
const CHUNK: usize = 16384;

/// 32-bit integer finaliser (xor-shift / multiply rounds, "lowbias32" constants).
#[inline(always)]
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// Two 32-bit keys derived from a 64-bit seed (splitmix64 finaliser).
fn seed_keys(seed: u64) -> (u32, u32) {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z as u32, (z >> 32) as u32)
}

/// Uniform 24-bit value for element `index` of the stream `keys`.
#[inline(always)]
fn draw(keys: (u32, u32), index: u32) -> u32 {
    mix32(mix32(index ^ keys.0).wrapping_add(keys.1)) >> 8
}

/// Elements are kept when their 24-bit draw is `>= threshold`.
fn threshold(p: f32) -> u32 {
    assert!(
        (0.0..=1.0).contains(&p),
        "dropout: p = {p} is not in [0, 1]"
    );
    (p as f64 * (1u32 << 24) as f64).round() as u32
}

/// Whether element `index` of the stream `seed` survives dropout with probability `p`
/// (for callers that fuse dropout into another kernel, e.g. attention probabilities).
pub fn keep(seed: u64, index: u32, p: f32) -> bool {
    draw(seed_keys(seed), index) >= threshold(p)
}

/// `out[i] = keep(seed, i) ? inp[i] / (1 - p) : 0`. Slices must hold fewer than 2^32
/// elements (the counter is 32-bit); use a different seed per call site and step.
pub fn dropout_forward(out: &mut [f32], inp: &[f32], p: f32, seed: u64) {
    assert_eq!(
        out.len(),
        inp.len(),
        "dropout_forward: out and inp lengths differ"
    );
    masked_scale(out, inp, p, seed);
}

/// Backward of [`dropout_forward`] with the same `p` and `seed`: the same mask and scale
/// applied to `dout` (`dinp` overwritten).
pub fn dropout_backward(dinp: &mut [f32], dout: &[f32], p: f32, seed: u64) {
    assert_eq!(
        dinp.len(),
        dout.len(),
        "dropout_backward: dinp and dout lengths differ"
    );
    masked_scale(dinp, dout, p, seed);
}

/// `out = dropout(x) + residual` in one pass: bit for bit [`dropout_forward`] into `out`
/// followed by `out += residual` (the residual connection after a dropped-out sub-layer).
pub fn dropout_add(out: &mut [f32], x: &[f32], residual: &[f32], p: f32, seed: u64) {
    assert!(
        out.len() == x.len() && residual.len() == x.len(),
        "dropout_add: out, x and residual lengths differ"
    );
    masked_scale_then(out, x, Then::Add(residual), p, seed);
}

/// `dst += dropout(src)` in one pass: bit for bit [`dropout_forward`] into a scratch
/// followed by `dst += scratch` (a dropped-out gradient accumulated into another).
pub fn dropout_accumulate(dst: &mut [f32], src: &[f32], p: f32, seed: u64) {
    assert_eq!(
        dst.len(),
        src.len(),
        "dropout_accumulate: dst and src lengths differ"
    );
    masked_scale_then(dst, src, Then::Accumulate, p, seed);
}

fn masked_scale(dst: &mut [f32], src: &[f32], p: f32, seed: u64) {
    masked_scale_then(dst, src, Then::Store, p, seed)
}

/// What [`masked_scale_then`] does with each masked value `m`.
#[derive(Clone, Copy)]
enum Then<'a> {
    /// `dst = m`
    Store,
    /// `dst = m + add`
    Add(&'a [f32]),
    /// `dst = dst + m`
    Accumulate,
}

fn masked_scale_then(dst: &mut [f32], src: &[f32], then: Then<'_>, p: f32, seed: u64) {
    assert!(
        src.len() <= u32::MAX as usize,
        "dropout: more than 2^32 elements"
    );
    let thr = threshold(p);
    let keys = seed_keys(seed);
    // p = 1 drops everything (torch returns zeros, not NaN).
    let scale = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(ci, (d, s))| {
            let first = (ci * CHUNK) as u32;
            match then {
                Then::Store => masked_scale_chunk(d, s, first, keys.0, keys.1, thr, scale),
                Then::Add(add) => {
                    let a = &add[ci * CHUNK..ci * CHUNK + d.len()];
                    masked_scale_add_chunk(d, s, a, first, keys.0, keys.1, thr, scale)
                }
                Then::Accumulate => {
                    masked_scale_accumulate_chunk(d, s, first, keys.0, keys.1, thr, scale)
                }
            }
        });
}

/// `x` times its keep factor: `scale` or 0 for element `index` of the stream `(k0, k1)`.
/// Multiply (not select) so NaN/inf stay visible, as torch's `x * mask * scale`.
#[inline(always)]
fn masked(x: f32, index: u32, (k0, k1, thr, scale): (u32, u32, u32, f32)) -> f32 {
    x * if draw((k0, k1), index) >= thr {
        scale
    } else {
        0.0
    }
}

multiversion! {
    fn masked_scale_chunk(dst: &mut [f32], src: &[f32], first: u32, k0: u32, k1: u32, thr: u32, scale: f32) {
        for (i, (d, &s)) in dst.iter_mut().zip(src).enumerate() {
            *d = masked(s, first.wrapping_add(i as u32), (k0, k1, thr, scale));
        }
    }
}

multiversion! {
    fn masked_scale_add_chunk(dst: &mut [f32], src: &[f32], add: &[f32], first: u32, k0: u32, k1: u32, thr: u32, scale: f32) {
        for (i, ((d, &s), &a)) in dst.iter_mut().zip(src).zip(add).enumerate() {
            *d = masked(s, first.wrapping_add(i as u32), (k0, k1, thr, scale)) + a;
        }
    }
}

multiversion! {
    fn masked_scale_accumulate_chunk(dst: &mut [f32], src: &[f32], first: u32, k0: u32, k1: u32, thr: u32, scale: f32) {
        for (i, (d, &s)) in dst.iter_mut().zip(src).enumerate() {
            *d += masked(s, first.wrapping_add(i as u32), (k0, k1, thr, scale));
        }
    }
}
