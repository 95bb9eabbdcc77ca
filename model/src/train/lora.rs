//! LoRA with PEFT semantics: `y = W x + b + (alpha / r) · B A dropout(x)`, A `[R, K]`
//! initialised Kaiming-uniform (`a = √5`, i.e. U(±1/√K), as `nn.Linear` and PEFT), B
//! `[N, R]` zero, dropout on the LoRA input only. Target modules match PEFT's rule for a
//! list: a module is adapted when its full name equals a target or ends with `"." +
//! target` — so `output.dense` adapts both `attention.output.dense` and `output.dense`.

use std::ops::Range;

use super::cls_rows::dropout_rows;
use serde::{Deserialize, Serialize};
use tokken_kernels::cpu::dropout::dropout_accumulate;
use tokken_kernels::cpu::gemm::{sgemm, sgemm_unpacked, Trans};
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
    // hᵀ = A · xdᵀ: R rows of output instead of R columns (a 14 x 32 tile would be three
    // quarters idle on R = 8 columns); the same FMAs in the same order, so the same bits.
    let mut ht = vec![0.0f32; r * rows];
    sgemm_unpacked(
        Trans::N,
        Trans::T,
        r,
        rows,
        s.k,
        1.0,
        a,
        s.k,
        xd,
        s.k,
        0.0,
        &mut ht,
        rows,
    );
    transpose_into(&mut h[..rows * r], &ht, r, rows);
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
    // dBᵀ += scale · hᵀ dy, on dB transposed in scratch: a thin product (R rows) whose
    // wide operand dy is read once in place, instead of packing dyᵀ (the same FMAs in the
    // same order per element, so the same bits).
    let mut dbt = vec![0.0f32; r * s.n];
    transpose_into(&mut dbt, db, s.n, r);
    sgemm_unpacked(
        Trans::T,
        Trans::N,
        r,
        s.n,
        rows,
        scale,
        h,
        r,
        &dy[s.col..],
        ldy,
        1.0,
        &mut dbt,
        s.n,
    );
    transpose_into(db, &dbt, r, s.n);
    lora_dh(sc.dh, dy, ldy, b, s, r, scale, rows);
    let dh = &sc.dh[..rows * r];
    let xd = lora_input(&x[..rows * s.k], s.k, step, sc.xd, drop);
    sgemm_unpacked(
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
    // dhᵀ = scale · Bᵀ dyᵀ, R rows of output (as `lora_forward`'s h); same bits.
    let mut dht = vec![0.0f32; r * rows];
    sgemm_unpacked(
        Trans::T,
        Trans::T,
        r,
        rows,
        s.n,
        scale,
        b,
        r,
        &dy[s.col..],
        ldy,
        0.0,
        &mut dht,
        rows,
    );
    transpose_into(&mut dh[..rows * r], &dht, r, rows);
}

/// `dst[j][i] = src[i][j]` for `src` `[rows, cols]`.
fn transpose_into(dst: &mut [f32], src: &[f32], rows: usize, cols: usize) {
    for (i, row) in src.chunks_exact(cols).take(rows).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            dst[j * rows + i] = v;
        }
    }
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
        Some((p, seed)) if step == 1 => {
            let dxd = &mut dxd[..n];
            dh_a(dxd, 0.0);
            dropout_accumulate(&mut dx[..n], dxd, p, seed);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// h, dh, dA and dB are the plain `sgemm` products they stand for, bit for bit (h, dh
    /// and dB through their transposes, dA through `sgemm_unpacked`), over one and two K
    /// blocks of rows (KC = 1536), with dy a column block of a wider output as for q | k | v.
    #[test]
    fn products_equal_the_plain_sgemm_bitwise() {
        let val =
            |i: usize, salt: usize| ((i * 7919 + salt * 104_729) % 1009) as f32 / 1009.0 - 0.5;
        let (r, k, n, ldy, scale) = (8, 40, 70, 3 * 70, 0.25f32);
        for rows in [37, 2 * 1536 + 3] {
            let site = LoraSite {
                module: "query".into(),
                a: 0..r * k,
                b: 0..n * r,
                col: n,
                n,
                k,
                site: 3,
            };
            let x: Vec<f32> = (0..rows * k).map(|i| val(i, 1)).collect();
            let h: Vec<f32> = (0..rows * r).map(|i| val(i, 2)).collect();
            let a: Vec<f32> = (0..r * k).map(|i| val(i, 3)).collect();
            let b: Vec<f32> = (0..n * r).map(|i| val(i, 4)).collect();
            let dy: Vec<f32> = (0..rows * ldy).map(|i| val(i, 5)).collect();
            let da0: Vec<f32> = (0..r * k).map(|i| val(i, 6)).collect();
            let db0: Vec<f32> = (0..n * r).map(|i| val(i, 7)).collect();
            let (mut da, mut db) = (da0.clone(), db0.clone());
            let (mut dh, mut xd, mut dxd) = (
                vec![0.0; rows * r],
                vec![0.0; rows * k],
                vec![0.0; rows * k],
            );
            let sc = LoraScratch {
                dh: &mut dh,
                xd: &mut xd,
                dxd: &mut dxd,
            };
            lora_backward(
                None, &mut da, &mut db, &dy, ldy, &x, &h, &a, &b, &site, r, scale, rows, 1, None,
                sc,
            );
            let mut want_db = db0;
            sgemm(
                Trans::T,
                Trans::N,
                n,
                r,
                rows,
                scale,
                &dy[n..],
                ldy,
                &h,
                r,
                1.0,
                &mut want_db,
                r,
            );
            let mut want_dh = vec![0.0; rows * r];
            sgemm(
                Trans::N,
                Trans::N,
                rows,
                r,
                n,
                scale,
                &dy[n..],
                ldy,
                &b,
                r,
                0.0,
                &mut want_dh,
                r,
            );
            let mut want_da = da0;
            sgemm(
                Trans::T,
                Trans::N,
                r,
                k,
                rows,
                1.0,
                &want_dh,
                r,
                &x,
                k,
                1.0,
                &mut want_da,
                k,
            );
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&db), bits(&want_db), "dB, {rows} rows");
            assert_eq!(bits(&dh), bits(&want_dh), "dh, {rows} rows");
            assert_eq!(bits(&da), bits(&want_da), "dA, {rows} rows");

            // forward: h = x Aᵀ, y[:, col..] += scale h Bᵀ
            let (mut got_h, mut y) = (vec![0.0; rows * r], vec![0.0; rows * ldy]);
            let mut scratch = vec![0.0; rows * k];
            lora_forward(
                &mut y,
                ldy,
                &mut got_h,
                &mut scratch,
                &x,
                &a,
                &b,
                &site,
                r,
                scale,
                rows,
                1,
                None,
            );
            let mut want_h = vec![0.0; rows * r];
            sgemm(
                Trans::N,
                Trans::T,
                rows,
                r,
                k,
                1.0,
                &x,
                k,
                &a,
                k,
                0.0,
                &mut want_h,
                r,
            );
            assert_eq!(bits(&got_h), bits(&want_h), "h, {rows} rows");
        }
    }
}
