//! [`Trainer`]: the loop over epochs, accumulated micro-batches and optimizer steps.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use tokken_tokenizer::encoder::Tokenizer;

use super::batching::{epoch_batches, EncodedSet, PaddedBatch};
use super::checkpoint;
use super::export;
use super::multi_label_eval::tuned_report;
use super::optimizer::{AdamW, OptimParam};
use super::{ScheduleKind, TrainConfig, TrainerState};
use crate::error::{ModelError, Result};
use crate::metrics::{MetricsInput, MetricsReport};
use crate::schedule::Schedule;
use crate::train::{Targets, TrainModel};

/// What the loop reports as it goes (the CLI draws its progress bar from these).
#[derive(Clone, Debug)]
pub enum Event {
    /// The run starts (or resumes) at `state.step` of `total_steps`.
    Start { total_steps: u64, start_step: u64 },
    /// One optimizer step done.
    Step {
        step: u64,
        epoch: u64,
        loss: f64,
        lr: f64,
        grad_norm: f32,
        tokens_per_s: f64,
    },
    /// An evaluation after an epoch; `best` when its macro-F1 is the best so far.
    Eval {
        step: u64,
        epoch: u64,
        loss: f64,
        report: Box<MetricsReport>,
        best: bool,
    },
    /// A checkpoint was written.
    Checkpoint { step: u64 },
    /// No improvement for `patience` evaluations.
    EarlyStop { step: u64, patience: usize },
}

/// A training run bound to its run dir.
pub struct Trainer {
    pub config: TrainConfig,
    pub state: TrainerState,
    pub model: TrainModel,
    pub optimizer: AdamW,
    pub tokenizer: Tokenizer,
    pub train: EncodedSet,
    pub eval: Option<EncodedSet>,
    /// The run dir everything is written to.
    pub out: PathBuf,
    /// Stop (as if interrupted, with a checkpoint) after this many steps in all.
    pub stop_after: Option<u64>,
    /// Run each micro-batch's forward + backward on this GPU (`--device cuda`, LoRA);
    /// the optimizer, schedule, evaluation and checkpoints stay on the CPU.
    #[cfg(feature = "cuda")]
    pub cuda: Option<crate::cuda::CudaLoraStep>,
}

impl Trainer {
    /// True when the run stops early on request: `stop_after` reached or Ctrl-C
    /// ([`crate::interrupt`]).
    pub fn interrupted(&self) -> bool {
        self.stop_after.is_some_and(|s| self.state.step >= s) || crate::interrupt::requested()
    }

    /// Micro-batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.config.batch_size.max(1))
    }

    /// Optimizer steps per epoch (the last one may accumulate fewer micro-batches).
    pub fn steps_per_epoch(&self) -> u64 {
        self.batches_per_epoch()
            .div_ceil(self.config.grad_accum.max(1)) as u64
    }

    /// All optimizer steps of the run.
    pub fn total_steps(&self) -> u64 {
        self.config
            .max_steps
            .unwrap_or(self.steps_per_epoch() * self.config.epochs as u64)
    }

    /// Learning rate of 0-based step `step`, as HF's `LambdaLR` schedules give it (the
    /// first warmup step runs at lr 0).
    pub fn lr_at(&self, step: u64) -> f64 {
        let total = self.total_steps();
        let warmup = self
            .config
            .warmup_steps
            .unwrap_or((self.config.warmup_ratio * total as f64).ceil() as u64);
        let name = match self.config.schedule {
            ScheduleKind::Linear => "linear",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Constant => "constant",
        };
        // The names are the three `from_name` knows.
        Schedule::from_name(name, warmup as usize, total as usize)
            .map_or(self.config.lr, |s| s.lr(self.config.lr, step as usize))
    }

    /// Train until the last step, early stopping, `stop_after` or a non-finite loss
    /// (an error naming the step; the run dir keeps the last good checkpoint).
    pub fn run(&mut self, on_event: &mut dyn FnMut(&Event)) -> Result<()> {
        let total = self.total_steps();
        if total == 0 {
            return Err(ModelError::Input(
                "nothing to train: 0 steps (check --epochs / --max-steps)".into(),
            ));
        }
        on_event(&Event::Start {
            total_steps: total,
            start_step: self.state.step,
        });
        let lengths: Vec<usize> = self.train.encodings.iter().map(|e| e.len()).collect();
        let pad = self.tokenizer.pad_id();
        let accum = self.config.grad_accum.max(1);
        'epochs: while !self.state.finished && self.state.step < total {
            let batches = epoch_batches(
                &lengths,
                self.config.batch_size,
                self.config.shuffle,
                self.config.seed,
                self.state.epoch,
            );
            while self.state.batch_in_epoch < batches.len() {
                if self.state.step >= total
                    || self.stop_after == Some(self.state.step)
                    || crate::interrupt::requested()
                {
                    break 'epochs;
                }
                let start = self.state.batch_in_epoch;
                let group = &batches[start..(start + accum).min(batches.len())];
                self.train_step(group, pad, on_event)?;
                self.state.batch_in_epoch += group.len();
                if let Some(every) = self.config.checkpoint_every {
                    if every > 0 && self.state.step.is_multiple_of(every) {
                        self.save_checkpoint(on_event)?;
                    }
                }
            }
            // End of an epoch.
            self.state.epoch += 1;
            self.state.batch_in_epoch = 0;
            if self.config.eval_every_epoch && self.eval.is_some() {
                self.evaluate_and_keep_best(on_event)?;
            }
            self.save_checkpoint(on_event)?;
        }
        if self.interrupted() && self.state.step < total {
            // Interrupted on purpose (stop_after or Ctrl-C): leave a checkpoint to resume from.
            self.save_checkpoint(on_event)?;
            return Ok(());
        }
        if !self.state.finished {
            // Evaluate a run that ended mid-epoch (max_steps) once more.
            if self.eval.is_some() && self.state.batch_in_epoch > 0 {
                self.evaluate_and_keep_best(on_event)?;
            }
            self.state.finished = true;
        }
        if self.eval.is_none() || self.state.best_step.is_none() {
            export::export_model(self)?;
        }
        self.save_checkpoint(on_event)?;
        Ok(())
    }

    /// One micro-batch's forward + backward ([`TrainModel::forward_backward_weighted`]), on
    /// the GPU when [`Trainer::cuda`] is set.
    fn micro_step(
        &mut self,
        input: &crate::forward::BatchInput<'_>,
        targets: &Targets<'_>,
        weights: Option<&[f32]>,
        seed: u64,
        scale: f32,
    ) -> Result<f32> {
        #[cfg(feature = "cuda")]
        if let Some(step) = self.cuda.as_mut() {
            return step.forward_backward(&mut self.model, input, targets, weights, seed, scale);
        }
        self.model
            .forward_backward_weighted(input, targets, weights, seed, scale)
    }

    /// One optimizer step over the micro-batches `group` (the loss is the mean over all
    /// their examples, so accumulation equals one large batch).
    fn train_step(
        &mut self,
        group: &[Vec<usize>],
        pad: u32,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<()> {
        let started = Instant::now();
        let rows: usize = group.iter().map(|b| b.len()).sum();
        let mut loss = 0.0f64;
        let mut tokens = 0usize;
        self.model.zero_grads();
        for (micro, rows_of) in group.iter().enumerate() {
            let batch = PaddedBatch::gather(&self.train, rows_of, pad);
            tokens += batch.tokens;
            let scale = batch.b as f32 / rows as f32;
            let targets = if self.train.multi_label {
                Targets::Multi(&batch.multi_hot)
            } else {
                Targets::Single(&batch.classes)
            };
            let seed = dropout_seed(self.config.seed, self.state.step, micro as u64);
            let weights = (!batch.weights.is_empty()).then_some(&batch.weights[..]);
            let l = self.micro_step(&batch.input(), &targets, weights, seed, scale)?;
            if !l.is_finite() {
                return Err(self.non_finite("loss", l));
            }
            loss += l as f64 * scale as f64;
        }
        let lr = self.lr_at(self.state.step);
        let stats = {
            let mut params: Vec<OptimParam<'_>> = self
                .model
                .trainable_mut()
                .into_iter()
                .map(OptimParam::from)
                .collect();
            self.optimizer.update(&mut params, lr)?
        };
        if !stats.grad_norm.is_finite() {
            return Err(self.non_finite("gradient norm", stats.grad_norm));
        }
        self.state.step += 1;
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let event = Event::Step {
            step: self.state.step,
            epoch: self.state.epoch,
            loss,
            lr,
            grad_norm: stats.grad_norm,
            tokens_per_s: tokens as f64 / secs,
        };
        self.log(&event)?;
        on_event(&event);
        Ok(())
    }

    fn non_finite(&self, what: &str, value: f32) -> ModelError {
        let kept = match checkpoint::saved_step(&self.out) {
            Some(s) => format!(
                "the last good checkpoint (step {s}) is kept in {}",
                self.out.join(checkpoint::DIR).display()
            ),
            None => "no checkpoint had been written yet".to_string(),
        };
        ModelError::Other(format!(
            "training diverged: {what} is {value} at step {} (epoch {}); stopped, {kept}. \
             Try a lower --lr or gradient clipping (--max-grad-norm 1.0).",
            self.state.step + 1,
            self.state.epoch + 1
        ))
    }

    /// Eval loss and metrics on the eval set (dropout off), on the GPU when training runs
    /// there ([`Trainer::cuda`]).
    pub fn evaluate(&mut self) -> Result<(f64, MetricsReport)> {
        // Out of `self` while it is scored, so the scoring may borrow the model mutably.
        let eval = self.eval.take().ok_or_else(|| {
            ModelError::Input("no eval data (give --eval FILE or --eval-split)".into())
        })?;
        let result = if eval.multi_label {
            self.evaluate_multi_label(&eval)
        } else if let Some(h) = self.config.setup.loss.hierarchy.clone() {
            self.evaluate_hierarchical(&h, &eval)
        } else {
            self.evaluate_single_label(&eval)
        };
        self.eval = Some(eval);
        result
    }

    /// Eval-mode logits `[B, NL]` of `input`: on the GPU when training runs there, else the
    /// CPU model's.
    pub(super) fn eval_logits(
        &mut self,
        input: &crate::forward::BatchInput<'_>,
    ) -> Result<Vec<f32>> {
        #[cfg(feature = "cuda")]
        if let Some(step) = self.cuda.as_mut() {
            return step.forward_logits(&mut self.model, input);
        }
        Ok(self.model.forward_logits(input)?.to_vec())
    }

    /// Single-label eval: mean cross-entropy and the metrics report.
    fn evaluate_single_label(&mut self, eval: &EncodedSet) -> Result<(f64, MetricsReport)> {
        let pad = self.tokenizer.pad_id();
        let nl = eval.num_labels;
        let lengths: Vec<usize> = eval.encodings.iter().map(|e| e.len()).collect();
        let mut order: Vec<usize> = (0..eval.len()).collect();
        order.sort_by_key(|&i| lengths[i]);
        let mut y_pred = vec![0usize; eval.len()];
        let mut probs = vec![0f64; eval.len() * nl];
        let mut loss = 0.0f64;
        for rows in order.chunks(self.config.batch_size.max(1) * 2) {
            let batch = PaddedBatch::gather(eval, rows, pad);
            let logits = self.eval_logits(&batch.input())?;
            for (r, &i) in rows.iter().enumerate() {
                let row = &logits[r * nl..(r + 1) * nl];
                let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
                let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
                for (c, &x) in row.iter().enumerate() {
                    probs[i * nl + c] = (x as f64 - max).exp() / sum;
                }
                let gold = eval.classes[i] as usize;
                loss += max + sum.ln() - row[gold] as f64;
                y_pred[i] = argmax(row);
            }
        }
        let y_true: Vec<usize> = eval.classes.iter().map(|&c| c as usize).collect();
        let report = MetricsReport::compute(MetricsInput {
            labels: &self.config.labels,
            y_true: &y_true,
            y_pred: &y_pred,
            probs: Some(&probs),
            top_k: None,
            calibration_bins: 10,
        })?;
        Ok((loss / eval.len().max(1) as f64, report))
    }

    /// Multi-label eval: mean BCE-with-logits loss; per-label thresholds tuned on this set.
    fn evaluate_multi_label(&mut self, eval: &EncodedSet) -> Result<(f64, MetricsReport)> {
        let pad = self.tokenizer.pad_id();
        let nl = eval.num_labels;
        let mut logits_all = vec![0f32; eval.len() * nl];
        let mut loss = 0.0f64;
        let rows: Vec<usize> = (0..eval.len()).collect();
        for chunk in rows.chunks(self.config.batch_size.max(1) * 2) {
            let batch = PaddedBatch::gather(eval, chunk, pad);
            let logits = self.eval_logits(&batch.input())?;
            for (r, &i) in chunk.iter().enumerate() {
                for c in 0..nl {
                    let (z, y) = (logits[r * nl + c] as f64, eval.multi_hot[i * nl + c] as f64);
                    // log(1 + e^-|z|) + max(z, 0) - z·y, stable for any z
                    loss += (-z.abs()).exp().ln_1p() + z.max(0.0) - z * y;
                    logits_all[i * nl + c] = logits[r * nl + c];
                }
            }
        }
        let report = tuned_report(&self.config.labels, &eval.multi_hot, &logits_all);
        Ok((loss / (eval.len() * nl).max(1) as f64, report))
    }

    fn evaluate_and_keep_best(&mut self, on_event: &mut dyn FnMut(&Event)) -> Result<()> {
        let (loss, report) = self.evaluate()?;
        let best = self.state.best_macro_f1.is_none_or(|b| report.macro_f1 > b);
        if best {
            self.state.best_macro_f1 = Some(report.macro_f1);
            self.state.best_step = Some(self.state.step);
            self.state.evals_since_best = 0;
            export::export_model(self)?;
            report.write_json(&self.out.join("metrics.json"))?;
            if let Some(ml) = &report.multi_label {
                super::thresholds::write_thresholds(
                    &self.out,
                    &self.config.labels,
                    &ml.thresholds,
                )?;
            }
        } else {
            self.state.evals_since_best += 1;
        }
        let event = Event::Eval {
            step: self.state.step,
            epoch: self.state.epoch,
            loss,
            report: Box::new(report),
            best,
        };
        self.log(&event)?;
        on_event(&event);
        if let Some(patience) = self.config.early_stopping {
            if patience > 0 && self.state.evals_since_best >= patience {
                self.state.finished = true;
                on_event(&Event::EarlyStop {
                    step: self.state.step,
                    patience,
                });
            }
        }
        Ok(())
    }

    fn save_checkpoint(&mut self, on_event: &mut dyn FnMut(&Event)) -> Result<()> {
        checkpoint::save(self)?;
        on_event(&Event::Checkpoint {
            step: self.state.step,
        });
        Ok(())
    }

    /// Append one line to `train_log.jsonl`.
    fn log(&self, event: &Event) -> Result<()> {
        let line = match event {
            Event::Step {
                step,
                epoch,
                loss,
                lr,
                grad_norm,
                tokens_per_s,
            } => json!({
                "step": step, "epoch": epoch + 1, "loss": loss, "lr": lr,
                "grad_norm": grad_norm, "tokens_per_s": tokens_per_s,
            }),
            Event::Eval {
                step,
                epoch,
                loss,
                report,
                best,
            } => json!({
                "step": step, "epoch": epoch, "eval_loss": loss,
                "eval_accuracy": report.accuracy, "eval_macro_f1": report.macro_f1, "best": best,
            }),
            _ => return Ok(()),
        };
        append_line(&self.out.join("train_log.jsonl"), &line.to_string())
    }
}

/// The dropout seed of micro-batch `micro` of 0-based step `step`.
pub fn dropout_seed(seed: u64, step: u64, micro: u64) -> u64 {
    let mut x =
        seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ micro.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}

/// Append a line (the log is append-only; a torn last line is the only possible damage).
fn append_line(path: &Path, line: &str) -> Result<()> {
    use std::io::Write;
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(format!("{line}\n").as_bytes()).map_err(io)
}
