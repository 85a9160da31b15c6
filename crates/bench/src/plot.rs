//! A bar chart of p50 per operation per combination, on a log scale, as SVG.

use std::fmt::Write;

const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// Draws `rows` (operation, then one p50 in microseconds per combination, `None` when not
/// measured) with the combination names as the legend.
pub fn svg(title: &str, combos: &[String], rows: &[(String, Vec<Option<f64>>)]) -> String {
    let bar_h = 10.0;
    let group_h = bar_h * combos.len() as f64 + 12.0;
    let (left, top, width) = (170.0, 60.0, 620.0);
    let height = top + group_h * rows.len() as f64 + 40.0;
    let (lo, hi) = (-1.0f64, 6.0f64); // 0.1 µs .. 1 s
    let x = |us: f64| left + (us.max(0.1).log10() - lo) / (hi - lo) * width;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="11">"#,
        w = left + width + 30.0
    );
    let _ = write!(
        out,
        r#"<text x="10" y="20" font-size="14">{}</text>"#,
        escape(title)
    );
    for (i, combo) in combos.iter().enumerate() {
        let lx = left + (i as f64 % 4.0) * 150.0;
        let ly = 34.0 + (i / 4) as f64 * 14.0;
        let _ = write!(
            out,
            r#"<rect x="{lx}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            ly - 9.0,
            COLORS[i % COLORS.len()],
            lx + 14.0,
            ly,
            escape(combo)
        );
    }
    for decade in lo as i32..=hi as i32 {
        let us = 10f64.powi(decade);
        let gx = x(us);
        let label = if us < 1.0 {
            format!("{us} µs")
        } else if us < 1000.0 {
            format!("{us:.0} µs")
        } else if us < 1e6 {
            format!("{:.0} ms", us / 1000.0)
        } else {
            "1 s".into()
        };
        let _ = write!(
            out,
            r##"<line x1="{gx}" y1="{top}" x2="{gx}" y2="{}" stroke="#ddd"/><text x="{gx}" y="{}" text-anchor="middle">{label}</text>"##,
            height - 30.0,
            height - 16.0
        );
    }
    for (g, (op, values)) in rows.iter().enumerate() {
        let gy = top + g as f64 * group_h;
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 6.0,
            gy + group_h / 2.0,
            escape(op)
        );
        for (i, value) in values.iter().enumerate() {
            if let Some(us) = value {
                let _ = write!(
                    out,
                    r#"<rect x="{left}" y="{}" width="{:.1}" height="{}" fill="{}"><title>{} {}: {us:.1} µs</title></rect>"#,
                    gy + i as f64 * bar_h,
                    (x(*us) - left).max(1.0),
                    bar_h - 1.0,
                    COLORS[i % COLORS.len()],
                    escape(op),
                    escape(&combos[i])
                );
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_one_bar_per_value() {
        let svg = super::svg(
            "t",
            &["a".into(), "b".into()],
            &[
                ("get".into(), vec![Some(3.0), None]),
                ("put".into(), vec![Some(30.0), Some(0.2)]),
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<title>").count(), 3);
    }
}
