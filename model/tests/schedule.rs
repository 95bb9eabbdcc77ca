//! Learning-rate schedules against transformers (fixture from
//! scripts/reference/make_schedule_fixture.py) and hand-derived values.

use std::path::Path;

use serde_json::Value;
use tokken_model::schedule::Schedule;

fn close(got: f64, want: f64, what: &str) {
    let tol = 1e-15 + 1e-12 * want.abs();
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

#[test]
fn matches_transformers_schedulers() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schedules_transformers.json");
    let fixture: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let base = fixture["base_lr"].as_f64().unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for c in cases {
        let warmup = c["warmup"].as_u64().unwrap() as usize;
        let total = c["total"].as_u64().unwrap() as usize;
        let kind = c["kind"].as_str().unwrap();
        let schedule = match kind {
            "linear" => Schedule::Linear {
                warmup_steps: warmup,
                total_steps: total,
            },
            "cosine" => Schedule::Cosine {
                warmup_steps: warmup,
                total_steps: total,
                num_cycles: c["num_cycles"].as_f64().unwrap(),
            },
            "constant_with_warmup" => Schedule::ConstantWithWarmup {
                warmup_steps: warmup,
            },
            other => panic!("unknown kind {other}"),
        };
        let lrs = c["lrs"].as_array().unwrap();
        assert_eq!(lrs.len(), total + 3);
        for (step, want) in lrs.iter().enumerate() {
            close(
                schedule.lr(base, step),
                want.as_f64().unwrap(),
                &format!("{kind} warmup {warmup} total {total} step {step}"),
            );
        }
    }
}

#[test]
fn hand_derived_values() {
    let lin = Schedule::from_name("linear", 2, 6).unwrap();
    let want = [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0];
    for (s, w) in want.iter().enumerate() {
        close(lin.factor(s), *w, &format!("linear step {s}"));
    }
    let cos = Schedule::from_name("cosine", 0, 4).unwrap();
    // ½(1 + cos(π p)) for p = 0, ¼, ½, ¾, 1.
    let r = std::f64::consts::FRAC_1_SQRT_2;
    let want = [1.0, 0.5 * (1.0 + r), 0.5, 0.5 * (1.0 - r), 0.0];
    for (s, w) in want.iter().enumerate() {
        close(cos.factor(s), *w, &format!("cosine step {s}"));
    }
    let c = Schedule::from_name("constant", 4, 100).unwrap();
    assert_eq!(c.factor(2), 0.5);
    assert_eq!(c.factor(4), 1.0);
    assert_eq!(c.factor(1000), 1.0);
    assert!(Schedule::from_name("step", 0, 1).is_err());
}

#[test]
fn serializes_with_a_kind_tag() {
    let s = Schedule::Cosine {
        warmup_steps: 3,
        total_steps: 30,
        num_cycles: 0.5,
    };
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"cosine","warmup_steps":3,"total_steps":30,"num_cycles":0.5}"#
    );
    assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), s);
}
