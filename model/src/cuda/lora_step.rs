//! [`CudaLoraStep`]: one LoRA training forward + backward of a [`TrainModel`] on a CUDA
//! device, mirroring [`crate::train::forward`], [`crate::train::head_backward`] and
//! [`crate::train::layer_backward`] step for step (same dropout sites and seeds, same
//! order of operations).
//!
//! Split of the work:
//! - device: embeddings, every layer forward (saving what the backward reads), every layer
//!   backward down to the lowest adapted layer, the LoRA A/B gradients;
//! - host, with the CPU code on `[B, C]` rows: pooler (dense + tanh), classifier dropout,
//!   classifier, the loss ([`crate::train::loss::loss_forward_backward_weighted`]: class
//!   weights, label smoothing, multi-label and hierarchies as on the CPU) and their backward.
//!
//! Parameters stay in the [`TrainModel`]: the adapters are uploaded at the start of each
//! call (a few hundred KB) and their gradients added into the model's gradient arena at
//! the end, so the CPU optimizer ([`crate::trainer::optimizer`]), schedules, gradient
//! clipping and checkpoints run unchanged on the result.
//!
//! Dropout: the embeddings, attention-output, feed-forward-output, classifier and LoRA-input
//! sites use the CPU's counter-based masks with the CPU's seeds (bit-identical masks).
//! Attention-probability dropout uses the fused kernel's mask (one stream per layer, index
//! `((b·NH + h)·T + i)·T + j`) while the CPU's unfused path draws one stream per head:
//! same distribution, different masks, so parity tests run with attention dropout 0.
//!
//! Precision: as the CPU's `--dtype bf16` (frozen dense GEMMs on bf16 weights and
//! bf16-rounded inputs / output gradients, f32 accumulation); the LoRA products are f32
//! SIMT GEMMs on the f32 activations, as the CPU's.
//!
//! Head-only training (the classifier alone) runs here too: the same forward (with its
//! dropout), the head's backward on the host, no backward through the encoder.
//!
//! Not supported (refused at construction): full fine-tuning, LoRA on `bert.pooler.dense`,
//! a model the kernels cannot compute exactly ([`super::weights::check_supported`]: e.g. an
//! activation other than exact GELU).
//!
//! Device memory: the activations of the last batch shape are kept and reused; a new
//! (B, T) frees them before allocating its own.

use std::sync::Arc;

use cudarc::driver::CudaSlice;
use tokken_kernels::cpu::dropout::{dropout_backward, dropout_forward};
use tokken_kernels::cpu::gemm::Trans;
use tokken_kernels::cuda::attention::{attention_backward_cuda, attention_forward_cuda};
use tokken_kernels::cuda::elementwise::{
    accumulate_cuda, dropout_cuda, gelu_backward_cuda, gelu_forward_cuda, residual_forward_cuda,
};
use tokken_kernels::cuda::gemm::sgemm_cuda;
use tokken_kernels::cuda::layernorm::layernorm_backward_cuda;
use tokken_kernels::cuda::CudaDevice;

use super::glue::{
    alloc_error, cls_rows, copy, copy_cols, dev_alloc, driver, embeddings_forward, layer_norm,
    linear_backward_input, linear_forward, to_bf16, Block,
};
use super::weights::{DeviceEncoder, DeviceLinear};
use crate::error::{ModelError, Result};
use crate::forward::BatchInput;
use crate::params::BertParams;
use crate::train::dense::{dense_backward_input, dense_backward_params, dense_forward, Dense};
use crate::train::lora::{LoraDropout, LoraSite};
use crate::train::loss::loss_forward_backward_weighted;
use crate::train::model::{site, Ctx, Slots};
use crate::train::trainable::two_mut;
use crate::train::{Targets, TrainMode, TrainModel, TrainSetup};

/// One adapter on the device: A `[R, K]`, B `[N, R]` and their gradients.
struct DeviceSite {
    /// Layer and module index ([`crate::train::model::LAYER_MODULES`]).
    layer: usize,
    module: usize,
    site: LoraSite,
    a: CudaSlice<f32>,
    b: CudaSlice<f32>,
    da: CudaSlice<f32>,
    db: CudaSlice<f32>,
}

/// Saved activations of one layer (as [`crate::train::activations`]' `LayerActs`).
struct LayerActs {
    /// [B*T, 3C]
    qkv: CudaSlice<f32>,
    /// [B*T, R] per module that has an adapter
    lora_h: [Option<CudaSlice<f32>>; 6],
    /// [B*T, C]
    atty: CudaSlice<f32>,
    /// [B, NH, T]
    lse: CudaSlice<f32>,
    /// [B*T, C] attention block sum before its LayerNorm
    resid1: CudaSlice<f32>,
    mean1: CudaSlice<f32>,
    rstd1: CudaSlice<f32>,
    /// [B*T, C]
    ln1: CudaSlice<f32>,
    /// [B*T, I] intermediate pre-activation
    fch: CudaSlice<f32>,
    /// [B*T, I] GELU(fch), the input of output.dense
    fch_act: CudaSlice<f32>,
    /// [B*T, C] feed-forward block sum before its LayerNorm
    resid2: CudaSlice<f32>,
    mean2: CudaSlice<f32>,
    rstd2: CudaSlice<f32>,
}

/// A buffer per row width (C or I): dropout and casts need exact lengths.
struct ByWidth<T> {
    c: CudaSlice<T>,
    i: CudaSlice<T>,
    width_c: usize,
}

impl<T> ByWidth<T> {
    fn get(&mut self, k: usize) -> &mut CudaSlice<T> {
        if k == self.width_c {
            &mut self.c
        } else {
            &mut self.i
        }
    }
}

/// Every device buffer of one (B, T): saved activations and gradient scratch.
struct Acts {
    b: usize,
    t: usize,
    /// [B, T]
    mask: CudaSlice<u8>,
    /// [B*T, C] embeddings sum, then scratch
    emb_sum: CudaSlice<f32>,
    emb_mean: CudaSlice<f32>,
    emb_rstd: CudaSlice<f32>,
    /// L + 1 hidden states [B*T, C] (0: embeddings output after dropout)
    hidden: Vec<CudaSlice<f32>>,
    layers: Vec<LayerActs>,
    /// [B*T, C] scratch
    tmp: CudaSlice<f32>,
    /// bf16 GEMM inputs: [B*T, C] / [B*T, I], and [B*T, 3C] for dqkv
    x16: ByWidth<u16>,
    x16_qkv: CudaSlice<u16>,
    /// [B, C] [CLS] rows and their gradient
    cls: CudaSlice<f32>,
    dcls: CudaSlice<f32>,
    // gradient scratch, as `GradScratch`
    dout: CudaSlice<f32>,
    dinp: CudaSlice<f32>,
    dresid: CudaSlice<f32>,
    dtmp: CudaSlice<f32>,
    dln1: CudaSlice<f32>,
    datty: CudaSlice<f32>,
    /// [B*T, I]
    dfch: CudaSlice<f32>,
    dfch_act: CudaSlice<f32>,
    /// [B*T, 3C]
    dqkv: CudaSlice<f32>,
    /// [B, NH, T]
    dsum: CudaSlice<f32>,
    /// [C] gradients of frozen LayerNorm parameters (never read)
    sink_gamma: CudaSlice<f32>,
    sink_beta: CudaSlice<f32>,
    lora: LoraScratch,
}

/// Scratch of the LoRA products ([`lora_forward`], [`lora_backward`]).
struct LoraScratch {
    /// [B*T, R] dh
    dh: CudaSlice<f32>,
    /// [B*T, max N] a module's output block or its gradient
    y: CudaSlice<f32>,
    /// [B*T, K] dropout(x) and the masked input gradient (LoRA dropout only)
    xd: Option<ByWidth<f32>>,
    dxd: Option<ByWidth<f32>>,
}

impl Acts {
    fn new(
        dev: &CudaDevice,
        cfg: &crate::config::BertConfig,
        sites: &[DeviceSite],
        r: usize,
        lora_dropout: bool,
        batch: &BatchInput<'_>,
    ) -> Result<Acts> {
        let (b, t) = (batch.b, batch.t);
        let (c, i, nh, nl) = (
            cfg.hidden_size,
            cfg.intermediate_size,
            cfg.num_attention_heads,
            cfg.num_hidden_layers,
        );
        let bt = b * t;
        let f = |n: usize| dev_alloc::<f32>(dev, n);
        let width = |n_c: usize, n_i: usize| -> Result<ByWidth<f32>> {
            Ok(ByWidth {
                c: f(n_c)?,
                i: f(n_i)?,
                width_c: c,
            })
        };
        let mut layers = Vec::with_capacity(nl);
        for l in 0..nl {
            let mut lora_h: [Option<CudaSlice<f32>>; 6] = Default::default();
            for s in sites.iter().filter(|s| s.layer == l) {
                lora_h[s.module] = Some(f(bt * r)?);
            }
            layers.push(LayerActs {
                qkv: f(bt * 3 * c)?,
                lora_h,
                atty: f(bt * c)?,
                lse: f(b * nh * t)?,
                resid1: f(bt * c)?,
                mean1: f(bt)?,
                rstd1: f(bt)?,
                ln1: f(bt * c)?,
                fch: f(bt * i)?,
                fch_act: f(bt * i)?,
                resid2: f(bt * c)?,
                mean2: f(bt)?,
                rstd2: f(bt)?,
            });
        }
        Ok(Acts {
            b,
            t,
            mask: dev.upload(batch.mask)?,
            emb_sum: f(bt * c)?,
            emb_mean: f(bt)?,
            emb_rstd: f(bt)?,
            hidden: (0..=nl).map(|_| f(bt * c)).collect::<Result<_>>()?,
            layers,
            tmp: f(bt * c)?,
            x16: ByWidth {
                c: dev_alloc::<u16>(dev, bt * c)?,
                i: dev_alloc::<u16>(dev, bt * i)?,
                width_c: c,
            },
            x16_qkv: dev_alloc::<u16>(dev, bt * 3 * c)?,
            cls: f(b * c)?,
            dcls: f(b * c)?,
            dout: f(bt * c)?,
            dinp: f(bt * c)?,
            dresid: f(bt * c)?,
            dtmp: f(bt * c)?,
            dln1: f(bt * c)?,
            datty: f(bt * c)?,
            dfch: f(bt * i)?,
            dfch_act: f(bt * i)?,
            dqkv: f(bt * 3 * c)?,
            dsum: f(b * nh * t)?,
            sink_gamma: f(c)?,
            sink_beta: f(c)?,
            lora: LoraScratch {
                dh: f(bt * r)?,
                y: f(bt * c.max(i))?,
                xd: if lora_dropout {
                    Some(width(bt * c, bt * i)?)
                } else {
                    None
                },
                dxd: if lora_dropout {
                    Some(width(bt * c, bt * i)?)
                } else {
                    None
                },
            },
        })
    }
}

/// The LoRA training step of one [`TrainModel`] on one device.
pub struct CudaLoraStep {
    dev: Arc<CudaDevice>,
    encoder: DeviceEncoder,
    sites: Vec<DeviceSite>,
    acts: Option<Acts>,
    /// Every adapter's A then B, site after site (Σ R·(K + N)): one host copy per step
    /// each way instead of four small synchronising ones per adapter.
    stage: CudaSlice<f32>,
    host_stage: Vec<f32>,
}

/// Where a module's output columns sit in its layer output and the LoRA math around them.
struct LoraCall<'x> {
    /// The module's input [rows, K] (f32).
    x: &'x CudaSlice<f32>,
    /// Row stride of the layer output (3C for q|k|v, N otherwise).
    ld: usize,
    rows: usize,
    r: usize,
    scale: f32,
    drop: LoraDropout,
}

/// The LoRA call of `site` on input `x` [rows, K] whose layer output has row stride `ld`.
fn lora_call<'x>(
    ctx: &Ctx<'_>,
    x: &'x CudaSlice<f32>,
    ld: usize,
    rows: usize,
    site: &DeviceSite,
) -> LoraCall<'x> {
    LoraCall {
        x,
        ld,
        rows,
        r: ctx.lora_rank(),
        scale: ctx.lora_scale(),
        drop: ctx.lora_drop(&site.site),
    }
}

/// `h = dropout(x) · Aᵀ`, `y[:, col..col+N] += scale · h · Bᵀ` (the CPU's `lora_forward`).
fn lora_forward(
    dev: &CudaDevice,
    s: &DeviceSite,
    y: &mut CudaSlice<f32>,
    h: &mut CudaSlice<f32>,
    call: &LoraCall<'_>,
    sc: &mut LoraScratch,
) -> Result<()> {
    let (n, k, col) = (s.site.n, s.site.k, s.site.col);
    let (rows, r) = (call.rows, call.r);
    let xd: &CudaSlice<f32> = match (call.drop, sc.xd.as_mut()) {
        (Some((p, seed)), Some(buf)) => {
            let xd = buf.get(k);
            dropout_cuda(dev, xd, call.x, p, seed)?;
            xd
        }
        (Some(_), None) => return Err(no_dropout_scratch()),
        (None, _) => call.x,
    };
    sgemm_cuda(
        dev,
        Trans::N,
        Trans::T,
        rows,
        r,
        k,
        1.0,
        xd,
        k,
        &s.a,
        k,
        0.0,
        h,
        r,
    )?;
    if col == 0 && n == call.ld {
        sgemm_cuda(
            dev,
            Trans::N,
            Trans::T,
            rows,
            n,
            r,
            call.scale,
            h,
            r,
            &s.b,
            r,
            1.0,
            y,
            n,
        )?;
    } else {
        // the module's block of a fused output: compute it apart, then add it in place
        sgemm_cuda(
            dev,
            Trans::N,
            Trans::T,
            rows,
            n,
            r,
            call.scale,
            h,
            r,
            &s.b,
            r,
            0.0,
            &mut sc.y,
            n,
        )?;
        copy_cols(
            dev,
            y,
            Block {
                offset: col,
                ld: call.ld,
            },
            &sc.y,
            Block::dense(n),
            rows,
            n,
            1.0,
        )?;
    }
    Ok(())
}

/// The CPU's `lora_backward`: `dB += scale · dyᵀ h`, `dh = scale · dy B`,
/// `dA += dhᵀ dropout(x)`, and `dx += dropout'(dh A)` when `dx` is given.
#[allow(clippy::too_many_arguments)]
fn lora_backward(
    dev: &CudaDevice,
    s: &mut DeviceSite,
    dx: Option<&mut CudaSlice<f32>>,
    dy_full: &CudaSlice<f32>,
    h: &CudaSlice<f32>,
    call: &LoraCall<'_>,
    sc: &mut LoraScratch,
) -> Result<()> {
    let (n, k, col) = (s.site.n, s.site.k, s.site.col);
    let (rows, r) = (call.rows, call.r);
    let dy: &CudaSlice<f32> = if col == 0 && n == call.ld {
        dy_full
    } else {
        copy_cols(
            dev,
            &mut sc.y,
            Block::dense(n),
            dy_full,
            Block {
                offset: col,
                ld: call.ld,
            },
            rows,
            n,
            0.0,
        )?;
        &sc.y
    };
    sgemm_cuda(
        dev,
        Trans::T,
        Trans::N,
        n,
        r,
        rows,
        call.scale,
        dy,
        n,
        h,
        r,
        1.0,
        &mut s.db,
        r,
    )?;
    sgemm_cuda(
        dev,
        Trans::N,
        Trans::N,
        rows,
        r,
        n,
        call.scale,
        dy,
        n,
        &s.b,
        r,
        0.0,
        &mut sc.dh,
        r,
    )?;
    let (drop, mut xd_buf, dxd_buf) = match (call.drop, sc.xd.as_mut(), sc.dxd.as_mut()) {
        (Some(d), Some(xd), Some(dxd)) => (Some(d), Some(xd), Some(dxd)),
        (Some(_), _, _) => return Err(no_dropout_scratch()),
        (None, _, _) => (None, None, None),
    };
    let xd: &CudaSlice<f32> = match (drop, xd_buf.as_deref_mut()) {
        (Some((p, seed)), Some(buf)) => {
            let xd = buf.get(k);
            dropout_cuda(dev, xd, call.x, p, seed)?;
            xd
        }
        _ => call.x,
    };
    sgemm_cuda(
        dev,
        Trans::T,
        Trans::N,
        r,
        k,
        rows,
        1.0,
        &sc.dh,
        r,
        xd,
        k,
        1.0,
        &mut s.da,
        k,
    )?;
    if let Some(dx) = dx {
        match (drop, xd_buf, dxd_buf) {
            (Some((p, seed)), Some(xd_buf), Some(dxd_buf)) => {
                let dxd = dxd_buf.get(k);
                sgemm_cuda(
                    dev,
                    Trans::N,
                    Trans::N,
                    rows,
                    k,
                    r,
                    1.0,
                    &sc.dh,
                    r,
                    &s.a,
                    k,
                    0.0,
                    dxd,
                    k,
                )?;
                // x's dropout scratch is free again: the masked gradient goes there
                let masked = xd_buf.get(k);
                dropout_cuda(dev, masked, dxd, p, seed)?;
                accumulate_cuda(dev, dx, masked)?;
            }
            _ => sgemm_cuda(
                dev,
                Trans::N,
                Trans::N,
                rows,
                k,
                r,
                1.0,
                &sc.dh,
                r,
                &s.a,
                k,
                1.0,
                dx,
                k,
            )?,
        }
    }
    Ok(())
}

/// The error of a site whose saved LoRA hidden is missing (allocated per site: a bug).
fn no_saved_h(l: usize, m: usize) -> ModelError {
    ModelError::Other(format!(
        "CUDA LoRA step: layer {l} module {m} has an adapter but no saved hidden"
    ))
}

/// The error of LoRA dropout requested without its scratch buffers (allocated with the
/// activations when `lora_dropout > 0`: a bug). Computing without the mask would silently
/// give the gradients of another model.
fn no_dropout_scratch() -> ModelError {
    ModelError::Other("CUDA LoRA step: LoRA dropout without its scratch buffers".into())
}

/// `out = dropout(x) + residual` (plain sum without dropout), the CPU's `dropout_residual`.
fn dropout_residual(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    residual: &CudaSlice<f32>,
    drop: Option<(f32, u64)>,
) -> Result<()> {
    match drop {
        Some((p, seed)) => {
            dropout_cuda(dev, out, x, p, seed)?;
            accumulate_cuda(dev, out, residual)?;
        }
        None => residual_forward_cuda(dev, out, x, residual)?,
    }
    Ok(())
}

/// Host activations of the head for one batch.
struct HeadActs {
    /// [B, C]
    cls: Vec<f32>,
    /// [B, C] tanh(pooler)
    pooled: Vec<f32>,
    /// [B, C] dropout(pooled)
    pooled_d: Vec<f32>,
    /// [B, NL]
    logits: Vec<f32>,
}

impl CudaLoraStep {
    /// Uploads `model`'s frozen encoder (dense weights as bf16) and allocates its adapters
    /// on `dev`. Errors unless `model` trains in LoRA mode with adapters in the encoder
    /// layers only.
    pub fn new(dev: Arc<CudaDevice>, model: &mut TrainModel) -> Result<CudaLoraStep> {
        let (base, slots, setup, _, _) = model.parts_mut();
        let refuse = |what: &str| {
            Err(ModelError::Other(format!(
                "CUDA training supports LoRA on the encoder layers and head-only training only: {what}; use --device cpu"
            )))
        };
        if setup.mode == TrainMode::Full {
            return refuse(&format!("mode {:?}", setup.mode));
        }
        if slots.pooler_lora.is_some() {
            return refuse("LoRA on bert.pooler.dense");
        }
        if slots.embeddings.is_some() || slots.pooler.is_some() {
            return refuse("trainable embeddings or pooler");
        }
        let encoder = DeviceEncoder::upload(&dev, base)?;
        let r = setup.lora.r;
        let mut sites = Vec::new();
        for (l, ls) in slots.layers.iter().enumerate() {
            if ls.qkv.is_some()
                || ls.attention_output.is_some()
                || ls.intermediate.is_some()
                || ls.output.is_some()
                || ls.attention_layer_norm.is_some()
                || ls.output_layer_norm.is_some()
            {
                return refuse(&format!(
                    "trainable dense or LayerNorm weights in layer {l}"
                ));
            }
            for (m, s) in ls.lora.iter().enumerate() {
                if let Some(s) = s {
                    sites.push(DeviceSite {
                        layer: l,
                        module: m,
                        site: s.clone(),
                        a: dev_alloc::<f32>(&dev, r * s.k)?,
                        b: dev_alloc::<f32>(&dev, s.n * r)?,
                        da: dev_alloc::<f32>(&dev, r * s.k)?,
                        db: dev_alloc::<f32>(&dev, s.n * r)?,
                    });
                }
            }
        }
        if sites.is_empty() && setup.mode == TrainMode::Lora {
            return refuse("no LoRA adapter in the encoder layers");
        }
        let staged: usize = sites.iter().map(|s| s.a.len() + s.b.len()).sum();
        let stage = dev_alloc::<f32>(&dev, staged)?;
        dev.synchronize()?;
        Ok(CudaLoraStep {
            dev,
            encoder,
            sites,
            acts: None,
            stage,
            host_stage: vec![0.0; staged],
        })
    }

    pub fn device(&self) -> &Arc<CudaDevice> {
        &self.dev
    }

    /// One training forward + backward, the device twin of
    /// [`TrainModel::forward_backward_weighted`]: returns the batch's mean loss; the
    /// model's gradients `+= d(loss · loss_scale)/dθ`.
    pub fn forward_backward(
        &mut self,
        model: &mut TrainModel,
        batch: &BatchInput<'_>,
        targets: &Targets<'_>,
        example_weights: Option<&[f32]>,
        dropout_seed: u64,
        loss_scale: f32,
    ) -> Result<f32> {
        let (base, slots, setup, values, grads) = model.parts_mut();
        batch.check(base)?;
        let ctx = host_ctx(base, slots, setup, values, Some(dropout_seed));
        self.upload_adapters(&ctx)?;
        let mut head = self.forward(&ctx, batch)?;
        let (b, labels) = (batch.b, base.config.num_labels());
        let mut dlogits = vec![0.0f32; b * labels];
        let loss = loss_forward_backward_weighted(
            &mut dlogits,
            &head.logits,
            targets,
            example_weights,
            &setup.loss,
            b,
            labels,
        )?;
        for d in dlogits.iter_mut() {
            *d *= loss_scale;
        }
        let dcls = head_backward(&ctx, grads, &mut head, &dlogits, b)?;
        // Head-only training: nothing below the head learns.
        if !self.sites.is_empty() {
            self.backward(&ctx, batch, &dcls)?;
            self.add_adapter_grads(grads)?;
        }
        Ok(loss)
    }

    /// Eval-mode logits `[B, NL]` (no dropout) with the model's current parameters, the
    /// device twin of [`TrainModel::forward_logits`].
    pub fn forward_logits(
        &mut self,
        model: &mut TrainModel,
        batch: &BatchInput<'_>,
    ) -> Result<Vec<f32>> {
        let (base, slots, setup, values, _) = model.parts_mut();
        batch.check(base)?;
        let ctx = host_ctx(base, slots, setup, values, None);
        self.upload_adapters(&ctx)?;
        Ok(self.forward(&ctx, batch)?.logits)
    }

    /// Copies every adapter's A and B from the model and zeroes their device gradients.
    fn upload_adapters(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        if self.sites.is_empty() {
            return Ok(());
        }
        let stream = self.dev.stream().clone();
        let mut at = 0;
        for s in &self.sites {
            for r in [s.site.a.clone(), s.site.b.clone()] {
                self.host_stage[at..at + r.len()].copy_from_slice(&ctx.values[r.clone()]);
                at += r.len();
            }
        }
        stream
            .memcpy_htod(&self.host_stage, &mut self.stage)
            .map_err(driver)?;
        let mut at = 0;
        for s in &mut self.sites {
            for dst in [&mut s.a, &mut s.b] {
                let n = dst.len();
                stream
                    .memcpy_dtod(&self.stage.slice(at..at + n), dst)
                    .map_err(driver)?;
                at += n;
            }
            stream.memset_zeros(&mut s.da).map_err(driver)?;
            stream.memset_zeros(&mut s.db).map_err(driver)?;
        }
        Ok(())
    }

    /// `grads[A], grads[B] += ` the device gradients of every adapter.
    fn add_adapter_grads(&mut self, grads: &mut [f32]) -> Result<()> {
        let stream = self.dev.stream().clone();
        let mut at = 0;
        for s in &self.sites {
            for src in [&s.da, &s.db] {
                let n = src.len();
                stream
                    .memcpy_dtod(src, &mut self.stage.slice_mut(at..at + n))
                    .map_err(driver)?;
                at += n;
            }
        }
        stream
            .memcpy_dtoh(&self.stage, &mut self.host_stage)
            .map_err(driver)?;
        stream.synchronize().map_err(driver)?;
        let mut at = 0;
        for s in &self.sites {
            for r in [s.site.a.clone(), s.site.b.clone()] {
                for (g, d) in grads[r.clone()].iter_mut().zip(&self.host_stage[at..]) {
                    *g += d;
                }
                at += r.len();
            }
        }
        Ok(())
    }

    /// The activation buffers for `batch`'s shape (reallocated when it changes).
    fn acts_for(&mut self, ctx: &Ctx<'_>, batch: &BatchInput<'_>) -> Result<Acts> {
        let lora_dropout = ctx.setup.lora.dropout > 0.0;
        let mut acts = match self.acts.take() {
            Some(a) if a.b == batch.b && a.t == batch.t && a.lora.xd.is_some() == lora_dropout => a,
            old => {
                // free the previous shape's activations first: both at once would double
                // the peak (a match on a temporary keeps it alive to the end of the statement)
                drop(old);
                Acts::new(
                    &self.dev,
                    &self.encoder.config,
                    &self.sites,
                    ctx.setup.lora.r,
                    lora_dropout,
                    batch,
                )
                .map_err(|e| {
                    alloc_error(
                        e,
                        &format!(
                            "the training activations of a {} x {} batch",
                            batch.b, batch.t
                        ),
                        "a smaller --batch-size (with --grad-accum to keep the effective batch) or --max-length",
                    )
                })?
            }
        };
        self.dev
            .stream()
            .memcpy_htod(batch.mask, &mut acts.mask)
            .map_err(driver)?;
        Ok(acts)
    }

    /// The training forward ([`crate::train::forward::train_forward`]); returns the head's
    /// host activations.
    fn forward(&mut self, ctx: &Ctx<'_>, batch: &BatchInput<'_>) -> Result<HeadActs> {
        let mut a = self.acts_for(ctx, batch)?;
        let result = self.forward_in(ctx, batch, &mut a);
        self.acts = Some(a);
        result
    }

    fn forward_in(&self, ctx: &Ctx<'_>, batch: &BatchInput<'_>, a: &mut Acts) -> Result<HeadActs> {
        let dev = &*self.dev;
        let enc = &self.encoder;
        let (b, t, c) = (batch.b, batch.t, enc.config.hidden_size);

        // embeddings: sum of the three tables, LayerNorm, dropout
        embeddings_forward(
            dev,
            enc,
            batch,
            &mut a.tmp,
            &mut a.emb_mean,
            &mut a.emb_rstd,
            &mut a.emb_sum,
        )?;
        match ctx.hidden_drop(site::EMBEDDINGS) {
            Some((p, seed)) => dropout_cuda(dev, &mut a.hidden[0], &a.tmp, p, seed)?,
            None => copy(dev, &mut a.hidden[0], &a.tmp)?,
        }
        for l in 0..enc.layers.len() {
            self.layer_forward(ctx, l, a, batch)?;
        }

        // pooler and classifier on the host, on the [CLS] rows
        let last = &a.hidden[enc.layers.len()];
        cls_rows(dev, &mut a.cls, last, b, t, c)?;
        let cls = dev.download(&a.cls)?;
        head_forward(ctx, cls, b)
    }

    /// One `BertLayer` (the CPU's training `layer_forward`).
    fn layer_forward(
        &self,
        ctx: &Ctx<'_>,
        l: usize,
        a: &mut Acts,
        batch: &BatchInput<'_>,
    ) -> Result<()> {
        let dev = &*self.dev;
        let cfg = &self.encoder.config;
        let p = &self.encoder.layers[l];
        let (b, t, c, nh, i) = (
            batch.b,
            batch.t,
            cfg.hidden_size,
            cfg.num_attention_heads,
            cfg.intermediate_size,
        );
        let bt = b * t;
        let (lo, hi) = a.hidden.split_at_mut(l + 1);
        let (inp, out) = (&lo[l], &mut hi[0]);
        let s = &mut a.layers[l];
        let sites_of = |m: usize| self.sites.iter().find(|s| s.layer == l && s.module == m);

        // attention.self: fused q|k|v (+ LoRA per column block), attention
        to_bf16(dev, a.x16.get(c), inp)?;
        linear_forward(dev, &mut s.qkv, a.x16.get(c), &p.qkv, bt)?;
        for m in 0..3 {
            if let Some(site) = sites_of(m) {
                let h = s.lora_h[m].as_mut().ok_or_else(|| no_saved_h(l, m))?;
                let lc = lora_call(ctx, inp, 3 * c, bt, site);
                lora_forward(dev, site, &mut s.qkv, h, &lc, &mut a.lora)?;
            }
        }
        attention_forward_cuda(
            dev,
            &mut s.atty,
            &mut s.lse,
            &s.qkv,
            &a.mask,
            b,
            t,
            c,
            nh,
            ctx.attention_drop(l),
        )?;
        // attention.output: dense (+ LoRA), dropout, residual, LayerNorm
        to_bf16(dev, a.x16.get(c), &s.atty)?;
        linear_forward(dev, &mut a.tmp, a.x16.get(c), &p.attention_output, bt)?;
        if let Some(site) = sites_of(3) {
            let h = s.lora_h[3].as_mut().ok_or_else(|| no_saved_h(l, 3))?;
            let lc = lora_call(ctx, &s.atty, c, bt, site);
            lora_forward(dev, site, &mut a.tmp, h, &lc, &mut a.lora)?;
        }
        dropout_residual(
            dev,
            &mut s.resid1,
            &a.tmp,
            inp,
            ctx.hidden_drop(site::attention_output(l)),
        )?;
        let ln = &p.attention_layer_norm;
        layer_norm(
            dev,
            cfg,
            ln,
            bt,
            &mut s.ln1,
            &mut s.mean1,
            &mut s.rstd1,
            &s.resid1,
        )?;
        // intermediate: dense (+ LoRA), GELU
        to_bf16(dev, a.x16.get(c), &s.ln1)?;
        linear_forward(dev, &mut s.fch, a.x16.get(c), &p.intermediate, bt)?;
        if let Some(site) = sites_of(4) {
            let h = s.lora_h[4].as_mut().ok_or_else(|| no_saved_h(l, 4))?;
            let lc = lora_call(ctx, &s.ln1, i, bt, site);
            lora_forward(dev, site, &mut s.fch, h, &lc, &mut a.lora)?;
        }
        gelu_forward_cuda(dev, &mut s.fch_act, &s.fch)?;
        // output: dense (+ LoRA), dropout, residual, LayerNorm
        to_bf16(dev, a.x16.get(i), &s.fch_act)?;
        linear_forward(dev, &mut a.tmp, a.x16.get(i), &p.output, bt)?;
        if let Some(site) = sites_of(5) {
            let h = s.lora_h[5].as_mut().ok_or_else(|| no_saved_h(l, 5))?;
            let lc = lora_call(ctx, &s.fch_act, c, bt, site);
            lora_forward(dev, site, &mut a.tmp, h, &lc, &mut a.lora)?;
        }
        dropout_residual(
            dev,
            &mut s.resid2,
            &a.tmp,
            &s.ln1,
            ctx.hidden_drop(site::ffn_output(l)),
        )?;
        let ln = &p.output_layer_norm;
        layer_norm(dev, cfg, ln, bt, out, &mut s.mean2, &mut s.rstd2, &s.resid2)?;
        Ok(())
    }

    /// The layers' backward from d[CLS] rows `dcls` [B, C] down to the lowest adapted layer
    /// (the CPU's `train_backward` below the head).
    fn backward(&mut self, ctx: &Ctx<'_>, batch: &BatchInput<'_>, dcls: &[f32]) -> Result<()> {
        let mut a = self
            .acts
            .take()
            .ok_or_else(|| ModelError::Other("CUDA backward without a forward".into()))?;
        let result = self.backward_in(ctx, batch, dcls, &mut a);
        self.acts = Some(a);
        result
    }

    fn backward_in(
        &mut self,
        ctx: &Ctx<'_>,
        batch: &BatchInput<'_>,
        dcls: &[f32],
        a: &mut Acts,
    ) -> Result<()> {
        let dev = self.dev.clone();
        let c = self.encoder.config.hidden_size;
        let (b, t) = (batch.b, batch.t);
        // only the [CLS] row of each sequence reaches the pooler
        dev.stream()
            .memcpy_htod(dcls, &mut a.dcls)
            .map_err(driver)?;
        dev.stream().memset_zeros(&mut a.dout).map_err(driver)?;
        copy_cols(
            &dev,
            &mut a.dout,
            Block::dense(t * c),
            &a.dcls,
            Block::dense(c),
            b,
            c,
            0.0,
        )?;
        let first = ctx.first_backward_layer();
        for l in (first..self.encoder.layers.len()).rev() {
            let need_dinp = l > first;
            self.layer_backward(ctx, l, a, batch, need_dinp)?;
            if need_dinp {
                std::mem::swap(&mut a.dout, &mut a.dinp);
            }
        }
        Ok(())
    }

    /// Layer `l`'s backward from `a.dout`; writes `a.dinp` when `need_dinp` (the CPU's
    /// `layer_backward`).
    fn layer_backward(
        &mut self,
        ctx: &Ctx<'_>,
        l: usize,
        a: &mut Acts,
        batch: &BatchInput<'_>,
        need_dinp: bool,
    ) -> Result<()> {
        let dev = self.dev.clone();
        let dev = &*dev;
        let cfg = &self.encoder.config;
        let p = &self.encoder.layers[l];
        let (b, t, c, nh, i) = (
            batch.b,
            batch.t,
            cfg.hidden_size,
            cfg.num_attention_heads,
            cfg.intermediate_size,
        );
        let bt = b * t;
        let s = &a.layers[l];
        let inp = &a.hidden[l];
        let mut sites: Vec<&mut DeviceSite> =
            self.sites.iter_mut().filter(|s| s.layer == l).collect();

        // output.LayerNorm, then the dropout before it
        layernorm_backward_cuda(
            dev,
            &mut a.dresid,
            &mut a.sink_gamma,
            &mut a.sink_beta,
            &a.dout,
            &s.resid2,
            &s.mean2,
            &s.rstd2,
            &p.output_layer_norm.w,
            bt,
            c,
        )?;
        let drop = ctx.hidden_drop(site::ffn_output(l));
        let dfo = dropout_grad(dev, &mut a.dtmp, &a.dresid, drop)?;
        // output.dense: dfch_act = dfo · W (+ LoRA)
        module_backward(
            dev,
            Some(&mut a.dfch_act),
            false,
            dfo,
            &p.output,
            a.x16.get(c),
            adapter(&mut sites, &s.lora_h, 5)?,
            &s.fch_act,
            (c, bt),
            ctx,
            &mut a.lora,
        )?;
        // residual into the attention block output, then GELU and intermediate.dense
        copy(dev, &mut a.dln1, &a.dresid)?;
        gelu_backward_cuda(dev, &mut a.dfch, &s.fch, &a.dfch_act)?;
        module_backward(
            dev,
            Some(&mut a.dln1),
            true,
            &a.dfch,
            &p.intermediate,
            a.x16.get(i),
            adapter(&mut sites, &s.lora_h, 4)?,
            &s.ln1,
            (i, bt),
            ctx,
            &mut a.lora,
        )?;
        // attention.output.LayerNorm, its dropout, the residual into the layer input
        layernorm_backward_cuda(
            dev,
            &mut a.dresid,
            &mut a.sink_gamma,
            &mut a.sink_beta,
            &a.dln1,
            &s.resid1,
            &s.mean1,
            &s.rstd1,
            &p.attention_layer_norm.w,
            bt,
            c,
        )?;
        if need_dinp {
            copy(dev, &mut a.dinp, &a.dresid)?;
        }
        let drop = ctx.hidden_drop(site::attention_output(l));
        let dao = dropout_grad(dev, &mut a.dtmp, &a.dresid, drop)?;
        module_backward(
            dev,
            Some(&mut a.datty),
            false,
            dao,
            &p.attention_output,
            a.x16.get(c),
            adapter(&mut sites, &s.lora_h, 3)?,
            &s.atty,
            (c, bt),
            ctx,
            &mut a.lora,
        )?;
        // attention.self
        attention_backward_cuda(
            dev,
            &mut a.dqkv,
            &mut a.dsum,
            &a.datty,
            &s.qkv,
            &s.atty,
            &s.lse,
            &a.mask,
            b,
            t,
            c,
            nh,
            ctx.attention_drop(l),
        )?;
        // q|k|v: the frozen input gradient, then each adapter on its column block
        if need_dinp {
            to_bf16(dev, &mut a.x16_qkv, &a.dqkv)?;
            linear_backward_input(dev, &mut a.dinp, true, &a.x16_qkv, &p.qkv, bt)?;
        }
        for m in 0..3 {
            if let Some((site, h)) = adapter(&mut sites, &s.lora_h, m)? {
                let call = lora_call(ctx, inp, 3 * c, bt, site);
                lora_backward(
                    dev,
                    site,
                    if need_dinp { Some(&mut a.dinp) } else { None },
                    &a.dqkv,
                    h,
                    &call,
                    &mut a.lora,
                )?;
            }
        }
        Ok(())
    }
}

/// Module `m`'s adapter among one layer's `sites`, with the hidden `[rows, R]` its forward
/// saved in `lora_h`, when the module has one.
fn adapter<'a>(
    sites: &'a mut [&mut DeviceSite],
    lora_h: &'a [Option<CudaSlice<f32>>; 6],
    m: usize,
) -> Result<Option<(&'a mut DeviceSite, &'a CudaSlice<f32>)>> {
    let Some(site) = sites.iter_mut().find(|s| s.module == m) else {
        return Ok(None);
    };
    let h = lora_h[m]
        .as_ref()
        .ok_or_else(|| no_saved_h(site.layer, m))?;
    Ok(Some((&mut **site, h)))
}

/// The gradient through a dropout site: `dy` itself without dropout, else `dy` masked and
/// scaled as the forward (same seed) into `scratch` (the CPU's `dropout_backward`).
fn dropout_grad<'a>(
    dev: &CudaDevice,
    scratch: &'a mut CudaSlice<f32>,
    dy: &'a CudaSlice<f32>,
    drop: Option<(f32, u64)>,
) -> Result<&'a CudaSlice<f32>> {
    match drop {
        Some((p, seed)) => {
            dropout_cuda(dev, scratch, dy, p, seed)?;
            Ok(scratch)
        }
        None => Ok(dy),
    }
}

/// Backward of one frozen dense module with at most one adapter covering all its output
/// columns (attention.output, intermediate, output): `dx (= or +=) dy · W`, then the
/// adapter's gradients and its `dx` term (the CPU's `module_backward`). `adapter` is the
/// module's site and saved hidden ([`adapter`]); `dims` is (N, rows); `dy16` is bf16
/// scratch `[rows, N]`.
#[allow(clippy::too_many_arguments)]
fn module_backward(
    dev: &CudaDevice,
    dx: Option<&mut CudaSlice<f32>>,
    accumulate: bool,
    dy: &CudaSlice<f32>,
    w: &DeviceLinear,
    dy16: &mut CudaSlice<u16>,
    adapter: Option<(&mut DeviceSite, &CudaSlice<f32>)>,
    x: &CudaSlice<f32>,
    (n, rows): (usize, usize),
    ctx: &Ctx<'_>,
    sc: &mut LoraScratch,
) -> Result<()> {
    let mut dx = dx;
    if let Some(dx) = dx.as_deref_mut() {
        to_bf16(dev, dy16, dy)?;
        linear_backward_input(dev, dx, accumulate, dy16, w, rows)?;
    }
    if let Some((site, h)) = adapter {
        let call = lora_call(ctx, x, n, rows, site);
        lora_backward(dev, site, dx, dy, h, &call, sc)?;
    }
    Ok(())
}

/// The CPU context of one call over a model's parts: dropout seeded by `drop_seed` (None:
/// eval mode), no input embeddings or input gradient, and no packed weights (the host
/// head's pooler GEMM is [B, C] · Wᵀ: not worth packing).
fn host_ctx<'a>(
    base: &'a BertParams,
    slots: &'a Slots,
    setup: &'a TrainSetup,
    values: &'a [f32],
    drop_seed: Option<u64>,
) -> Ctx<'a> {
    Ctx {
        base,
        slots,
        values,
        setup,
        drop_seed,
        inputs_embeds: None,
        input_grad: false,
        packed: None,
    }
}

/// The head forward on the host (the end of the CPU's `train_forward`): pooler dense +
/// tanh on the [CLS] rows, classifier dropout, classifier.
fn head_forward(ctx: &Ctx<'_>, cls: Vec<f32>, b: usize) -> Result<HeadActs> {
    let cfg = &ctx.base.config;
    let (c, labels) = (cfg.hidden_size, cfg.num_labels());
    let pooler = ctx
        .base
        .pooler
        .as_ref()
        .expect("TrainModel::new sets a pooler");
    let mut pooled = vec![0.0f32; b * c];
    dense_forward(&mut pooled, &cls, &ctx.dense(pooler, &ctx.slots.pooler)?, b);
    for v in pooled.iter_mut() {
        *v = v.tanh();
    }
    let mut pooled_d = vec![0.0f32; b * c];
    match ctx.classifier_drop() {
        Some((p, seed)) => dropout_forward(&mut pooled_d, &pooled, p, seed),
        None => pooled_d.copy_from_slice(&pooled),
    }
    let cl = &ctx.slots.classifier;
    let classifier = Dense::trainable(
        &ctx.values[cl.w.clone()],
        &ctx.values[cl.b.clone()],
        labels,
        c,
    );
    let mut logits = vec![0.0f32; b * labels];
    dense_forward(&mut logits, &pooled_d, &classifier, b);
    Ok(HeadActs {
        cls,
        pooled,
        pooled_d,
        logits,
    })
}

/// The head backward on the host (the CPU's `head_backward` without pooler training):
/// classifier gradients into `grads`; returns d[CLS] rows `[B, C]`.
fn head_backward(
    ctx: &Ctx<'_>,
    grads: &mut [f32],
    h: &mut HeadActs,
    dlogits: &[f32],
    b: usize,
) -> Result<Vec<f32>> {
    let cfg = &ctx.base.config;
    let (c, labels) = (cfg.hidden_size, cfg.num_labels());
    let cl = &ctx.slots.classifier;
    {
        let (dw, db) = two_mut(grads, cl.w.clone(), cl.b.clone());
        dense_backward_params(dw, db, dlogits, &h.pooled_d, b, labels, c);
    }
    let classifier = Dense::trainable(
        &ctx.values[cl.w.clone()],
        &ctx.values[cl.b.clone()],
        labels,
        c,
    );
    let mut dpooled_d = vec![0.0f32; b * c];
    dense_backward_input(&mut dpooled_d, false, dlogits, &classifier, b);
    let mut dpooled = vec![0.0f32; b * c];
    match ctx.classifier_drop() {
        Some((p, seed)) => dropout_backward(&mut dpooled, &dpooled_d, p, seed),
        None => dpooled.copy_from_slice(&dpooled_d),
    }
    // tanh: d pre-activation = d pooled · (1 - pooled²)
    for (d, &y) in dpooled.iter_mut().zip(h.pooled.iter()) {
        *d *= 1.0 - y * y;
    }
    let pooler = ctx
        .base
        .pooler
        .as_ref()
        .expect("TrainModel::new sets a pooler");
    let mut dcls = vec![0.0f32; b * c];
    dense_backward_input(
        &mut dcls,
        false,
        &dpooled,
        &ctx.dense(pooler, &ctx.slots.pooler)?,
        b,
    );
    let _ = &h.cls;
    Ok(dcls)
}
