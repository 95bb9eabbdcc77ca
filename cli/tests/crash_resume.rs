//! Crash safety of `tokken-cli finetune`: a real subprocess killed with SIGKILL mid-run
//! leaves a run dir whose checkpoint loads, `--resume` finishes it, and the result is
//! bit-identical to an uninterrupted run with the same seed and thread count.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{check, cli, command, scratch, tiny_dir};

/// 48 labelled lines in the tiny model's three classes.
fn write_data(path: &Path) {
    let rows = [
        ("株価が上がる", "経済"),
        ("円安が進む", "経済"),
        ("決算を発表", "経済"),
        ("サッカーの試合", "スポーツ"),
        ("野球で優勝", "スポーツ"),
        ("マラソン大会", "スポーツ"),
        ("映画が公開", "映画"),
        ("監督の新作", "映画"),
    ];
    let mut text = String::new();
    for i in 0..6 {
        for (t, l) in rows {
            text.push_str(&format!("{{\"text\": \"{t}{i}\", \"label\": \"{l}\"}}\n"));
        }
    }
    std::fs::write(path, text).unwrap();
}

fn finetune<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut cmd = command();
    cmd.args(["--threads", "1", "finetune"]).args(args);
    cmd
}

/// The flags of both runs: only `--out` differs.
fn run_args(data: &Path, out: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--model".into(),
        tiny_dir().into(),
        "--train".into(),
        data.into(),
        "--out".into(),
        out.into(),
    ];
    for a in [
        "--max-steps",
        "300",
        "--batch-size",
        "4",
        "--checkpoint-every",
        "3",
        "--max-length",
        "32",
    ] {
        args.push(a.into());
    }
    for a in ["--seed", "7", "--quiet"] {
        args.push(a.into());
    }
    args
}

/// The step of the checkpoint in `run`, read like `--resume` reads it.
fn checkpoint_step(run: &Path) -> Option<u64> {
    let dir = ["checkpoint", "checkpoint.old"]
        .iter()
        .map(|d| run.join(d))
        .find(|d| d.join("trainer_state.json").is_file())?;
    let text = std::fs::read_to_string(dir.join("trainer_state.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["state"]["step"].as_u64()
}

/// Every weight file of a finished run dir, by name.
fn weight_files(run: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(run)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn kill_9_mid_run_then_resume_equals_uninterrupted_run() {
    let tmp = scratch("kill");
    let dir = tmp.path();
    let data = dir.join("train.jsonl");
    write_data(&data);

    // Uninterrupted reference run.
    let a = dir.join("a");
    let out = finetune(&run_args(&data, &a)).output().unwrap();
    let Some(_) = check(&out) else { return };
    let reference = weight_files(&a);
    assert!(!reference.is_empty(), "the finished run dir holds weights");

    // Same run, killed with SIGKILL once a checkpoint past step 6 exists.
    let b = dir.join("b");
    let mut child = finetune(&run_args(&data, &b))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if checkpoint_step(&b).is_some_and(|s| s >= 6) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("finetune ended ({status}) before it could be killed; make the run longer");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // Then let it run 0-20 ms more, so the kill lands anywhere (mid-step, mid-checkpoint).
    let jitter = (u64::from(std::process::id()) * 7919) % 20_000;
    std::thread::sleep(Duration::from_micros(jitter));
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
    let killed_at = checkpoint_step(&b).expect("the checkpoint survives kill -9");
    assert!(
        killed_at < 300,
        "killed mid-run (checkpoint at step {killed_at})"
    );
    eprintln!("killed with a checkpoint at step {killed_at}");

    // The checkpoint's tensors load.
    let ckpt = ["checkpoint", "checkpoint.old"]
        .iter()
        .map(|d| b.join(d))
        .find(|d| d.join("trainer_state.json").is_file())
        .unwrap();
    for f in ["model_state.safetensors", "optimizer.safetensors"] {
        tokken_engine::Weights::load(&ckpt.join(f))
            .unwrap_or_else(|e| panic!("{}: {e}", ckpt.join(f).display()));
    }

    let out = finetune(&[OsStr::new("--resume"), b.as_os_str(), OsStr::new("--quiet")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = weight_files(&b);
    assert_eq!(
        resumed.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        reference.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for ((name, got), (_, want)) in resumed.iter().zip(&reference) {
        assert!(
            got == want,
            "{name} differs between the resumed and the uninterrupted run"
        );
    }
    // The resumed run dir is a model `predict` loads.
    let out = cli(&["predict", "--model", b.to_str().unwrap(), "株価が上がる"]);
    assert!(
        out.status.success(),
        "predict: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_exits_cleanly_then_resume_matches() {
    let tmp = scratch("ctrl-c");
    let dir = tmp.path();
    let data = dir.join("train.jsonl");
    write_data(&data);
    let a = dir.join("a");
    let out = finetune(&run_args(&data, &a)).output().unwrap();
    let Some(_) = check(&out) else { return };
    let reference = weight_files(&a);

    let b = dir.join("b");
    let child = finetune(&run_args(&data, &b))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while checkpoint_step(&b).is_none_or(|s| s < 3) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Ctrl-C must exit cleanly: {:?} {stderr}",
        out.status
    );
    let step = checkpoint_step(&b).expect("a checkpoint after Ctrl-C");
    assert!(step < 300, "interrupted mid-run (step {step}): {stderr}");
    assert!(
        stderr.contains("--resume"),
        "tells how to continue: {stderr}"
    );
    assert!(
        !b.join("checkpoint.tmp").exists(),
        "no half-written checkpoint left"
    );

    let out = finetune(&[OsStr::new("--resume"), b.as_os_str(), OsStr::new("--quiet")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = weight_files(&b);
    assert_eq!(resumed.len(), reference.len());
    for ((name, got), (_, want)) in resumed.iter().zip(&reference) {
        assert!(
            got == want,
            "{name} differs between the resumed and the uninterrupted run"
        );
    }
}
