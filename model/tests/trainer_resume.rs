//! Trainer behaviour on the tiny fixture model and the bundled headlines: resuming is
//! bit-exact, gradient accumulation equals the larger batch, a diverging run stops with a
//! clear message and keeps its last good checkpoint.

use tokken_model::train::{ConfigDropouts, LoraConfig, LossConfig, TrainMode, TrainSetup};
use tokken_model::trainer::{checkpoint, ScheduleKind, TrainConfig, Trainer};

mod common;
use common::{repo, scratch, tiny_dir, train_config};

/// 16 steps of 2 × 8 bundled headlines, LoRA r 4 with dropout 0.1, the fixture's dropouts,
/// cosine schedule, eval on dev after each epoch.
fn config(mode: TrainMode) -> TrainConfig {
    let model = tiny_dir();
    let dropouts = ConfigDropouts::from_file(&model.join("config.json")).unwrap();
    TrainConfig {
        eval: Some(repo().join("data/headlines/dev.jsonl")),
        setup: TrainSetup::with_dropouts(
            mode,
            LoraConfig {
                r: 4,
                alpha: 8.0,
                dropout: 0.1,
                target_modules: vec!["query".into(), "value".into()],
            },
            LossConfig::default(),
            dropouts,
        ),
        max_steps: Some(16),
        grad_accum: 2,
        warmup_ratio: 0.1,
        schedule: ScheduleKind::Cosine,
        seed: 5,
        eval_every_epoch: true,
        ..train_config(model, repo().join("data/headlines/train.jsonl"))
    }
}

fn run(trainer: &mut Trainer) {
    trainer.run(&mut |_| {}).unwrap();
}

#[test]
fn resume_continues_bit_for_bit() {
    let tmp = scratch("trainer-resume");
    let dir = tmp.path();
    // 16 steps of 2 × 8 examples: 8 steps, interrupted, then 8 more after --resume.
    let mut whole = Trainer::new(config(TrainMode::Lora), &dir.join("whole")).unwrap();
    run(&mut whole);
    let mut first = Trainer::new(config(TrainMode::Lora), &dir.join("split")).unwrap();
    first.stop_after = Some(8);
    run(&mut first);
    assert_eq!(first.state.step, 8);
    assert_eq!(checkpoint::saved_step(&dir.join("split")), Some(8));
    drop(first);
    let mut second = Trainer::resume(&dir.join("split")).unwrap();
    assert_eq!(second.state.step, 8);
    run(&mut second);
    assert_eq!(second.state.step, 16);

    let a = whole.model.state_tensors();
    let b = second.model.state_tensors();
    assert_eq!(a.len(), b.len());
    for ((na, va, _), (nb, vb, _)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(va), bits(vb), "{na} differs after resume");
    }
    assert_eq!(whole.optimizer.m, second.optimizer.m);
    assert_eq!(whole.optimizer.v, second.optimizer.v);
    // The exported adapters are the same files.
    let read = |d: &str| std::fs::read(dir.join(d).join("adapter_model.safetensors")).unwrap();
    assert_eq!(read("whole"), read("split"));
}

#[test]
fn accumulation_equals_the_larger_batch() {
    let tmp = scratch("trainer-accum");
    let dir = tmp.path();
    let base = || {
        let mut c = config(TrainMode::Full);
        c.setup = c.setup.without_dropout();
        c.shuffle = false;
        c.eval = None;
        c.max_steps = Some(3);
        c
    };
    let mut big = base();
    big.batch_size = 32;
    big.grad_accum = 1;
    let mut small = base();
    small.batch_size = 8;
    small.grad_accum = 4;
    let mut a = Trainer::new(big, &dir.join("big")).unwrap();
    run(&mut a);
    let mut b = Trainer::new(small, &dir.join("small")).unwrap();
    run(&mut b);
    let mut worst = 0f32;
    for ((n, va, _), (_, vb, _)) in a.model.state_tensors().iter().zip(&b.model.state_tensors()) {
        // The key bias's exact gradient is 0 (softmax ignores a per-row shift), so what it
        // gets is rounding noise, which Adam's m/√v scales up to lr-sized steps either way.
        if n.ends_with("attention.self.key.bias") {
            continue;
        }
        for (x, y) in va.iter().zip(vb) {
            let d = (x - y).abs();
            assert!(d <= 1e-6, "{n}: {x} vs {y}");
            worst = worst.max(d);
        }
    }
    println!("4 × 8 accumulated vs batch 32 after 3 full-model steps: max |Δw| = {worst:e}");
}

#[test]
fn divergence_stops_and_keeps_the_last_good_checkpoint() {
    let tmp = scratch("trainer-nan");
    let dir = tmp.path();
    let mut c = config(TrainMode::Full);
    c.lr = 1e30;
    c.warmup_ratio = 0.0;
    c.schedule = ScheduleKind::Constant;
    c.adamw.max_grad_norm = None;
    c.checkpoint_every = Some(1);
    c.eval = None;
    let run_dir = dir.join("run");
    let mut t = Trainer::new(c, &run_dir).unwrap();
    let err = t.run(&mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("training diverged"), "{err}");
    let good = checkpoint::saved_step(&run_dir).expect("a checkpoint is kept");
    assert_eq!(good, t.state.step, "{err}");
    assert!(
        err.contains(&format!("last good checkpoint (step {good})")),
        "{err}"
    );
    // The kept checkpoint holds finite weights and resumes.
    let resumed = Trainer::resume(&run_dir).unwrap();
    assert_eq!(resumed.state.step, good);
    for (name, v, _) in resumed.model.state_tensors() {
        assert!(v.iter().all(|x| x.is_finite()), "{name} is not finite");
    }
}
