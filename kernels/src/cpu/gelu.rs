//! GELU activations: exact erf form (HF `"gelu"`) and the tanh approximation
//! (HF `"gelu_new"` / `"gelu_pytorch_tanh"`), forward and backward.
//!
//! Element-wise, parallel over fixed-size chunks.

use rayon::prelude::*;

use super::math;
use super::vectorize::multiversion;

/// Elements per parallel task.
const CHUNK: usize = 8192;
/// √(2/π)
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const TANH_COEF: f32 = 0.044_715;

/// `out = x * Φ(x)` (exact GELU). `out`, `inp`: same length.
pub fn gelu_forward(out: &mut [f32], inp: &[f32]) {
    assert_eq!(
        out.len(),
        inp.len(),
        "gelu_forward: out and inp lengths differ"
    );
    out.par_chunks_mut(CHUNK)
        .zip(inp.par_chunks(CHUNK))
        .for_each(|(o, x)| gelu_chunk(o, x));
}

multiversion! {
    fn gelu_chunk(out: &mut [f32], inp: &[f32]) {
        for (o, &x) in out.iter_mut().zip(inp) {
            *o = x * math::normal_cdf(x);
        }
    }
}

/// `x = x * Φ(x)` in place, parallel like [`gelu_forward`] (the same bits). Inference
/// keeps no pre-activation, and overwriting it saves a second `[rows, I]` buffer: its
/// write-allocate traffic and its room in the cache.
pub fn gelu_forward_in_place(x: &mut [f32]) {
    x.par_chunks_mut(CHUNK).for_each(gelu_chunk_in_place);
}

/// `x = x * Φ(x)` in place on the calling thread (for small blocks inside a parallel
/// task); the same bits as [`gelu_forward`].
pub fn gelu_in_place(x: &mut [f32]) {
    gelu_chunk_in_place(x);
}

multiversion! {
    fn gelu_chunk_in_place(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = *v * math::normal_cdf(*v);
        }
    }
}

/// Backward of [`gelu_forward`]: `dinp = dout * (Φ(x) + x φ(x))` (overwritten).
pub fn gelu_backward(dinp: &mut [f32], inp: &[f32], dout: &[f32]) {
    assert!(
        dinp.len() == inp.len() && dout.len() == inp.len(),
        "gelu_backward: dinp, inp and dout lengths differ"
    );
    dinp.par_chunks_mut(CHUNK)
        .zip(inp.par_chunks(CHUNK).zip(dout.par_chunks(CHUNK)))
        .for_each(|(d, (x, g))| gelu_backward_chunk(d, x, g));
}

multiversion! {
    fn gelu_backward_chunk(dinp: &mut [f32], inp: &[f32], dout: &[f32]) {
        for ((d, &x), &g) in dinp.iter_mut().zip(inp).zip(dout) {
            let (cdf, pdf) = math::normal_cdf_pdf(x);
            *d = g * (cdf + x * pdf);
        }
    }
}

/// `out = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))` (tanh-approximate GELU).
pub fn gelu_tanh_forward(out: &mut [f32], inp: &[f32]) {
    assert_eq!(
        out.len(),
        inp.len(),
        "gelu_tanh_forward: out and inp lengths differ"
    );
    out.par_chunks_mut(CHUNK)
        .zip(inp.par_chunks(CHUNK))
        .for_each(|(o, x)| gelu_tanh_chunk(o, x));
}

multiversion! {
    fn gelu_tanh_chunk(out: &mut [f32], inp: &[f32]) {
        for (o, &x) in out.iter_mut().zip(inp) {
            // 0.5 (1 + tanh u) = 1 / (1 + e^(-2u)): no cancellation for u << 0.
            let u = SQRT_2_OVER_PI * (x + TANH_COEF * x * x * x);
            *o = x / (1.0 + math::exp(-2.0 * u));
        }
    }
}

/// Backward of [`gelu_tanh_forward`] (`dinp` overwritten).
pub fn gelu_tanh_backward(dinp: &mut [f32], inp: &[f32], dout: &[f32]) {
    assert!(
        dinp.len() == inp.len() && dout.len() == inp.len(),
        "gelu_tanh_backward: dinp, inp and dout lengths differ"
    );
    dinp.par_chunks_mut(CHUNK)
        .zip(inp.par_chunks(CHUNK).zip(dout.par_chunks(CHUNK)))
        .for_each(|(d, (x, g))| gelu_tanh_backward_chunk(d, x, g));
}

multiversion! {
    fn gelu_tanh_backward_chunk(dinp: &mut [f32], inp: &[f32], dout: &[f32]) {
        for ((d, &x), &g) in dinp.iter_mut().zip(inp).zip(dout) {
            // y = x σ(2u): y' = σ(2u) + x σ(2u) (1 - σ(2u)) 2 u'.
            let u = SQRT_2_OVER_PI * (x + TANH_COEF * x * x * x);
            let e = math::exp(-2.0 * u);
            let sig = 1.0 / (1.0 + e);
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * TANH_COEF * x * x);
            *d = g * (sig + x * sig * (e * sig) * 2.0 * du);
        }
    }
}
