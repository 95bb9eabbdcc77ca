//! The report's figures as inline SVG strings (no scripts, no external references).
//!
//! Every figure is one `<svg>` with a fixed `id` (the Chromium test looks them up):
//! `confusion-matrix`, `per-class-bars`, `reliability-diagram`, `training-curves`.
//! Text goes through [`escape`]; labels are drawn with the page's CJK-capable font list.

use std::fmt::Write;

use super::html::escape;
use super::TrainingCurves;
use crate::metrics::{Calibration, ClassMetrics};

const FONT_PX: f64 = 13.0;
/// Colours of precision / recall / F1 (and of the curves).
pub(crate) const BLUE: &str = "#2b6cb0";
pub(crate) const ORANGE: &str = "#dd6b20";
pub(crate) const GREEN: &str = "#2f855a";
pub(crate) const GREY: &str = "#718096";

/// Rough width of `s` in pixels at [`FONT_PX`]: wide (CJK) characters count double.
fn text_width(s: &str) -> f64 {
    use unicode_width::UnicodeWidthStr;
    s.width() as f64 * FONT_PX * 0.6
}

/// A number for an SVG attribute (two decimals, no trailing noise).
pub(crate) fn n(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `#rrggbb` between white (t = 0) and [`BLUE`] (t = 1).
fn blue_scale(t: f64) -> String {
    let t = t.clamp(0.0, 1.0);
    let mix = |hi: f64| (255.0 + (hi - 255.0) * t).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(43.0), mix(108.0), mix(176.0))
}

pub(crate) fn open(out: &mut String, id: &str, w: f64, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg id="{id}" class="figure" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{t}"><title>{t}</title>"#,
        w = n(w),
        h = n(h),
        t = escape(title)
    );
}

pub(crate) fn text(out: &mut String, x: f64, y: f64, anchor: &str, extra: &str, s: &str) {
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="{anchor}" {extra}>{}</text>"#,
        n(x),
        n(y),
        escape(s)
    );
}

/// Heatmap of the confusion matrix: rows true, columns predicted; colour = share of the
/// row (recall view), the count written in each cell.
pub fn confusion_heatmap(labels: &[String], matrix: &[Vec<u64>]) -> String {
    let cell = 44.0;
    let left = labels.iter().map(|l| text_width(l)).fold(40.0, f64::max) + 16.0;
    let top = labels.iter().map(|l| text_width(l)).fold(40.0, f64::max) * 0.75 + 30.0;
    let k = labels.len() as f64;
    // Wide enough for the caption under the matrix.
    let (w, h) = ((left + k * cell + 10.0).max(330.0), top + k * cell + 30.0);
    let mut out = String::new();
    open(&mut out, "confusion-matrix", w, h, "Confusion matrix");
    text(
        &mut out,
        left + k * cell / 2.0,
        14.0,
        "middle",
        r#"class="axis-title""#,
        "predicted",
    );
    for (j, l) in labels.iter().enumerate() {
        let x = left + (j as f64 + 0.5) * cell;
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="start" transform="rotate(-40 {} {})">{}</text>"#,
            n(x),
            n(top - 6.0),
            n(x),
            n(top - 6.0),
            escape(l)
        );
    }
    for (i, (l, row)) in labels.iter().zip(matrix).enumerate() {
        let y = top + i as f64 * cell;
        text(&mut out, left - 8.0, y + cell / 2.0 + 4.0, "end", "", l);
        let total: u64 = row.iter().sum();
        for (j, &v) in row.iter().enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                v as f64 / total as f64
            };
            let x = left + j as f64 * cell;
            let pred = labels.get(j).map_or("", |s| s.as_str());
            let _ = write!(
                out,
                r##"<rect class="cell" x="{}" y="{}" width="{c}" height="{c}" fill="{}" stroke="#e2e8f0"><title>{}: true {} → predicted {}</title></rect>"##,
                n(x),
                n(y),
                blue_scale(share),
                v,
                escape(l),
                escape(pred),
                c = n(cell),
            );
            let color = if share > 0.5 { "#ffffff" } else { "#1a202c" };
            text(
                &mut out,
                x + cell / 2.0,
                y + cell / 2.0 + 4.0,
                "middle",
                &format!(r#"fill="{color}""#),
                &v.to_string(),
            );
        }
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" class="axis-title">rows: true class · colour: share of the row</text></svg>"#,
        n(w / 2.0),
        n(h - 8.0)
    );
    out
}

/// Horizontal bars of precision, recall and F1 per class (scale 0–1).
pub fn class_bars(classes: &[ClassMetrics]) -> String {
    let left = classes
        .iter()
        .map(|c| text_width(&c.label))
        .fold(40.0, f64::max)
        + 16.0;
    let (bar_w, bar_h, gap) = (320.0, 9.0, 10.0);
    let group = 3.0 * bar_h + gap;
    let top = 28.0;
    let w = left + bar_w + 60.0;
    let h = top + classes.len() as f64 * group + 24.0;
    let mut out = String::new();
    open(
        &mut out,
        "per-class-bars",
        w,
        h,
        "Precision, recall and F1 per class",
    );
    let series = [("precision", BLUE), ("recall", ORANGE), ("F1", GREEN)];
    for (s, (name, color)) in series.iter().enumerate() {
        let x = left + s as f64 * 100.0;
        let _ = write!(
            out,
            r#"<rect x="{}" y="6" width="12" height="12" fill="{color}"/>"#,
            n(x)
        );
        text(&mut out, x + 16.0, 16.0, "start", "", name);
    }
    for (i, c) in classes.iter().enumerate() {
        let y0 = top + i as f64 * group;
        text(
            &mut out,
            left - 8.0,
            y0 + 1.5 * bar_h + 4.0,
            "end",
            "",
            &c.label,
        );
        for (s, (v, (name, color))) in [c.precision, c.recall, c.f1].iter().zip(series).enumerate()
        {
            let y = y0 + s as f64 * bar_h;
            let _ = write!(
                out,
                r#"<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{color}"><title>{} {name} {:.4}</title></rect>"#,
                n(left),
                n(y),
                n(v.clamp(0.0, 1.0) * bar_w),
                n(bar_h - 1.0),
                escape(&c.label),
                v
            );
        }
        text(
            &mut out,
            left + c.f1.clamp(0.0, 1.0) * bar_w + 4.0,
            y0 + 2.0 * bar_h + bar_h - 1.0,
            "start",
            r#"class="small""#,
            &format!("{:.2}", c.f1),
        );
    }
    let axis_y = top + classes.len() as f64 * group;
    for t in [0.0, 0.5, 1.0] {
        text(
            &mut out,
            left + t * bar_w,
            axis_y + 14.0,
            "middle",
            r#"class="small""#,
            &format!("{t}"),
        );
    }
    out.push_str("</svg>");
    out
}

/// Plot area of a chart: pixel box and data ranges.
pub(crate) struct Frame {
    pub(crate) x0: f64,
    pub(crate) y0: f64,
    pub(crate) w: f64,
    pub(crate) h: f64,
    pub(crate) x_min: f64,
    pub(crate) x_max: f64,
    pub(crate) y_min: f64,
    pub(crate) y_max: f64,
}

impl Frame {
    /// A plot box at `(x0, y0)`, `w` × `h` pixels, whose axes both run from 0 to 1
    /// (rates, probabilities).
    pub(crate) fn unit(x0: f64, y0: f64, w: f64, h: f64) -> Frame {
        Frame {
            x0,
            y0,
            w,
            h,
            x_min: 0.0,
            x_max: 1.0,
            y_min: 0.0,
            y_max: 1.0,
        }
    }

    pub(crate) fn x(&self, v: f64) -> f64 {
        let span = (self.x_max - self.x_min).max(f64::MIN_POSITIVE);
        self.x0 + (v - self.x_min) / span * self.w
    }
    pub(crate) fn y(&self, v: f64) -> f64 {
        let span = (self.y_max - self.y_min).max(f64::MIN_POSITIVE);
        self.y0 + self.h - (v - self.y_min) / span * self.h
    }
    /// Box, and tick labels at the ends and middle of both axes.
    pub(crate) fn axes(&self, out: &mut String, x_title: &str, y_title: &str) {
        let _ = write!(
            out,
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#a0aec0"/>"##,
            n(self.x0),
            n(self.y0),
            n(self.w),
            n(self.h)
        );
        for t in [0.0, 0.5, 1.0] {
            let xv = self.x_min + t * (self.x_max - self.x_min);
            let yv = self.y_min + t * (self.y_max - self.y_min);
            text(
                out,
                self.x(xv),
                self.y0 + self.h + 14.0,
                "middle",
                r#"class="small""#,
                &tick(xv),
            );
            text(
                out,
                self.x0 - 4.0,
                self.y(yv) + 4.0,
                "end",
                r#"class="small""#,
                &tick(yv),
            );
        }
        text(
            out,
            self.x0 + self.w / 2.0,
            self.y0 + self.h + 30.0,
            "middle",
            r#"class="axis-title""#,
            x_title,
        );
        let (yx, yy) = (self.x0 - 38.0, self.y0 + self.h / 2.0);
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" class="axis-title" transform="rotate(-90 {} {})">{}</text>"#,
            n(yx),
            n(yy),
            n(yx),
            n(yy),
            escape(y_title)
        );
    }
}

fn tick(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{}", v.round())
    } else {
        format!("{v:.2}")
    }
}

/// Reliability diagram: per non-empty bin, a bar at its accuracy over its confidence range,
/// a dot at (mean confidence, accuracy), and the diagonal of perfect calibration.
pub fn reliability_diagram(cal: &Calibration) -> String {
    let f = Frame::unit(56.0, 28.0, 260.0, 260.0);
    let mut out = String::new();
    open(
        &mut out,
        "reliability-diagram",
        340.0,
        340.0,
        "Reliability diagram",
    );
    text(
        &mut out,
        f.x0,
        16.0,
        "start",
        "",
        &format!("ECE {:.4}", cal.ece),
    );
    for b in cal.bins.iter().filter(|b| b.count > 0) {
        let _ = write!(
            out,
            r##"<rect class="bin" x="{}" y="{}" width="{}" height="{}" fill="{BLUE}" fill-opacity="0.55" stroke="#ffffff"><title>confidence {:.2}–{:.2}: {} examples, accuracy {:.3}, mean confidence {:.3}</title></rect>"##,
            n(f.x(b.lower)),
            n(f.y(b.accuracy)),
            n(f.x(b.upper) - f.x(b.lower)),
            n(f.y(0.0) - f.y(b.accuracy)),
            b.lower,
            b.upper,
            b.count,
            b.accuracy,
            b.confidence
        );
        let _ = write!(
            out,
            r#"<circle cx="{}" cy="{}" r="3" fill="{ORANGE}"/>"#,
            n(f.x(b.confidence)),
            n(f.y(b.accuracy))
        );
    }
    let _ = write!(
        out,
        r#"<line id="reliability-diagonal" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{GREY}" stroke-dasharray="4 3"/>"#,
        n(f.x(0.0)),
        n(f.y(0.0)),
        n(f.x(1.0)),
        n(f.y(1.0))
    );
    f.axes(&mut out, "confidence", "accuracy");
    out.push_str("</svg>");
    out
}

/// Two panels: training loss by step; eval accuracy and macro-F1 by step.
pub fn training_curves(curves: &TrainingCurves) -> String {
    let mut out = String::new();
    open(&mut out, "training-curves", 720.0, 300.0, "Training curves");
    let last_step = curves
        .train
        .iter()
        .map(|p| p.step)
        .chain(curves.eval.iter().map(|p| p.step))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let losses: Vec<(f64, f64)> = curves
        .train
        .iter()
        .filter_map(|p| p.loss.map(|l| (p.step as f64, l)))
        .collect();
    let loss_max = losses.iter().map(|p| p.1).fold(0.0, f64::max);
    let loss = Frame {
        x0: 56.0,
        y0: 28.0,
        w: 270.0,
        h: 220.0,
        x_min: 0.0,
        x_max: last_step,
        y_min: 0.0,
        y_max: if loss_max > 0.0 { loss_max * 1.05 } else { 1.0 },
    };
    text(&mut out, loss.x0, 16.0, "start", "", "training loss");
    polyline(&mut out, "train-loss", &loss, &losses, BLUE);
    loss.axes(&mut out, "step", "loss");

    let eval = Frame {
        x0: 426.0,
        x_min: 0.0,
        y_max: 1.0,
        ..loss
    };
    text(&mut out, eval.x0, 16.0, "start", "", "eval");
    let acc: Vec<(f64, f64)> = curves
        .eval
        .iter()
        .map(|p| (p.step as f64, p.accuracy))
        .collect();
    let f1: Vec<(f64, f64)> = curves
        .eval
        .iter()
        .map(|p| (p.step as f64, p.macro_f1))
        .collect();
    polyline(&mut out, "eval-accuracy", &eval, &acc, ORANGE);
    polyline(&mut out, "eval-macro-f1", &eval, &f1, GREEN);
    for (i, (name, color)) in [("accuracy", ORANGE), ("macro-F1", GREEN)]
        .iter()
        .enumerate()
    {
        let x = eval.x0 + 60.0 + i as f64 * 100.0;
        let _ = write!(
            out,
            r#"<rect x="{}" y="6" width="12" height="12" fill="{color}"/>"#,
            n(x)
        );
        text(&mut out, x + 16.0, 16.0, "start", "", name);
    }
    eval.axes(&mut out, "step", "score");
    out.push_str("</svg>");
    out
}

/// A line through `points` (with a dot on each when there are few).
pub(crate) fn polyline(out: &mut String, id: &str, f: &Frame, points: &[(f64, f64)], color: &str) {
    let coords: Vec<String> = points
        .iter()
        .map(|&(x, y)| format!("{},{}", n(f.x(x)), n(f.y(y))))
        .collect();
    let _ = write!(
        out,
        r#"<polyline id="{id}" points="{}" fill="none" stroke="{color}" stroke-width="1.5"/>"#,
        coords.join(" ")
    );
    if points.len() <= 60 {
        for &(x, y) in points {
            let _ = write!(
                out,
                r#"<circle cx="{}" cy="{}" r="2.5" fill="{color}"/>"#,
                n(f.x(x)),
                n(f.y(y))
            );
        }
    }
}
