//! `--min-confidence` / `--abstain-label`: the safety filter's flags, shared by `predict`
//! and `eval` (the filter itself is `tokken_model::abstain`).

/// Abstain below a confidence threshold.
#[derive(clap::Args, Debug, Clone)]
pub struct AbstainArgs {
    /// Safety filter: when the best label's probability is below P (0..1) the prediction
    /// abstains and its label is --abstain-label. `predict` keeps "score" and "probs" and
    /// marks "abstained": true; `eval` leaves abstained examples out of accuracy / F1 and
    /// reports the coverage. Pick P from the coverage-vs-accuracy curve that
    /// `eval --json/--report` always writes. Single-label models only.
    #[arg(long, value_name = "P")]
    pub min_confidence: Option<f32>,
    /// The label of an abstaining prediction.
    #[arg(long, default_value = tokken_model::abstain::DEFAULT_ABSTAIN_LABEL, value_name = "LABEL")]
    pub abstain_label: String,
}

impl AbstainArgs {
    /// The threshold, checked to be a probability.
    pub fn min_confidence(&self) -> anyhow::Result<Option<f32>> {
        if let Some(p) = self.min_confidence {
            tokken_model::abstain::check_min_confidence(p)?;
        }
        Ok(self.min_confidence)
    }
}
