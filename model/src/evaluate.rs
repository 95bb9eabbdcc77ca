//! Score a [`Classifier`] on a labelled [`Dataset`]: predictions in file order plus a
//! [`MetricsReport`]. Hierarchical models score their leaf paths and add per-level metrics;
//! multi-label models are scored by [`crate::trainer::multi_label_eval`].

use tokken_tokenizer::encoder::Encoding;

use crate::classifier::Classifier;
use crate::data::Dataset;
use crate::error::Result;
use crate::metrics::{MetricsInput, MetricsReport, SliceMetrics};
use crate::report::slices::{all_slices, score_slices};

/// What to compute besides the always-on metrics.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// k of the top-k accuracy (`None`: not reported).
    pub top_k: Option<usize>,
    /// Equal-width reliability bins for the calibration error.
    pub calibration_bins: usize,
    /// Examples per forward call group (progress is reported after each).
    pub chunk: usize,
    /// Upper bounds (characters, inclusive) of the text-length slices: `[10, 20]` gives
    /// `≤ 10`, `11–20`, `> 20`. Empty: no length slices.
    pub length_bounds: Vec<usize>,
    /// Data fields (from [`crate::data::Example::extra`]) to slice by, e.g. `kind`, `source`.
    pub slice_by: Vec<String>,
    /// Safety filter: predictions less confident than this abstain and are left out of
    /// every score (see [`crate::abstain`]); `None`: no abstaining.
    pub min_confidence: Option<f32>,
    /// The label of an abstaining prediction (reported).
    pub abstain_label: String,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            top_k: None,
            calibration_bins: 10,
            chunk: 512,
            length_bounds: vec![10, 20],
            slice_by: Vec::new(),
            min_confidence: None,
            abstain_label: crate::abstain::DEFAULT_ABSTAIN_LABEL.to_string(),
        }
    }
}

/// One example's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct ExampleResult {
    /// Line of the example in its file.
    pub line: usize,
    pub true_index: usize,
    pub pred_index: usize,
    /// Probability of the predicted class.
    pub score: f32,
    /// [NL] class probabilities.
    pub probs: Vec<f32>,
}

/// Predictions (in file order) and their metrics.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub report: MetricsReport,
    pub results: Vec<ExampleResult>,
}

/// Run `classifier` over `data` and score it against the gold labels.
///
/// Every gold label must be one of the model's labels (`id2label`); otherwise the error
/// names the file and line of the first unknown label and lists the others.
/// `progress(done, total)` is called after each chunk.
pub fn evaluate(
    classifier: &Classifier,
    data: &Dataset,
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Evaluation> {
    if classifier.is_multi_label() {
        return crate::trainer::multi_label_eval::evaluate_multi_label(
            classifier, data, options, progress,
        );
    }
    crate::template::check_no_pairs(classifier.template(), data)?;
    let labels = classifier.labels().to_vec();
    let y_true = data.label_ids(&labels)?;
    let total = data.examples.len();
    let mut results = Vec::with_capacity(total);
    for (chunk_i, chunk) in data.examples.chunks(options.chunk.max(1)).enumerate() {
        let encodings = encode(classifier, chunk)?;
        let predictions = classifier.predict_encoded(&encodings)?;
        let base = chunk_i * options.chunk.max(1);
        for (i, (e, p)) in chunk.iter().zip(predictions).enumerate() {
            results.push(ExampleResult {
                line: e.line,
                true_index: y_true[base + i],
                pred_index: p.index,
                score: p.score,
                probs: p.probs,
            });
        }
        progress(results.len(), total);
    }
    let kept = crate::abstain::kept(&results, options.min_confidence)?;
    // Abstained examples are left out of every score below (coverage counts them).
    let subset;
    let data = if kept.len() == data.examples.len() {
        data
    } else {
        subset = data.subset(&kept);
        &subset
    };
    let y_true: Vec<usize> = kept.iter().map(|&i| y_true[i]).collect();
    let y_pred: Vec<usize> = kept.iter().map(|&i| results[i].pred_index).collect();
    let probs: Vec<f64> = kept
        .iter()
        .flat_map(|&i| results[i].probs.iter().map(|&p| p as f64))
        .collect();
    let mut report = MetricsReport::compute(MetricsInput {
        labels: &labels,
        y_true: &y_true,
        y_pred: &y_pred,
        probs: Some(&probs),
        top_k: options.top_k,
        calibration_bins: options.calibration_bins,
    })?;
    report.slices = slices(data, &y_true, &y_pred, &labels, options)?;
    if let Some(h) = classifier.hierarchy() {
        // classes are the leaf paths: add per-level and hierarchical scores
        report.hierarchy = Some(crate::hierarchy::metrics::hierarchy_metrics(
            h, &y_true, &y_pred,
        )?);
    }
    Ok(Evaluation { report, results })
}

/// Length slices (in characters, `text` only), then one group of slices per `slice_by` field
/// (values in sorted order, `(none)` for examples without the field) — the same subsets
/// `compare` scores, from [`crate::report::slices`].
fn slices(
    data: &Dataset,
    y_true: &[usize],
    y_pred: &[usize],
    labels: &[String],
    options: &EvalOptions,
) -> Result<Vec<SliceMetrics>> {
    let subsets = all_slices(&data.examples, &options.length_bounds, &options.slice_by);
    score_slices(&subsets, y_true, y_pred, labels)
}

/// Tokenize examples as the classifier does (its template applied); pairs (`text_pair`) as
/// `[CLS] a [SEP] b [SEP]`. A pair-mode template over pairs is an error.
pub(crate) fn encode(
    classifier: &Classifier,
    chunk: &[crate::data::Example],
) -> Result<Vec<Encoding>> {
    let items: Vec<(&str, Option<&str>)> = chunk
        .iter()
        .map(|e| (e.text.as_str(), e.text_pair.as_deref()))
        .collect();
    classifier.encode_items(&items)
}
