//! [`CudaBert`]: inference on a CUDA device, the device twin of [`crate::forward::bert_forward`].
//!
//! Embeddings → L × layer run on the device ([`super::weights::DeviceEncoder`]); each
//! sequence's [CLS] row of the last hidden state (`[B, C]`, a few KB) is then copied back
//! and the pooler (dense + tanh) and classifier run on the host with the CPU code
//! ([`crate::pooler::pooler_forward`], [`crate::head::classifier_forward`]): on B rows they
//! cost microseconds, need no extra kernel (tanh), and keep the head bit-identical to the
//! CPU's for the same hidden state.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cudarc::driver::{sys, CudaGraph, CudaSlice};
use tokken_kernels::cuda::attention::attention_forward_cuda;
use tokken_kernels::cuda::attention::AttentionKernel;
use tokken_kernels::cuda::elementwise::{gelu_forward_cuda, residual_forward_cuda};
use tokken_kernels::cuda::gemm::TensorCoreKernel;
use tokken_kernels::cuda::CudaDevice;

use super::glue::{
    alloc_error, check_input_ids, cls_rows, dev_alloc, driver, embeddings_forward_device_ids,
    layer_norm, linear_forward, to_bf16,
};
use super::weights::{DeviceEncoder, DeviceLayer};
use crate::error::{ModelError, Result};
use crate::forward::BatchInput;
use crate::head::classifier_forward;
use crate::params::BertParams;
use crate::pooler::pooler_forward;

/// A BERT classifier whose encoder runs on a CUDA device.
///
/// On a device opened with CUDA graphs ([`CudaDevice::open`]) the forward of each (B, T) is
/// captured once and replayed: T is padded up to a multiple of [`GRAPH_T_STEP`] (exact:
/// padded keys get zero attention) so that nearby lengths share a graph, and the buffers and
/// graphs of recent shapes are kept up to [`GRAPH_CACHE_BYTES`]. Such a device must not run
/// other work from other threads meanwhile: a capture takes in whatever is queued on the
/// stream.
pub struct CudaBert {
    /// Buffers (and graphs) of recent shapes, behind the lock that runs one forward at a time
    /// on the device's stream; declared first so graphs go before the weights they read.
    buffers: Mutex<Vec<Buffers>>,
    dev: Arc<CudaDevice>,
    encoder: DeviceEncoder,
    /// The host parameters (shared tensor storage, not a copy): input checks, and the
    /// pooler and classifier as loaded (f32 or bf16).
    params: BertParams,
    /// Graph replays so far (diagnostics; tests check that replays happen).
    replays: AtomicUsize,
}

/// With graphs, sequence lengths are padded up to a multiple of this.
pub const GRAPH_T_STEP: usize = 16;
/// With graphs, the device memory kept for the buffers of recent shapes.
pub const GRAPH_CACHE_BYTES: usize = 512 << 20;

/// Device buffers of the forward for one (B, T). Without graphs only the last shape's set is
/// kept (freed when the shape changes): returning them to the allocator's pool (keyed by
/// exact length) would keep one set per distinct shape alive, and `predict`/`eval` batches
/// sorted by length have a new T almost every batch (about 220 MB per set at 32 x 128 on
/// BERT-base).
struct Buffers {
    /// The forward captured as a CUDA graph (devices opened with graphs only), replayed on
    /// the buffers below; declared first so it is destroyed before them.
    graph: Option<CapturedForward>,
    /// Forwards run without a graph: the first loads every kernel (module loads and
    /// attribute settings cannot happen inside a capture), the second is captured.
    eager_runs: usize,
    /// The GEMM and attention kernels the graph was captured with (it keeps them).
    captured_with: Option<(TensorCoreKernel, AttentionKernel)>,
    /// A capture failed: this shape runs without a graph from then on.
    graph_failed: bool,
    /// Device bytes of the buffers.
    bytes: usize,
    b: usize,
    t: usize,
    /// [B, T] token ids and token type ids, copied in before each forward
    ids: CudaSlice<u32>,
    type_ids: CudaSlice<u32>,
    /// [B, T] key mask
    mask: CudaSlice<u8>,
    /// [B, T, C] the hidden state (layer input, then output)
    hidden: CudaSlice<f32>,
    /// [B, T, C]
    sum: CudaSlice<f32>,
    /// [B, T, C] bf16 copy of a GEMM input
    x16: CudaSlice<u16>,
    /// [B, T, 3C]
    qkv: CudaSlice<f32>,
    /// [B, T, C]
    atty: CudaSlice<f32>,
    /// [B, NH, T]
    lse: CudaSlice<f32>,
    /// [B, T, C]
    ln1: CudaSlice<f32>,
    /// [B, T, I]
    fch: CudaSlice<f32>,
    /// [B, T, I]
    fch_act: CudaSlice<f32>,
    /// [B, T, I] bf16 copy of the activation
    fch16: CudaSlice<u16>,
    /// [B*T]
    mean: CudaSlice<f32>,
    /// [B*T]
    rstd: CudaSlice<f32>,
    /// [B, C] the [CLS] rows of the last hidden state
    cls: CudaSlice<f32>,
}

impl Buffers {
    fn new(dev: &CudaDevice, input: &BatchInput<'_>, enc: &DeviceEncoder) -> Result<Buffers> {
        let cfg = &enc.config;
        let (bt, c, i) = (input.b * input.t, cfg.hidden_size, cfg.intermediate_size);
        let (b, t) = (input.b, input.t);
        let make = || -> Result<Buffers> {
            Ok(Buffers {
                graph: None,
                eager_runs: 0,
                captured_with: None,
                graph_failed: false,
                bytes: buffer_bytes(bt, b * cfg.num_attention_heads * t, c, i),
                b,
                t,
                ids: dev_alloc(dev, bt)?,
                type_ids: dev_alloc(dev, bt)?,
                mask: dev_alloc(dev, bt)?,
                hidden: dev_alloc(dev, bt * c)?,
                sum: dev_alloc(dev, bt * c)?,
                x16: dev_alloc(dev, bt * c)?,
                qkv: dev_alloc(dev, bt * 3 * c)?,
                atty: dev_alloc(dev, bt * c)?,
                lse: dev_alloc(dev, b * cfg.num_attention_heads * t)?,
                ln1: dev_alloc(dev, bt * c)?,
                fch: dev_alloc(dev, bt * i)?,
                fch_act: dev_alloc(dev, bt * i)?,
                fch16: dev_alloc(dev, bt * i)?,
                mean: dev_alloc(dev, bt)?,
                rstd: dev_alloc(dev, bt)?,
                cls: dev_alloc(dev, b * c)?,
            })
        };
        make().map_err(|e| {
            alloc_error(
                e,
                &format!("the inference buffers of a {b} x {t} batch"),
                "a smaller --batch-size",
            )
        })
    }
}

/// Device bytes of one [`Buffers`] set: `bt` tokens, `lse` entries, hidden size `c`,
/// intermediate size `i`.
fn buffer_bytes(bt: usize, lse: usize, c: usize, i: usize) -> usize {
    // ids, type ids, mask, mean, rstd
    let per_token = 4 + 4 + 1 + 4 + 4;
    // hidden, sum, atty, ln1 (f32), x16 (bf16), qkv (3C f32)
    let per_token_c = 4 * 4 + 2 + 3 * 4;
    // fch, fch_act (f32), fch16 (bf16)
    let per_token_i = 4 + 4 + 2;
    bt * (per_token + per_token_c * c + per_token_i * i) + lse * 4 + c * 4
}

impl CudaBert {
    /// Uploads `params` (dense weights as bf16) to `dev`.
    pub fn new(dev: Arc<CudaDevice>, params: &BertParams) -> Result<CudaBert> {
        let encoder = DeviceEncoder::upload(&dev, params)?;
        dev.synchronize()?;
        Ok(CudaBert {
            dev,
            encoder,
            params: BertParams {
                prepacked: None,
                ..params.clone()
            },
            buffers: Mutex::new(Vec::new()),
            replays: AtomicUsize::new(0),
        })
    }

    /// How many forwards replayed a captured CUDA graph so far.
    pub fn graph_replays(&self) -> usize {
        self.replays.load(Ordering::Relaxed)
    }

    pub fn device(&self) -> &Arc<CudaDevice> {
        &self.dev
    }

    /// [B, C] last hidden state of each sequence's first ([CLS]) token.
    pub fn cls_hidden(&self, input: &BatchInput<'_>) -> Result<Vec<f32>> {
        let cfg = &self.encoder.config;
        input.check(&self.params)?;
        check_input_ids(&self.encoder, input)?;
        let dev = &*self.dev;
        let bucket = input
            .t
            .next_multiple_of(GRAPH_T_STEP)
            .min(cfg.max_position_embeddings);
        let padded;
        let input = if dev.graphs() && bucket > input.t {
            padded = input.padded_to(bucket);
            padded.input()
        } else {
            *input
        };
        let (b, t, c) = (input.b, input.t, cfg.hidden_size);
        let mut kept = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        let s = self.buffers_for(&mut kept, &input)?;
        let stream = dev.stream();
        stream
            .memcpy_htod(input.mask, &mut s.mask)
            .map_err(driver)?;
        stream.memcpy_htod(input.ids, &mut s.ids).map_err(driver)?;
        stream
            .memcpy_htod(input.type_ids, &mut s.type_ids)
            .map_err(driver)?;
        if dev.graphs() {
            self.encode_through_graph(s)?;
        } else {
            self.encode(s)?;
        }
        cls_rows(dev, &mut s.cls, &s.hidden, b, t, c)?;
        Ok(dev.download(&s.cls)?)
    }

    /// [B, NL] logits (HF `BertForSequenceClassification` at inference).
    pub fn logits(&self, input: &BatchInput<'_>) -> Result<Vec<f32>> {
        let (pooler, classifier) = match (&self.params.pooler, &self.params.classifier) {
            (Some(p), Some(c)) => (p, c),
            _ => {
                return Err(ModelError::NoHead(
                    "the model has no pooler or classification head: nothing to predict".into(),
                ))
            }
        };
        let (b, c) = (input.b, self.encoder.config.hidden_size);
        let cls = self.cls_hidden(input)?;
        let mut pooled = vec![0.0f32; b * c];
        let mut scratch = vec![0.0f32; b * c];
        // the [CLS] rows are sequences of length 1 for the pooler
        pooler_forward(&mut pooled, &mut scratch, &cls, pooler, None, b, 1, c)?;
        let mut logits = vec![0.0f32; b * classifier.out_features];
        classifier_forward(&mut logits, &pooled, classifier, b)?;
        Ok(logits)
    }

    /// The buffers for `input`'s shape: reused when kept, else allocated, after freeing
    /// (without graphs) the last shape's or (with graphs) the least recently used ones
    /// beyond [`GRAPH_CACHE_BYTES`]. The returned set is the last of `kept`.
    fn buffers_for<'k>(
        &self,
        kept: &'k mut Vec<Buffers>,
        input: &BatchInput<'_>,
    ) -> Result<&'k mut Buffers> {
        let dev = &*self.dev;
        match kept.iter().position(|s| (s.b, s.t) == (input.b, input.t)) {
            Some(i) => {
                let s = kept.remove(i);
                kept.push(s);
            }
            None => {
                let cfg = &self.encoder.config;
                let (bt, c, i) = (input.b * input.t, cfg.hidden_size, cfg.intermediate_size);
                let need = buffer_bytes(bt, input.b * cfg.num_attention_heads * input.t, c, i);
                // Free before allocating.
                if !dev.graphs() {
                    kept.clear();
                }
                while !kept.is_empty()
                    && kept.iter().map(|s| s.bytes).sum::<usize>() + need > GRAPH_CACHE_BYTES
                {
                    kept.remove(0);
                }
                kept.push(Buffers::new(dev, input, &self.encoder)?);
            }
        }
        kept.last_mut()
            .ok_or_else(|| ModelError::Other("no inference buffers".into()))
    }

    /// [`CudaBert::encode`] through a CUDA graph: the first forward of a shape runs
    /// directly (and loads every kernel), the second is captured and replayed, later ones
    /// replay the graph (one launch instead of ~14 per layer). A graph captured with other
    /// GEMM or attention kernels than the device now selects is dropped; a failed capture
    /// leaves the shape on the direct path.
    fn encode_through_graph(&self, s: &mut Buffers) -> Result<()> {
        let dev = &*self.dev;
        let kernels = (dev.tensor_core_kernel(), dev.attention_kernel());
        if s.graph.is_some() && s.captured_with != Some(kernels) {
            s.graph = None;
            s.eager_runs = 0;
        }
        if let Some(graph) = &s.graph {
            graph.0.launch().map_err(driver)?;
            self.replays.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if s.graph_failed || s.eager_runs == 0 {
            s.eager_runs += 1;
            return self.encode(s);
        }
        let stream = dev.stream();
        stream
            .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
            .map_err(driver)?;
        let queued = self.encode(s);
        // End the capture whatever happened, so the stream is usable again.
        let ended = stream.end_capture(sys::CUgraphInstantiate_flags(0));
        match (queued, ended) {
            (Ok(()), Ok(Some(graph))) => {
                graph.launch().map_err(driver)?;
                s.graph = Some(CapturedForward(graph));
                s.captured_with = Some(kernels);
                Ok(())
            }
            // Nothing ran during the capture: run this forward directly, and all later
            // ones of this shape.
            _ => {
                s.graph_failed = true;
                self.encode(s)
            }
        }
    }

    /// Embeddings and every layer on the ids, type ids and mask in `s`; the last hidden
    /// state is left in `s.hidden`.
    fn encode(&self, s: &mut Buffers) -> Result<()> {
        let dev = &*self.dev;
        let enc = &self.encoder;
        embeddings_forward_device_ids(
            dev,
            enc,
            (&s.ids, &s.type_ids),
            (s.b, s.t),
            &mut s.hidden,
            &mut s.mean,
            &mut s.rstd,
            &mut s.sum,
        )?;
        for layer in &enc.layers {
            self.layer(s, layer)?;
        }
        Ok(())
    }

    /// One `BertLayer` in place on `s.hidden` (as [`crate::layer`]'s `layer_forward`).
    fn layer(&self, s: &mut Buffers, p: &DeviceLayer) -> Result<()> {
        let dev = &*self.dev;
        let cfg = &self.encoder.config;
        let (b, t, c, nh) = (s.b, s.t, cfg.hidden_size, cfg.num_attention_heads);
        let bt = b * t;
        // attention.self: fused q|k|v projection, then scaled dot-product attention
        to_bf16(dev, &mut s.x16, &s.hidden)?;
        linear_forward(dev, &mut s.qkv, &s.x16, &p.qkv, bt)?;
        attention_forward_cuda(
            dev,
            &mut s.atty,
            &mut s.lse,
            &s.qkv,
            &s.mask,
            b,
            t,
            c,
            nh,
            None,
        )?;
        // attention.output: dense + residual + LayerNorm
        to_bf16(dev, &mut s.x16, &s.atty)?;
        linear_forward(dev, &mut s.ln1, &s.x16, &p.attention_output, bt)?;
        residual_forward_cuda(dev, &mut s.sum, &s.ln1, &s.hidden)?;
        let ln = &p.attention_layer_norm;
        layer_norm(
            dev,
            cfg,
            ln,
            bt,
            &mut s.ln1,
            &mut s.mean,
            &mut s.rstd,
            &s.sum,
        )?;
        // intermediate: dense + GELU
        to_bf16(dev, &mut s.x16, &s.ln1)?;
        linear_forward(dev, &mut s.fch, &s.x16, &p.intermediate, bt)?;
        gelu_forward_cuda(dev, &mut s.fch_act, &s.fch)?;
        // output: dense + residual + LayerNorm
        to_bf16(dev, &mut s.fch16, &s.fch_act)?;
        linear_forward(dev, &mut s.atty, &s.fch16, &p.output, bt)?;
        residual_forward_cuda(dev, &mut s.sum, &s.atty, &s.ln1)?;
        let ln = &p.output_layer_norm;
        layer_norm(
            dev,
            cfg,
            ln,
            bt,
            &mut s.hidden,
            &mut s.mean,
            &mut s.rstd,
            &s.sum,
        )?;
        Ok(())
    }
}

/// A captured forward. cudarc's graph holds raw driver handles, so it is not `Send` by
/// itself.
struct CapturedForward(CudaGraph);

// SAFETY: the graph is only launched, replaced or dropped while its `Buffers` are held under
// `CudaBert::buffers`' mutex (or by `CudaBert`'s own drop), so no two threads use it at once;
// CUDA graph execs are not tied to a thread (cudarc binds the context in `launch`; the
// destroy calls take no context).
unsafe impl Send for CapturedForward {}

impl crate::classifier::LogitsBackend for CudaBert {
    fn logits(&self, input: &BatchInput<'_>) -> Result<Vec<f32>> {
        CudaBert::logits(self, input)
    }

    fn name(&self) -> String {
        format!("cuda:{}", self.dev.ordinal())
    }
}
