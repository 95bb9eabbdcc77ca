//! The HTML report: one self-contained page (inline CSS and SVG, no scripts, no external
//! fonts or URLs) that renders offline, with Japanese text in a CJK-capable font list.

use std::fmt::Write;

use super::{svg, EvalReport};

/// Escape `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) const STYLE: &str = r#"
body { font-family: "Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Hiragino Kaku Gothic ProN", "Yu Gothic", Meiryo, system-ui, sans-serif; margin: 24px; color: #1a202c; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #e2e8f0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #e2e8f0; padding: 3px 8px; text-align: right; }
th { background: #f7fafc; } td.text, th.text { text-align: left; }
.summary td { font-size: 15px; }
svg text { font-family: inherit; font-size: 13px; fill: #1a202c; }
svg text.small { font-size: 11px; fill: #4a5568; } svg text.axis-title { font-size: 12px; fill: #4a5568; }
.figures { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.muted { color: #718096; font-size: 13px; }
"#;

/// A page's head (`title` escaped, [`STYLE`] then `extra_css`) up to the opening `<body>`;
/// the page ends with [`PAGE_END`]. The reports of eval, bias and explain share it.
pub(crate) fn page_start(title: &str, extra_css: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}{extra_css}</style>\n</head>\n<body>\n",
        escape(title)
    )
}

pub(crate) const PAGE_END: &str = "</body>\n</html>\n";

/// The whole page.
pub fn render(r: &EvalReport) -> String {
    let m = &r.metrics;
    let mut out = page_start(&format!("tokken eval: {}", r.model), "");
    let _ = write!(
        out,
        "<h1>Evaluation report</h1>\n<p class=\"muted\">model <code>{}</code> · data <code>{}</code> · {} examples</p>\n",
        escape(&r.model),
        escape(&r.data),
        m.n
    );

    // Summary numbers.
    out.push_str("<table id=\"summary\" class=\"summary\"><tr>");
    let mut cells: Vec<(String, String)> = vec![
        ("accuracy".into(), format!("{:.4}", m.accuracy)),
        ("macro-F1".into(), format!("{:.4}", m.macro_f1)),
        ("micro-F1".into(), format!("{:.4}", m.micro_f1)),
        ("weighted-F1".into(), format!("{:.4}", m.weighted_f1)),
    ];
    if let Some(t) = &m.top_k {
        cells.push((format!("top-{}", t.k), format!("{:.4}", t.accuracy)));
    }
    if let Some(c) = &m.calibration {
        cells.push(("ECE".into(), format!("{:.4}", c.ece)));
    }
    for (k, _) in &cells {
        let _ = write!(out, "<th>{}</th>", escape(k));
    }
    out.push_str("</tr><tr>");
    for (_, v) in &cells {
        let _ = write!(out, "<td>{v}</td>");
    }
    out.push_str("</tr></table>\n");

    // Figures.
    out.push_str("<h2>Confusion matrix and per-class scores</h2>\n<div class=\"figures\">\n");
    if !m.confusion_matrix.is_empty() {
        // (multi-label reports have none)
        out.push_str(&svg::confusion_heatmap(&m.labels, &m.confusion_matrix));
    }
    out.push_str(&svg::class_bars(&m.per_class));
    out.push_str("</div>\n");
    per_class_table(&mut out, r);
    hierarchy_section(&mut out, m);
    multi_label_section(&mut out, m);
    if let Some(c) = &m.calibration {
        out.push_str("<h2>Calibration</h2>\n<div class=\"figures\">\n");
        out.push_str(&svg::reliability_diagram(c));
        out.push_str("</div>\n");
    }
    if let Some(curves) = &r.training {
        out.push_str("<h2>Training</h2>\n<div class=\"figures\">\n");
        out.push_str(&svg::training_curves(curves));
        out.push_str("</div>\n");
    }
    if let Some(s) = &r.selective {
        crate::abstain::html_section(&mut out, s);
    }
    slice_table(&mut out, r);
    misclassified_table(&mut out, r);
    out.push_str(PAGE_END);
    out
}

fn per_class_table(out: &mut String, r: &EvalReport) {
    out.push_str("<table id=\"per-class\"><tr><th class=\"text\">label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>predicted</th></tr>\n");
    for c in &r.metrics.per_class {
        let _ = writeln!(
            out,
            "<tr><td class=\"text\">{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.label),
            c.precision,
            c.recall,
            c.f1,
            c.support,
            c.predicted
        );
    }
    let a = &r.metrics.averages;
    for (name, p, rc, f) in [
        ("macro avg", a.macro_precision, a.macro_recall, a.macro_f1),
        (
            "weighted avg",
            a.weighted_precision,
            a.weighted_recall,
            a.weighted_f1,
        ),
    ] {
        let _ = writeln!(
            out,
            "<tr><th class=\"text\">{name}</th><td>{p:.4}</td><td>{rc:.4}</td><td>{f:.4}</td><td>{}</td><td></td></tr>",
            r.metrics.n
        );
    }
    out.push_str("</table>\n");
}

/// Hierarchical models: exact-path and hierarchical P/R/F1, then one row per level.
fn hierarchy_section(out: &mut String, m: &crate::metrics::MetricsReport) {
    let Some(h) = &m.hierarchy else { return };
    out.push_str("<h2>Hierarchy</h2>\n<table id=\"hierarchy\" class=\"summary\"><tr><th>exact path</th><th>hierarchical precision</th><th>hierarchical recall</th><th>hierarchical F1</th></tr>");
    let _ = writeln!(
        out,
        "<tr><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr></table>",
        h.exact_path_accuracy, h.hierarchical_precision, h.hierarchical_recall, h.hierarchical_f1
    );
    out.push_str("<table id=\"levels\"><tr><th>level</th><th>n</th><th>accuracy</th><th>macro-F1</th></tr>\n");
    for l in &h.levels {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            l.level, l.n, l.accuracy, l.macro_f1
        );
    }
    out.push_str("</table>\n");
}

/// Multi-label models: subset accuracy, Hamming loss and each label's threshold.
fn multi_label_section(out: &mut String, m: &crate::metrics::MetricsReport) {
    let Some(ml) = &m.multi_label else { return };
    out.push_str("<h2>Multi-label</h2>\n<table id=\"multi-label\" class=\"summary\"><tr><th>subset accuracy</th><th>Hamming loss</th><th>micro-F1</th><th>macro-F1</th></tr>");
    let _ = writeln!(
        out,
        "<tr><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr></table>",
        ml.subset_accuracy, ml.hamming_loss, ml.micro_f1, ml.macro_f1
    );
    let _ = writeln!(
        out,
        "<p class=\"muted\">thresholds: {}</p>\n<table id=\"thresholds\"><tr><th class=\"text\">label</th><th>threshold</th></tr>",
        escape(&ml.thresholds_from)
    );
    for (l, t) in m.labels.iter().zip(&ml.thresholds) {
        let _ = writeln!(
            out,
            "<tr><td class=\"text\">{}</td><td>{t:.4}</td></tr>",
            escape(l)
        );
    }
    out.push_str("</table>\n");
}

fn slice_table(out: &mut String, r: &EvalReport) {
    let slices = &r.metrics.slices;
    if slices.is_empty() {
        return;
    }
    out.push_str("<h2>Slices</h2>\n<table id=\"slices\"><tr><th class=\"text\">by</th><th class=\"text\">value</th><th>n</th><th>accuracy</th><th>Δ accuracy</th><th>macro-F1</th></tr>\n");
    for s in slices {
        let _ = writeln!(
            out,
            "<tr><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{}</td><td>{:.4}</td><td>{:+.4}</td><td>{:.4}</td></tr>",
            escape(&s.by),
            escape(&s.value),
            s.n,
            s.accuracy,
            s.accuracy - r.metrics.accuracy,
            s.macro_f1
        );
    }
    out.push_str("</table>\n<p class=\"muted\">Δ accuracy: the slice's accuracy minus the overall accuracy.</p>\n");
}

fn misclassified_table(out: &mut String, r: &EvalReport) {
    let _ = write!(
        out,
        "<h2>Misclassified examples</h2>\n<p class=\"muted\">{} of {} examples misclassified{}; most confident mistakes first.</p>\n",
        r.misclassified_total,
        r.metrics.n,
        if r.misclassified.len() < r.misclassified_total {
            format!(" (first {} listed)", r.misclassified.len())
        } else {
            String::new()
        }
    );
    out.push_str("<table id=\"misclassified\"><tr><th>line</th><th class=\"text\">text</th><th class=\"text\">true</th><th class=\"text\">predicted</th><th>score</th><th>p(true)</th></tr>\n");
    for e in &r.misclassified {
        let text = match &e.text_pair {
            Some(p) => format!("{} ‖ {}", e.text, p),
            None => e.text.clone(),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            e.line,
            escape(&text),
            escape(&e.true_label),
            escape(&e.predicted_label),
            e.score,
            e.true_score
        );
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes_keeps_japanese() {
        assert_eq!(
            escape(r#"<a href="x">'政治' & 経済</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;政治&#39; &amp; 経済&lt;/a&gt;"
        );
    }
}
