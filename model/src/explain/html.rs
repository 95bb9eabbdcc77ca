//! HTML views (self-contained: inline CSS, no scripts, no external URLs): explanations
//! with the tokens' original characters shaded red/blue by attribution, and the shortcut
//! report with its example headlines shaded the same way.

use std::fmt::Write;

use super::explanation::Explanation;
use super::shortcuts::{ShortcutReport, WordStats};
use super::terminal::{header, max_abs, rgb};
use crate::report::html::{escape, page_start, PAGE_END};

/// Added to the reports' shared style: the shaded text and examples.
const STYLE: &str = r#"
table { margin: 6px 0; }
.explained { font-size: 20px; line-height: 2; margin: 8px 0; }
.tok { border-radius: 3px; padding: 1px 0; }
.example { font-size: 15px; line-height: 1.8; }
"#;

/// The text with every attributed span shaded (`<span class="tok" data-score=..>`).
pub fn shaded_text(e: &Explanation) -> String {
    let chars: Vec<char> = e.text.chars().collect();
    let scale = max_abs(e);
    let mut out = String::new();
    let mut pos = 0;
    for span in &e.spans {
        let start = span.start.clamp(pos, chars.len());
        out.push_str(&escape(&chars[pos..start].iter().collect::<String>()));
        let (r, g, b) = rgb(span.score / scale);
        let _ = write!(
            out,
            "<span class=\"tok\" style=\"background: rgb({r},{g},{b})\" title=\"{:+.4}\" data-score=\"{}\">{}</span>",
            span.score,
            span.score,
            escape(&span.text)
        );
        pos = span.end.clamp(start, chars.len());
    }
    out.push_str(&escape(
        &chars[pos.min(chars.len())..].iter().collect::<String>(),
    ));
    out
}

fn explanation_section(out: &mut String, e: &Explanation) {
    let _ = write!(
        out,
        "<section class=\"explanation\">\n<p class=\"muted\">{}</p>\n<div class=\"explained\">{}</div>\n",
        escape(&header(e)),
        shaded_text(e)
    );
    out.push_str("<table class=\"tokens\"><tr><th class=\"text\">token</th><th>chars</th><th>score</th></tr>\n");
    for t in &e.tokens {
        let _ = writeln!(
            out,
            "<tr><td class=\"text\">{}</td><td>{}–{}</td><td>{:+.4}</td></tr>",
            escape(&t.token),
            t.start,
            t.end,
            t.score
        );
    }
    out.push_str("</table>\n</section>\n");
}

/// A page of explanations.
pub fn render_explanations(model: &str, explanations: &[Explanation]) -> String {
    let mut out = page_start(&format!("tokken explain: {model}"), STYLE);
    let _ = write!(
        out,
        "<h1>Explanations</h1>\n<p class=\"muted\">model <code>{}</code> · red supports the explained class, blue opposes it</p>\n",
        escape(model)
    );
    for e in explanations {
        explanation_section(&mut out, e);
    }
    out.push_str(PAGE_END);
    out
}

fn word_table(out: &mut String, id: &str, words: &[WordStats], examples: &[Explanation]) {
    let _ = writeln!(
        out,
        "<table id=\"{id}\"><tr><th class=\"text\">word</th><th>correct</th><th>wrong</th>\
         <th>mass correct</th><th>mass wrong</th><th>wrong mass share</th><th>lift</th>\
         <th class=\"text\">examples</th></tr>"
    );
    for w in words {
        let _ = write!(
            out,
            "<tr><td class=\"text\"><b>{}</b></td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.0} %</td><td>{:.2}</td><td class=\"text\">",
            escape(&w.word),
            w.n_correct,
            w.n_wrong,
            w.mass_correct,
            w.mass_wrong,
            100.0 * w.wrong_mass_share,
            w.lift
        );
        for x in &w.examples {
            let text = examples
                .get(x.index)
                .map_or_else(|| escape(&x.text), shaded_text);
            let mark = if x.gold == x.predicted { "✓" } else { "✗" };
            let _ = write!(
                out,
                "<div class=\"example\">{mark} {text} <span class=\"muted\">(gold {}, predicted {})</span></div>",
                escape(&x.gold),
                escape(&x.predicted)
            );
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
}

/// The shortcut report page; `examples` are the explanations in input order (for the
/// shaded example headlines).
pub fn render_shortcuts(r: &ShortcutReport, examples: &[Explanation]) -> String {
    let mut out = page_start(&format!("tokken shortcut report: {}", r.model), STYLE);
    let _ = write!(
        out,
        "<h1>Shortcut report</h1>\n<p class=\"muted\">model <code>{}</code> · data <code>{}</code> · {} examples · accuracy {:.4} · method {} · top {} words per example</p>\n\
         <p class=\"muted\">A word's share is its part of an example's positive attribution toward the predicted class. \
         Shortcut candidates: words behind wrong predictions (by wrong mass); lift = the word's wrong rate / the class's error rate.</p>\n",
        escape(&r.model),
        escape(&r.data),
        r.n,
        r.accuracy,
        escape(&r.method),
        r.top_k
    );
    for (c, class) in r.classes.iter().enumerate() {
        let _ = write!(
            out,
            "<h2>predicted {}</h2>\n<p class=\"muted\">{} predicted, {} wrong (error rate {:.1} %)</p>\n",
            escape(&class.label),
            class.n_predicted,
            class.n_wrong,
            100.0 * class.error_rate
        );
        out.push_str("<h3>shortcut candidates</h3>\n");
        if class.shortcuts.is_empty() {
            out.push_str("<p class=\"muted\">none: no wrong prediction of this class</p>\n");
        } else {
            word_table(
                &mut out,
                &format!("shortcuts-{c}"),
                &class.shortcuts,
                examples,
            );
        }
        out.push_str("<h3>words with the most attribution mass</h3>\n");
        if class.top_words.is_empty() {
            out.push_str("<p class=\"muted\">none: no prediction of this class</p>\n");
        } else {
            word_table(&mut out, &format!("top-{c}"), &class.top_words, examples);
        }
    }
    out.push_str(PAGE_END);
    out
}
