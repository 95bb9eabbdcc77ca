//! The coloured terminal view: the original text with each token's characters on a red
//! (supports the explained class) or blue (against it) background, intensity ∝ |score|
//! (24-bit ANSI colours), then the token list with scores.

use std::fmt::Write;

use super::explanation::Explanation;

/// Largest |score| of the non-special tokens (1 when all are 0).
pub fn max_abs(e: &Explanation) -> f32 {
    let m = e
        .tokens
        .iter()
        .filter(|t| !t.special)
        .map(|t| t.score.abs())
        .fold(0.0f32, f32::max);
    if m > 0.0 {
        m
    } else {
        1.0
    }
}

/// RGB of a score scaled to [-1, 1]: white → red (positive) or white → blue (negative).
pub fn rgb(scaled: f32) -> (u8, u8, u8) {
    let i = scaled.abs().clamp(0.0, 1.0);
    let fade = (255.0 * (1.0 - 0.8 * i)).round() as u8;
    if scaled >= 0.0 {
        (255, fade, fade)
    } else {
        (fade, fade, 255)
    }
}

/// The header line: prediction, explained class, method (and IG's completeness).
pub fn header(e: &Explanation) -> String {
    let mut s = format!(
        "predicted {} (p = {:.3}) · explaining {} · method {}",
        e.predicted,
        e.probs.get(e.predicted_index).copied().unwrap_or(0.0),
        e.class,
        e.method.name()
    );
    if let Some(ig) = &e.integrated_gradients {
        let _ = write!(
            s,
            " ({} steps, {} baseline; Σ = {:.4}, logit {:.4} − baseline {:.4}, Δ = {:.2e} = {:.2} %)",
            ig.steps,
            ig.baseline.name(),
            ig.sum,
            ig.input_logit,
            ig.baseline_logit,
            ig.delta,
            100.0 * ig.relative_delta
        );
    }
    s
}

/// The whole view; `color = false` marks spans as `[text +0.123]` instead.
pub fn render(e: &Explanation, color: bool) -> String {
    let mut out = header(e);
    out.push('\n');
    let chars: Vec<char> = e.text.chars().collect();
    let scale = max_abs(e);
    let mut pos = 0;
    for span in &e.spans {
        let start = span.start.clamp(pos, chars.len());
        out.extend(&chars[pos..start]);
        if color {
            let (r, g, b) = rgb(span.score / scale);
            let _ = write!(out, "\x1b[38;2;0;0;0;48;2;{r};{g};{b}m{}\x1b[0m", span.text);
        } else {
            let _ = write!(out, "[{} {:+.3}]", span.text, span.score);
        }
        pos = span.end.clamp(start, chars.len());
    }
    out.extend(&chars[pos.min(chars.len())..]);
    out.push('\n');
    for t in &e.tokens {
        let _ = write!(out, "  {}:{:+.4}", t.token, t.score);
    }
    out.push('\n');
    out
}
