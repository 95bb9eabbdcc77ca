//! The `tokken-cli bias` report: flip statistics on a probe set (and, with labelled data,
//! the per-group scores) as JSON and as one self-contained HTML page (the eval report's
//! style and figure helpers).

use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

use super::flips::{flip_stats, FlipCount, FlipStats};
use super::groups::GroupScores;
use super::probes::{ProbePair, ProbeSet};
use crate::classifier::Classifier;
use crate::error::Result;
use crate::report::html::{escape, page_start, PAGE_END};
use crate::report::svg::{self, Frame};
use crate::report::write_text;

/// `[term a, term b]` probability rows of every pair, in pair order.
pub fn probe_predictions(
    classifier: &Classifier,
    pairs: &[ProbePair],
) -> Result<Vec<[Vec<f32>; 2]>> {
    let texts: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.texts[0].as_str(), p.texts[1].as_str()])
        .collect();
    let mut preds = classifier.predict(&texts)?.into_iter();
    let mut out = Vec::with_capacity(pairs.len());
    while let (Some(a), Some(b)) = (preds.next(), preds.next()) {
        out.push([a.probs, b.probs]);
    }
    Ok(out)
}

/// Everything `tokken-cli bias` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BiasReport {
    pub model: String,
    pub probes: String,
    pub templates: usize,
    /// The groups probed, in file order.
    pub groups: Vec<String>,
    #[serde(flatten)]
    pub flips: FlipStats,
    /// Per-group scores on labelled data (`--data` with `--group-field`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_groups: Option<GroupScores>,
}

impl BiasReport {
    /// Predict every probe pair with `classifier` and compute the flip statistics
    /// (`worst`: how many of the worst pairs to keep).
    pub fn run(
        classifier: &Classifier,
        model: &Path,
        probes: &ProbeSet,
        worst: usize,
    ) -> Result<BiasReport> {
        let pairs = probes.pairs();
        let probs = probe_predictions(classifier, &pairs)?;
        let flips = flip_stats(&pairs, &probs, classifier.labels(), worst)?;
        Ok(BiasReport {
            model: model.display().to_string(),
            probes: probes.path.display().to_string(),
            templates: probes.templates.len(),
            groups: probes.group_names(),
            flips,
            data_groups: None,
        })
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        // Plain numbers, strings and vectors: serialization cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        write_text(path, &(self.to_json() + "\n"))
    }

    pub fn write_html(&self, path: &Path) -> Result<()> {
        write_text(path, &self.to_html())
    }

    /// A short terminal summary.
    pub fn summary(&self) -> String {
        let f = &self.flips;
        let mut s = format!(
            "{} templates, {} pairs: flip rate {:.4} ({} flips), mean max |Δp| {:.4}\n",
            self.templates, f.pairs, f.flip_rate, f.flips, f.mean_max_abs_dp
        );
        for g in &f.per_group {
            let _ = writeln!(
                s,
                "  {:<14} {:>5} pairs  flip rate {:.4}  mean max |Δp| {:.4}",
                g.group, g.pairs, g.flip_rate, g.mean_max_abs_dp
            );
        }
        if let Some(a) = f.expected_label_accuracy {
            let _ = writeln!(s, "  accuracy on templates with an expected label: {a:.4}");
        }
        let _ = writeln!(s, "mean |Δp| per class:");
        for c in &f.per_class {
            let _ = writeln!(s, "  {:<14} {:.4}", c.label, c.mean_abs_dp);
        }
        if !f.worst_pairs.is_empty() {
            let _ = writeln!(s, "worst pairs:");
            for p in f.worst_pairs.iter().take(10) {
                let _ = writeln!(
                    s,
                    "  line {:>3} {}: {} → {} ({:.3})  vs  {} → {} ({:.3})  |Δp| {:.3}",
                    p.line,
                    p.group,
                    p.texts[0],
                    p.predicted[0],
                    p.scores[0],
                    p.texts[1],
                    p.predicted[1],
                    p.scores[1],
                    p.max_abs_dp
                );
            }
        }
        if let Some(d) = &self.data_groups {
            let _ = writeln!(s, "labelled data by {}:", d.field);
            for g in &d.groups {
                let _ = writeln!(
                    s,
                    "  {:<14} n {:>5}  accuracy {:.4}  macro-F1 {:.4}",
                    g.value, g.n, g.accuracy, g.macro_f1
                );
            }
            let _ = writeln!(
                s,
                "  largest gap: accuracy {:.4} ({} {:.4} vs {} {:.4}), macro-F1 {:.4} ({} vs {})",
                d.accuracy_gap.gap,
                d.accuracy_gap.best_group,
                d.accuracy_gap.best,
                d.accuracy_gap.worst_group,
                d.accuracy_gap.worst,
                d.macro_f1_gap.gap,
                d.macro_f1_gap.best_group,
                d.macro_f1_gap.worst_group
            );
        }
        s
    }

    /// The whole HTML page.
    pub fn to_html(&self) -> String {
        let f = &self.flips;
        let mut out = page_start(&format!("tokken bias: {}", self.model), "");
        let _ = write!(
            out,
            "<h1>Bias report</h1>\n<p class=\"muted\">model <code>{}</code> · probes <code>{}</code> · {} templates · {} pairs</p>\n",
            escape(&self.model),
            escape(&self.probes),
            self.templates,
            f.pairs
        );
        let _ = writeln!(
            out,
            "<table id=\"summary\" class=\"summary\"><tr><th>flip rate</th><th>flips</th><th>mean max |Δp|</th>{}</tr><tr><td>{:.4}</td><td>{}</td><td>{:.4}</td>{}</tr></table>",
            if f.expected_label_accuracy.is_some() { "<th>expected-label accuracy</th>" } else { "" },
            f.flip_rate,
            f.flips,
            f.mean_max_abs_dp,
            f.expected_label_accuracy.map_or(String::new(), |a| format!("<td>{a:.4}</td>"))
        );
        out.push_str("<p class=\"muted\">A pair is two texts that differ only in one term of a group (男性/女性, 与党/野党, …); it flips when the predicted label differs. |Δp| is the change of a class's probability between the two texts.</p>\n");

        out.push_str("<h2>By group</h2>\n<div class=\"figures\">\n");
        out.push_str(&flip_bars(&f.per_group));
        out.push_str("</div>\n");
        count_table(&mut out, "per-group", &f.per_group, false);

        out.push_str("<h2>Probability shift per class</h2>\n<table id=\"per-class\"><tr><th class=\"text\">label</th><th>mean |Δp|</th><th>max |Δp|</th></tr>\n");
        for c in &f.per_class {
            let _ = writeln!(
                out,
                "<tr><td class=\"text\">{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                escape(&c.label),
                c.mean_abs_dp,
                c.max_abs_dp
            );
        }
        out.push_str("</table>\n");

        out.push_str("<h2>By term pair</h2>\n");
        count_table(&mut out, "per-term-pair", &f.per_term_pair, true);

        out.push_str("<h2>Worst pairs</h2>\n<table id=\"worst-pairs\"><tr><th>line</th><th class=\"text\">group</th><th class=\"text\">text a</th><th class=\"text\">predicted</th><th class=\"text\">text b</th><th class=\"text\">predicted</th><th>max |Δp|</th><th class=\"text\">class</th></tr>\n");
        for p in &f.worst_pairs {
            let _ = writeln!(
                out,
                "<tr{}><td>{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\">{} ({:.3})</td><td class=\"text\">{}</td><td class=\"text\">{} ({:.3})</td><td>{:.4}</td><td class=\"text\">{}</td></tr>",
                if p.flipped { " class=\"flip\" style=\"background:#fff5f5\"" } else { "" },
                p.line,
                escape(&p.group),
                escape(&p.texts[0]),
                escape(&p.predicted[0]),
                p.scores[0],
                escape(&p.texts[1]),
                escape(&p.predicted[1]),
                p.scores[1],
                p.max_abs_dp,
                escape(&p.max_abs_dp_label)
            );
        }
        out.push_str("</table>\n<p class=\"muted\">Rows shaded red flip.</p>\n");

        if let Some(d) = &self.data_groups {
            let _ = write!(
                out,
                "<h2>Labelled data by <code>{}</code></h2>\n<table id=\"data-groups\"><tr><th class=\"text\">group</th><th>n</th><th>accuracy</th><th>macro-F1</th></tr>\n",
                escape(&d.field)
            );
            for g in &d.groups {
                let _ = writeln!(
                    out,
                    "<tr><td class=\"text\">{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                    escape(&g.value),
                    g.n,
                    g.accuracy,
                    g.macro_f1
                );
            }
            let _ = writeln!(
                out,
                "</table>\n<p id=\"data-gap\">Largest gap: accuracy {:.4} ({} {:.4} vs {} {:.4}); macro-F1 {:.4} ({} {:.4} vs {} {:.4}).</p>",
                d.accuracy_gap.gap,
                escape(&d.accuracy_gap.best_group),
                d.accuracy_gap.best,
                escape(&d.accuracy_gap.worst_group),
                d.accuracy_gap.worst,
                d.macro_f1_gap.gap,
                escape(&d.macro_f1_gap.best_group),
                d.macro_f1_gap.best,
                escape(&d.macro_f1_gap.worst_group),
                d.macro_f1_gap.worst
            );
        }
        out.push_str(PAGE_END);
        out
    }
}

fn count_table(out: &mut String, id: &str, rows: &[FlipCount], terms: bool) {
    let _ = writeln!(
        out,
        "<table id=\"{id}\"><tr><th class=\"text\">group</th>{}<th>pairs</th><th>flips</th><th>flip rate</th><th>mean max |Δp|</th></tr>",
        if terms { "<th class=\"text\">terms</th>" } else { "" }
    );
    for r in rows {
        let t = match (&r.terms, terms) {
            (Some([a, b]), true) => {
                format!("<td class=\"text\">{} / {}</td>", escape(a), escape(b))
            }
            (None, true) => "<td></td>".to_string(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"text\">{}</td>{t}<td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            escape(&r.group),
            r.pairs,
            r.flips,
            r.flip_rate,
            r.mean_max_abs_dp
        );
    }
    out.push_str("</table>\n");
}

/// Horizontal bars of the flip rate per group (`id="flip-rate-bars"`).
fn flip_bars(groups: &[FlipCount]) -> String {
    let row_h = 24.0;
    let label_w = 120.0;
    let h = 40.0 + row_h * groups.len() as f64;
    let f = Frame::unit(label_w, 20.0, 300.0, row_h * groups.len() as f64);
    let mut out = String::new();
    svg::open(
        &mut out,
        "flip-rate-bars",
        label_w + 360.0,
        h + 20.0,
        "Flip rate by group",
    );
    for (i, g) in groups.iter().enumerate() {
        let y = f.y0 + i as f64 * row_h;
        svg::text(&mut out, label_w - 8.0, y + 16.0, "end", "", &g.group);
        let _ = write!(
            out,
            r#"<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} of {} pairs flip ({:.4})</title></rect>"#,
            svg::n(f.x(0.0)),
            svg::n(y + 4.0),
            svg::n(f.x(g.flip_rate) - f.x(0.0)),
            svg::n(row_h - 8.0),
            svg::BLUE,
            escape(&g.group),
            g.flips,
            g.pairs,
            g.flip_rate
        );
        svg::text(
            &mut out,
            f.x(g.flip_rate) + 4.0,
            y + 16.0,
            "start",
            r#"class="small""#,
            &format!("{:.3}", g.flip_rate),
        );
    }
    // x axis only: the groups label the rows.
    let _ = write!(
        out,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#a0aec0"/>"##,
        svg::n(f.x0),
        svg::n(f.y0),
        svg::n(f.w),
        svg::n(f.h)
    );
    for t in [0.0, 0.5, 1.0] {
        let y = f.y0 + f.h + 14.0;
        svg::text(
            &mut out,
            f.x(t),
            y,
            "middle",
            r#"class="small""#,
            &format!("{t}"),
        );
    }
    let y = f.y0 + f.h + 30.0;
    svg::text(
        &mut out,
        f.x(0.5),
        y,
        "middle",
        r#"class="axis-title""#,
        "flip rate",
    );
    out.push_str("</svg>");
    out
}
