//! Random initialisation exactly as HF `BertPreTrainedModel._init_weights` (transformers
//! 5.x): Linear and Embedding weights ~ N(0, initializer_range) (0.02 when the range is 0),
//! Linear biases 0, LayerNorm weight 1 and bias 0, and the `pad_token_id` row of
//! `word_embeddings` zeroed (the only embedding with a `padding_idx`).
//!
//! The random streams are our own (seeded xoshiro256** + Box–Muller, one stream per 64 Ki
//! values, filled in parallel), so a seed gives the same model on every platform and thread
//! count; it does not reproduce torch's stream.

use std::collections::BTreeMap;
use std::path::Path;

use tokken_engine::{save_safetensors, write_file_atomically, Tensor, Weights};

use crate::config::BertConfig;
use crate::error::{ModelError, Result};
use crate::params::BertParams;

/// xoshiro256** seeded through splitmix64; normals by Box–Muller.
struct Rng {
    s: [u64; 4],
    spare: Option<f64>,
}

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
            spare: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    fn standard_normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * self.uniform();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

/// Elements drawn from one random stream; chunks are filled in parallel.
const CHUNK: usize = 1 << 16;

/// `n` values ~ N(0, std²) for tensor number `stream` of a model seeded with `seed`. Chunk
/// `j` has its own stream keyed by (seed, stream, j), so the values do not depend on the
/// thread count.
fn normal_vec(seed: u64, stream: u64, n: usize, std: f32) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out = vec![0.0f32; n];
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(j, chunk)| {
            let key = seed
                ^ stream.wrapping_mul(0xA24B_AED4_963E_E407)
                ^ (j as u64).wrapping_mul(0x9FB2_1C65_1E98_DF25);
            let mut rng = Rng::new(key);
            for v in chunk {
                *v = (rng.standard_normal() * std as f64) as f32;
            }
        });
    out
}

/// Every tensor of a freshly initialised `BertForSequenceClassification`, by HF key name
/// (`bert.` prefix, `classifier.*`), in a fixed order.
pub fn init_tensors(config: &BertConfig, seed: u64) -> Result<Vec<(String, Tensor)>> {
    let std = if config.initializer_range > 0.0 {
        config.initializer_range as f32
    } else {
        0.02
    };
    let (c, i) = (config.hidden_size, config.intermediate_size);
    let mut stream = 0u64;
    let mut out: Vec<(String, Tensor)> = Vec::new();
    let mut push = |name: String, shape: &[usize], data: Vec<f32>| -> Result<()> {
        out.push((name, Tensor::from_f32(shape.to_vec(), data)?));
        Ok(())
    };
    let mut normal = |shape: &[usize]| {
        stream += 1;
        normal_vec(seed, stream, shape.iter().product(), std)
    };
    let ones = |n: usize| vec![1.0f32; n];
    let zeros = |n: usize| vec![0.0f32; n];

    let mut word = normal(&[config.vocab_size, c]);
    word[config.pad_token_id * c..(config.pad_token_id + 1) * c].fill(0.0);
    push(
        "bert.embeddings.word_embeddings.weight".into(),
        &[config.vocab_size, c],
        word,
    )?;
    for (name, rows) in [
        ("position_embeddings", config.max_position_embeddings),
        ("token_type_embeddings", config.type_vocab_size),
    ] {
        let data = normal(&[rows, c]);
        push(format!("bert.embeddings.{name}.weight"), &[rows, c], data)?;
    }
    push("bert.embeddings.LayerNorm.weight".into(), &[c], ones(c))?;
    push("bert.embeddings.LayerNorm.bias".into(), &[c], zeros(c))?;

    let linears_per_layer = [
        ("attention.self.query", c, c),
        ("attention.self.key", c, c),
        ("attention.self.value", c, c),
        ("attention.output.dense", c, c),
        ("intermediate.dense", i, c),
        ("output.dense", c, i),
    ];
    for l in 0..config.num_hidden_layers {
        for (name, out_f, in_f) in linears_per_layer {
            let key = format!("bert.encoder.layer.{l}.{name}");
            let w = normal(&[out_f, in_f]);
            push(format!("{key}.weight"), &[out_f, in_f], w)?;
            push(format!("{key}.bias"), &[out_f], zeros(out_f))?;
            if name == "attention.output.dense" || name == "output.dense" {
                let ln = key.replace(".dense", ".LayerNorm");
                push(format!("{ln}.weight"), &[c], ones(c))?;
                push(format!("{ln}.bias"), &[c], zeros(c))?;
            }
        }
    }
    let pooler = normal(&[c, c]);
    push("bert.pooler.dense.weight".into(), &[c, c], pooler)?;
    push("bert.pooler.dense.bias".into(), &[c], zeros(c))?;
    let nl = config.num_labels();
    let cls = normal(&[nl, c]);
    push("classifier.weight".into(), &[nl, c], cls)?;
    push("classifier.bias".into(), &[nl], zeros(nl))?;
    Ok(out)
}

/// A randomly initialised model in memory (no files), e.g. for benchmarks.
pub fn init_params(config: &BertConfig, seed: u64) -> Result<BertParams> {
    let mut weights = Weights::new();
    for (name, t) in init_tensors(config, seed)? {
        weights.insert(name, t);
    }
    BertParams::from_weights(config, &weights, "random init")
}

/// Where the tokenizer files of a new model dir come from.
pub enum TokenizerSource<'a> {
    /// A `vocab.txt`; `tokenizer_config.json` is taken from the same directory when present,
    /// else a BertJapaneseTokenizer (MeCab + unidic-lite, WordPiece) config is written.
    Vocab(&'a Path),
    /// An HF model dir holding `vocab.txt` (and usually `tokenizer_config.json`).
    ModelDir(&'a Path),
}

/// The `tokenizer_config.json` written when the vocab comes without one.
fn default_tokenizer_config(max_len: usize) -> serde_json::Value {
    serde_json::json!({
        "tokenizer_class": "BertJapaneseTokenizer",
        "model_max_length": max_len,
        "do_lower_case": false,
        "word_tokenizer_type": "mecab",
        "subword_tokenizer_type": "wordpiece",
        "mecab_kwargs": { "mecab_dic": "unidic_lite" }
    })
}

/// Count the entries of a `vocab.txt` (one token per line).
pub fn vocab_size(vocab: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(vocab).map_err(|source| ModelError::Io {
        path: vocab.to_path_buf(),
        source,
    })?;
    Ok(text.lines().count())
}

/// Write `bytes` to `path` atomically (temp file in the same dir, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    Ok(write_file_atomically(path, |w| w.write_all(bytes))?)
}

/// Write a randomly initialised `BertForSequenceClassification` model dir that both
/// `transformers` and tokken load: `config.json` (with `id2label` / `label2id`),
/// `model.safetensors`, `vocab.txt`, `tokenizer_config.json`. Each file is written
/// atomically; `config.vocab_size` must equal the vocab's size.
pub fn write_random_model(
    out: &Path,
    config: &BertConfig,
    tokenizer: TokenizerSource<'_>,
    seed: u64,
) -> Result<()> {
    config.validate(&out.join("config.json"))?;
    let (vocab, tok_config) = match tokenizer {
        TokenizerSource::Vocab(v) => {
            let dir = v.parent().unwrap_or(Path::new("."));
            (v.to_path_buf(), dir.join("tokenizer_config.json"))
        }
        TokenizerSource::ModelDir(d) => (d.join("vocab.txt"), d.join("tokenizer_config.json")),
    };
    let n_vocab = vocab_size(&vocab)?;
    if n_vocab != config.vocab_size {
        return Err(ModelError::Config {
            path: out.join("config.json"),
            field: "vocab_size".into(),
            msg: format!(
                "{} disagrees with {} ({n_vocab} entries)",
                config.vocab_size,
                vocab.display()
            ),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| ModelError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| ModelError::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    write_atomic(&out.join("vocab.txt"), &read(&vocab)?)?;
    let tok_bytes = if tok_config.is_file() {
        read(&tok_config)?
    } else {
        let v = default_tokenizer_config(config.max_position_embeddings);
        serde_json::to_vec_pretty(&v).map_err(|e| ModelError::Other(e.to_string()))?
    };
    write_atomic(&out.join("tokenizer_config.json"), &tok_bytes)?;

    let tensors = init_tensors(config, seed)?;
    let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    // transformers expects safetensors written for PyTorch to say so.
    let metadata: BTreeMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    save_safetensors(&out.join("model.safetensors"), &refs, Some(&metadata))?;
    // config.json last: a dir with a config but no weights never exists.
    let json = serde_json::to_vec_pretty(&config.to_json())
        .map_err(|e| ModelError::Other(e.to_string()))?;
    write_atomic(&out.join("config.json"), &json)?;
    Ok(())
}
