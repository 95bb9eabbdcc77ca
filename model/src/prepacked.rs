//! Dense weights packed once into the GEMM micro-kernel's panel layout
//! ([`tokken_kernels::cpu::gemm::PackedWeight`], ISA chosen at run time), so a forward call
//! packs only its activations. This is what makes small batches fast: at one headline
//! (1 × 32 tokens) re-packing every weight on every call cost about as much as the products.
//!
//! Memory trade-off: a packed copy is a second copy of the dense weights (≈ 340 MiB f32 /
//! 170 MiB bf16 for BERT-base) on the heap. Memory-mapped f32 weights stay mapped (file
//! pages, reclaimable: the forward no longer reads them), so resident memory grows by the
//! packed size; callers that need the zero-copy footprint skip [`crate::BertParams::prepack`]
//! (`ClassifierOptions::prepack = false`, `predict --no-prepack`). Results are bit for bit
//! those of the unpacked path (the kernels' `gemm_prepacked` contract).
//!
//! A packed copy remembers the tensor it was packed from (holding a clone, so the storage
//! cannot be freed and reused, and copy-on-write writes get new storage): if a
//! [`crate::params::LinearParams`] weight is later replaced (LoRA merge, dtype conversion),
//! [`Prepacked::get`] no longer matches and the forward falls back to the unpacked GEMM.

use std::borrow::Cow;
use std::sync::Arc;

use tokken_engine::{DType, Tensor};
use tokken_kernels::cpu::gemm::{PackedKind, PackedWeight};

use crate::error::{ModelError, Result};
use crate::params::LinearParams;

/// One dense weight `[N, K]` packed for the fastest kernel of its dtype.
#[derive(Debug)]
pub struct Prepacked {
    /// The tensor packed (kept alive so the identity check in [`Prepacked::get`] is sound).
    source: Tensor,
    packed: PackedWeight,
}

impl Prepacked {
    /// Pack `lin`'s weight: f32 for the f32 GEMM, bf16 for the bf16 GEMM.
    pub fn new(lin: &LinearParams) -> Result<Prepacked> {
        let (n, k) = (lin.out_features, lin.in_features);
        let w = &lin.weight;
        let packed = match w.dtype() {
            DType::F32 => {
                PackedWeight::from_f32(PackedKind::best_f32(), &f32_rows(w, n * k)?, n, k)
            }
            DType::BF16 => PackedWeight::from_bf16(PackedKind::best_bf16(), w.as_bf16()?, n, k),
            other => {
                return Err(ModelError::Other(format!(
                    "cannot prepack dense weights in {other:?} (use f32 or bf16)"
                )))
            }
        };
        Ok(Prepacked {
            source: w.clone(),
            packed,
        })
    }

    /// Pack only the first `rows` output rows of `lin`'s weight (e.g. the queries of a
    /// fused q|k|v weight), as [`Prepacked::new`] packs by dtype. [`Prepacked::get`] still
    /// matches the whole weight tensor.
    pub fn first_rows(lin: &LinearParams, rows: usize) -> Result<Prepacked> {
        let k = lin.in_features;
        let w = &lin.weight;
        let rows = rows.min(lin.out_features);
        let packed = match w.dtype() {
            DType::BF16 => {
                PackedWeight::from_bf16(PackedKind::best_bf16(), &w.as_bf16()?[..rows * k], rows, k)
            }
            _ => PackedWeight::from_f32(PackedKind::best_f32(), &f32_rows(w, rows * k)?, rows, k),
        };
        Ok(Prepacked {
            source: w.clone(),
            packed,
        })
    }

    /// The packed weight when it was packed from exactly `weight` (same storage, offset,
    /// length and dtype), else None.
    pub fn get(&self, weight: &Tensor) -> Option<&PackedWeight> {
        self.source.same_data(weight).then_some(&self.packed)
    }

    /// Bytes of the packed copy.
    pub fn bytes(&self) -> usize {
        self.packed.bytes()
    }
}

/// A layer's packed dense weights (attention q|k|v fused, attention output, FFN up, down).
#[derive(Debug)]
pub struct LayerPrepacked {
    pub qkv: Prepacked,
    pub attention_output: Prepacked,
    pub intermediate: Prepacked,
    pub output: Prepacked,
}

/// Every packed encoder weight of a model, and the pooler's (it runs on B rows only, but
/// packing its W on every call would cost more than the product). The classifier's few
/// rows stay unpacked.
#[derive(Debug)]
pub struct ModelPrepacked {
    /// L layers.
    pub layers: Vec<LayerPrepacked>,
    /// The pooler's dense weight, when the model has a pooler.
    pub pooler: Option<Prepacked>,
    /// The last layer's query rows of q|k|v alone (f32 models): when only the [CLS] rows
    /// of the last layer are needed, only their queries are computed, on these rows.
    pub last_query: Option<Prepacked>,
}

impl ModelPrepacked {
    /// Bytes of all packed copies.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| {
                l.qkv.bytes()
                    + l.attention_output.bytes()
                    + l.intermediate.bytes()
                    + l.output.bytes()
            })
            .sum::<usize>()
            + self.pooler.as_ref().map_or(0, Prepacked::bytes)
            + self.last_query.as_ref().map_or(0, Prepacked::bytes)
    }
}

/// Shared handle (cheap [`crate::BertParams`] clones share one packed set).
pub type SharedPrepacked = Arc<ModelPrepacked>;

/// The first `len` elements of the f32 tensor `w`, without joining a stacked tensor (the
/// fused q|k|v weight of a mapped checkpoint): its parts are read where they are, and
/// copied into a temporary buffer only when `len` spans more than the first part.
fn f32_rows(w: &Tensor, len: usize) -> Result<Cow<'_, [f32]>> {
    let Some(parts) = w.stacked_parts() else {
        return Ok(Cow::Borrowed(&w.as_f32()?[..len]));
    };
    if let Some(first) = parts.first().filter(|p| p.numel() >= len) {
        return Ok(Cow::Borrowed(&first.as_f32()?[..len]));
    }
    let mut rows = Vec::with_capacity(len);
    for part in parts {
        let take = (len - rows.len()).min(part.numel());
        rows.extend_from_slice(&part.as_f32()?[..take]);
    }
    Ok(Cow::Owned(rows))
}
