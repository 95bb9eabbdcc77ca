//! Classification losses with their logit gradients, torch semantics:
//! softmax cross-entropy (`nn.CrossEntropyLoss`: class weights, label smoothing,
//! ignore index) and sigmoid binary cross-entropy (`nn.BCEWithLogitsLoss`, `pos_weight`).
//!
//! Each function returns the loss and overwrites `dlogits` with d loss / d logits; losses
//! are accumulated in f64.

use rayon::prelude::*;

use super::softmax::softmax_row;

/// How per-sample losses are combined (torch `reduction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Weighted mean: `Σ loss_i / Σ w_{y_i}` (plain mean without weights).
    Mean,
    /// Sum over samples.
    Sum,
}

/// Options of [`cross_entropy`], defaults as torch (`weight=None`,
/// `label_smoothing=0`, no ignore index, `reduction='mean'`).
#[derive(Clone, Copy, Debug)]
pub struct CrossEntropyOptions<'a> {
    /// Per-class weights `[K]`.
    pub weight: Option<&'a [f32]>,
    /// ε in [0, 1]: the target becomes (1 - ε) one-hot + ε / K uniform.
    pub label_smoothing: f32,
    /// Samples whose target equals this are skipped (torch uses -100, e.g. MLM).
    pub ignore_index: Option<i32>,
    pub reduction: Reduction,
}

impl Default for CrossEntropyOptions<'_> {
    fn default() -> Self {
        Self {
            weight: None,
            label_smoothing: 0.0,
            ignore_index: None,
            reduction: Reduction::Mean,
        }
    }
}

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 16;

/// Softmax cross-entropy over `[N, K]` logits and `[N]` class targets.
///
/// Per sample, with p = softmax(z), w the class weights (1 without) and ε the smoothing:
/// `l_i = (1-ε) w_y (-log p_y) + ε/K Σ_c w_c (-log p_c)`; `Mean` divides `Σ l_i` by
/// `Σ w_{y_i}` over non-ignored samples (torch's weighted mean; NaN when that is 0, as
/// torch). `dlogits[i, j] = ((1-ε) w_y (p_j - [j=y]) + ε/K (p_j Σ_c w_c - w_j)) / W`;
/// rows of ignored samples are 0.
pub fn cross_entropy(
    dlogits: &mut [f32],
    logits: &[f32],
    targets: &[i32],
    n: usize,
    k: usize,
    opts: &CrossEntropyOptions,
) -> f32 {
    cross_entropy_weighted(dlogits, logits, targets, None, n, k, opts)
}

/// [`cross_entropy`] with per-sample weights `s` `[N]` (`None`: all 1): sample i's loss and
/// gradient row are multiplied by `s_i`; the `Mean` normaliser stays `Σ w_{y_i}` (torch's),
/// so the loss is `Σ s_i l_i / Σ w_{y_i}` — in torch,
/// `(s * F.cross_entropy(z, y, weight=w, reduction='none')).sum() / w[y].sum()`, and
/// `(s * ce_none).mean()` without class weights. With `s` of mean 1 over a data set, a
/// batch's expected loss is the re-weighted data set's loss.
pub fn cross_entropy_weighted(
    dlogits: &mut [f32],
    logits: &[f32],
    targets: &[i32],
    sample_weight: Option<&[f32]>,
    n: usize,
    k: usize,
    opts: &CrossEntropyOptions,
) -> f32 {
    if let Some(s) = sample_weight {
        assert_eq!(s.len(), n, "cross_entropy: sample weights must be [N]");
    }
    let sw = |i: usize| sample_weight.map_or(1.0, |s| s[i] as f64);
    assert!(
        dlogits.len() == n * k && logits.len() == n * k,
        "cross_entropy: logits/dlogits must be [N, K]"
    );
    assert_eq!(targets.len(), n, "cross_entropy: targets must be [N]");
    if let Some(w) = opts.weight {
        assert_eq!(w.len(), k, "cross_entropy: weight must be [K]");
    }
    let ignored = |y: i32| opts.ignore_index == Some(y);
    for (i, &y) in targets.iter().enumerate() {
        assert!(
            ignored(y) || (0..k as i64).contains(&(y as i64)),
            "cross_entropy: target {y} of sample {i} is not a class in 0..{k}"
        );
    }
    let wt = |c: usize| opts.weight.map_or(1.0, |w| w[c] as f64);
    let total_w: f64 = targets
        .iter()
        .filter(|&&y| !ignored(y))
        .map(|&y| wt(y as usize))
        .sum();
    let norm = match opts.reduction {
        Reduction::Mean => total_w,
        Reduction::Sum => 1.0,
    };
    let eps = opts.label_smoothing as f64;
    let sum_w: f64 = (0..k).map(wt).sum();
    let inv_norm = (1.0 / norm) as f32;
    if n * k == 0 {
        return (0.0 / norm) as f32;
    }
    let loss: f64 = dlogits
        .par_chunks_mut(ROWS_PER_TASK * k)
        .zip(logits.par_chunks(ROWS_PER_TASK * k))
        .zip(targets.par_chunks(ROWS_PER_TASK))
        .enumerate()
        .map(|(task, ((d, z), ys))| {
            let mut acc = 0.0f64;
            for (r, ((dr, zr), &y)) in d
                .chunks_exact_mut(k)
                .zip(z.chunks_exact(k))
                .zip(ys)
                .enumerate()
            {
                if ignored(y) {
                    dr.fill(0.0);
                    continue;
                }
                let si = sw(task * ROWS_PER_TASK + r);
                let y = y as usize;
                let lse = softmax_row(dr, zr) as f64; // dr = p
                let wy = wt(y);
                let nll = lse - zr[y] as f64;
                let smooth = if eps > 0.0 {
                    (0..k).map(|c| wt(c) * (lse - zr[c] as f64)).sum::<f64>()
                } else {
                    0.0
                };
                acc += si * ((1.0 - eps) * wy * nll + eps / k as f64 * smooth);
                let a = ((1.0 - eps) * wy) as f32;
                let b = (eps / k as f64) as f32;
                let bs = (eps / k as f64 * sum_w) as f32;
                let scale = (si as f32) * inv_norm;
                for (j, dv) in dr.iter_mut().enumerate() {
                    let p = *dv;
                    let onehot = if j == y { 1.0 } else { 0.0 };
                    *dv = (a * (p - onehot) + (bs * p - b * wt(j) as f32)) * scale;
                }
            }
            acc
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    (loss / norm) as f32
}

/// Sigmoid binary cross-entropy with logits (multi-label), `[N, K]` logits and targets
/// in [0, 1], optional `pos_weight` `[K]`.
///
/// `l = -(pw y log σ(z) + (1-y) log(1-σ(z)))`, computed stably as
/// `(1-y) z + (1 + (pw-1) y) (log1p(e^{-|z|}) + max(-z, 0))`; `Mean` averages over all
/// N·K elements. `dlogits = ((1-y) - (1 + (pw-1) y) σ(-z)) / norm`.
pub fn bce_with_logits(
    dlogits: &mut [f32],
    logits: &[f32],
    targets: &[f32],
    pos_weight: Option<&[f32]>,
    n: usize,
    k: usize,
    reduction: Reduction,
) -> f32 {
    bce_with_logits_weighted(dlogits, logits, targets, pos_weight, None, n, k, reduction)
}

/// [`bce_with_logits`] with per-sample weights `s` `[N]` (`None`: all 1): every element of
/// row i is multiplied by `s_i`, the `Mean` normaliser stays N·K — in torch,
/// `(s[:, None] * F.binary_cross_entropy_with_logits(z, y, pos_weight=pw, reduction='none')).mean()`.
#[allow(clippy::too_many_arguments)]
pub fn bce_with_logits_weighted(
    dlogits: &mut [f32],
    logits: &[f32],
    targets: &[f32],
    pos_weight: Option<&[f32]>,
    sample_weight: Option<&[f32]>,
    n: usize,
    k: usize,
    reduction: Reduction,
) -> f32 {
    if let Some(s) = sample_weight {
        assert_eq!(s.len(), n, "bce_with_logits: sample weights must be [N]");
    }
    assert!(
        dlogits.len() == n * k && logits.len() == n * k && targets.len() == n * k,
        "bce_with_logits: dlogits/logits/targets must be [N, K]"
    );
    if let Some(pw) = pos_weight {
        assert_eq!(pw.len(), k, "bce_with_logits: pos_weight must be [K]");
    }
    let norm = match reduction {
        Reduction::Mean => (n * k) as f64,
        Reduction::Sum => 1.0,
    };
    let mut loss = 0.0f64;
    for (idx, ((d, &z), &y)) in dlogits.iter_mut().zip(logits).zip(targets).enumerate() {
        let (z, y) = (z as f64, y as f64);
        let pw = pos_weight.map_or(1.0, |p| p[idx % k] as f64);
        let si = sample_weight.map_or(1.0, |s| s[idx / k.max(1)] as f64);
        let lw = 1.0 + (pw - 1.0) * y;
        // log(1 + e^{-z}) = log1p(e^{-|z|}) + max(-z, 0)
        let softplus_neg = (-z.abs()).exp().ln_1p() + (-z).max(0.0);
        loss += si * ((1.0 - y) * z + lw * softplus_neg);
        let sig_neg = 1.0 / (1.0 + z.exp()); // σ(-z)
        *d = (si * ((1.0 - y) - lw * sig_neg) / norm) as f32;
    }
    (loss / norm) as f32
}
