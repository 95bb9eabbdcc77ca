//! Per-label decision thresholds of a multi-label model, tuned on the eval set and saved as
//! `thresholds.json` in the run dir; `predict` and `eval` use them (0.5 without the file).
//!
//! Tuning, per label: a label is predicted when its sigmoid probability is `>= t`. Over
//! the label's distinct eval probabilities `s₁ > s₂ > … > s_m`, predicting the top `k`
//! groups is one choice; the chosen `k` maximises the label's F1 (compared exactly as
//! fractions), ties going to the smallest `k` — the higher threshold, fewer positives. The
//! threshold is the midpoint `(s_k + s_{k+1}) / 2` (`s_k / 2` for the last), so it separates
//! the two groups with a margin. A label without positives in the eval set keeps 0.5
//! (its F1 is 0 whatever the threshold).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::init::write_atomic;

/// The thresholds' file in a run dir.
pub const THRESHOLDS_FILE: &str = "thresholds.json";
/// The threshold of a label without a tuned one.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// `thresholds.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdsFile {
    /// The model's labels, in class order.
    pub labels: Vec<String>,
    /// One probability threshold per label.
    pub thresholds: Vec<f32>,
    /// How they were chosen (for the reader).
    #[serde(default)]
    pub rule: String,
}

/// One threshold per label from eval probabilities `probs` and 0/1 `targets`, both
/// `[N, NL]` row-major.
pub fn tune_thresholds(probs: &[f32], targets: &[f32], nl: usize) -> Vec<f32> {
    (0..nl)
        .map(|c| {
            let column: Vec<(f32, bool)> = probs
                .chunks_exact(nl)
                .zip(targets.chunks_exact(nl))
                .map(|(p, t)| (p[c], t[c] > 0.5))
                .collect();
            tune_one(&column)
        })
        .collect()
}

/// The F1-maximising threshold of one label's `(probability, gold)` pairs.
pub fn tune_one(scores: &[(f32, bool)]) -> f32 {
    let positives = scores.iter().filter(|s| s.1).count() as u64;
    if positives == 0 {
        return DEFAULT_THRESHOLD;
    }
    let mut sorted: Vec<(f32, bool)> = scores.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    // best (tp, fp) so far and its group's lowest score index
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut best: Option<(u64, u64, usize)> = None;
    let mut i = 0;
    while i < sorted.len() {
        // take the whole group of equal scores
        let s = sorted[i].0;
        while i < sorted.len() && sorted[i].0 == s {
            if sorted[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let better = match best {
            None => true,
            // F1 = 2tp / (2tp + fp + fn), fn = positives - tp: compare by cross-multiplying
            Some((btp, bfp, _)) => {
                let (den, bden) = (tp + fp + positives, btp + bfp + positives);
                tp * bden > btp * den
            }
        };
        if better {
            best = Some((tp, fp, i - 1));
        }
    }
    let (_, _, last) = best.expect("at least one group");
    let hi = sorted[last].0;
    let lo = sorted.get(last + 1).map_or(0.0, |s| s.0);
    let mid = ((hi as f64 + lo as f64) / 2.0) as f32;
    // the midpoint of two neighbouring floats may round onto the lower one
    if mid > lo {
        mid
    } else {
        hi
    }
}

/// Write `dir/thresholds.json` atomically.
pub fn write_thresholds(dir: &Path, labels: &[String], thresholds: &[f32]) -> Result<()> {
    let file = ThresholdsFile {
        labels: labels.to_vec(),
        thresholds: thresholds.to_vec(),
        rule: "per label: maximises F1 on the eval set (predict when probability >= threshold); ties to the higher threshold; 0.5 for labels without eval positives".into(),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| ModelError::Other(e.to_string()))?;
    write_atomic(&dir.join(THRESHOLDS_FILE), &bytes)
}

/// The thresholds of `dir` for a model with `labels`; `None` without the file.
pub fn read_thresholds(dir: &Path, labels: &[String]) -> Result<Option<Vec<f32>>> {
    let path = dir.join(THRESHOLDS_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let file: ThresholdsFile = crate::run_dir::read_json(&path)?;
    if file.labels != labels || file.thresholds.len() != labels.len() {
        return Err(ModelError::DataFile {
            path,
            msg: format!(
                "thresholds for labels [{}] do not match the model's labels [{}]",
                file.labels.join(", "),
                labels.join(", ")
            ),
        });
    }
    if let Some(t) = file.thresholds.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(ModelError::DataFile {
            path,
            msg: format!("threshold {t} is not a probability in [0, 1]"),
        });
    }
    Ok(Some(file.thresholds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_case() {
        // sorted: .9 + | .8 - | .7 + | .4 + | .2 -   (3 positives)
        // k=1: tp1 fp0 → F1 2/4 = .5 ; k=2: tp1 fp1 → 2/5 ; k=3: tp2 fp1 → 4/6 = .667
        // k=4: tp3 fp1 → 6/7 = .857 (best) ; k=5: tp3 fp2 → 6/8
        let s = [
            (0.8, false),
            (0.4, true),
            (0.9, true),
            (0.2, false),
            (0.7, true),
        ];
        let t = tune_one(&s);
        assert!((t - 0.3).abs() < 1e-6, "{t}");
    }

    #[test]
    fn ties_go_to_the_higher_threshold() {
        // .9 + | .6 - | .5 +  : k=1 → 2/3 ; k=2 → 2/4 ; k=3 → 4/5 ... make a tie instead:
        // .9 + | .6 - | .5 - | .3 + : k=1: tp1 fp0 → 2/3 ; k=4: tp2 fp2 → 4/6 = 2/3 (tie)
        let s = [(0.9, true), (0.6, false), (0.5, false), (0.3, true)];
        let t = tune_one(&s);
        assert!((t - 0.75).abs() < 1e-6, "{t}");
    }

    #[test]
    fn equal_scores_move_together_and_no_positives_keep_default() {
        let s = [(0.6, true), (0.6, false), (0.1, false)];
        // the .6 group as a whole: tp1 fp1 → 2/3 ; both groups: 2/4
        assert!((tune_one(&s) - 0.35).abs() < 1e-6);
        assert_eq!(tune_one(&[(0.9, false), (0.2, false)]), DEFAULT_THRESHOLD);
        let probs = [0.9, 0.1, 0.2, 0.8];
        let targets = [1.0, 0.0, 0.0, 1.0];
        let t = tune_thresholds(&probs, &targets, 2);
        assert!(
            (t[0] - 0.55).abs() < 1e-6 && (t[1] - 0.45).abs() < 1e-6,
            "{t:?}"
        );
    }

    #[test]
    fn file_round_trip_and_mismatch() {
        let tmp = tempfile::Builder::new()
            .prefix("tokken-thr-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_path_buf();
        let labels = vec!["a".to_string(), "b".to_string()];
        write_thresholds(&dir, &labels, &[0.3, 0.7]).unwrap();
        assert_eq!(
            read_thresholds(&dir, &labels).unwrap(),
            Some(vec![0.3, 0.7])
        );
        assert!(read_thresholds(&dir, &["a".to_string()]).is_err());
        tmp.close().unwrap();
        assert_eq!(read_thresholds(&dir, &labels).unwrap(), None);
    }
}
