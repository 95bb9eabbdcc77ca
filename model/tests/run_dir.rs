//! Run-dir files: PEFT adapter config and key names (against the PEFT-made fixture
//! `peft-tiny-adapter/`, scripts/reference/peft_key_names.py), labels.json, train_log.jsonl.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokken_model::run_dir::{
    is_run_dir, lora_key, parse_adapter_key, read_train_log, AdapterConfig, AdapterKey, EvalEntry,
    LabelsFile, LoraModule, LoraPart, ProblemType, TargetModules, TrainEntry, TrainLog,
    TrainLogEntry,
};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn json_of(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn peft_adapter_config_reads_and_round_trips() {
    let path = fixture("peft-tiny-adapter/adapter_config.json");
    let c = AdapterConfig::read(&path).unwrap();
    assert_eq!(c.peft_type, "LORA");
    assert_eq!(c.task_type.as_deref(), Some("SEQ_CLS"));
    assert_eq!((c.r, c.lora_alpha, c.lora_dropout), (2, 4.0, 0.0));
    assert_eq!(c.scaling(), 2.0);
    assert_eq!(
        c.target_modules,
        TargetModules::List(vec!["query".into(), "value".into()])
    );
    assert_eq!(
        c.modules_to_save,
        Some(vec!["classifier".to_string(), "score".to_string()])
    );
    assert_eq!(
        c.targeted_modules().unwrap(),
        vec![LoraModule::Query, LoraModule::Value]
    );
    // Written back, it is the same JSON PEFT wrote.
    let tmp = common::scratch("rundir-cfg");
    let dir = tmp.path();
    let out = dir.join("adapter_config.json");
    c.write(&out).unwrap();
    assert_eq!(json_of(&out), json_of(&path));
    // Made from scratch, it has every field PEFT 0.21.2 writes, with PEFT's values.
    let mut made = AdapterConfig::lora_seq_cls("../tiny-bert", 2, 4.0, 0.0, &["query", "value"]);
    made.init_lora_weights = Value::Bool(false); // the fixture was made with random B
    made.write(&out).unwrap();
    assert_eq!(json_of(&out), json_of(&path));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("\"lora_alpha\": 4,"),
        "alpha written as PEFT writes it"
    );
}

#[test]
fn minimal_and_unsupported_adapter_configs() {
    let tmp = common::scratch("rundir-cfg2");
    let dir = tmp.path();
    let path = dir.join("adapter_config.json");
    let write = |v: Value| std::fs::write(&path, v.to_string()).unwrap();
    // The fields PEFT needs are enough.
    write(
        serde_json::json!({"peft_type": "LORA", "task_type": "SEQ_CLS", "r": 8,
        "lora_alpha": 16, "target_modules": ["query", "output.dense"], "use_rslora": true}),
    );
    let c = AdapterConfig::read(&path).unwrap();
    assert_eq!(c.bias, "none");
    assert_eq!(c.scaling(), 16.0 / 8f64.sqrt());
    assert_eq!(
        c.targeted_modules().unwrap(),
        vec![
            LoraModule::Query,
            LoraModule::AttentionOutput,
            LoraModule::Output
        ],
        "PEFT's suffix rule: output.dense selects both output projections"
    );
    let base = serde_json::json!({"peft_type": "LORA", "r": 8, "lora_alpha": 16,
        "target_modules": ["query"]});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (bad, want) in [
        (with("peft_type", "IA3".into()), "only \"LORA\""),
        (with("task_type", "CAUSAL_LM".into()), "SEQ_CLS"),
        (with("use_dora", true.into()), "DoRA"),
        (with("bias", "all".into()), "bias"),
        (with("target_modules", ".*query".into()), "regex"),
        (
            with("target_modules", serde_json::json!(["dense"])),
            "pooler",
        ),
        (
            with("target_modules", serde_json::json!(["qkv"])),
            "matches no",
        ),
        (
            with("rank_pattern", serde_json::json!({"query": 4})),
            "rank_pattern",
        ),
        (
            with("layers_to_transform", serde_json::json!([0])),
            "layers_to_transform",
        ),
        (with("r", 0.into()), "r must be"),
    ] {
        write(bad.clone());
        let err = AdapterConfig::read(&path).unwrap_err().to_string();
        assert!(
            err.contains(want) && err.contains("adapter_config.json"),
            "{bad}: {err}"
        );
    }
    std::fs::write(&path, "{\"peft_type\": \"LORA\",").unwrap();
    assert!(AdapterConfig::read(&path).is_err());
}

#[test]
fn peft_tensor_names_parse_and_round_trip() {
    let bytes = std::fs::read(fixture("peft-tiny-adapter/adapter_model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    assert_eq!(names.len(), 10);
    let mut lora = 0;
    let mut saved = Vec::new();
    for name in &names {
        let key = parse_adapter_key(name).unwrap_or_else(|| panic!("unparsed {name}"));
        assert_eq!(&key.key(), name, "round trip");
        let shape = st.tensor(name).unwrap().shape().to_vec();
        match key {
            AdapterKey::Lora {
                layer,
                module,
                part,
            } => {
                assert!(layer < 2);
                assert!(matches!(module, LoraModule::Query | LoraModule::Value));
                let want = match part {
                    LoraPart::A => vec![2, 64],
                    LoraPart::B => vec![64, 2],
                };
                assert_eq!(shape, want, "{name}");
                lora += 1;
            }
            AdapterKey::Saved(n) => saved.push((n, shape)),
        }
    }
    assert_eq!(lora, 8);
    saved.sort();
    assert_eq!(
        saved,
        vec![
            ("classifier.bias".to_string(), vec![3]),
            ("classifier.weight".to_string(), vec![3, 64])
        ]
    );
    assert_eq!(
        lora_key(0, LoraModule::Query, LoraPart::A),
        "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight"
    );
    assert_eq!(
        lora_key(11, LoraModule::Output, LoraPart::B),
        "base_model.model.bert.encoder.layer.11.output.dense.lora_B.weight"
    );
    for m in LoraModule::ALL {
        for p in [LoraPart::A, LoraPart::B] {
            let k = lora_key(3, m, p);
            assert_eq!(
                parse_adapter_key(&k),
                Some(AdapterKey::Lora {
                    layer: 3,
                    module: m,
                    part: p
                })
            );
        }
    }
    for bad in [
        "bert.encoder.layer.0.attention.self.query.lora_A.weight",
        "base_model.model.bert.encoder.layer.x.attention.self.query.lora_A.weight",
        "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.default.weight",
        "base_model.model.bert.encoder.layer.0.attention.self.qkv.lora_A.weight",
        "base_model.model.classifier.modules_to_save.default.weight",
        "base_model.model.",
    ] {
        assert_eq!(parse_adapter_key(bad), None, "{bad}");
    }
}

#[test]
fn labels_file_round_trips_and_validates() {
    let tmp = common::scratch("rundir-labels");
    let dir = tmp.path();
    let path = dir.join("labels.json");
    let labels = LabelsFile {
        labels: vec!["経済".into(), "スポーツ".into(), "映画".into()],
        problem_type: Some(ProblemType::SingleLabelClassification),
    };
    labels.write(&path).unwrap();
    assert_eq!(LabelsFile::read(&path).unwrap(), labels);
    let v = json_of(&path);
    assert_eq!(v["problem_type"], "single_label_classification");
    assert_eq!(v["labels"][1], "スポーツ");
    assert!(is_run_dir(dir));
    assert!(!is_run_dir(&fixture("tiny-bert")));
    std::fs::write(
        &path,
        r#"{"labels": ["a", "a"], "problem_type": "single_label_classification"}"#,
    )
    .unwrap();
    assert!(LabelsFile::read(&path)
        .unwrap_err()
        .to_string()
        .contains("repeated"));
    // As the trainer writes it: id2label / label2id too, problem type absent = single-label.
    std::fs::write(
        &path,
        r#"{"id2label": {"0": "a", "1": "b"}, "label2id": {"a": 0, "b": 1}, "labels": ["a", "b"]}"#,
    )
    .unwrap();
    let read = LabelsFile::read(&path).unwrap();
    assert_eq!(read.labels, vec!["a", "b"]);
    assert_eq!(read.problem_type, None);
    // The trainer's multi-label runs name the problem type.
    std::fs::write(
        &path,
        r#"{"labels": ["a", "b"], "problem_type": "multi_label_classification"}"#,
    )
    .unwrap();
    assert_eq!(
        LabelsFile::read(&path).unwrap().problem_type,
        Some(ProblemType::MultiLabelClassification)
    );
    // HF's form: id2label alone, labels by index.
    std::fs::write(&path, r#"{"id2label": {"1": "b", "0": "a"}}"#).unwrap();
    assert_eq!(LabelsFile::read(&path).unwrap().labels, vec!["a", "b"]);
    std::fs::write(&path, r#"{"id2label": {"0": "a", "2": "b"}}"#).unwrap();
    assert!(LabelsFile::read(&path)
        .unwrap_err()
        .to_string()
        .contains("not an index below 2"));
    std::fs::write(&path, r#"{"labels": ["a"], "problem_type": "ranking"}"#).unwrap();
    assert!(LabelsFile::read(&path)
        .unwrap_err()
        .to_string()
        .contains("problem_type"));
    std::fs::write(&path, r#"{"label2id": {"a": 0}}"#).unwrap();
    assert!(LabelsFile::read(&path).is_err());
}

#[test]
fn train_log_appends_and_reads_back() {
    let tmp = common::scratch("rundir-log");
    let dir = tmp.path();
    let path = dir.join("train_log.jsonl");
    let step = |s: usize, loss: f64| {
        TrainLogEntry::Train(TrainEntry {
            step: s,
            epoch: s as f64 / 4.0,
            loss,
            lr: 1e-4,
            grad_norm: 0.5,
            tokens_per_s: 1234.5,
        })
    };
    let eval = TrainLogEntry::Eval(EvalEntry {
        step: 2,
        epoch: 0.5,
        loss: None,
        accuracy: 0.75,
        macro_f1: 0.7,
        weighted_f1: Some(0.72),
    });
    {
        let mut log = TrainLog::create(&path).unwrap();
        log.log(&step(1, 2.0)).unwrap();
        log.log(&step(2, 1.5)).unwrap();
        log.log(&eval).unwrap();
    }
    {
        let mut log = TrainLog::append(&path).unwrap();
        log.log(&step(3, f64::NAN)).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert!(text
        .lines()
        .next()
        .unwrap()
        .starts_with("{\"kind\":\"train\",\"step\":1,"));
    assert!(
        text.contains("\"loss\":null"),
        "NaN written as null: {text}"
    );
    let back = read_train_log(&path).unwrap();
    assert_eq!(back.len(), 4);
    assert_eq!(back[0], step(1, 2.0));
    assert_eq!(back[2], eval);
    match &back[3] {
        TrainLogEntry::Train(t) => assert!(t.loss.is_nan()),
        other => panic!("{other:?}"),
    }
    // A line cut by a crash at the end is skipped; a bad line inside is an error.
    std::fs::write(&path, format!("{text}{{\"kind\":\"train\",\"st")).unwrap();
    assert_eq!(read_train_log(&path).unwrap().len(), 4);
    std::fs::write(&path, format!("{{\"kind\":\"x\"}}\n{text}")).unwrap();
    let err = read_train_log(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}:1: expected a train or eval log entry",
            path.display()
        )),
        "{err}"
    );
    // create truncates.
    TrainLog::create(&path).unwrap();
    assert!(read_train_log(&path).unwrap().is_empty());
}
