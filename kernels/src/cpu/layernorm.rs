//! Layer normalization over the last dimension (torch `LayerNorm`: biased variance).
//!
//! Rows are independent: the forward runs rows in parallel; the backward computes
//! `dinp` per row and reduces `dgamma`/`dbeta` from fixed-size row blocks in a fixed order,
//! so results do not depend on the number of threads. [`layernorm_backward_input`] is the
//! backward of a frozen LayerNorm (only `dinp`, the same bits).

use rayon::prelude::*;

use super::vectorize::{self, multiversion};

/// Rows per parallel task (also the block size of the parameter-gradient reduction).
const ROWS_PER_TASK: usize = 16;

/// `out = (inp - mean) * rstd * gamma + beta` per row; saves `mean` and `rstd = 1/sqrt(var + eps)`.
///
/// `out`, `inp`: `[N, C]`; `mean`, `rstd`: `[N]`; `gamma`, `beta`: `[C]`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    gamma: &[f32],
    beta: &[f32],
    n: usize,
    c: usize,
    eps: f32,
) {
    assert_eq!(out.len(), n * c, "layernorm_forward: out must be [N, C]");
    assert_eq!(inp.len(), n * c, "layernorm_forward: inp must be [N, C]");
    assert!(
        mean.len() == n && rstd.len() == n,
        "layernorm_forward: mean/rstd must be [N]"
    );
    assert!(
        gamma.len() == c && beta.len() == c,
        "layernorm_forward: gamma/beta must be [C]"
    );
    if n == 0 || c == 0 {
        return;
    }
    let block = ROWS_PER_TASK * c;
    out.par_chunks_mut(block)
        .zip(inp.par_chunks(block))
        .zip(
            mean.par_chunks_mut(ROWS_PER_TASK)
                .zip(rstd.par_chunks_mut(ROWS_PER_TASK)),
        )
        .for_each(|((o, x), (m, r))| forward_rows(o, m, r, x, gamma, beta, c, eps));
}

multiversion! {
    fn forward_rows(out: &mut [f32], mean: &mut [f32], rstd: &mut [f32], inp: &[f32], gamma: &[f32], beta: &[f32], c: usize, eps: f32) {
        for ((o, x), (m, r)) in out
            .chunks_exact_mut(c)
            .zip(inp.chunks_exact(c))
            .zip(mean.iter_mut().zip(rstd.iter_mut()))
        {
            let mu = vectorize::sum(x) / c as f32;
            let var = vectorize::sum_sq_dev(x, mu) / c as f32;
            let rs = 1.0 / (var + eps).sqrt();
            for (((ov, &xv), &g), &b) in o.iter_mut().zip(x).zip(gamma).zip(beta) {
                *ov = (xv - mu) * rs * g + b;
            }
            *m = mu;
            *r = rs;
        }
    }
}

/// Backward of [`layernorm_forward`]: `dinp = ` (overwritten), `dgamma += `, `dbeta += `.
///
/// `dinp`, `dout`, `inp`: `[N, C]`; `mean`, `rstd`: `[N]`; `dgamma`, `dbeta`, `gamma`: `[C]`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward(
    dinp: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    n: usize,
    c: usize,
) {
    check_backward(
        "layernorm_backward",
        dinp,
        dout,
        inp,
        mean,
        rstd,
        gamma,
        n,
        c,
    );
    assert!(
        dgamma.len() == c && dbeta.len() == c,
        "layernorm_backward: dgamma/dbeta must be [C]"
    );
    if n == 0 || c == 0 {
        return;
    }
    let block = ROWS_PER_TASK * c;
    // Per block: [dgamma partial | dbeta partial].
    let mut partial = vec![0.0f32; n.div_ceil(ROWS_PER_TASK) * 2 * c];
    dinp.par_chunks_mut(block)
        .zip(partial.par_chunks_mut(2 * c))
        .zip(dout.par_chunks(block).zip(inp.par_chunks(block)))
        .zip(
            mean.par_chunks(ROWS_PER_TASK)
                .zip(rstd.par_chunks(ROWS_PER_TASK)),
        )
        .for_each(|(((dx, p), (dy, x)), (m, r))| {
            let (pg, pb) = p.split_at_mut(c);
            backward_rows(dx, pg, pb, dy, x, m, r, gamma, c)
        });
    for p in partial.chunks_exact(2 * c) {
        add_assign(dgamma, &p[..c]);
        add_assign(dbeta, &p[c..]);
    }
}

/// [`layernorm_backward`] for a frozen LayerNorm: only `dinp` (overwritten), bit for bit the
/// same as the full backward's, without computing or reducing parameter gradients.
///
/// `dinp`, `dout`, `inp`: `[N, C]`; `mean`, `rstd`: `[N]`; `gamma`: `[C]`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward_input(
    dinp: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    n: usize,
    c: usize,
) {
    check_backward(
        "layernorm_backward_input",
        dinp,
        dout,
        inp,
        mean,
        rstd,
        gamma,
        n,
        c,
    );
    if n == 0 || c == 0 {
        return;
    }
    let block = ROWS_PER_TASK * c;
    dinp.par_chunks_mut(block)
        .zip(dout.par_chunks(block).zip(inp.par_chunks(block)))
        .zip(
            mean.par_chunks(ROWS_PER_TASK)
                .zip(rstd.par_chunks(ROWS_PER_TASK)),
        )
        .for_each(|((dx, (dy, x)), (m, r))| backward_rows_input(dx, dy, x, m, r, gamma, c));
}

/// The shapes both backward entry points share (`name` says which was called).
#[allow(clippy::too_many_arguments)]
fn check_backward(
    name: &str,
    dinp: &[f32],
    dout: &[f32],
    inp: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    n: usize,
    c: usize,
) {
    assert!(
        dinp.len() == n * c && dout.len() == n * c && inp.len() == n * c,
        "{name}: dinp/dout/inp must be [N, C]"
    );
    assert!(
        mean.len() == n && rstd.len() == n,
        "{name}: mean/rstd must be [N]"
    );
    assert_eq!(gamma.len(), c, "{name}: gamma must be [C]");
}

multiversion! {
    fn add_assign(dst: &mut [f32], src: &[f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += s;
        }
    }
}

multiversion! {
    fn backward_rows(dinp: &mut [f32], dgamma: &mut [f32], dbeta: &mut [f32], dout: &[f32], inp: &[f32], mean: &[f32], rstd: &[f32], gamma: &[f32], c: usize) {
        rows_backward::<true>(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, c)
    }
}

multiversion! {
    fn backward_rows_input(dinp: &mut [f32], dout: &[f32], inp: &[f32], mean: &[f32], rstd: &[f32], gamma: &[f32], c: usize) {
        rows_backward::<false>(dinp, &mut [], &mut [], dout, inp, mean, rstd, gamma, c)
    }
}

/// The backward of rows: `dinp` overwritten and, when `PARAMS`, `dgamma`/`dbeta` `+=`
/// (otherwise they are not touched and may be empty). `dinp` is computed by the same
/// operations either way, so it is the same bit for bit.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows_backward<const PARAMS: bool>(
    dinp: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    c: usize,
) {
    for (((dx, dy), x), (&mu, &rs)) in dinp
        .chunks_exact_mut(c)
        .zip(dout.chunks_exact(c))
        .zip(inp.chunks_exact(c))
        .zip(mean.iter().zip(rstd))
    {
        // xhat = (x - mu) * rs; dnorm = dy * gamma;
        // dx = rs * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat)).
        let mut acc_d = [0.0f32; vectorize::LANES];
        let mut acc_dx = [0.0f32; vectorize::LANES];
        let mut tail_d = 0.0f32;
        let mut tail_dx = 0.0f32;
        let whole = c / vectorize::LANES * vectorize::LANES;
        for i0 in (0..whole).step_by(vectorize::LANES) {
            for l in 0..vectorize::LANES {
                let i = i0 + l;
                let dn = dy[i] * gamma[i];
                acc_d[l] += dn;
                acc_dx[l] += dn * ((x[i] - mu) * rs);
            }
        }
        for i in whole..c {
            let dn = dy[i] * gamma[i];
            tail_d += dn;
            tail_dx += dn * ((x[i] - mu) * rs);
        }
        let mean_d = (acc_d.iter().sum::<f32>() + tail_d) / c as f32;
        let mean_dx = (acc_dx.iter().sum::<f32>() + tail_dx) / c as f32;
        for i in 0..c {
            let xhat = (x[i] - mu) * rs;
            let dn = dy[i] * gamma[i];
            dx[i] = rs * (dn - mean_d - xhat * mean_dx);
            if PARAMS {
                dgamma[i] += dy[i] * xhat;
                dbeta[i] += dy[i];
            }
        }
    }
}
