//! HTML building blocks of the dashboard: escaping, links, number formats and the page frame
//! (one inline style sheet, light and dark, no script, nothing fetched from elsewhere).

use std::fmt::{self, Display, Write};

/// Text made safe for HTML element content and attribute values.
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// A path segment or query value percent-encoded (everything but RFC 3986's unreserved
/// characters), so that any model name round-trips through a link.
pub(crate) struct Enc<'a>(pub(crate) &'a str);

impl Display for Enc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                f.write_char(char::from(b))?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

/// A ratio with four decimals, or a dash.
pub(crate) fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.4}"))
}

/// A ratio as a percentage with one decimal, or a dash.
pub(crate) fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// A duration in seconds in the largest unit that keeps it above 1.5: `42.0 s`, `12.5 min`,
/// `3.2 h`, `4.2 d`.
pub(crate) fn seconds(s: f64) -> String {
    let a = s.abs();
    if a < 90.0 {
        format!("{s:.1} s")
    } else if a < 5400.0 {
        format!("{:.1} min", s / 60.0)
    } else if a < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86_400.0)
    }
}

/// A count with thousands separators.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An instant as `2026-11-29 10:15:00Z`.
pub(crate) fn instant(t: mlstore_core::Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// A status badge: `ok`, `warn`, `drift`, `no baseline`, `no labels`, `no predictions`.
pub(crate) fn badge(out: &mut String, status: &str) {
    let class = status.replace(' ', "-");
    let _ = write!(out, r#"<span class="badge {class}">{}</span>"#, Esc(status));
}

/// The style sheet of every page: system fonts, light and dark by `prefers-color-scheme`,
/// fixed chart proportions (nothing moves once the page is drawn), narrow-screen tables that
/// scroll inside their box, and a visible keyboard focus.
const STYLE: &str = r#"
:root{color-scheme:light dark;--bg:#fff;--fg:#1d2430;--muted:#5b6574;--line:#d5dae1;--panel:#f5f7fa;
--accent:#1f5fbf;--a:#1f6fd1;--b:#d9730d;--ok:#1a7f37;--warn:#9a6700;--drift:#cf222e;--none:#6e7781}
@media (prefers-color-scheme:dark){:root{--bg:#0f1419;--fg:#e6e9ee;--muted:#9aa4b2;--line:#2d3642;
--panel:#161d26;--accent:#6ea8ff;--a:#5b9dff;--b:#f0a04b;--ok:#3fb950;--warn:#d29922;--drift:#f85149;--none:#8b949e}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{border-bottom:1px solid var(--line);padding:.6rem 1rem;display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}
header .brand{font-weight:700;color:var(--fg);text-decoration:none}
nav.crumbs{color:var(--muted)}
main{max-width:1200px;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.2rem 0 .8rem;word-break:break-word}
h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,select:focus-visible,input:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--line);vertical-align:top;white-space:nowrap}
th{background:var(--panel);font-weight:600}
td.num,th.num{text-align:right}
tr:last-child td,tr:last-child th{border-bottom:0}
tbody th{background:none}
section.card{margin-bottom:1rem}
.badge{display:inline-block;padding:0 .45rem;border-radius:999px;font-size:.8rem;font-weight:600;border:1px solid currentColor}
.badge.ok{color:var(--ok)}.badge.warn{color:var(--warn)}.badge.drift{color:var(--drift)}
.badge.no-baseline,.badge.old-baseline,.badge.no-labels,.badge.no-predictions{color:var(--none)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:1rem}
.card{border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;background:var(--panel)}
.card h2{margin-top:.1rem}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.5rem;margin:.4rem 0}
.fact{border:1px solid var(--line);border-radius:6px;padding:.4rem .6rem}
.fact .k{color:var(--muted);font-size:.8rem}.fact .v{font-size:1.15rem;font-variant-numeric:tabular-nums}
.muted{color:var(--muted)}
.empty{border:1px dashed var(--line);border-radius:6px;padding:.8rem;color:var(--muted)}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--panel);padding:.05rem .3rem;border-radius:4px}
form.controls{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin:.4rem 0 .8rem}
form.controls label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted)}
select,input,button{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:4px;padding:.2rem .4rem}
button{cursor:pointer;background:var(--panel)}
svg.chart{width:100%;max-width:760px;height:auto;aspect-ratio:640/240;display:block}
svg.chart text{fill:var(--muted);font-size:11px}
svg.chart .axis{stroke:var(--line)}
svg.chart .a{stroke:var(--a);fill:none;stroke-width:2}svg.chart .b{stroke:var(--b);fill:none;stroke-width:2}
svg.chart .bar-a{fill:var(--a);opacity:.75}svg.chart .bar-b{fill:none;stroke:var(--b);stroke-width:2}
svg.chart .dot-a{fill:var(--a)}svg.chart .dot-b{fill:var(--b)}
.legend{font-size:.8rem;color:var(--muted);margin:.2rem 0}
.legend .sw{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;vertical-align:-1px;margin:0 .25rem 0 .6rem}
.sw.a{background:var(--a)}.sw.b{background:var(--b)}
@media (max-width:600px){main{padding:.6rem}th,td{padding:.3rem .4rem}}
"#;

/// A whole page: `<head>` with the style sheet, the header with the trail of links `crumbs`
/// (text, href; the last is the current page), then `body`.
pub(crate) fn page(title: &str, crumbs: &[(String, String)], body: &str) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 1024);
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{} · mlstore</title><style>{STYLE}</style></head><body><header><a class="brand" href="/">mlstore</a><nav class="crumbs" aria-label="Breadcrumb">"#,
        Esc(title)
    );
    for (i, (text, href)) in crumbs.iter().enumerate() {
        if i > 0 {
            out.push_str(" / ");
        }
        if i + 1 == crumbs.len() {
            let _ = write!(out, r#"<span aria-current="page">{}</span>"#, Esc(text));
        } else {
            let _ = write!(out, r#"<a href="{href}">{}</a>"#, Esc(text));
        }
    }
    let _ = write!(out, "</nav></header><main>{body}</main></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_encodes() {
        assert_eq!(
            Esc(r#"<a href="x">'&'</a>"#).to_string(),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(Enc("x'; DROP/ü").to_string(), "x%27%3B%20DROP%2F%C3%BC");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(ratio(Some(0.812_549)), "0.8125");
        assert_eq!(percent(None), "–");
        assert_eq!(seconds(42.0), "42.0 s");
        assert_eq!(seconds(359_700.0), "4.2 d");
    }
}
