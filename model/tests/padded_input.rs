//! `BatchInput::padded_to`: each sequence extended with padding (id 0, type 0, mask 0), and
//! the model's outputs for the real tokens unchanged (padded keys get zero attention). CUDA
//! graphs rely on this to share one captured forward between nearby lengths.

use tokken_model::config::BertConfig;
use tokken_model::init::init_params;
use tokken_model::{bert_forward, Arena, BatchInput, ForwardOptions};

#[test]
fn padding_copies_each_row_and_leaves_the_rest_zero() {
    let (ids, types, mask) = (
        vec![2, 5, 3, 2, 7, 0],
        vec![0, 0, 1, 0, 0, 0],
        vec![1, 1, 1, 1, 1, 0],
    );
    let input = BatchInput {
        ids: &ids,
        type_ids: &types,
        mask: &mask,
        b: 2,
        t: 3,
    };
    let p = input.padded_to(5);
    assert_eq!((p.b, p.t), (2, 5));
    assert_eq!(p.ids, [2, 5, 3, 0, 0, 2, 7, 0, 0, 0]);
    assert_eq!(p.type_ids, [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(p.mask, [1, 1, 1, 0, 0, 1, 1, 0, 0, 0]);
    // Never shorter than the input.
    assert_eq!(input.padded_to(2).t, 3);
    assert_eq!(input.padded_to(2).ids, ids);
}

/// The CPU forward of a padded batch gives each sequence's [CLS] state and logits of the
/// unpadded one (to rounding: the CPU kernels may block T differently).
#[test]
fn padding_leaves_the_real_tokens_outputs_unchanged() {
    let cfg = BertConfig::preset("tiny", 50, 3).expect("tiny preset");
    let params = init_params(&cfg, 7).expect("random model");
    let (b, t) = (3, 9);
    let lens = [9, 4, 1];
    let (mut ids, mut types, mut mask) = (vec![0u32; b * t], vec![0u32; b * t], vec![0u8; b * t]);
    for (r, &len) in lens.iter().enumerate() {
        for j in 0..len {
            ids[r * t + j] = 1 + ((r * 7 + j * 13) % 49) as u32;
            types[r * t + j] = u32::from(j >= 5);
            mask[r * t + j] = 1;
        }
    }
    let input = BatchInput {
        ids: &ids,
        type_ids: &types,
        mask: &mask,
        b,
        t,
    };
    let outputs = |input: &BatchInput<'_>| {
        let mut arena = Arena::new();
        bert_forward(&params, input, &mut arena, ForwardOptions::default()).expect("forward");
        let c = params.config.hidden_size;
        let cls: Vec<f32> = arena
            .hidden_state(params.layers.len())
            .chunks_exact(input.t * c)
            .flat_map(|seq| seq[..c].to_vec())
            .collect();
        (cls, arena.logits().to_vec())
    };
    let (cls, logits) = outputs(&input);
    for t2 in [16, 32] {
        let padded = input.padded_to(t2);
        let (cls2, logits2) = outputs(&padded.input());
        for (what, got, want) in [("cls", &cls2, &cls), ("logits", &logits2, &logits)] {
            for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "T {t2}: {what}[{i}] = {g}, unpadded {w}"
                );
            }
        }
    }
}
