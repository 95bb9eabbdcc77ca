//! Residual connections: `out = a + b`; the gradient flows unchanged to both inputs.

use rayon::prelude::*;

use super::vectorize::multiversion;

/// Elements per parallel task.
const CHUNK: usize = 16384;

/// `out = a + b` (all the same length, e.g. `[B, T, C]`).
pub fn residual_forward(out: &mut [f32], a: &[f32], b: &[f32]) {
    assert!(
        out.len() == a.len() && b.len() == a.len(),
        "residual_forward: lengths differ"
    );
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(o, (x, y))| add(o, x, y));
}

multiversion! {
    fn add(out: &mut [f32], a: &[f32], b: &[f32]) {
        for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
            *o = x + y;
        }
    }
}

/// `dst += src`: where a residual branch's gradient joins the skip path's gradient.
pub fn accumulate(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "accumulate: lengths differ");
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(d, s)| super::bias::add_assign(d, s));
}

/// Backward of [`residual_forward`]: `da = dout`, `db = dout` (overwritten).
pub fn residual_backward(da: &mut [f32], db: &mut [f32], dout: &[f32]) {
    assert!(
        da.len() == dout.len() && db.len() == dout.len(),
        "residual_backward: lengths differ"
    );
    da.copy_from_slice(dout);
    db.copy_from_slice(dout);
}
