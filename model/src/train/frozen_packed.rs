//! Frozen dense weights packed once for training ([`tokken_kernels::cpu::gemm::PackedB`]),
//! so a step packs only its activations. A frozen weight W `[N, K]` is read twice per step:
//! the forward `Y = X · Wᵀ` and the input gradient `dX = dY · W`; each orientation gets its
//! own packed copy, made on first use (head-only training and evaluation never need the
//! input-gradient copy). Weights that train (full fine-tuning) change every step and keep
//! the per-call packing.
//!
//! Results are bit for bit those of the unpacked GEMMs (`gemm_packed_b`'s contract).
//! Memory: each copy used is a second copy of the frozen dense weights (≈ 340 MiB per
//! orientation in f32 for BERT-base, 170 MiB in bf16).
//!
//! Like [`crate::prepacked::Prepacked`], an entry remembers the tensor it was packed from
//! (a clone, so the storage cannot be freed and reused) and [`FrozenPacked::get`] serves it
//! only for exactly that tensor.

use std::sync::OnceLock;

use tokken_engine::{DType, Tensor};
use tokken_kernels::cpu::gemm::{PackedB, PackedKind, Trans};

use super::model::{LinearSlots, Slots};
use crate::params::{BertParams, LinearParams};

/// One frozen dense weight `[N, K]` with its packed orientations.
pub struct DensePacked {
    /// The tensor packed (kept alive so the identity check in [`FrozenPacked::get`] is sound).
    source: Tensor,
    /// N
    n: usize,
    /// K
    k: usize,
    /// op(B) = Wᵀ (`K x N`) for `X · Wᵀ`.
    forward: OnceLock<PackedB>,
    /// op(B) = W (`N x K`) for `dY · W`.
    input_grad: OnceLock<PackedB>,
}

impl DensePacked {
    fn new(lin: &LinearParams) -> Option<DensePacked> {
        matches!(lin.weight.dtype(), DType::F32 | DType::BF16).then(|| DensePacked {
            source: lin.weight.clone(),
            n: lin.out_features,
            k: lin.in_features,
            forward: OnceLock::new(),
            input_grad: OnceLock::new(),
        })
    }

    /// Pack op(B) of shape `rows x cols` from W (stored `[N, K]`, row stride K) for the GEMM
    /// that [`super::dense::gemm_w`] would run on this dtype.
    fn pack(&self, tb: Trans, rows: usize, cols: usize) -> PackedB {
        let w = &self.source;
        match w.dtype() {
            DType::F32 => PackedB::from_f32(
                PackedKind::best_f32(),
                tb,
                w.as_f32().expect("dtype checked in new"),
                self.k,
                rows,
                cols,
            ),
            _ => PackedB::from_bf16(
                PackedKind::best_bf16(),
                tb,
                w.as_bf16().expect("dtype checked in new"),
                self.k,
                rows,
                cols,
            ),
        }
    }

    /// op(B) = Wᵀ (`K x N`), packed on first use.
    pub fn forward(&self) -> &PackedB {
        self.forward
            .get_or_init(|| self.pack(Trans::T, self.k, self.n))
    }

    /// op(B) = W (`N x K`), packed on first use.
    pub fn input_grad(&self) -> &PackedB {
        self.input_grad
            .get_or_init(|| self.pack(Trans::N, self.n, self.k))
    }

    /// Bytes of the copies made so far.
    pub fn bytes(&self) -> usize {
        [&self.forward, &self.input_grad]
            .iter()
            .filter_map(|p| p.get().map(PackedB::bytes))
            .sum()
    }
}

/// Every frozen dense weight of a training model (encoder layers and pooler).
#[derive(Default)]
pub struct FrozenPacked {
    entries: Vec<DensePacked>,
}

impl FrozenPacked {
    /// Entries for the dense layers of `base` that do not train under `slots` (nothing is
    /// packed yet).
    pub fn new(base: &BertParams, slots: &Slots) -> FrozenPacked {
        let mut entries = Vec::new();
        let mut add = |lin: &LinearParams, s: &Option<LinearSlots>| {
            if s.is_none() {
                entries.extend(DensePacked::new(lin));
            }
        };
        for (p, s) in base.layers.iter().zip(&slots.layers) {
            add(&p.qkv, &s.qkv);
            add(&p.attention_output, &s.attention_output);
            add(&p.intermediate, &s.intermediate);
            add(&p.output, &s.output);
        }
        if let Some(pooler) = &base.pooler {
            add(pooler, &slots.pooler);
        }
        FrozenPacked { entries }
    }

    /// The entry packed from exactly `lin.weight` (same storage, offset, length and dtype).
    pub fn get(&self, lin: &LinearParams) -> Option<&DensePacked> {
        self.entries.iter().find(|e| {
            e.source.same_data(&lin.weight) && (e.n, e.k) == (lin.out_features, lin.in_features)
        })
    }

    /// Bytes of all packed copies made so far.
    pub fn bytes(&self) -> usize {
        self.entries.iter().map(DensePacked::bytes).sum()
    }
}
