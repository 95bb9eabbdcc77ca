//! LoRA with PEFT semantics: `y = W x + b + (alpha / r) · B A dropout(x)`, A `[R, K]`
//! initialised Kaiming-uniform (`a = √5`, i.e. U(±1/√K), as `nn.Linear` and PEFT), B
//! `[N, R]` zero, dropout on the LoRA input only. Target modules match PEFT's rule for a
//! list: a module is adapted when its full name equals a target or ends with `"." +
//! target` — so `output.dense` adapts both `attention.output.dense` and `output.dense`.

use std::ops::Range;

use super::cls_rows::dropout_rows;
use serde::{Deserialize, Serialize};
use tokken_kernels::cpu::gemm::{sgemm, Trans};
use tokken_kernels::cpu::residual::accumulate;

/// PEFT `LoraConfig` (the fields tokken uses).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank R.
    pub r: usize,
    /// `lora_alpha`; the update is scaled by `alpha / r`.
    pub alpha: f32,
    /// `lora_dropout` on the LoRA input.
    pub dropout: f32,
    /// Module names or name suffixes (`query`, `value`, `attention.output.dense`, ...).
    pub target_modules: Vec<String>,
}

impl Default for LoraConfig {
    /// PEFT's defaults for BERT: r 8, alpha 8, no dropout, `query` and `value`.
    fn default() -> Self {
        LoraConfig {
            r: 8,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: vec!["query".into(), "value".into()],
        }
    }
}

impl LoraConfig {
    /// `alpha / r`
    pub fn scale(&self) -> f32 {
        self.alpha / self.r as f32
    }

    /// PEFT's `check_target_module_exists` for a list of targets.
    pub fn targets(&self, module: &str) -> bool {
        self.target_modules
            .iter()
            .any(|t| module == t || module.ends_with(&format!(".{t}")))
    }
}

/// LoRA on one dense layer (views into the trainable arena).
#[derive(Clone, Debug)]
pub struct LoraSite {
    /// HF module name, e.g. `bert.encoder.layer.0.attention.self.query`.
    pub module: String,
    /// [R, K]
    pub a: Range<usize>,
    /// [N, R]
    pub b: Range<usize>,
    /// First column of this module's output inside the layer output (q | k | v are fused).
    pub col: usize,
    /// N
    pub n: usize,
    /// K
    pub k: usize,
    /// Dropout stream of this site.
    pub site: u64,
}

/// Dropout on the LoRA input in this call: (p, seed), or none.
pub type LoraDropout = Option<(f32, u64)>;

/// The LoRA input `x` [rows, K]: `x` itself, or `dropout(x)` written to `scratch`; row `r`
/// of `x` is row `r · step` of the batch the dropout stream is drawn over
/// ([`super::cls_rows`]; 1 for a full batch).
fn lora_input<'a>(
    x: &'a [f32],
    k: usize,
    step: usize,
    scratch: &'a mut [f32],
    drop: LoraDropout,
) -> &'a [f32] {
    match drop {
        Some((p, seed)) => {
            dropout_rows(&mut scratch[..x.len()], x, k, step, p, seed);
            &scratch[..x.len()]
        }
        None => x,
    }
}

/// `h[rows, R] = dropout(x) · Aᵀ`; `y[:, col..col+N] += scale · h · Bᵀ` (y row stride `ldy`).
/// Row `r` of `x` is row `r · step` of the batch the dropout stream is drawn over.
#[allow(clippy::too_many_arguments)]
pub fn lora_forward(
    y: &mut [f32],
    ldy: usize,
    h: &mut [f32],
    scratch: &mut [f32],
    x: &[f32],
    a: &[f32],
    b: &[f32],
    s: &LoraSite,
    r: usize,
    scale: f32,
    rows: usize,
    step: usize,
    drop: LoraDropout,
) {
    let xd = lora_input(&x[..rows * s.k], s.k, step, scratch, drop);
    sgemm(
        Trans::N,
        Trans::T,
        rows,
        r,
        s.k,
        1.0,
        xd,
        s.k,
        a,
        s.k,
        0.0,
        &mut h[..rows * r],
        r,
    );
    sgemm(
        Trans::N,
        Trans::T,
        rows,
        s.n,
        r,
        scale,
        h,
        r,
        b,
        r,
        1.0,
        &mut y[s.col..],
        ldy,
    );
}

/// Scratch of [`lora_backward`]: `dh` [rows, R], `xd` and `dxd` [rows, K].
pub struct LoraScratch<'a> {
    pub dh: &'a mut [f32],
    pub xd: &'a mut [f32],
    pub dxd: &'a mut [f32],
}

/// Backward of [`lora_forward`]: `dB += scale · dyᵀ h`, `dh = scale · dy B`,
/// `dA += dhᵀ dropout(x)`, and, when `dx` is given, `dx += dropout'(dh A)`.
/// `dy` is the layer's output gradient (row stride `ldy`, this module's columns from `col`);
/// `step` as in [`lora_forward`].
#[allow(clippy::too_many_arguments)]
pub fn lora_backward(
    dx: Option<&mut [f32]>,
    da: &mut [f32],
    db: &mut [f32],
    dy: &[f32],
    ldy: usize,
    x: &[f32],
    h: &[f32],
    a: &[f32],
    b: &[f32],
    s: &LoraSite,
    r: usize,
    scale: f32,
    rows: usize,
    step: usize,
    drop: LoraDropout,
    sc: LoraScratch<'_>,
) {
    let h = &h[..rows * r];
    sgemm(
        Trans::T,
        Trans::N,
        s.n,
        r,
        rows,
        scale,
        &dy[s.col..],
        ldy,
        h,
        r,
        1.0,
        db,
        r,
    );
    lora_dh(sc.dh, dy, ldy, b, s, r, scale, rows);
    let dh = &sc.dh[..rows * r];
    let xd = lora_input(&x[..rows * s.k], s.k, step, sc.xd, drop);
    sgemm(
        Trans::T,
        Trans::N,
        r,
        s.k,
        rows,
        1.0,
        dh,
        r,
        xd,
        s.k,
        1.0,
        da,
        s.k,
    );
    if let Some(dx) = dx {
        add_lora_dx(dx, dh, a, s, r, rows, step, drop, sc.xd, sc.dxd);
    }
}

/// The input-gradient part of [`lora_backward`] alone: `dh = scale · dy B`,
/// `dx += dropout'(dh A)` (A and B get no gradient).
#[allow(clippy::too_many_arguments)]
pub fn lora_backward_input(
    dx: &mut [f32],
    dy: &[f32],
    ldy: usize,
    a: &[f32],
    b: &[f32],
    s: &LoraSite,
    r: usize,
    scale: f32,
    rows: usize,
    step: usize,
    drop: LoraDropout,
    sc: LoraScratch<'_>,
) {
    lora_dh(sc.dh, dy, ldy, b, s, r, scale, rows);
    add_lora_dx(
        dx,
        &sc.dh[..rows * r],
        a,
        s,
        r,
        rows,
        step,
        drop,
        sc.xd,
        sc.dxd,
    );
}

/// `dh[rows, R] = scale · dy[:, col..col+N] B`.
#[allow(clippy::too_many_arguments)]
fn lora_dh(
    dh: &mut [f32],
    dy: &[f32],
    ldy: usize,
    b: &[f32],
    s: &LoraSite,
    r: usize,
    scale: f32,
    rows: usize,
) {
    sgemm(
        Trans::N,
        Trans::N,
        rows,
        r,
        s.n,
        scale,
        &dy[s.col..],
        ldy,
        b,
        r,
        0.0,
        &mut dh[..rows * r],
        r,
    );
}

/// `dx[rows, K] += dropout'(dh A)` (scratch `xd`, `dxd` [rows, K]).
#[allow(clippy::too_many_arguments)]
fn add_lora_dx(
    dx: &mut [f32],
    dh: &[f32],
    a: &[f32],
    s: &LoraSite,
    r: usize,
    rows: usize,
    step: usize,
    drop: LoraDropout,
    xd: &mut [f32],
    dxd: &mut [f32],
) {
    let n = rows * s.k;
    // dh·A straight onto dx (beta 1), or into scratch (beta 0) to be masked first
    let dh_a = |out: &mut [f32], beta: f32| {
        sgemm(
            Trans::N,
            Trans::N,
            rows,
            s.k,
            r,
            1.0,
            dh,
            r,
            a,
            s.k,
            beta,
            out,
            s.k,
        )
    };
    match drop {
        None => dh_a(&mut dx[..n], 1.0),
        Some((p, seed)) => {
            let dxd = &mut dxd[..n];
            dh_a(dxd, 0.0);
            // x's dropout scratch is free again: reuse it for the masked gradient
            let masked = &mut xd[..n];
            dropout_rows(masked, dxd, s.k, step, p, seed);
            accumulate(&mut dx[..n], masked);
        }
    }
}
