//! Random init follows HF `_init_weights`, is reproducible from its seed, and the written
//! model dir loads back.

mod common;

use common::tiny_dir;
use tokken_model::init::{init_tensors, write_random_model, TokenizerSource};
use tokken_model::{BertConfig, BertParams};

fn stats(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[test]
fn init_matches_hf_init_weights_rules() {
    let mut cfg = BertConfig::preset("tiny", 300, 5).unwrap();
    cfg.pad_token_id = 3;
    cfg.initializer_range = 0.05;
    let tensors = init_tensors(&cfg, 7).unwrap();
    let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    // every tensor of BertForSequenceClassification, nothing else
    let expected = 5 + 2 * 16 + 2 + 2;
    assert_eq!(names.len(), expected, "{names:?}");
    for (name, t) in &tensors {
        let v = t.as_f32().unwrap();
        if name.contains("LayerNorm.weight") {
            assert!(v.iter().all(|&x| x == 1.0), "{name}");
        } else if name.ends_with(".bias") {
            assert!(v.iter().all(|&x| x == 0.0), "{name}");
        } else {
            let v: Vec<f32> = if name.ends_with("word_embeddings.weight") {
                let c = cfg.hidden_size;
                assert!(
                    v[3 * c..4 * c].iter().all(|&x| x == 0.0),
                    "padding row zeroed"
                );
                assert!(v[2 * c..3 * c].iter().any(|&x| x != 0.0));
                v.iter()
                    .enumerate()
                    .filter(|(i, _)| i / c != 3)
                    .map(|(_, &x)| x)
                    .collect()
            } else {
                v.to_vec()
            };
            let (mean, std) = stats(&v);
            let n = v.len() as f64;
            // mean within 5 standard errors, std within 5 %
            assert!(mean.abs() < 5.0 * 0.05 / n.sqrt(), "{name}: mean {mean}");
            assert!((std / 0.05 - 1.0).abs() < 0.05, "{name}: std {std}");
        }
    }
    // same seed, same model; another seed, another model
    let again = init_tensors(&cfg, 7).unwrap();
    let other = init_tensors(&cfg, 8).unwrap();
    assert_eq!(tensors[0].1.as_f32().unwrap(), again[0].1.as_f32().unwrap());
    assert_ne!(tensors[0].1.as_f32().unwrap(), other[0].1.as_f32().unwrap());
}

#[test]
fn written_model_dir_loads_back() {
    let tmp = common::scratch("init-test");
    let out = tmp.path().join("model");
    let vocab = tiny_dir().join("vocab.txt");
    let mut cfg = BertConfig::preset("tiny", 120, 3).unwrap();
    cfg.id2label = vec!["a".into(), "b".into(), "c".into()];
    write_random_model(&out, &cfg, TokenizerSource::Vocab(&vocab), 1).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "tokenizer_config.json",
    ] {
        assert!(out.join(f).is_file(), "{f} written");
    }
    let back = BertConfig::from_file(&out).unwrap();
    assert_eq!(back.id2label, cfg.id2label);
    let params = BertParams::load(&out).unwrap();
    assert!(params.classifier.is_some());
    assert!(params.embeddings.word_embeddings.is_mapped());
    // the vocab must match the config
    let wrong = BertConfig::preset("tiny", 999, 3).unwrap();
    let e =
        write_random_model(&out.join("x"), &wrong, TokenizerSource::Vocab(&vocab), 1).unwrap_err();
    assert!(e.to_string().contains("vocab_size"), "{e}");
}

#[test]
fn init_does_not_depend_on_the_thread_count() {
    // a tensor larger than one random stream's chunk
    let cfg = BertConfig::preset("tiny", 3000, 2).unwrap();
    let with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| init_tensors(&cfg, 11).unwrap())
    };
    let (one, three) = (with(1), with(3));
    for ((name, a), (_, b)) in one.iter().zip(&three) {
        assert_eq!(a.as_f32().unwrap(), b.as_f32().unwrap(), "{name}");
    }
}
