//! Global gradient L2 norm and clipping (torch `clip_grad_norm_` with norm_type 2).

use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 16384;

/// sqrt(Σ over all slices of Σ g²), accumulated in f64 (deterministic: fixed chunks,
/// summed in order).
pub fn global_norm(grads: &[&[f32]]) -> f32 {
    let sq: f64 = grads
        .iter()
        .map(|g| {
            g.par_chunks(CHUNK)
                .map(|ch| ch.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>())
                .collect::<Vec<f64>>()
                .iter()
                .sum::<f64>()
        })
        .sum();
    sq.sqrt() as f32
}

/// Scales all gradients by `min(1, max_norm / (norm + 1e-6))` as torch does and returns
/// the norm before clipping (non-finite when some gradient is; the caller decides).
pub fn clip_grad_norm(grads: &mut [&mut [f32]], max_norm: f32) -> f32 {
    let norm = {
        let views: Vec<&[f32]> = grads.iter().map(|g| &**g).collect();
        global_norm(&views)
    };
    let coef = (max_norm as f64 / (norm as f64 + 1e-6)).min(1.0) as f32;
    if coef < 1.0 {
        for g in grads.iter_mut() {
            g.par_chunks_mut(CHUNK)
                .for_each(|ch| ch.iter_mut().for_each(|x| *x *= coef));
        }
    }
    norm
}
