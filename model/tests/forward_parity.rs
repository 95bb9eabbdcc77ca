//! tokken's BERT forward vs HF transformers on the tiny-BERT fixture
//! (scripts/reference/make_forward_fixtures.py): every hidden state, attention, the pooler
//! output and the logits, per tensor by name.

mod common;

use common::{argmax_rows, compare, read_fixture, tiny_dir, FixtureTensor};
use std::collections::BTreeMap;
use tokken_engine::{DType, Weights};
use tokken_model::{bert_forward, Arena, BatchInput, BertConfig, BertParams, ForwardOptions};

/// Absolute tolerance of the f32 path against PyTorch f32.
const F32_TOL: f32 = 1e-5;
/// Absolute logit bound of the bf16 path against our own f32 path (bf16 keeps 8 bits of
/// mantissa: ~0.4 % relative error per weight, averaged over 64-128-wide dot products).
const BF16_LOGIT_TOL: f32 = 3e-2;

struct Inputs {
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    mask: Vec<u8>,
    b: usize,
    t: usize,
}

fn inputs(fx: &BTreeMap<String, FixtureTensor>) -> Inputs {
    let ids = &fx["input_ids"];
    Inputs {
        ids: ids.u32(),
        type_ids: fx["token_type_ids"].u32(),
        mask: fx["attention_mask"].u8(),
        b: ids.shape[0],
        t: ids.shape[1],
    }
}

fn run(params: &BertParams, inp: &Inputs, opts: ForwardOptions) -> Arena {
    let mut arena = Arena::new();
    let batch = BatchInput {
        ids: &inp.ids,
        type_ids: &inp.type_ids,
        mask: &inp.mask,
        b: inp.b,
        t: inp.t,
    };
    bert_forward(params, &batch, &mut arena, opts).expect("forward runs");
    arena
}

const ALL: ForwardOptions = ForwardOptions {
    output_hidden_states: true,
    output_attentions: true,
    cls_rows_only: false,
    rows_layout_only: false,
};

#[test]
fn f32_matches_transformers_on_every_tensor() {
    let fx = read_fixture("tiny-bert-forward.safetensors");
    let params = BertParams::load(&tiny_dir()).expect("tiny-bert loads");
    let inp = inputs(&fx);
    let arena = run(&params, &inp, ALL);
    let l = params.config.num_hidden_layers;

    let mut failures = Vec::new();
    let mut check = |name: &str, got: &[f32]| {
        let want = fx
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"))
            .f32();
        if let Some(f) = compare(name, got, &want, F32_TOL) {
            failures.push(f);
        }
    };
    for i in 0..=l {
        check(&format!("hidden_states.{i}"), arena.hidden_state(i));
    }
    for layer in 0..l {
        check(
            &format!("attentions.{layer}"),
            arena.attention(layer).expect("attentions kept"),
        );
    }
    check("pooler_output", arena.pooled());
    check("logits", arena.logits());
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

#[test]
fn without_saved_states_logits_are_the_same() {
    let fx = read_fixture("tiny-bert-forward.safetensors");
    let params = BertParams::load(&tiny_dir()).unwrap();
    let inp = inputs(&fx);
    let full = run(&params, &inp, ALL);
    let lean = run(&params, &inp, ForwardOptions::default());
    assert_eq!(full.logits(), lean.logits());
    assert!(lean.attention(0).is_none());
    // the last hidden state is still readable
    let l = params.config.num_hidden_layers;
    assert_eq!(full.hidden_state(l), lean.hidden_state(l));
}

#[test]
fn pytorch_bin_gives_identical_logits() {
    let fx = read_fixture("tiny-bert-forward.safetensors");
    let inp = inputs(&fx);
    let config = BertConfig::from_file(&tiny_dir()).unwrap();
    let st = BertParams::load(&tiny_dir()).unwrap();
    let bin_weights = Weights::load(&tiny_dir().join("pytorch_model.bin")).unwrap();
    let bin = BertParams::from_weights(&config, &bin_weights, "pytorch_model.bin").unwrap();
    let a = run(&st, &inp, ForwardOptions::default());
    let b = run(&bin, &inp, ForwardOptions::default());
    assert_eq!(
        a.logits(),
        b.logits(),
        "safetensors and pytorch_model.bin disagree"
    );
}

#[test]
fn f32_weights_stay_memory_mapped() {
    let params = BertParams::load(&tiny_dir()).unwrap();
    assert!(params.embeddings.word_embeddings.is_mapped());
    assert!(params.layers[0].intermediate.weight.is_mapped());
    // the fused QKV weight is built once at load, so it is owned
    assert!(!params.layers[0].qkv.weight.is_mapped());
}

#[test]
fn bf16_stays_close_to_f32_with_the_same_argmax() {
    let fx = read_fixture("tiny-bert-forward.safetensors");
    let inp = inputs(&fx);
    let f32_params = BertParams::load(&tiny_dir()).unwrap();
    let bf16_params = f32_params.to_dtype(DType::BF16).unwrap();
    assert_eq!(bf16_params.dtype(), DType::BF16);
    let want = run(&f32_params, &inp, ForwardOptions::default());
    let got = run(&bf16_params, &inp, ForwardOptions::default());
    let nl = f32_params.config.num_labels();
    if let Some(f) = compare("bf16 logits", got.logits(), want.logits(), BF16_LOGIT_TOL) {
        panic!("{f}");
    }
    // bf16 is not f32: a bound that held with zero error would mean the path was not taken
    assert_ne!(
        got.logits(),
        want.logits(),
        "bf16 run gave bit-identical logits"
    );
    assert_eq!(
        argmax_rows(got.logits(), nl),
        argmax_rows(want.logits(), nl)
    );
}

#[test]
fn other_activations_match_transformers() {
    use tokken_model::config::HiddenAct;
    let fx = read_fixture("tiny-bert-forward.safetensors");
    let inp = inputs(&fx);
    let base = BertParams::load(&tiny_dir()).unwrap();
    let mut failures = Vec::new();
    for (name, act) in [
        ("gelu_new", HiddenAct::GeluTanh),
        ("relu", HiddenAct::Relu),
        ("silu", HiddenAct::Silu),
    ] {
        let mut params = base.clone();
        params.config.hidden_act = act;
        let arena = run(&params, &inp, ForwardOptions::default());
        let key = format!("logits.{name}");
        if let Some(f) = compare(&key, arena.logits(), &fx[&key].f32(), F32_TOL) {
            failures.push(f);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_reused_arena_gives_the_same_results_as_a_fresh_one() {
    let fx = read_fixture("tiny-bert-forward.safetensors");
    let params = BertParams::load(&tiny_dir()).unwrap();
    let inp = inputs(&fx);
    let fresh = run(&params, &inp, ALL);
    // one row, shorter: a smaller layout inside the grown buffer
    let t = 7;
    let row = |v: &[u32]| v[inp.t..inp.t + t].to_vec();
    let (ids, types) = (row(&inp.ids), row(&inp.type_ids));
    let mask = inp.mask[inp.t..inp.t + t].to_vec();
    let mut arena = run(&params, &inp, ALL);
    let small = BatchInput {
        ids: &ids,
        type_ids: &types,
        mask: &mask,
        b: 1,
        t,
    };
    bert_forward(&params, &small, &mut arena, ForwardOptions::default()).unwrap();
    let mut alone = Arena::new();
    bert_forward(&params, &small, &mut alone, ForwardOptions::default()).unwrap();
    assert_eq!(arena.logits(), alone.logits());
    // row 1 of the fixture has 7 real tokens: same logits as in the padded batch
    let nl = params.config.num_labels();
    assert!(compare(
        "row 1 unpadded",
        alone.logits(),
        &fresh.logits()[nl..2 * nl],
        F32_TOL
    )
    .is_none());
    // and back to the full batch with everything kept
    bert_forward(
        &params,
        &BatchInput {
            ids: &inp.ids,
            type_ids: &inp.type_ids,
            mask: &inp.mask,
            b: inp.b,
            t: inp.t,
        },
        &mut arena,
        ALL,
    )
    .unwrap();
    assert_eq!(arena.logits(), fresh.logits());
    assert_eq!(arena.attention(1), fresh.attention(1));
}
