//! The safety filter: abstain when the model is not confident enough.
//!
//! A prediction whose probability (of its best class) is below `min_confidence` gets the
//! abstain label ([`DEFAULT_ABSTAIN_LABEL`] `未分類` unless configured) instead of a class.
//! Evaluation then scores only the covered (non-abstained) examples and reports coverage =
//! covered / all. [`coverage_curve`] gives coverage and covered accuracy for a grid of
//! thresholds over the observed confidence range, so a user can pick the threshold.

use std::fmt::Write;

use serde::Serialize;

use crate::error::{ModelError, Result};
use crate::evaluate::ExampleResult;
use crate::metrics::{accuracy, averages, confusion_matrix, per_class};
use crate::report::html::escape;
use crate::report::svg::{self, Frame};

/// The label an abstaining prediction gets by default.
pub const DEFAULT_ABSTAIN_LABEL: &str = "未分類";

/// Points of [`coverage_curve`] in reports.
pub const CURVE_STEPS: usize = 20;

/// True when a prediction with this confidence abstains (`score < min_confidence`).
pub fn abstains(score: f32, min_confidence: f32) -> bool {
    score < min_confidence
}

/// Check a `--min-confidence` value.
pub fn check_min_confidence(p: f32) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(ModelError::Input(format!(
            "--min-confidence {p}: expected a probability in [0, 1]"
        )))
    }
}

/// Indices of the examples that do not abstain at `min_confidence`.
pub fn covered(scores: &[f32], min_confidence: f32) -> Vec<usize> {
    (0..scores.len())
        .filter(|&i| !abstains(scores[i], min_confidence))
        .collect()
}

/// Indices of the results that do not abstain at `min_confidence` (all without one).
/// Errors when every example abstains (nothing left to score).
pub fn kept(results: &[ExampleResult], min_confidence: Option<f32>) -> Result<Vec<usize>> {
    let Some(p) = min_confidence else {
        return Ok((0..results.len()).collect());
    };
    check_min_confidence(p)?;
    let scores: Vec<f32> = results.iter().map(|r| r.score).collect();
    let kept = covered(&scores, p);
    if kept.is_empty() && !results.is_empty() {
        return Err(ModelError::Input(format!(
            "every example abstains at --min-confidence {p} (highest confidence {:.4}); lower it",
            scores.iter().copied().fold(0.0f32, f32::max)
        )));
    }
    Ok(kept)
}

/// The outcome of abstaining at one threshold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AbstainSummary {
    pub min_confidence: f32,
    pub abstain_label: String,
    /// All examples.
    pub n: usize,
    /// Examples that got a class.
    pub covered: usize,
    pub abstained: usize,
    /// covered / n.
    pub coverage: f64,
    /// Accuracy over the covered examples (`null` when none is covered).
    pub accuracy: Option<f64>,
}

/// One point of the coverage-vs-accuracy curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CoveragePoint {
    /// Examples with confidence below this abstain.
    pub threshold: f64,
    pub covered: usize,
    /// covered / n.
    pub coverage: f64,
    /// Accuracy over the covered examples (`null` when none is covered).
    pub accuracy: Option<f64>,
    /// Macro-F1 over the covered examples (classes present in them).
    pub macro_f1: Option<f64>,
}

/// Coverage and covered accuracy at `steps + 1` thresholds evenly spaced from the lowest to
/// the highest confidence in `scores` (so the first point covers everything and the last
/// covers at least one example). `y_true`, `y_pred`, `scores`: [N].
pub fn coverage_curve(
    y_true: &[usize],
    y_pred: &[usize],
    scores: &[f32],
    num_labels: usize,
    steps: usize,
) -> Result<Vec<CoveragePoint>> {
    if y_true.len() != y_pred.len() || y_true.len() != scores.len() {
        return Err(ModelError::Metrics(format!(
            "coverage curve: {} true labels, {} predictions, {} scores",
            y_true.len(),
            y_pred.len(),
            scores.len()
        )));
    }
    if scores.is_empty() {
        return Err(ModelError::Metrics("no examples to score".into()));
    }
    let lo = scores.iter().copied().fold(f32::INFINITY, f32::min) as f64;
    let hi = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let steps = steps.max(1);
    let mut out = Vec::with_capacity(steps + 1);
    for j in 0..=steps {
        // The last threshold is exactly the highest score, never above it by rounding.
        let t = if j == steps {
            hi
        } else {
            lo + (hi - lo) * j as f64 / steps as f64
        };
        out.push(point(y_true, y_pred, scores, num_labels, t)?);
    }
    Ok(out)
}

fn point(
    y_true: &[usize],
    y_pred: &[usize],
    scores: &[f32],
    num_labels: usize,
    threshold: f64,
) -> Result<CoveragePoint> {
    let members: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i] as f64 >= threshold)
        .collect();
    let (accuracy, macro_f1) = if members.is_empty() {
        (None, None)
    } else {
        let t: Vec<usize> = members.iter().map(|&i| y_true[i]).collect();
        let p: Vec<usize> = members.iter().map(|&i| y_pred[i]).collect();
        let confusion = confusion_matrix(&t, &p, num_labels)?;
        let labels: Vec<String> = (0..num_labels).map(|c| c.to_string()).collect();
        let classes = per_class(&confusion, &labels);
        (
            Some(accuracy(&t, &p)?),
            Some(averages(&confusion, &classes).macro_f1),
        )
    };
    Ok(CoveragePoint {
        threshold,
        covered: members.len(),
        coverage: members.len() as f64 / scores.len() as f64,
        accuracy,
        macro_f1,
    })
}

/// What `eval` reports about abstaining: the summary at the chosen threshold (when one was
/// given) and the curve (always).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Selective {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abstain: Option<AbstainSummary>,
    pub coverage_curve: Vec<CoveragePoint>,
}

impl Selective {
    /// The curve over all `results` (every example, abstained or not) and, with a minimum
    /// confidence, the abstain summary.
    pub fn from_results(
        results: &[ExampleResult],
        num_labels: usize,
        min_confidence: Option<f32>,
        abstain_label: &str,
    ) -> Result<Selective> {
        let y_true: Vec<usize> = results.iter().map(|r| r.true_index).collect();
        let y_pred: Vec<usize> = results.iter().map(|r| r.pred_index).collect();
        let scores: Vec<f32> = results.iter().map(|r| r.score).collect();
        let coverage_curve = coverage_curve(&y_true, &y_pred, &scores, num_labels, CURVE_STEPS)?;
        let abstain = min_confidence.map(|p| {
            let kept = covered(&scores, p);
            let correct = kept.iter().filter(|&&i| y_true[i] == y_pred[i]).count();
            AbstainSummary {
                min_confidence: p,
                abstain_label: abstain_label.to_string(),
                n: scores.len(),
                covered: kept.len(),
                abstained: scores.len() - kept.len(),
                coverage: kept.len() as f64 / scores.len().max(1) as f64,
                accuracy: (!kept.is_empty()).then(|| correct as f64 / kept.len() as f64),
            }
        });
        Ok(Selective {
            abstain,
            coverage_curve,
        })
    }
}

/// The HTML section of [`Selective`]: the curve (coverage on x, covered accuracy on y) and
/// its table.
pub fn html_section(out: &mut String, s: &Selective) {
    out.push_str("<h2>Coverage vs accuracy (safety filter)</h2>\n");
    if let Some(a) = &s.abstain {
        let _ = writeln!(
            out,
            "<p id=\"abstain-summary\">--min-confidence {:.3}: {} of {} examples abstained (label <code>{}</code>), coverage {:.4}; the metrics above are over the {} covered examples (circled on the curve).</p>",
            a.min_confidence,
            a.abstained,
            a.n,
            escape(&a.abstain_label),
            a.coverage,
            a.covered
        );
    }
    out.push_str("<div class=\"figures\">\n");
    let chosen = s
        .abstain
        .as_ref()
        .and_then(|a| a.accuracy.map(|acc| (a.min_confidence, a.coverage, acc)));
    out.push_str(&coverage_svg(&s.coverage_curve, chosen));
    out.push_str("</div>\n<table id=\"coverage-curve\"><tr><th>min confidence</th><th>covered</th><th>coverage</th><th>accuracy</th><th>macro-F1</th></tr>\n");
    let opt = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.4}"));
    for p in &s.coverage_curve {
        let _ = writeln!(
            out,
            "<tr><td>{:.4}</td><td>{}</td><td>{:.4}</td><td>{}</td><td>{}</td></tr>",
            p.threshold,
            p.covered,
            p.coverage,
            opt(p.accuracy),
            opt(p.macro_f1)
        );
    }
    out.push_str("</table>\n<p class=\"muted\">Predictions below the minimum confidence abstain; accuracy and macro-F1 are over the covered examples only.</p>\n");
}

/// The curve as an SVG figure (`id="coverage-curve-figure"`), with the chosen threshold
/// `(min confidence, coverage, accuracy)` marked when given.
pub fn coverage_svg(points: &[CoveragePoint], chosen: Option<(f32, f64, f64)>) -> String {
    let f = Frame::unit(56.0, 28.0, 300.0, 220.0);
    let mut out = String::new();
    svg::open(
        &mut out,
        "coverage-curve-figure",
        380.0,
        290.0,
        "Coverage vs accuracy",
    );
    svg::text(
        &mut out,
        f.x0,
        16.0,
        "start",
        "",
        "accuracy of covered examples",
    );
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| p.accuracy.map(|a| (p.coverage, a)))
        .collect();
    svg::polyline(&mut out, "coverage-accuracy", &f, &pts, svg::ORANGE);
    if let Some((p, coverage, accuracy)) = chosen {
        let _ = write!(
            out,
            r#"<circle id="chosen-threshold" cx="{}" cy="{}" r="5" fill="none" stroke="{}" stroke-width="2"><title>--min-confidence {p}: coverage {coverage:.3}, accuracy {accuracy:.3}</title></circle>"#,
            svg::n(f.x(coverage)),
            svg::n(f.y(accuracy)),
            svg::GREEN
        );
    }
    f.axes(&mut out, "coverage", "accuracy");
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstains_strictly_below_the_threshold() {
        assert!(abstains(0.49, 0.5));
        assert!(!abstains(0.5, 0.5));
        assert_eq!(covered(&[0.2, 0.5, 0.9], 0.5), vec![1, 2]);
        assert!(check_min_confidence(1.5).is_err());
    }
}
