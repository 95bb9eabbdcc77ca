//! Integrated gradients (Sundararajan et al. 2017) w.r.t. the word embeddings.
//!
//! `IG_t = Σ_c (x − x')[t, c] · ∫₀¹ ∂f/∂x[t, c](x' + α(x − x')) dα`, the integral by the
//! trapezoid rule on `α_k = k / N`, `k = 0..=N` (weights `1/2N` at both ends, `1/N`
//! inside): N + 1 forward/backward evaluations, run as batches of interpolation points.
//! The two end points give `f(x')` and `f(x)`, so completeness is checked for free.

use serde::Serialize;

use super::explainer::Explainer;
use super::Baseline;
use crate::error::{ModelError, Result};

/// Integrated gradients of one sequence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IgResult {
    /// [T] per-token attributions.
    #[serde(skip)]
    pub scores: Vec<f32>,
    pub steps: usize,
    pub baseline: Baseline,
    /// The explained logit at the input, `f(x)`.
    pub input_logit: f32,
    /// The explained logit at the baseline, `f(x')`.
    pub baseline_logit: f32,
    /// `Σ_t IG_t`.
    pub sum: f32,
    /// Completeness error `Σ_t IG_t − (f(x) − f(x'))`.
    pub delta: f32,
    /// `|delta| / |f(x) − f(x')|`.
    pub relative_delta: f32,
}

/// [T, C] baseline word embeddings for `ids`.
pub fn baseline_embeddings(ex: &Explainer, ids: &[u32], baseline: Baseline) -> Result<Vec<f32>> {
    let c = ex.hidden_size();
    match baseline {
        Baseline::Zero => Ok(vec![0.0; ids.len() * c]),
        Baseline::Pad => {
            let s = ex.specials();
            let ref_ids: Vec<u32> = ids
                .iter()
                .map(|&id| {
                    if id == s.cls || id == s.sep {
                        id
                    } else {
                        s.pad
                    }
                })
                .collect();
            ex.word_embeddings(&ref_ids)
        }
    }
}

/// Trapezoid weights of the `steps + 1` points `α_k = k / steps`.
pub fn trapezoid_weights(steps: usize) -> Vec<f32> {
    let n = steps as f32;
    (0..=steps)
        .map(|k| {
            if k == 0 || k == steps {
                0.5 / n
            } else {
                1.0 / n
            }
        })
        .collect()
}

/// Integrated gradients of logit `class` for the sequence `ids` ([T]). `max_rows` bounds
/// the token rows (points × T) per forward/backward pass.
pub fn integrated_gradients(
    ex: &mut Explainer,
    ids: &[u32],
    class: usize,
    steps: usize,
    baseline: Baseline,
    max_rows: usize,
) -> Result<IgResult> {
    if steps == 0 {
        return Err(ModelError::Input(
            "integrated gradients need at least 1 step".into(),
        ));
    }
    let (t, c) = (ids.len(), ex.hidden_size());
    let nl = ex.num_labels();
    let x = ex.word_embeddings(ids)?;
    let x0 = baseline_embeddings(ex, ids, baseline)?;
    let diff: Vec<f32> = x.iter().zip(&x0).map(|(a, b)| a - b).collect();
    let weights = trapezoid_weights(steps);
    let per_pass = (max_rows / t.max(1)).max(1);

    // Σ_k w_k ∇f(x' + α_k (x − x')), accumulated in f64
    let mut avg_grad = vec![0.0f64; t * c];
    let (mut input_logit, mut baseline_logit) = (0.0f32, 0.0f32);
    let points: Vec<usize> = (0..=steps).collect();
    let mut rows = Vec::new();
    for chunk in points.chunks(per_pass) {
        rows.clear();
        for &k in chunk {
            let alpha = k as f32 / steps as f32;
            rows.extend(x0.iter().zip(&diff).map(|(b, d)| b + alpha * d));
        }
        let (logits, grads) = ex.gradients(ids, &rows, class)?;
        for (j, &k) in chunk.iter().enumerate() {
            let w = weights[k] as f64;
            for (acc, &g) in avg_grad.iter_mut().zip(&grads[j * t * c..(j + 1) * t * c]) {
                *acc += w * g as f64;
            }
            if k == 0 {
                baseline_logit = logits[j * nl + class];
            }
            if k == steps {
                input_logit = logits[j * nl + class];
            }
        }
    }
    let scores: Vec<f32> = diff
        .chunks_exact(c)
        .zip(avg_grad.chunks_exact(c))
        .map(|(d, g)| d.iter().zip(g).map(|(&d, &g)| d as f64 * g).sum::<f64>() as f32)
        .collect();
    let sum: f32 = scores.iter().sum();
    let delta = sum - (input_logit - baseline_logit);
    Ok(IgResult {
        scores,
        steps,
        baseline,
        input_logit,
        baseline_logit,
        sum,
        delta,
        relative_delta: delta.abs() / (input_logit - baseline_logit).abs().max(f32::MIN_POSITIVE),
    })
}
