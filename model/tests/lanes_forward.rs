//! The token-lanes forward (`layer_lanes`: up to 32 tokens, f32 weights prepacked for
//! AVX-512) gives the logits, pooled output and [CLS] rows of the row-major forward
//! (`ForwardOptions::rows_layout_only`) bit for bit: one sequence and several, padded keys,
//! fewer tokens than lanes, more layers than the tiny preset, another activation, a head
//! size below the kernel's 14-row blocks, two K blocks in the FFN down projection. It also
//! checks when the path runs: not past 32 tokens, not without prepacking, not when hidden
//! states are kept, not for bf16 weights unless the bf16 path widens them to f32 (then bit
//! for bit the row-major bf16 forward), not on a weight replaced after packing. Skips where
//! the CPU lacks AVX-512.

mod common;

use common::{
    assert_bitwise, cls_rows, padded_forward, replace_weight_scaled, small_parallel_model,
    two_k_block_model,
};
use tokken_kernels::cpu::gemm::{Bf16Kernel, Kernel};
use tokken_model::config::{BertConfig, HiddenAct};
use tokken_model::{BertParams, ForwardOptions};

struct Out {
    logits: Vec<f32>,
    pooled: Vec<f32>,
    cls: Vec<f32>,
    /// [B*T, C] the whole last hidden state (only its [CLS] rows are computed with
    /// `cls_rows_only`)
    last: Vec<f32>,
    lanes_layers: usize,
}

fn run(params: &BertParams, b: usize, t: usize, opts: ForwardOptions) -> Out {
    let arena = padded_forward(params, b, t, opts);
    Out {
        logits: arena.logits().to_vec(),
        pooled: arena.pooled().to_vec(),
        cls: cls_rows(&arena, params, b, t, params.layers.len()),
        last: arena.hidden_state(params.layers.len()).to_vec(),
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
                assert_eq!(got.lanes_layers, nl, "{what}: lanes path did not run");
                assert_eq!(want.lanes_layers, 0, "{what}: rows_layout_only ignored");
                assert!(!got.logits.is_empty(), "{what}: no logits");
                assert_bitwise(&format!("{what} logits"), &got.logits, &want.logits);
                assert_bitwise(&format!("{what} pooled"), &got.pooled, &want.pooled);
                assert_bitwise(&format!("{what} [CLS] rows"), &got.cls, &want.cls);
                if !cls_rows_only {
                    assert_bitwise(&format!("{what} last hidden"), &got.last, &want.last);
                }
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
    assert_eq!(run(&p, 1, 32, fast).lanes_layers, p.layers.len());
    // More than 32 tokens, or hidden states kept: row-major.
    assert_eq!(run(&p, 3, 11, fast).lanes_layers, 0);
    let keep = ForwardOptions {
        output_hidden_states: true,
        ..fast
    };
    assert_eq!(run(&p, 1, 32, keep).lanes_layers, 0);
    // bf16 weights: in lanes where the bf16 path widens them to f32 (then bit for bit the
    // row-major bf16 forward), row-major where it runs `vdpbf16ps`.
    let mut bf = p.to_dtype(tokken_engine::DType::BF16).unwrap();
    bf.prepack().unwrap();
    let got = run(&bf, 1, 32, fast);
    if Bf16Kernel::best() == Bf16Kernel::F32(Kernel::Avx512) {
        assert_eq!(got.lanes_layers, bf.layers.len());
        let rows = ForwardOptions {
            rows_layout_only: true,
            ..fast
        };
        let want = run(&bf, 1, 32, rows);
        assert_eq!(want.lanes_layers, 0);
        assert_bitwise("bf16 logits", &got.logits, &want.logits);
        assert_bitwise("bf16 pooled", &got.pooled, &want.pooled);
    } else {
        assert_eq!(got.lanes_layers, 0);
    }
    // A weight replaced after packing (as a LoRA merge does) is never read from its stale
    // packed copy: row-major, the same logits as the model without packed weights.
    replace_weight_scaled(&mut p.layers[0].intermediate);
    let got = run(&p, 1, 32, fast);
    assert_eq!(got.lanes_layers, 0);
    let mut plain = p.clone();
    plain.prepacked = None;
    assert_bitwise(
        "replaced weight",
        &got.logits,
        &run(&plain, 1, 32, fast).logits,
    );
}
