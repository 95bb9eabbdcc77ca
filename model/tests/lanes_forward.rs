//! The token-lanes forward (`layer_lanes`: up to 32 tokens, f32 weights prepacked for
//! AVX-512) gives the logits, pooled output and [CLS] rows of the row-major forward
//! (`ForwardOptions::rows_layout_only`) bit for bit: one sequence and several, padded keys,
//! fewer tokens than lanes, more layers than the tiny preset, another activation, a head
//! size below the kernel's 14-row blocks, two K blocks in the FFN down projection. It also
//! checks when the path runs: not past 32 tokens, not without prepacking, not when hidden
//! states are kept. Skips where the CPU lacks AVX-512.

mod common;

use common::{assert_bitwise, small_parallel_model, two_k_block_model};
use tokken_model::config::{BertConfig, HiddenAct};
use tokken_model::{bert_forward, Arena, BatchInput, BertParams, ForwardOptions};

struct Out {
    logits: Vec<f32>,
    pooled: Vec<f32>,
    cls: Vec<f32>,
    lanes_layers: usize,
}

fn run(params: &BertParams, b: usize, t: usize, opts: ForwardOptions) -> Out {
    let ids: Vec<u32> = (0..b * t).map(|i| (2 + i * 37 % 290) as u32).collect();
    let type_ids: Vec<u32> = (0..b * t).map(|i| u32::from(i % t >= t / 2)).collect();
    // sequence r has t - 2r real tokens (at least one)
    let mask: Vec<u8> = (0..b * t)
        .map(|i| u8::from(i % t < t.saturating_sub(2 * (i / t)).max(1)))
        .collect();
    let input = BatchInput {
        ids: &ids,
        type_ids: &type_ids,
        mask: &mask,
        b,
        t,
    };
    let mut arena = Arena::new();
    bert_forward(params, &input, &mut arena, opts).unwrap();
    let c = params.config.hidden_size;
    let last = arena.hidden_state(params.layers.len());
    let cls = (0..b)
        .flat_map(|s| last[s * t * c..s * t * c + c].to_vec())
        .collect();
    Out {
        logits: arena.logits().to_vec(),
        pooled: arena.pooled().to_vec(),
        cls,
        lanes_layers: arena.lanes_layers(),
    }
}

fn model(cfg: BertConfig, seed: u64) -> BertParams {
    let mut p = tokken_model::init::init_params(&cfg, seed).unwrap();
    p.prepack().unwrap();
    p
}

#[test]
fn lanes_forward_is_bitwise_the_row_major_forward() {
    if !is_x86_feature_detected!("avx512f") {
        eprintln!("skipping: this CPU lacks AVX-512F (the token-lanes path does not run)");
        return;
    }
    let tiny = BertConfig::preset("tiny", 300, 3).unwrap();
    let mut small = small_parallel_model(5);
    small.prepack().unwrap();
    let mut two_k = two_k_block_model(6);
    two_k.prepack().unwrap();
    let models = [
        ("small, parallel GEMMs", small),
        ("two K blocks", two_k),
        (
            "4 layers, gelu_new, head size 8",
            model(
                BertConfig {
                    num_hidden_layers: 4,
                    hidden_size: 32,
                    num_attention_heads: 4,
                    hidden_act: HiddenAct::GeluTanh,
                    ..tiny.clone()
                },
                7,
            ),
        ),
    ];
    for (name, p) in &models {
        let nl = p.layers.len();
        for (b, t) in [(1, 32), (1, 5), (2, 16), (4, 8), (3, 10), (1, 1)] {
            for cls_rows_only in [true, false] {
                let lanes = ForwardOptions {
                    cls_rows_only,
                    ..ForwardOptions::default()
                };
                let rows = ForwardOptions {
                    rows_layout_only: true,
                    ..lanes
                };
                let (got, want) = (run(p, b, t, lanes), run(p, b, t, rows));
                let what = format!("{name} {b}x{t} cls_rows_only {cls_rows_only}");
                assert_eq!(got.lanes_layers, nl - 1, "{what}: lanes path did not run");
                assert_eq!(want.lanes_layers, 0, "{what}: rows_layout_only ignored");
                assert!(!got.logits.is_empty(), "{what}: no logits");
                assert_bitwise(&format!("{what} logits"), &got.logits, &want.logits);
                assert_bitwise(&format!("{what} pooled"), &got.pooled, &want.pooled);
                assert_bitwise(&format!("{what} [CLS] rows"), &got.cls, &want.cls);
            }
        }
    }
}

#[test]
fn lanes_run_only_where_they_apply() {
    if !is_x86_feature_detected!("avx512f") {
        eprintln!("skipping: this CPU lacks AVX-512F");
        return;
    }
    let mut p = small_parallel_model(5);
    let fast = ForwardOptions::LOGITS;
    // Not prepacked: row-major.
    assert_eq!(run(&p, 1, 32, fast).lanes_layers, 0);
    p.prepack().unwrap();
    assert_eq!(run(&p, 1, 32, fast).lanes_layers, p.layers.len() - 1);
    // More than 32 tokens, or hidden states kept: row-major.
    assert_eq!(run(&p, 3, 11, fast).lanes_layers, 0);
    let keep = ForwardOptions {
        output_hidden_states: true,
        ..fast
    };
    assert_eq!(run(&p, 1, 32, keep).lanes_layers, 0);
    // bf16 weights: row-major.
    let mut bf = p.to_dtype(tokken_engine::DType::BF16).unwrap();
    bf.prepack().unwrap();
    assert_eq!(run(&bf, 1, 32, fast).lanes_layers, 0);
}
