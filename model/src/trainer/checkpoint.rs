//! Resumable checkpoints: `RUN_DIR/checkpoint/` holds the trainable tensors
//! (`model_state.safetensors`, HF names), the AdamW moments (`optimizer.safetensors`,
//! `exp_avg.<name>` / `exp_avg_sq.<name>` as torch calls them) and the counters
//! (`trainer_state.json`). The directory is replaced as a whole: written to
//! `checkpoint.tmp/`, then swapped in by renames, so a crash leaves either the old or the new
//! checkpoint (a crash between the two renames leaves `checkpoint.old/`, which [`load`]
//! falls back to).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokken_engine::{save_safetensors, Tensor, Weights};

use super::{Trainer, TrainerState};
use crate::error::{ModelError, Result};
use crate::init::write_atomic;

/// The checkpoint directory's name inside a run dir.
pub const DIR: &str = "checkpoint";

/// `trainer_state.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedState {
    pub state: TrainerState,
    /// AdamW's step count.
    pub optimizer_step: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The checkpoint dir of `run_dir` to read: `checkpoint/`, else a left-over
/// `checkpoint.old/`.
pub fn find(run_dir: &Path) -> Option<PathBuf> {
    [DIR, "checkpoint.old"]
        .iter()
        .map(|d| run_dir.join(d))
        .find(|d| d.join("trainer_state.json").is_file())
}

/// The step of the checkpoint in `run_dir`, if there is one.
pub fn saved_step(run_dir: &Path) -> Option<u64> {
    let dir = find(run_dir)?;
    let text = std::fs::read_to_string(dir.join("trainer_state.json")).ok()?;
    let saved: SavedState = serde_json::from_str(&text).ok()?;
    Some(saved.state.step)
}

/// Write the trainer's state as `run_dir/checkpoint/`.
pub fn save(trainer: &mut Trainer) -> Result<()> {
    let run_dir = trainer.out.clone();
    let tmp = run_dir.join("checkpoint.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;

    let state = trainer.model.state_tensors();
    let tensors: Vec<(String, Tensor)> = state
        .into_iter()
        .map(|(name, data, shape)| Ok((name, Tensor::from_f32(shape, data)?)))
        .collect::<Result<_>>()?;
    let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    save_safetensors(&tmp.join("model_state.safetensors"), &refs, None)?;

    let opt = &trainer.optimizer;
    let mut moments = Vec::with_capacity(opt.slots.len() * 2);
    for (name, offset, n) in &opt.slots {
        let m = Tensor::from_f32(vec![*n], opt.m[*offset..offset + n].to_vec())?;
        let v = Tensor::from_f32(vec![*n], opt.v[*offset..offset + n].to_vec())?;
        moments.push((format!("exp_avg.{name}"), m));
        moments.push((format!("exp_avg_sq.{name}"), v));
    }
    let refs: Vec<(&str, &Tensor)> = moments.iter().map(|(n, t)| (n.as_str(), t)).collect();
    save_safetensors(&tmp.join("optimizer.safetensors"), &refs, None)?;

    let saved = SavedState {
        state: trainer.state.clone(),
        optimizer_step: opt.step,
    };
    let json = serde_json::to_vec_pretty(&saved).map_err(|e| ModelError::Other(e.to_string()))?;
    write_atomic(&tmp.join("trainer_state.json"), &json)?;

    let live = run_dir.join(DIR);
    let old = run_dir.join("checkpoint.old");
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    if live.exists() {
        std::fs::rename(&live, &old).map_err(io(&live))?;
    }
    std::fs::rename(&tmp, &live).map_err(io(&tmp))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

/// Restore the trainer's model, optimizer and counters from `run_dir`'s checkpoint.
pub fn load(trainer: &mut Trainer, run_dir: &Path) -> Result<()> {
    let dir = find(run_dir).ok_or_else(|| ModelError::DataFile {
        path: run_dir.join(DIR),
        msg: "no checkpoint to resume from (checkpoint/trainer_state.json is missing)".into(),
    })?;
    let state_path = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
    let saved: SavedState = serde_json::from_str(&text).map_err(|source| ModelError::Json {
        path: state_path.clone(),
        source,
    })?;

    let weights = Weights::load(&dir.join("model_state.safetensors"))?;
    let mut tensors = Vec::new();
    for (name, _, _) in &trainer.optimizer.slots {
        let t = weights.get(name).ok_or_else(|| ModelError::MissingTensor {
            source_name: dir.join("model_state.safetensors").display().to_string(),
            key: name.clone(),
        })?;
        tensors.push((name.clone(), t.to_f32_vec(), t.shape().to_vec()));
    }
    trainer.model.load_state(&tensors)?;

    let opt_path = dir.join("optimizer.safetensors");
    let moments = Weights::load(&opt_path)?;
    let opt = &mut trainer.optimizer;
    for (name, offset, n) in &opt.slots {
        for (key, dst) in [
            (format!("exp_avg.{name}"), &mut opt.m),
            (format!("exp_avg_sq.{name}"), &mut opt.v),
        ] {
            let t = moments.get(&key).ok_or_else(|| ModelError::MissingTensor {
                source_name: opt_path.display().to_string(),
                key: key.clone(),
            })?;
            let data = t.to_f32_vec();
            if data.len() != *n {
                return Err(ModelError::BadShape {
                    source_name: opt_path.display().to_string(),
                    key,
                    expected: vec![*n],
                    found: t.shape().to_vec(),
                });
            }
            dst[*offset..offset + n].copy_from_slice(&data);
        }
    }
    opt.step = saved.optimizer_step;
    trainer.state = saved.state;
    Ok(())
}
