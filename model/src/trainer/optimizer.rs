//! AdamW over the trainable parameters only, with torch's semantics (the kernel is
//! `tokken_kernels::cpu::adamw::adamw_step`), global-norm clipping like
//! `torch.nn.utils.clip_grad_norm_`, and weight decay only where a parameter asks for it
//! (HF's Trainer exempts biases and LayerNorm weights).
//!
//! The first and second moments of every parameter live in one arena each (`m`, `v`),
//! handed out by offset in the trainable-parameter order.

use tokken_kernels::cpu::adamw::{adamw_step, AdamWParams};
use tokken_kernels::cpu::grad_norm::global_norm;

use crate::error::{ModelError, Result};

/// One trainable parameter as the optimizer sees it.
pub struct OptimParam<'a> {
    pub name: &'a str,
    pub value: &'a mut [f32],
    pub grad: &'a [f32],
    pub weight_decay: bool,
}

/// A model's trainable parameter ([`crate::train::TrainModel::trainable_mut`]) as the
/// optimizer sees it.
impl<'a> From<crate::train::trainable::ParamMut<'a>> for OptimParam<'a> {
    fn from(p: crate::train::trainable::ParamMut<'a>) -> OptimParam<'a> {
        OptimParam {
            name: p.name,
            value: p.value,
            grad: p.grad,
            weight_decay: p.weight_decay,
        }
    }
}

/// AdamW hyper-parameters other than the learning rate (which the schedule sets per step).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (`None`: no clipping).
    pub max_grad_norm: Option<f32>,
}

impl Default for AdamWConfig {
    /// HF Trainer's defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0.01, clip 1.0.
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            max_grad_norm: Some(1.0),
        }
    }
}

/// The optimizer state: step count and the moment arenas.
#[derive(Clone, Debug)]
pub struct AdamW {
    pub config: AdamWConfig,
    /// Updates done so far (torch's `state['step']`).
    pub step: u64,
    /// Parameter names in arena order, with their offsets and lengths.
    pub slots: Vec<(String, usize, usize)>,
    /// [Σ numel] first moments.
    pub m: Vec<f32>,
    /// [Σ numel] second moments.
    pub v: Vec<f32>,
    /// Scratch for clipped gradients (sized to the largest parameter).
    scratch: Vec<f32>,
}

/// What one update did.
#[derive(Clone, Copy, Debug)]
pub struct StepStats {
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f32,
}

impl AdamW {
    /// Zero state for parameters `(name, numel)` in the order they will be passed to
    /// [`AdamW::update`].
    pub fn new(config: AdamWConfig, params: &[(String, usize)]) -> AdamW {
        let mut slots = Vec::with_capacity(params.len());
        let mut offset = 0;
        for (name, n) in params {
            slots.push((name.clone(), offset, *n));
            offset += n;
        }
        AdamW {
            config,
            step: 0,
            slots,
            m: vec![0.0; offset],
            v: vec![0.0; offset],
            scratch: Vec::new(),
        }
    }

    /// The norm of all gradients (f64 accumulation).
    pub fn grad_norm(params: &[OptimParam<'_>]) -> f32 {
        let grads: Vec<&[f32]> = params.iter().map(|p| p.grad).collect();
        global_norm(&grads)
    }

    /// One AdamW update at learning rate `lr`. The gradients are clipped first (into a
    /// scratch copy: the caller's gradients stay as they are). A non-finite gradient norm
    /// changes nothing and is returned for the caller to stop on.
    pub fn update(&mut self, params: &mut [OptimParam<'_>], lr: f64) -> Result<StepStats> {
        if params.len() != self.slots.len() {
            return Err(ModelError::Other(format!(
                "optimizer: {} parameters passed, state has {}",
                params.len(),
                self.slots.len()
            )));
        }
        for (p, (name, _, n)) in params.iter().zip(&self.slots) {
            if p.name != name || p.value.len() != *n || p.grad.len() != *n {
                return Err(ModelError::Other(format!(
                    "optimizer: parameter `{}` ({} values) does not match state `{name}` ({n})",
                    p.name,
                    p.value.len()
                )));
            }
        }
        let grad_norm = AdamW::grad_norm(params);
        if !grad_norm.is_finite() {
            return Ok(StepStats { grad_norm });
        }
        // torch: coef = max_norm / (norm + 1e-6), clamped to 1, grads multiplied by it.
        let coef = self.config.max_grad_norm.map_or(1.0, |max| {
            (max as f64 / (grad_norm as f64 + 1e-6)).min(1.0) as f32
        });
        self.step += 1;
        let largest = params.iter().map(|p| p.grad.len()).max().unwrap_or(0);
        if coef < 1.0 && self.scratch.len() < largest {
            self.scratch.resize(largest, 0.0);
        }
        for (p, (_, offset, n)) in params.iter_mut().zip(&self.slots) {
            let hp = AdamWParams {
                lr,
                beta1: self.config.beta1,
                beta2: self.config.beta2,
                eps: self.config.eps,
                weight_decay: if p.weight_decay {
                    self.config.weight_decay
                } else {
                    0.0
                },
            };
            let m = &mut self.m[*offset..offset + n];
            let v = &mut self.v[*offset..offset + n];
            if coef < 1.0 {
                let g = &mut self.scratch[..*n];
                for (s, &x) in g.iter_mut().zip(p.grad) {
                    *s = x * coef;
                }
                adamw_step(p.value, g, m, v, self.step, &hp);
            } else {
                adamw_step(p.value, p.grad, m, v, self.step, &hp);
            }
        }
        Ok(StepStats { grad_norm })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two torch-semantics steps by hand (f64), no clipping, decay on the first parameter.
    #[test]
    fn matches_hand_computed_adamw_and_skips_decay() {
        let cfg = AdamWConfig {
            max_grad_norm: None,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(cfg, &[("w".into(), 2), ("b".into(), 1)]);
        let mut w = [0.5f32, -1.0];
        let mut b = [0.25f32];
        let gw = [0.1f32, -0.3];
        let gb = [2.0f32];
        let lr = 1e-2;
        let mut refw = [0.5f64, -1.0];
        let mut refb = [0.25f64];
        let (mut mw, mut vw, mut mb, mut vb) = ([0f64; 2], [0f64; 2], [0f64; 1], [0f64; 1]);
        for t in 1..=2u32 {
            let mut ps = [
                OptimParam {
                    name: "w",
                    value: &mut w,
                    grad: &gw,
                    weight_decay: true,
                },
                OptimParam {
                    name: "b",
                    value: &mut b,
                    grad: &gb,
                    weight_decay: false,
                },
            ];
            opt.update(&mut ps, lr).unwrap();
            let r = |p: &mut [f64], g: &[f32], m: &mut [f64], v: &mut [f64], wd: f64| {
                for i in 0..p.len() {
                    let g = g[i] as f64;
                    p[i] *= 1.0 - lr * wd;
                    m[i] = 0.9 * m[i] + 0.1 * g;
                    v[i] = 0.999 * v[i] + 0.001 * g * g;
                    let mh = m[i] / (1.0 - 0.9f64.powi(t as i32));
                    let vh = v[i] / (1.0 - 0.999f64.powi(t as i32));
                    p[i] -= lr * mh / (vh.sqrt() + 1e-8);
                }
            };
            r(&mut refw, &gw, &mut mw, &mut vw, 0.01);
            r(&mut refb, &gb, &mut mb, &mut vb, 0.0);
        }
        for (a, e) in w.iter().zip(refw).chain(b.iter().zip(refb)) {
            assert!((*a as f64 - e).abs() < 1e-6, "{a} vs {e}");
        }
        assert_eq!(opt.step, 2);
    }

    #[test]
    fn clipping_scales_like_torch_and_nan_skips() {
        let cfg = AdamWConfig {
            max_grad_norm: Some(1.0),
            weight_decay: 0.0,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(cfg, &[("w".into(), 2)]);
        let mut w = [0.0f32, 0.0];
        let g = [3.0f32, 4.0];
        let s = opt
            .update(
                &mut [OptimParam {
                    name: "w",
                    value: &mut w,
                    grad: &g,
                    weight_decay: true,
                }],
                0.1,
            )
            .unwrap();
        assert_eq!(s.grad_norm, 5.0);
        // first Adam step moves each weight by ~lr·sign(g), whatever the scale
        assert!((w[0] + 0.1).abs() < 1e-5 && (w[1] + 0.1).abs() < 1e-5);
        // m holds (1 - β1)·clipped g
        assert!((opt.m[0] - 0.1 * 0.6).abs() < 1e-6, "{}", opt.m[0]);
        let bad = [f32::NAN, 1.0];
        let s = opt
            .update(
                &mut [OptimParam {
                    name: "w",
                    value: &mut w,
                    grad: &bad,
                    weight_decay: true,
                }],
                0.1,
            )
            .unwrap();
        assert!(s.grad_norm.is_nan());
        assert_eq!(opt.step, 1);
    }
}
