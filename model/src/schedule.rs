//! Learning-rate schedules, exactly transformers' `get_*_schedule_with_warmup` multipliers.
//!
//! `step` is the 0-based index of the optimizer step the rate is for (what a PyTorch loop
//! reads from `scheduler.get_last_lr()` before `optimizer.step(); scheduler.step()`).
//! With warmup W and total steps S:
//! - warmup (`step < W`): `step / max(1, W)`;
//! - linear: `max(0, (S − step) / max(1, S − W))`;
//! - cosine: `p = (step − W) / max(1, S − W)`, `max(0, ½ (1 + cos(2π · num_cycles · p)))`
//!   (`num_cycles = 0.5`: one half-cosine from 1 to 0);
//! - constant with warmup: 1.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Which schedule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    /// `get_constant_schedule_with_warmup` (warmup 0: plain constant).
    ConstantWithWarmup { warmup_steps: usize },
    /// `get_linear_schedule_with_warmup`: linear warmup, then linear decay to 0 at `total_steps`.
    Linear {
        warmup_steps: usize,
        total_steps: usize,
    },
    /// `get_cosine_schedule_with_warmup`: linear warmup, then cosine decay.
    Cosine {
        warmup_steps: usize,
        total_steps: usize,
        /// Cosine waves over the decay (transformers' default 0.5: down to 0 once).
        num_cycles: f64,
    },
}

impl Schedule {
    /// By name as a `--schedule` flag spells it: `linear`, `cosine` (num_cycles 0.5),
    /// `constant`.
    pub fn from_name(name: &str, warmup_steps: usize, total_steps: usize) -> Result<Schedule> {
        match name {
            "linear" => Ok(Schedule::Linear {
                warmup_steps,
                total_steps,
            }),
            "cosine" => Ok(Schedule::Cosine {
                warmup_steps,
                total_steps,
                num_cycles: 0.5,
            }),
            "constant" => Ok(Schedule::ConstantWithWarmup { warmup_steps }),
            other => Err(ModelError::Input(format!(
                "unknown schedule {other:?}: expected linear, cosine or constant"
            ))),
        }
    }

    /// The multiplier of the base rate at optimizer step `step`.
    pub fn factor(&self, step: usize) -> f64 {
        let warmup = |w: usize| step as f64 / w.max(1) as f64;
        match *self {
            Schedule::ConstantWithWarmup { warmup_steps } => {
                if step < warmup_steps {
                    warmup(warmup_steps)
                } else {
                    1.0
                }
            }
            Schedule::Linear {
                warmup_steps,
                total_steps,
            } => {
                if step < warmup_steps {
                    return warmup(warmup_steps);
                }
                let left = total_steps as f64 - step as f64;
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                (left / span).max(0.0)
            }
            Schedule::Cosine {
                warmup_steps,
                total_steps,
                num_cycles,
            } => {
                if step < warmup_steps {
                    return warmup(warmup_steps);
                }
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                let progress = (step - warmup_steps) as f64 / span;
                let wave = (std::f64::consts::PI * num_cycles * 2.0 * progress).cos();
                (0.5 * (1.0 + wave)).max(0.0)
            }
        }
    }

    /// `base_lr · factor(step)`.
    pub fn lr(&self, base_lr: f64, step: usize) -> f64 {
        base_lr * self.factor(step)
    }
}
