//! `ForwardOptions::cls_rows_only`: running the last layer's dense blocks on the [CLS] rows
//! only gives bit for bit the logits, the pooled output and the [CLS] rows of the last
//! hidden state of the full forward (f32 and bf16, with and without prepacked weights,
//! padded batches, batches on both sides of the prepacked GEMM's row limit, an FFN-down
//! deeper than one K block), and it is ignored when hidden states or attentions are kept.

mod common;

use common::{cls_rows, padded_forward, small_parallel_model, two_k_block_model};
use tokken_engine::DType;
use tokken_model::{bert_forward, Arena, BatchInput, BertParams, ForwardOptions};

/// What one forward leaves: logits, pooled output, and every hidden state it kept.
struct Outputs {
    logits: Vec<f32>,
    pooled: Vec<f32>,
    /// [B, C]: the [CLS] rows of the last hidden state
    last_cls: Vec<f32>,
    hidden: Vec<Vec<f32>>,
}

/// Forward the standard padded batch (`common::padded_forward`).
fn run(params: &BertParams, b: usize, t: usize, opts: ForwardOptions) -> Outputs {
    let arena = padded_forward(params, b, t, opts);
    let layers = params.layers.len();
    let hidden = if opts.output_hidden_states {
        (0..=layers)
            .map(|i| arena.hidden_state(i).to_vec())
            .collect()
    } else {
        Vec::new()
    };
    Outputs {
        logits: arena.logits().to_vec(),
        pooled: arena.pooled().to_vec(),
        last_cls: cls_rows(&arena, params, b, t, layers),
        hidden,
    }
}

fn assert_bitwise(what: &str, a: &[f32], b: &[f32]) {
    assert!(!a.is_empty(), "{what}: empty");
    common::assert_bitwise(what, a, b);
}

#[test]
fn cls_rows_only_gives_the_full_forward_bit_for_bit() {
    let full = ForwardOptions::default();
    for (name, model) in [
        ("small", small_parallel_model(11)),
        ("two K blocks", two_k_block_model(12)),
    ] {
        cls_rows_match_for(name, &model, full);
    }
}

fn cls_rows_match_for(name: &str, model: &BertParams, full: ForwardOptions) {
    for dtype in [DType::F32, DType::BF16] {
        for prepack in [false, true] {
            let mut p = model.to_dtype(dtype).unwrap();
            if prepack {
                p.prepack().unwrap();
            }
            // 20 x 30 = 600 rows: the full last layer runs the plain GEMM (above the
            // prepacked row limit), the [CLS] rows the prepacked one.
            for (b, t) in [(1, 32), (3, 37), (1, 1), (2, 1), (20, 30), (5, 8)] {
                let what = format!("{name} {dtype:?} prepacked={prepack} {b}x{t}");
                let lean = run(&p, b, t, ForwardOptions::LOGITS);
                let want = run(&p, b, t, full);
                assert_bitwise(&format!("{what} logits"), &lean.logits, &want.logits);
                assert_bitwise(&format!("{what} pooled"), &lean.pooled, &want.pooled);
                assert_bitwise(
                    &format!("{what} [CLS] rows"),
                    &lean.last_cls,
                    &want.last_cls,
                );
            }
        }
    }
}

#[test]
fn cls_rows_only_is_ignored_when_hidden_states_or_attentions_are_kept() {
    let p = small_parallel_model(11);
    let (b, t) = (3, 9);
    let all = ForwardOptions {
        output_hidden_states: true,
        ..ForwardOptions::default()
    };
    let asked = ForwardOptions {
        cls_rows_only: true,
        ..all
    };
    let want = run(&p, b, t, all);
    let got = run(&p, b, t, asked);
    for (i, (x, y)) in got.hidden.iter().zip(&want.hidden).enumerate() {
        assert_bitwise(&format!("hidden state {i}"), x, y);
    }
    // With attentions kept, the last hidden state is complete too (every row).
    let with_attn = ForwardOptions {
        output_attentions: true,
        cls_rows_only: true,
        ..ForwardOptions::default()
    };
    let mut arena = Arena::new();
    let ids: Vec<u32> = (0..b * t).map(|i| (5 + i) as u32).collect();
    let (type_ids, mask) = (vec![0u32; b * t], vec![1u8; b * t]);
    let input = BatchInput {
        ids: &ids,
        type_ids: &type_ids,
        mask: &mask,
        b,
        t,
    };
    bert_forward(&p, &input, &mut arena, with_attn).unwrap();
    let last_with_attn = arena.hidden_state(p.layers.len()).to_vec();
    bert_forward(&p, &input, &mut arena, ForwardOptions::default()).unwrap();
    assert_bitwise(
        "last hidden state with attentions",
        &last_with_attn,
        arena.hidden_state(p.layers.len()),
    );
}

#[test]
fn cls_rows_only_leaves_other_rows_uncomputed() {
    // The option really skips work: the non-[CLS] rows of the last hidden state differ
    // from the full pass (they hold whatever the ping-pong slot held before).
    let p = small_parallel_model(11);
    let (b, t) = (2, 6);
    let ids: Vec<u32> = (0..b * t).map(|i| (7 + 3 * i) as u32).collect();
    let (type_ids, mask) = (vec![0u32; b * t], vec![1u8; b * t]);
    let input = BatchInput {
        ids: &ids,
        type_ids: &type_ids,
        mask: &mask,
        b,
        t,
    };
    let mut arena = Arena::new();
    bert_forward(&p, &input, &mut arena, ForwardOptions::default()).unwrap();
    let full = arena.hidden_state(p.layers.len()).to_vec();
    let mut fresh = Arena::new();
    bert_forward(&p, &input, &mut fresh, ForwardOptions::LOGITS).unwrap();
    let lean = fresh.hidden_state(p.layers.len());
    let c = p.config.hidden_size;
    let row1 = c..2 * c;
    assert_ne!(&lean[row1.clone()], &full[row1]);
}
