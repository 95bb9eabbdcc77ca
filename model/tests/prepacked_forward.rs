//! `BertParams::prepack`: the forward pass with packed weights is bit for bit the forward
//! without them (f32 and bf16, padded batches, parallel and single-threaded GEMM sizes, an
//! FFN-down deeper than one K block), and a weight replaced after packing is never served
//! from its stale packed copy.

mod common;

use common::{
    assert_bitwise, padded_forward, replace_weight_scaled, small_parallel_model, two_k_block_model,
};
use tokken_engine::DType;
use tokken_model::{BertParams, ForwardOptions};

/// [B, NL] logits and every hidden state of the standard padded batch
/// (`common::padded_forward`).
fn run(params: &BertParams, b: usize, t: usize) -> (Vec<f32>, Vec<Vec<f32>>) {
    let opts = ForwardOptions {
        output_hidden_states: true,
        ..ForwardOptions::default()
    };
    let arena = padded_forward(params, b, t, opts);
    let hidden = (0..=params.layers.len())
        .map(|i| arena.hidden_state(i).to_vec())
        .collect();
    (arena.logits().to_vec(), hidden)
}

#[test]
fn prepacked_forward_is_bitwise_the_unpacked_forward() {
    for (name, model) in [
        ("small", small_parallel_model(5)),
        ("two K blocks", two_k_block_model(6)),
    ] {
        for dtype in [DType::F32, DType::BF16] {
            let plain = model.to_dtype(dtype).unwrap();
            let mut packed = plain.clone();
            packed.prepack().unwrap();
            assert!(packed.prepacked.is_some());
            for (b, t) in [(1, 32), (3, 37), (1, 5), (20, 30)] {
                let (lp, hp) = run(&packed, b, t);
                let (lu, hu) = run(&plain, b, t);
                assert!(!lp.is_empty());
                let what = format!("{name} {dtype:?} {b}x{t}");
                assert_bitwise(&format!("{what} logits"), &lp, &lu);
                for (i, (x, y)) in hp.iter().zip(&hu).enumerate() {
                    assert_bitwise(&format!("{what} hidden {i}"), x, y);
                }
            }
        }
    }
}

#[test]
fn a_weight_replaced_after_packing_is_not_served_stale() {
    let mut p = small_parallel_model(5);
    p.prepack().unwrap();
    // Replace layer 0's fused q|k|v weight (as a LoRA merge does): the packed copy no
    // longer matches and the forward must use the new weight.
    replace_weight_scaled(&mut p.layers[0].qkv);
    let mut fresh = p.clone();
    fresh.prepacked = None;
    let (stale_guarded, _) = run(&p, 2, 20);
    let (want, _) = run(&fresh, 2, 20);
    assert_bitwise("replaced weight", &stale_guarded, &want);
    // and it differs from the original model (the replacement mattered)
    let (orig, _) = run(&small_parallel_model(5), 2, 20);
    assert!(orig.iter().zip(&want).any(|(a, b)| a != b));
    // dtype conversion drops the packed set
    assert!(p.to_dtype(DType::BF16).unwrap().prepacked.is_none());
}
