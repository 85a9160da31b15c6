//! Inline SVG charts: axes with tick labels and units, one `<title>` per point or bar (the
//! browser shows it as a tooltip), fixed proportions (640 x 240 user units, scaled to the
//! width of their box).

use std::fmt::Write;

use super::html::Esc;

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 36.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 34.0;
/// Above this many x positions, a line is drawn without a dot (and tooltip) per value.
const MAX_DOTS: usize = 400;

/// One line of a line chart: its CSS class (`a` or `b`), its name, a value per x position.
pub(crate) struct Line<'a> {
    pub(crate) class: &'static str,
    pub(crate) name: &'a str,
    pub(crate) values: Vec<Option<f64>>,
}

/// A y axis: from 0 to `max`, its unit and how a value reads.
pub(crate) struct YAxis {
    pub(crate) max: f64,
    pub(crate) unit: &'static str,
    pub(crate) format: fn(f64) -> String,
}

impl YAxis {
    /// 0 to 100 %.
    pub(crate) fn percent() -> Self {
        Self {
            max: 1.0,
            unit: "%",
            format: |v| format!("{:.0}", v * 100.0),
        }
    }

    /// 0 to a round number at or above `max`, for counts.
    pub(crate) fn count(max: f64, unit: &'static str) -> Self {
        Self {
            max: nice_ceiling(max.max(1.0)),
            unit,
            format: |v| {
                if v >= 10_000.0 {
                    format!("{:.0}k", v / 1000.0)
                } else {
                    format!("{v:.0}")
                }
            },
        }
    }
}

/// The smallest of 1, 2, 4, 6, 8 times a power of ten at or above `v` (at least 4), so that the
/// four grid steps are round numbers.
fn nice_ceiling(v: f64) -> f64 {
    let v = v.max(4.0);
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

fn x_of(i: usize, n: usize) -> f64 {
    let span = W - LEFT - RIGHT;
    if n <= 1 {
        LEFT + span / 2.0
    } else {
        LEFT + span * i as f64 / (n - 1) as f64
    }
}

fn y_of(v: f64, axis: &YAxis) -> f64 {
    let span = H - TOP - BOTTOM;
    H - BOTTOM - span * (v / axis.max).clamp(0.0, 1.0)
}

/// The frame: `<svg>` with its accessible name, the y grid with labels, the x labels (at most
/// about eight, evenly chosen) under positions `xs`.
fn frame(out: &mut String, label: &str, axis: &YAxis, xs: &[(f64, &str)], x_unit: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}"><title>{}</title>"#,
        Esc(label),
        Esc(label)
    );
    for k in 0..=4 {
        let v = axis.max * f64::from(k) / 4.0;
        let y = y_of(v, axis);
        let _ = write!(
            out,
            r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            Esc(&(axis.format)(v))
        );
    }
    let _ = write!(
        out,
        r#"<text x="4" y="{}" text-anchor="start">{}</text>"#,
        TOP - 12.0,
        Esc(axis.unit)
    );
    let step = xs.len().div_ceil(8).max(1);
    for (i, (x, text)) in xs.iter().enumerate() {
        if i % step == 0 || i + 1 == xs.len() && xs.len() <= 8 {
            // A label at the right edge ends there rather than running past it.
            let anchor = if x + 32.0 > W { "end" } else { "middle" };
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
                H - BOTTOM + 16.0,
                Esc(text)
            );
        }
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
        W - RIGHT,
        H - 4.0,
        Esc(x_unit)
    );
}

/// A line chart over `labels` (one per x position); gaps where a value is missing.
pub(crate) fn lines(label: &str, labels: &[String], lines: &[Line<'_>], axis: &YAxis) -> String {
    let n = labels.len();
    let mut out = String::with_capacity(4096 + 200 * n * lines.len());
    let xs: Vec<(f64, &str)> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (x_of(i, n), l.as_str()))
        .collect();
    frame(&mut out, label, axis, &xs, "time (UTC)");
    for line in lines {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, v) in line.values.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(
                        path,
                        "{}{:.1},{:.1}",
                        if pen_down { " L" } else { " M" },
                        x_of(i, n),
                        y_of(*v, axis)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !path.is_empty() {
            let _ = write!(out, r#"<path class="{}" d="{}"/>"#, line.class, path.trim());
        }
        // A point per value, with its tooltip, unless there are too many to tell apart.
        let dots = if n <= MAX_DOTS { &line.values[..] } else { &[] };
        for (i, v) in dots.iter().enumerate() {
            if let Some(v) = v {
                let _ = write!(
                    out,
                    r#"<circle class="dot-{}" cx="{:.1}" cy="{:.1}" r="3"><title>{} {}: {} {}</title></circle>"#,
                    line.class,
                    x_of(i, n),
                    y_of(*v, axis),
                    Esc(line.name),
                    Esc(&labels[i]),
                    Esc(&(axis.format)(*v)),
                    Esc(axis.unit)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// A bar chart of counts over `labels`.
pub(crate) fn bars(label: &str, labels: &[String], values: &[u64], unit: &'static str) -> String {
    let n = labels.len().max(1);
    let axis = YAxis::count(values.iter().copied().max().unwrap_or(0) as f64, unit);
    let mut out = String::with_capacity(4096 + 160 * n);
    let slot = (W - LEFT - RIGHT) / n as f64;
    let xs: Vec<(f64, &str)> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (LEFT + slot * (i as f64 + 0.5), l.as_str()))
        .collect();
    frame(&mut out, label, &axis, &xs, "time (UTC)");
    for (i, v) in values.iter().enumerate() {
        let y = y_of(*v as f64, &axis);
        let _ = write!(
            out,
            r#"<rect class="bar-a" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{}: {} {}</title></rect>"#,
            LEFT + slot * i as f64 + slot * 0.1,
            slot * 0.8,
            H - BOTTOM - y,
            Esc(&labels[i]),
            super::html::count(*v),
            unit
        );
    }
    out.push_str("</svg>");
    out
}

/// Two confidence histograms over equal bins of `[0, 1]`, as shares of their totals: the
/// window's as bars, the baseline's as outlines.
pub(crate) fn histograms(label: &str, window: &[u64], baseline: &[u64]) -> String {
    let share = |h: &[u64]| -> Vec<f64> {
        let total: u64 = h.iter().sum();
        h.iter()
            .map(|c| {
                if total == 0 {
                    0.0
                } else {
                    *c as f64 / total as f64
                }
            })
            .collect()
    };
    let (w, b) = (share(window), share(baseline));
    let top = w.iter().chain(&b).copied().fold(0.0, f64::max);
    let axis = YAxis {
        max: (nice_ceiling((top * 100.0).max(1.0)) / 100.0).min(1.0),
        unit: "% of predictions",
        format: |v| format!("{:.0}", v * 100.0),
    };
    let n = w.len().max(b.len()).max(1);
    let slot = (W - LEFT - RIGHT) / n as f64;
    let mut out = String::with_capacity(8192);
    let xs: Vec<(f64, String)> = (0..=n)
        .step_by((n / 5).max(1))
        .map(|i| {
            (
                LEFT + slot * i as f64,
                format!("{:.1}", i as f64 / n as f64),
            )
        })
        .collect();
    let xs: Vec<(f64, &str)> = xs.iter().map(|(x, t)| (*x, t.as_str())).collect();
    frame(&mut out, label, &axis, &xs, "confidence");
    let lo = |i: usize| i as f64 / n as f64;
    for (who, class, shares, counts) in [
        ("window", "bar-a", &w, window),
        ("baseline", "bar-b", &b, baseline),
    ] {
        for (i, v) in shares.iter().enumerate() {
            let y = y_of(*v, &axis);
            let _ = write!(
                out,
                r#"<rect class="{class}" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{who}, confidence {:.2}–{:.2}: {:.1}% ({})</title></rect>"#,
                LEFT + slot * i as f64 + 1.0,
                (slot - 2.0).max(1.0),
                H - BOTTOM - y,
                lo(i),
                lo(i + 1),
                v * 100.0,
                counts[i]
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(1.0), 4.0);
        assert_eq!(nice_ceiling(5.0), 6.0);
        assert_eq!(nice_ceiling(21.0), 40.0);
        assert_eq!(nice_ceiling(47.0), 60.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
    }

    #[test]
    fn charts_carry_a_tooltip_per_value_and_gaps_for_missing_ones() {
        let labels = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let svg = lines(
            "accuracy",
            &labels,
            &[Line {
                class: "a",
                name: "accuracy",
                values: vec![Some(0.5), None, Some(1.0)],
            }],
            &YAxis::percent(),
        );
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches(" M").count() + svg.matches("d=\"M").count(), 2);
        let svg = bars("volume", &labels, &[1, 2, 3], "predictions");
        assert_eq!(svg.matches("<rect").count(), 3);
        let svg = histograms("h", &[1, 1], &[2, 0]);
        assert!(svg.contains("window, confidence 0.00–0.50: 50.0% (1)"));
        assert!(svg.contains("baseline, confidence 0.00–0.50: 100.0% (2)"));
    }
}
