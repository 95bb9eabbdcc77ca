//! Training batches: examples are tokenized once; each epoch orders them (a seeded shuffle,
//! then length grouping within windows so padding stays small) and each batch is padded to
//! its own longest row.
//!
//! The order of epoch `e` depends only on `(seed, e)`, so a resumed run sees exactly the
//! batches the uninterrupted run would have seen.

use tokken_tokenizer::encoder::{Encoding, Tokenizer};

use crate::data::{Dataset, LabelTarget};
use crate::error::{ModelError, Result};
use crate::forward::BatchInput;
use crate::template::{Template, TemplateEncoder};

/// Batches per length-grouping window: examples are sorted by length inside windows of
/// `GROUP_WINDOW × batch_size` shuffled examples, then the window's batches are shuffled.
pub const GROUP_WINDOW: usize = 50;

/// A data set tokenized once, with its targets as class indices or multi-hot rows.
#[derive(Clone, Debug)]
pub struct EncodedSet {
    /// One unpadded encoding per example (`[CLS] … [SEP]`, truncated to the max length).
    pub encodings: Vec<Encoding>,
    /// [N] class index per example (single-label data).
    pub classes: Vec<i32>,
    /// [N, NL] 0/1 targets (multi-label data; empty otherwise).
    pub multi_hot: Vec<f32>,
    /// NL
    pub num_labels: usize,
    pub multi_label: bool,
    /// [N] loss weight per example (group re-weighting); empty: every weight is 1.
    pub weights: Vec<f32>,
}

impl EncodedSet {
    /// Tokenize every example of `data`; `labels` gives the class order.
    pub fn encode(
        tokenizer: &Tokenizer,
        data: &Dataset,
        labels: &[String],
        max_length: usize,
    ) -> Result<EncodedSet> {
        EncodedSet::encode_with(tokenizer, data, labels, max_length, None)
    }

    /// [`EncodedSet::encode`] with a reasoning-step template ([`crate::template`]).
    pub fn encode_with(
        tokenizer: &Tokenizer,
        data: &Dataset,
        labels: &[String],
        max_length: usize,
        template: Option<&Template>,
    ) -> Result<EncodedSet> {
        data.check_labels(labels)?;
        crate::template::check_no_pairs(template, data)?;
        let items: Vec<(&str, Option<&str>)> = data
            .examples
            .iter()
            .map(|e| (e.text.as_str(), e.text_pair.as_deref()))
            .collect();
        let encodings =
            TemplateEncoder::new(tokenizer, template, max_length).encode_items(&items)?;
        let nl = labels.len();
        let index = |l: &str| labels.iter().position(|x| x == l).unwrap_or(0);
        let mut classes = Vec::new();
        let mut multi_hot = Vec::new();
        for e in &data.examples {
            match &e.label {
                LabelTarget::Single(l) if !data.multi_label => classes.push(index(l) as i32),
                LabelTarget::Multi(ls) if data.multi_label => {
                    let start = multi_hot.len();
                    multi_hot.resize(start + nl, 0.0);
                    for l in ls {
                        multi_hot[start + index(l)] = 1.0;
                    }
                }
                _ => {
                    return Err(ModelError::Data {
                        path: data.path.clone(),
                        line: e.line,
                        msg: "single-label and multi-label rows are mixed".into(),
                    })
                }
            }
        }
        Ok(EncodedSet {
            encodings,
            classes,
            multi_hot,
            num_labels: nl,
            multi_label: data.multi_label,
            weights: Vec::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.encodings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.encodings.is_empty()
    }

    /// Tokens (padding excluded) of the examples at `rows`.
    pub fn tokens(&self, rows: &[usize]) -> usize {
        rows.iter().map(|&i| self.encodings[i].len()).sum()
    }
}

/// The example indices of each batch of epoch `epoch` (0-based), in training order.
///
/// With `shuffle` off the order is the file order, cut into consecutive batches (what a
/// reference run with a fixed batch order does).
pub fn epoch_batches(
    lengths: &[usize],
    batch_size: usize,
    shuffle: bool,
    seed: u64,
    epoch: u64,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    if !shuffle {
        return order.chunks(batch_size).map(|c| c.to_vec()).collect();
    }
    let mut rng = SplitMix64::new(seed ^ 0x7261_696E_u64.wrapping_mul(epoch.wrapping_add(1)));
    rng.shuffle(&mut order);
    let mut batches = Vec::with_capacity(order.len().div_ceil(batch_size));
    for window in order.chunks_mut(batch_size * GROUP_WINDOW) {
        window.sort_by_key(|&i| lengths[i]);
        let mut group: Vec<Vec<usize>> = window.chunks(batch_size).map(|c| c.to_vec()).collect();
        rng.shuffle(&mut group);
        batches.extend(group);
    }
    batches
}

/// One padded batch, owning its buffers.
#[derive(Clone, Debug, Default)]
pub struct PaddedBatch {
    /// [B, T]
    pub ids: Vec<u32>,
    /// [B, T]
    pub type_ids: Vec<u32>,
    /// [B, T] 1 for real tokens.
    pub mask: Vec<u8>,
    pub b: usize,
    pub t: usize,
    /// [B] class index per row (single-label).
    pub classes: Vec<i32>,
    /// [B, NL] (multi-label).
    pub multi_hot: Vec<f32>,
    /// [B] loss weight per row (empty when the set has none: every weight is 1).
    pub weights: Vec<f32>,
    /// Real tokens in the batch.
    pub tokens: usize,
}

impl PaddedBatch {
    /// Rows `rows` of `set`, padded with `pad_id` to their longest row.
    pub fn gather(set: &EncodedSet, rows: &[usize], pad_id: u32) -> PaddedBatch {
        let b = rows.len();
        let t = rows
            .iter()
            .map(|&i| set.encodings[i].len())
            .max()
            .unwrap_or(1)
            .max(1);
        let mut out = PaddedBatch {
            ids: vec![pad_id; b * t],
            type_ids: vec![0; b * t],
            mask: vec![0; b * t],
            b,
            t,
            ..PaddedBatch::default()
        };
        for (r, &i) in rows.iter().enumerate() {
            let e = &set.encodings[i];
            let n = e.len();
            out.ids[r * t..r * t + n].copy_from_slice(&e.ids);
            out.type_ids[r * t..r * t + n].copy_from_slice(&e.type_ids);
            for (m, &a) in out.mask[r * t..r * t + n].iter_mut().zip(&e.attention_mask) {
                *m = u8::from(a != 0);
            }
            out.tokens += n;
            if let Some(&w) = set.weights.get(i) {
                out.weights.push(w);
            }
            if set.multi_label {
                let nl = set.num_labels;
                out.multi_hot
                    .extend_from_slice(&set.multi_hot[i * nl..(i + 1) * nl]);
            } else {
                out.classes.push(set.classes[i]);
            }
        }
        out
    }

    pub fn input(&self) -> BatchInput<'_> {
        BatchInput {
            ids: &self.ids,
            type_ids: &self.type_ids,
            mask: &self.mask,
            b: self.b,
            t: self.t,
        }
    }
}

pub use crate::rng::SplitMix64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_once_per_epoch_and_epochs_differ() {
        let lengths: Vec<usize> = (0..103).map(|i| (i * 37) % 41 + 2).collect();
        let e0 = epoch_batches(&lengths, 8, true, 7, 0);
        let e1 = epoch_batches(&lengths, 8, true, 7, 1);
        for e in [&e0, &e1] {
            let mut all: Vec<usize> = e.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..103).collect::<Vec<_>>());
            assert!(e.iter().all(|b| !b.is_empty() && b.len() <= 8));
        }
        assert_ne!(e0, e1);
        assert_eq!(e0, epoch_batches(&lengths, 8, true, 7, 0));
    }

    #[test]
    fn no_shuffle_is_file_order() {
        let b = epoch_batches(&[3, 1, 2, 5, 4], 2, false, 1, 3);
        assert_eq!(b, vec![vec![0, 1], vec![2, 3], vec![4]]);
    }
}
