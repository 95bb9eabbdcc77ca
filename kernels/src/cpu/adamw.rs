//! AdamW step with PyTorch `torch.optim.AdamW` semantics (amsgrad=False, maximize=False):
//!
//! ```text
//! p  *= 1 - lr·wd                      (decoupled weight decay, before the update)
//! m  += (1 - β1)(g - m)                (torch lerp)
//! v   = β2 v + (1 - β2) g²
//! p  -= lr / (1 - β1^t) · m / (sqrt(v) / sqrt(1 - β2^t) + ε)
//! ```
//! Scalars (bias corrections, step size) are computed in f64 as torch does in Python.

use rayon::prelude::*;

use super::vectorize::multiversion;

/// Hyper-parameters of one step. f64 like torch's Python floats: `1 - beta2` from an f32
/// `0.999` would be off by 1e-5 relative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWParams {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWParams {
    /// torch defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-2,
        }
    }
}

/// Elements per parallel task.
const CHUNK: usize = 16384;

/// One AdamW update of `param` in place. `step` is the 1-based step count after this
/// update (torch increments `state['step']` before using it). `m`, `v`: optimizer state
/// (zeros before the first step); all slices the same length.
pub fn adamw_step(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step: u64,
    hp: &AdamWParams,
) {
    let len = param.len();
    assert!(
        grad.len() == len && m.len() == len && v.len() == len,
        "adamw_step: param/grad/m/v lengths differ"
    );
    assert!(step >= 1, "adamw_step: step is 1-based");
    let (lr, b1, b2) = (hp.lr, hp.beta1, hp.beta2);
    let bias_c1 = 1.0 - b1.powf(step as f64);
    let bias_c2_sqrt = (1.0 - b2.powf(step as f64)).sqrt();
    let k = Scalars {
        decay: (1.0 - lr * hp.weight_decay) as f32,
        one_minus_b1: (1.0 - b1) as f32,
        b2: hp.beta2 as f32,
        one_minus_b2: (1.0 - b2) as f32,
        bias_c2_sqrt: bias_c2_sqrt as f32,
        eps: hp.eps as f32,
        step_size: (lr / bias_c1) as f32,
    };
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((p, g), (m, v))| update(p, g, m, v, k));
}

#[derive(Clone, Copy)]
struct Scalars {
    decay: f32,
    one_minus_b1: f32,
    b2: f32,
    one_minus_b2: f32,
    bias_c2_sqrt: f32,
    eps: f32,
    step_size: f32,
}

multiversion! {
    fn update(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], k: Scalars) {
        for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
            *p *= k.decay;
            *m += k.one_minus_b1 * (g - *m);
            *v = *v * k.b2 + k.one_minus_b2 * (g * g);
            let denom = v.sqrt() / k.bias_c2_sqrt + k.eps;
            *p += -k.step_size * (*m / denom);
        }
    }
}
