//! tanh activation (BERT pooler), forward and backward.

use rayon::prelude::*;

use super::math;
use super::vectorize::multiversion;

/// Elements per parallel task.
const CHUNK: usize = 8192;

/// `out = tanh(inp)`.
pub fn tanh_forward(out: &mut [f32], inp: &[f32]) {
    assert_eq!(
        out.len(),
        inp.len(),
        "tanh_forward: out and inp lengths differ"
    );
    out.par_chunks_mut(CHUNK)
        .zip(inp.par_chunks(CHUNK))
        .for_each(|(o, x)| tanh_chunk(o, x));
}

multiversion! {
    fn tanh_chunk(out: &mut [f32], inp: &[f32]) {
        for (o, &x) in out.iter_mut().zip(inp) {
            *o = math::tanh(x);
        }
    }
}

/// Backward of [`tanh_forward`] from its saved output: `dinp = dout (1 - out²)` (overwritten).
pub fn tanh_backward(dinp: &mut [f32], out: &[f32], dout: &[f32]) {
    assert!(
        dinp.len() == out.len() && dout.len() == out.len(),
        "tanh_backward: dinp, out and dout lengths differ"
    );
    dinp.par_chunks_mut(CHUNK)
        .zip(out.par_chunks(CHUNK).zip(dout.par_chunks(CHUNK)))
        .for_each(|(d, (y, g))| tanh_backward_chunk(d, y, g));
}

multiversion! {
    fn tanh_backward_chunk(dinp: &mut [f32], out: &[f32], dout: &[f32]) {
        for ((d, &y), &g) in dinp.iter_mut().zip(out).zip(dout) {
            *d = g * (1.0 - y * y);
        }
    }
}
