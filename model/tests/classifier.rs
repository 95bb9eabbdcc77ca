//! The Classifier API on the tiny-BERT fixture: predictions equal a direct forward of the
//! same ids, do not depend on batching or order, and the type is shareable across threads.

mod common;

use common::{argmax_rows, compare, tiny_dir};
use tokken_engine::DType;
use tokken_model::{
    bert_forward, Arena, BatchInput, BertParams, Classifier, ClassifierOptions, ForwardOptions,
};

const TEXTS: [&str; 6] = [
    "あいうえお",
    "かきくけこさしすせそたちつてと",
    "ん",
    "",
    "ぁぃぅぇぉっゃゅょ",
    "あかさたなはまやらわ",
];

fn load(options: ClassifierOptions) -> Option<Classifier> {
    match Classifier::load_with(&tiny_dir(), options) {
        Ok(c) => Some(c),
        Err(tokken_model::ModelError::Tokenizer(e)) => {
            eprintln!("skipping: no MeCab dictionary ({e})");
            None
        }
        Err(e) => panic!("tiny-bert classifier loads: {e}"),
    }
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn classifier_is_send_and_sync() {
    assert_send_sync::<Classifier>();
}

#[test]
fn predictions_equal_a_direct_forward_one_text_at_a_time() {
    let Some(clf) = load(ClassifierOptions::default()) else {
        return;
    };
    let params = BertParams::load(&tiny_dir()).unwrap();
    let preds = clf.predict(&TEXTS).unwrap();
    assert_eq!(preds.len(), TEXTS.len());
    let encodings = clf.encode(&TEXTS);
    let nl = params.config.num_labels();
    let mut failures = Vec::new();
    for (i, enc) in encodings.iter().enumerate() {
        let mask: Vec<u8> = enc.attention_mask.iter().map(|&m| m as u8).collect();
        let input = BatchInput {
            ids: &enc.ids,
            type_ids: &enc.type_ids,
            mask: &mask,
            b: 1,
            t: enc.len(),
        };
        let mut arena = Arena::new();
        bert_forward(&params, &input, &mut arena, ForwardOptions::default()).unwrap();
        // batched (padded, reordered) vs alone: only GEMM blocking may differ
        if let Some(f) = compare(
            &format!("text {i} logits"),
            &preds[i].logits,
            arena.logits(),
            1e-5,
        ) {
            failures.push(f);
        }
        let best = argmax_rows(arena.logits(), nl)[0];
        assert_eq!(preds[i].index, best);
        assert_eq!(preds[i].label, clf.labels()[best]);
        let sum: f32 = preds[i].probs.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "probs sum to {sum}");
        assert_eq!(preds[i].score, preds[i].probs[best]);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // the texts really are different inputs
    assert!(encodings[1].len() > encodings[0].len() && encodings[2].len() == 3);
}

#[test]
fn batch_size_and_order_do_not_change_results() {
    let Some(big) = load(ClassifierOptions {
        batch_size: 64,
        ..Default::default()
    }) else {
        return;
    };
    let Some(small) = load(ClassifierOptions {
        batch_size: 2,
        ..Default::default()
    }) else {
        return;
    };
    let a = big.predict(&TEXTS).unwrap();
    let b = small.predict(&TEXTS).unwrap();
    let reversed: Vec<&str> = TEXTS.iter().rev().copied().collect();
    let c = big.predict(&reversed).unwrap();
    for i in 0..TEXTS.len() {
        assert!(compare("batch 64 vs 2", &a[i].logits, &b[i].logits, 1e-5).is_none());
        assert!(compare(
            "reversed",
            &a[i].logits,
            &c[TEXTS.len() - 1 - i].logits,
            1e-5
        )
        .is_none());
    }
    assert!(big.predict(&[]).unwrap().is_empty());
}

/// Packing after load (what `predict` does once the input needs several forward passes)
/// packs the weights and changes no result.
#[test]
fn packing_after_load_changes_no_result() {
    let Some(mut clf) = load(ClassifierOptions {
        prepack: false,
        ..Default::default()
    }) else {
        return;
    };
    assert!(clf.params().prepacked.is_none());
    let unpacked = clf.predict(&TEXTS).unwrap();
    clf.prepack().unwrap();
    assert!(clf.params().prepacked.is_some());
    assert!(clf.options().prepack);
    assert_eq!(clf.predict(&TEXTS).unwrap(), unpacked);
    // Packing twice keeps the first packing.
    let first = clf.params().prepacked.clone().unwrap();
    clf.prepack().unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &first,
        clf.params().prepacked.as_ref().unwrap()
    ));
}

/// An f32 safetensors checkpoint is read in place: each fused q|k|v weight is stacked from
/// the file's three tensors, and neither the forward nor packing joins them into a copy.
#[test]
fn mapped_weights_stay_uncopied_through_predict() {
    for prepack in [false, true] {
        let Some(clf) = load(ClassifierOptions {
            prepack,
            ..Default::default()
        }) else {
            return;
        };
        clf.predict(&TEXTS).unwrap();
        let p = clf.params();
        assert!(p.embeddings.word_embeddings.is_mapped());
        for l in &p.layers {
            let parts = l.qkv.weight.stacked_parts().expect("q|k|v stacked");
            assert_eq!(parts.len(), 3);
            assert!(parts.iter().all(|t| t.is_mapped()));
            assert!(
                l.qkv.weight.is_zero_copy(),
                "prepack {prepack}: q|k|v joined"
            );
            for lin in [&l.attention_output, &l.intermediate, &l.output] {
                assert!(lin.weight.is_mapped());
            }
        }
    }
}

#[test]
fn shared_across_threads_gives_the_same_answers() {
    let Some(clf) = load(ClassifierOptions::default()) else {
        return;
    };
    let want = clf.predict(&TEXTS).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| clf.predict(&TEXTS).unwrap()))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), want);
        }
    });
}

#[test]
fn bf16_classifier_agrees_with_f32() {
    let Some(f32c) = load(ClassifierOptions::default()) else {
        return;
    };
    let Some(bf16c) = load(ClassifierOptions {
        dtype: DType::BF16,
        ..Default::default()
    }) else {
        return;
    };
    let a = f32c.predict(&TEXTS).unwrap();
    let b = bf16c.predict(&TEXTS).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!(compare("bf16 vs f32 logits", &y.logits, &x.logits, 3e-2).is_none());
        assert_eq!(x.index, y.index);
    }
}

#[test]
fn long_texts_are_truncated_to_max_positions() {
    let Some(clf) = load(ClassifierOptions::default()) else {
        return;
    };
    let long = "あ".repeat(500);
    let enc = clf.encode(&[&long]);
    assert_eq!(enc[0].len(), 64, "tiny-bert has 64 positions");
    assert_eq!(clf.predict(&[&long]).unwrap().len(), 1);
}
