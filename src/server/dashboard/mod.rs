//! The monitoring dashboard: read-only HTML pages served by the same server as the API, at `/`.
//!
//! Server-rendered: each page is built from the store in one request (the same operations the
//! JSON API calls), charts are inline SVG, the style sheet is inline, and there is no script and
//! nothing fetched from elsewhere (a `Content-Security-Policy` header enforces it). Pages need
//! the `read` scope; a browser sends its token by HTTP Basic authentication (any user name, the
//! token as password), which it asks for on the first 401.
//!
//! | Page | Path |
//! |---|---|
//! | Models: latest version, aliases, a status per version | `/` |
//! | A version: accuracy and label coverage per bucket, volume, drift, recent predictions | `/models/{name}/versions/{version}` |
//! | Two versions side by side | `/models/{name}/compare?a=..&b=..` |
//! | An alias's timeline | `/models/{name}/aliases/{alias}` |
//!
//! The status of a version is the drift verdict (`ok`, `warn`, `drift`) of its newest
//! [`DEFAULT_WINDOW`] predictions against its baseline with the default thresholds, or
//! `no baseline` / `old baseline` (one without a histogram) / `no predictions`; its accuracy is that of its newest [`DEFAULT_WINDOW`]
//! labelled predictions, or `no labels`. Accuracy and coverage over time come from the hourly
//! aggregates ([`PredictionStoreExt::series`]), so their cost does not grow with the number of
//! predictions.

mod chart;
mod html;

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use mlstore_core::{
    Alias, Bucket, DriftReport, DriftThresholds, Event, EventKind, MetricsOptions, ModelMetadata,
    ModelName, ModelQuery, ModelRegistry, ModelRegistryExt, PredictionStore, PredictionStoreExt,
    Series, SeriesQuery, Verdict, Version, Window, WindowMetrics,
};
use serde::Deserialize;

use self::chart::{Line, YAxis};
use self::html::{badge, count, instant, page, percent, ratio, Enc, Esc};
use super::{ApiError, AppState};

/// How many of the newest predictions the drift status and the latest accuracy are computed
/// over, unless a page is told otherwise (`?last=N`).
pub const DEFAULT_WINDOW: usize = 1000;
/// The largest `?last=N` a page accepts.
pub const MAX_WINDOW: usize = 100_000;
/// Models per page of the models list.
const MODELS_PER_PAGE: usize = 25;
/// Versions shown per model on the models list (the newest).
const VERSIONS_PER_MODEL: usize = 8;
/// Recent predictions shown on a version's page.
const RECENT: usize = 20;

/// The dashboard's paths: the models, a version, compare, an alias's history.
const PAGES: [&str; 4] = [
    "/",
    "/models/{name}/versions/{version}",
    "/models/{name}/compare",
    "/models/{name}/aliases/{alias}",
];

/// The dashboard's paths and their handlers (all `GET`, all behind the same gate as the API).
pub(crate) fn routes() -> [(&'static str, MethodRouter<Arc<AppState>>); 4] {
    [
        (PAGES[0], get(models)),
        (PAGES[1], get(version_page)),
        (PAGES[2], get(compare_page)),
        (PAGES[3], get(alias_page)),
    ]
}

/// Whether `route` (a matched path pattern) is one of the dashboard's pages.
pub(crate) fn is_page(route: &str) -> bool {
    PAGES.contains(&route)
}

type St = State<Arc<AppState>>;

/// An error shown as a page (same status as the API would answer).
struct Problem(ApiError);

impl<E: Into<ApiError>> From<E> for Problem {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = format!(
            r#"<h1>{} {}</h1><p>{}</p><p><a href="/">Back to the models</a></p>"#,
            status.as_u16(),
            Esc(status.canonical_reason().unwrap_or("")),
            Esc(self.0.message())
        );
        let mut r = html_response(&page("Error", &[("Models".into(), "/".into())], &body));
        *r.status_mut() = status;
        r
    }
}

type PageResult<T = Response> = std::result::Result<T, Problem>;

/// A page answer with its security headers and, as `Server-Timing`, the time it took to build.
fn html_response(body: &str) -> Response {
    let mut r = (StatusCode::OK, body.to_owned()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; \
             base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn timed(start: Instant, body: &str) -> Response {
    let mut r = html_response(body);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("render;dur={ms:.3}")) {
        r.headers_mut().insert("server-timing", v);
    }
    r
}

fn bad(field: &'static str, e: impl std::fmt::Display) -> Problem {
    Problem(ApiError::bad_request(field, format!("{field}: {e}")))
}

fn last_of(last: Option<usize>) -> PageResult<usize> {
    match last.unwrap_or(DEFAULT_WINDOW) {
        n @ 1..=MAX_WINDOW => Ok(n),
        n => Err(bad("last", format!("{n} is not within 1..={MAX_WINDOW}"))),
    }
}

fn version_href(name: &ModelName, v: &Version) -> String {
    format!(
        "/models/{}/versions/{}",
        Enc(name.as_str()),
        Enc(v.as_str())
    )
}

fn alias_href(name: &ModelName, a: &Alias) -> String {
    format!("/models/{}/aliases/{}", Enc(name.as_str()), Enc(a.as_str()))
}

fn model_crumb(name: &ModelName) -> (String, String) {
    (
        name.as_str().to_owned(),
        format!("/#m-{}", Enc(name.as_str())),
    )
}

/// A version's health: the drift verdict of its newest predictions against its baseline, and
/// the accuracy of its newest labelled predictions.
struct Health {
    status: &'static str,
    drift: Option<DriftReport>,
    accuracy: Option<f64>,
    labelled: u64,
}

async fn health(s: &AppState, name: &ModelName, v: &Version, last: usize) -> PageResult<Health> {
    let h = &s.handle;
    let (baseline, accuracy) =
        tokio::join!(h.baseline(name, v), h.accuracy(name, v, Window::last(last)));
    let accuracy = accuracy?;
    let (status, drift) = match baseline? {
        None => ("no baseline", None),
        Some(baseline) => {
            let confidences = h.window_confidences(name, v, Window::last(last)).await?;
            if confidences.is_empty() {
                ("no predictions", None)
            } else {
                match DriftReport::compute(&confidences, &baseline, DriftThresholds::default()) {
                    Ok(report) => {
                        let status = match report.verdict {
                            Verdict::Ok => "ok",
                            Verdict::Warn => "warn",
                            Verdict::Drift => "drift",
                        };
                        (status, Some(report))
                    }
                    // A baseline written before baselines kept a histogram.
                    Err(e) if e.kind() == mlstore_core::ErrorKind::InvalidInput => {
                        ("old baseline", None)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    };
    Ok(Health {
        status,
        drift,
        accuracy: accuracy.ratio(),
        labelled: accuracy.total(),
    })
}

fn accuracy_cell(out: &mut String, h: &Health) {
    match h.accuracy {
        Some(a) => {
            let _ = write!(
                out,
                r#"<td class="num" data-accuracy="{a}" title="over the newest {} labelled">{}</td>"#,
                h.labelled,
                ratio(Some(a))
            );
        }
        None => {
            out.push_str(r#"<td class="num">"#);
            badge(out, "no labels");
            out.push_str("</td>");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Models.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsParams {
    after: Option<String>,
}

async fn models(State(s): St, Query(q): Query<ModelsParams>) -> PageResult<Response> {
    let start = Instant::now();
    let after = q.after.map(ModelName::new).transpose()?;
    let page_of = s
        .handle
        .models_page(
            &ModelQuery::default()
                .after(after)
                .page_size(MODELS_PER_PAGE),
        )
        .await?;
    let mut body = String::from("<h1>Models</h1>");
    if page_of.names.is_empty() {
        body.push_str(
            r#"<p class="empty">No models yet. Register one with <code>mlstore models register NAME VERSION</code> or <code>POST /v1/models/{name}/versions/{version}</code>.</p>"#,
        );
    }
    for name in &page_of.names {
        let h = &s.handle;
        let (versions, aliases, latest) =
            tokio::join!(h.versions(name), h.aliases(name), h.latest(name));
        let (versions, aliases, latest) = (versions?, aliases?, latest?);
        let _ = write!(
            body,
            r#"<section class="card" id="m-{}" aria-labelledby="h-{}"><h2 id="h-{}">{}</h2><p>Latest: "#,
            Enc(name.as_str()),
            Enc(name.as_str()),
            Enc(name.as_str()),
            Esc(name.as_str())
        );
        match &latest {
            Some(m) => {
                let _ = write!(
                    body,
                    r#"<a href="{}" data-latest="{}">{}</a>"#,
                    version_href(name, m.version()),
                    Esc(m.version().as_str()),
                    Esc(m.version().as_str())
                );
            }
            None => body.push('–'),
        }
        if versions.len() >= 2 {
            let n = versions.len();
            let _ = write!(
                body,
                r#" · <a href="/models/{}/compare?a={}&amp;b={}">compare the newest two</a>"#,
                Enc(name.as_str()),
                Enc(versions[n - 2].version().as_str()),
                Enc(versions[n - 1].version().as_str())
            );
        }
        body.push_str("</p>");
        if !aliases.is_empty() {
            body.push_str("<p>Aliases: ");
            for (i, (a, v)) in aliases.iter().enumerate() {
                if i > 0 {
                    body.push_str(", ");
                }
                let _ = write!(
                    body,
                    r#"<a href="{}" data-alias="{}">{}</a> → <a href="{}" data-alias-target="{}">{}</a>"#,
                    alias_href(name, a),
                    Esc(a.as_str()),
                    Esc(a.as_str()),
                    version_href(name, v),
                    Esc(v.as_str()),
                    Esc(v.as_str())
                );
            }
            body.push_str("</p>");
        }
        body.push_str(
            r#"<div class="scroll"><table><thead><tr><th scope="col">Version</th><th scope="col">Registered</th><th scope="col">Aliases</th><th scope="col">Status</th><th class="num" scope="col">Accuracy</th><th class="num" scope="col">PSI</th></tr></thead><tbody>"#,
        );
        let shown = &versions[versions.len().saturating_sub(VERSIONS_PER_MODEL)..];
        for m in shown.iter().rev() {
            let v = m.version();
            let health = health(&s, name, v, DEFAULT_WINDOW).await?;
            let _ = write!(
                body,
                r#"<tr><th scope="row"><a href="{}">{}</a></th><td>{}</td><td>"#,
                version_href(name, v),
                Esc(v.as_str()),
                instant(m.created_at())
            );
            let mine: Vec<&str> = aliases
                .iter()
                .filter(|(_, t)| t == v)
                .map(|(a, _)| a.as_str())
                .collect();
            let _ = write!(body, "{}</td><td>", Esc(&mine.join(", ")));
            badge(&mut body, health.status);
            body.push_str("</td>");
            accuracy_cell(&mut body, &health);
            let _ = write!(
                body,
                r#"<td class="num">{}</td></tr>"#,
                ratio(health.drift.as_ref().map(|d| d.psi))
            );
        }
        body.push_str("</tbody></table></div>");
        if versions.len() > shown.len() {
            let _ = write!(
                body,
                r#"<p class="muted">The newest {} of {} versions.</p>"#,
                shown.len(),
                versions.len()
            );
        }
        body.push_str("</section>");
    }
    if let Some(next) = &page_of.next {
        let _ = write!(
            body,
            r#"<p><a href="/?after={}" rel="next">Next models →</a></p>"#,
            Enc(next.as_str())
        );
    }
    let _ = write!(
        body,
        r#"<p class="muted">Status: the drift verdict of each version's newest {n} predictions against its baseline (default thresholds); accuracy: its newest {n} labelled predictions.</p>"#,
        n = count(DEFAULT_WINDOW as u64)
    );
    Ok(timed(
        start,
        &page("Models", &[("Models".into(), "/".into())], &body),
    ))
}

// ---------------------------------------------------------------------------------------------
// A version.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeParams {
    since: Option<String>,
    bucket: Option<String>,
    last: Option<usize>,
}

/// The ranges offered in the page's form.
const RANGES: [&str; 5] = ["24h", "7d", "30d", "90d", "365d"];
const WINDOWS: [usize; 3] = [1000, 10_000, 100_000];

struct Range {
    since_text: String,
    query: SeriesQuery,
    last: usize,
}

impl RangeParams {
    fn resolve(&self) -> PageResult<Range> {
        let now = mlstore_core::time::now();
        let since_text = self.since.clone().unwrap_or_else(|| "30d".to_owned());
        let since =
            mlstore_core::time::parse_instant(&since_text, now).map_err(|e| bad("since", e))?;
        let bucket_text = self.bucket.as_deref().unwrap_or_else(|| {
            if now - since <= chrono::Duration::days(2) {
                "hour"
            } else {
                "day"
            }
        });
        let bucket = Bucket::parse(bucket_text).map_err(|e| bad("bucket", e))?;
        let query = SeriesQuery::new(since, now, bucket);
        query.buckets().map_err(|e| bad("since", e))?;
        Ok(Range {
            since_text,
            query,
            last: last_of(self.last)?,
        })
    }
}

fn range_form(out: &mut String, r: &Range, hidden: &[(&str, &str)]) {
    out.push_str(r#"<form class="controls" method="get">"#);
    for (k, v) in hidden {
        let _ = write!(
            out,
            r#"<input type="hidden" name="{k}" value="{}">"#,
            Esc(v)
        );
    }
    out.push_str(r#"<label>Range<select name="since">"#);
    let mut ranges: Vec<&str> = RANGES.to_vec();
    if !ranges.contains(&r.since_text.as_str()) {
        ranges.insert(0, &r.since_text);
    }
    for x in ranges {
        let _ = write!(
            out,
            r#"<option value="{}"{}>last {}</option>"#,
            Esc(x),
            if x == r.since_text { " selected" } else { "" },
            Esc(x)
        );
    }
    out.push_str(r#"</select></label><label>Bucket<select name="bucket">"#);
    for b in ["hour", "day"] {
        let _ = write!(
            out,
            r#"<option{}>{b}</option>"#,
            if r.query.bucket().name() == b {
                " selected"
            } else {
                ""
            }
        );
    }
    out.push_str(r#"</select></label><label>Window<select name="last">"#);
    let mut windows = WINDOWS.to_vec();
    if !windows.contains(&r.last) {
        windows.insert(0, r.last);
    }
    for n in windows {
        let _ = write!(
            out,
            r#"<option value="{n}"{}>newest {}</option>"#,
            if n == r.last { " selected" } else { "" },
            count(n as u64)
        );
    }
    out.push_str(r#"</select></label><button type="submit">Show</button></form>"#);
}

fn labels_of(series: &Series) -> Vec<String> {
    let hourly = series.bucket.name() != "day";
    series
        .points
        .iter()
        .map(|p| {
            if hourly {
                p.start.format("%m-%d %H:00").to_string()
            } else {
                p.start.format("%Y-%m-%d").to_string()
            }
        })
        .collect()
}

fn fact(out: &mut String, key: &str, value: &str, data: &str) {
    let _ = write!(
        out,
        r#"<div class="fact"><div class="k">{}</div><div class="v" data-fact="{data}">{value}</div></div>"#,
        Esc(key)
    );
}

async fn version_page(
    State(s): St,
    Path((name, v)): Path<(String, String)>,
    Query(q): Query<RangeParams>,
) -> PageResult<Response> {
    let start = Instant::now();
    let (name, v) = (ModelName::new(name)?, Version::new(v)?);
    let range = q.resolve()?;
    let h = &s.handle;
    let Some(meta) = h.get(&name, &v).await? else {
        return Err(mlstore_core::Error::version_not_found(&name, &v).into());
    };
    let (aliases, series, recent, baseline) = tokio::join!(
        h.aliases(&name),
        h.series(&name, &v, &range.query),
        h.recent_predictions(&name, &v, Window::last(RECENT)),
        h.baseline(&name, &v)
    );
    let (aliases, series, recent, baseline) = (aliases?, series?, recent?, baseline?);
    let health = health(&s, &name, &v, range.last).await?;

    let mut body = String::with_capacity(64 * 1024);
    let _ = write!(
        body,
        r#"<h1>{} <span class="muted">{}</span> "#,
        Esc(name.as_str()),
        Esc(v.as_str())
    );
    badge(&mut body, health.status);
    body.push_str("</h1>");
    version_facts(&mut body, &meta, &aliases, &name);
    range_form(&mut body, &range, &[]);

    let (predictions, labelled): (u64, u64) = series
        .points
        .iter()
        .fold((0, 0), |(p, l), x| (p + x.predictions, l + x.labelled));
    let correct: u64 = series.points.iter().map(|x| x.correct).sum();
    body.push_str(r#"<div class="facts">"#);
    fact(
        &mut body,
        &format!("Accuracy, newest {} labelled", count(range.last as u64)),
        &match health.accuracy {
            Some(a) => ratio(Some(a)),
            None => r#"<span class="badge no-labels">no labels</span>"#.to_owned(),
        },
        "accuracy",
    );
    fact(
        &mut body,
        &format!("Predictions, last {}", range.since_text),
        &count(predictions),
        "predictions",
    );
    fact(
        &mut body,
        "Label coverage",
        &percent((predictions > 0).then(|| labelled as f64 / predictions as f64)),
        "coverage",
    );
    fact(
        &mut body,
        &format!("Accuracy, last {}", range.since_text),
        &ratio((labelled > 0).then(|| correct as f64 / labelled as f64)),
        "range-accuracy",
    );
    body.push_str("</div>");

    let labels = labels_of(&series);
    body.push_str(
        r#"<div class="grid"><section class="card"><h2>Accuracy and label coverage</h2>"#,
    );
    body.push_str(
        r#"<p class="legend"><span class="sw a"></span>accuracy<span class="sw b"></span>label coverage</p>"#,
    );
    body.push_str(&chart::lines(
        &format!("Accuracy and label coverage per {}", series.bucket.name()),
        &labels,
        &[
            Line {
                class: "a",
                name: "accuracy",
                values: series.points.iter().map(|p| p.accuracy).collect(),
            },
            Line {
                class: "b",
                name: "label coverage",
                values: series.points.iter().map(|p| p.label_coverage).collect(),
            },
        ],
        &YAxis::percent(),
    ));
    body.push_str(r#"</section><section class="card"><h2>Prediction volume</h2><p class="legend"><span class="sw a"></span>predictions per "#);
    body.push_str(series.bucket.name());
    body.push_str("</p>");
    body.push_str(&chart::bars(
        &format!("Predictions per {}", series.bucket.name()),
        &labels,
        &series
            .points
            .iter()
            .map(|p| p.predictions)
            .collect::<Vec<_>>(),
        "predictions",
    ));
    body.push_str("</section></div>");

    drift_section(
        &mut body,
        &name,
        &v,
        &health,
        baseline.is_some(),
        range.last,
    );
    recent_section(&mut body, &recent);
    Ok(timed(
        start,
        &page(
            &format!("{name} {v}"),
            &[
                ("Models".into(), "/".into()),
                model_crumb(&name),
                (v.as_str().to_owned(), version_href(&name, &v)),
            ],
            &body,
        ),
    ))
}

fn version_facts(
    out: &mut String,
    m: &ModelMetadata,
    aliases: &[(Alias, Version)],
    name: &ModelName,
) {
    let _ = write!(
        out,
        r#"<p class="muted">{} · registered {} · status {}"#,
        Esc(m.model_type()),
        instant(m.created_at()),
        Esc(m.status())
    );
    let mine: Vec<&Alias> = aliases
        .iter()
        .filter(|(_, t)| t == m.version())
        .map(|(a, _)| a)
        .collect();
    if !mine.is_empty() {
        out.push_str(" · aliases ");
        for (i, a) in mine.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(
                out,
                r#"<a href="{}">{}</a>"#,
                alias_href(name, a),
                Esc(a.as_str())
            );
        }
    }
    if let Some(d) = m.description() {
        let _ = write!(out, "<br>{}", Esc(d));
    }
    out.push_str("</p>");
}

fn drift_section(
    out: &mut String,
    name: &ModelName,
    v: &Version,
    health: &Health,
    has_baseline: bool,
    last: usize,
) {
    let _ = write!(
        out,
        r#"<section class="card"><h2>Confidence drift, newest {} predictions</h2>"#,
        count(last as u64)
    );
    let Some(d) = &health.drift else {
        if health.status == "old baseline" {
            let _ = write!(
                out,
                r#"<p class="empty">The baseline has no histogram (it was written before baselines kept one): run <code>mlstore baseline compute {} {}</code> to write a new one.</p></section>"#,
                Esc(name.as_str()),
                Esc(v.as_str())
            );
        } else if has_baseline {
            out.push_str(r#"<p class="empty">No predictions yet: log some with <code>POST /v1/predictions</code> or <code>mlstore predictions import</code>.</p></section>"#);
        } else {
            let _ = write!(
                out,
                r#"<p class="empty">No baseline: run <code>mlstore baseline compute {} {}</code> (or <code>POST /v1/models/{{name}}/versions/{{version}}/baseline/compute</code>) to compare confidences against one.</p></section>"#,
                Esc(name.as_str()),
                Esc(v.as_str())
            );
        }
        return;
    };
    let t = &d.thresholds;
    out.push_str(r#"<div class="grid"><div><div class="scroll"><table><thead><tr><th scope="col">Figure</th><th class="num" scope="col">Value</th><th class="num" scope="col">Warn at</th><th class="num" scope="col">Drift at</th></tr></thead><tbody>"#);
    let row = |out: &mut String,
               figure: &str,
               key: &str,
               value: String,
               levels: Option<(f64, f64)>| {
        let (warn, drift) = levels.map_or_else(
            || ("off".to_owned(), "off".to_owned()),
            |(w, d)| (w.to_string(), d.to_string()),
        );
        let _ = write!(
            out,
            r#"<tr><th scope="row">{figure}</th><td class="num" data-drift="{key}">{value}</td><td class="num">{warn}</td><td class="num">{drift}</td></tr>"#
        );
    };
    row(
        out,
        "PSI",
        "psi",
        format!("{:.4}", d.psi),
        Some(t.psi_levels()),
    );
    row(
        out,
        "Mean shift (σ of the baseline)",
        "mean_shift",
        d.mean_shift_sigma
            .map_or_else(|| "–".to_owned(), |m| format!("{m:.4}")),
        Some(t.mean_shift_levels()),
    );
    row(
        out,
        "KS p-value (below is worse)",
        "ks_pvalue",
        format!("{:.4}", d.ks_pvalue),
        t.ks_pvalue_levels(),
    );
    let _ = write!(
        out,
        r#"<tr><th scope="row">KS statistic ({})</th><td class="num" data-drift="ks_statistic">{:.4}</td><td></td><td></td></tr></tbody></table></div><p class="muted">Verdict: "#,
        Esc(&d.ks_method),
        d.ks_statistic
    );
    badge(out, health.status);
    let _ = write!(
        out,
        " · window {} predictions, baseline {}.</p></div><div>",
        count(d.window_count),
        count(d.baseline_count)
    );
    out.push_str(r#"<p class="legend"><span class="sw a"></span>window<span class="sw b"></span>baseline</p>"#);
    out.push_str(&chart::histograms(
        "Confidence histogram of the window over the baseline's",
        &d.window_histogram,
        &d.baseline_histogram,
    ));
    out.push_str("</div></div></section>");
}

fn recent_section(out: &mut String, recent: &[mlstore_core::Prediction]) {
    out.push_str(r#"<section><h2>Recent predictions</h2>"#);
    if recent.is_empty() {
        out.push_str(r#"<p class="empty">No predictions yet.</p></section>"#);
        return;
    }
    out.push_str(r#"<div class="scroll"><table><thead><tr><th scope="col">Time</th><th scope="col">Id</th><th scope="col">Prediction</th><th class="num" scope="col">Confidence</th><th scope="col">Label</th><th scope="col">Correct</th></tr></thead><tbody>"#);
    for p in recent {
        let label = p.actual().map_or_else(|| "–".to_owned(), short_json);
        let correct = match p.is_correct() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "–",
        };
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class="num">{:.4}</td><td>{}</td><td>{correct}</td></tr>"#,
            instant(p.timestamp()),
            p.id(),
            Esc(&short_json(p.prediction())),
            p.confidence(),
            Esc(&label)
        );
    }
    out.push_str("</tbody></table></div></section>");
}

/// A JSON value in one line, cut at 60 characters.
fn short_json(v: &serde_json::Value) -> String {
    let mut s = v.to_string();
    if s.chars().count() > 60 {
        s = s.chars().take(59).collect::<String>() + "…";
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Compare.

/// A row of the comparison table: label, data key, how a version's value reads.
type MetricRow = (&'static str, &'static str, fn(&WindowMetrics) -> String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompareParams {
    a: Option<String>,
    b: Option<String>,
    since: Option<String>,
    bucket: Option<String>,
    last: Option<usize>,
}

async fn compare_page(
    State(s): St,
    Path(name): Path<String>,
    Query(q): Query<CompareParams>,
) -> PageResult<Response> {
    let start = Instant::now();
    let name = ModelName::new(name)?;
    let h = &s.handle;
    let versions = h.versions(&name).await?;
    if versions.is_empty() {
        return Err(mlstore_core::Error::not_found(format!("model {name:?}")).into());
    }
    let n = versions.len();
    let pick = |given: &Option<String>, fallback: usize| -> PageResult<Version> {
        match given {
            Some(t) => Ok(Version::new(t.as_str())?),
            None => Ok(versions[fallback].version().clone()),
        }
    };
    let (a, b) = (pick(&q.a, n.saturating_sub(2))?, pick(&q.b, n - 1)?);
    let range = RangeParams {
        since: q.since,
        bucket: q.bucket,
        last: q.last,
    }
    .resolve()?;
    let options = MetricsOptions::new(Window::last(range.last)).classes(false);
    let (cmp, sa, sb) = tokio::join!(
        h.compare(&name, &a, &b, options),
        h.series(&name, &a, &range.query),
        h.series(&name, &b, &range.query)
    );
    let (cmp, sa, sb) = (cmp?, sa?, sb?);

    let mut body = format!(
        "<h1>Compare {} <span class=\"muted\">{}</span> and <span class=\"muted\">{}</span></h1>",
        Esc(name.as_str()),
        Esc(a.as_str()),
        Esc(b.as_str())
    );
    body.push_str(r#"<form class="controls" method="get">"#);
    for (field, chosen) in [("a", &a), ("b", &b)] {
        let _ = write!(
            body,
            r#"<label>Version {}<select name="{field}">"#,
            field.to_uppercase()
        );
        for m in versions.iter().rev() {
            let _ = write!(
                body,
                r#"<option{}>{}</option>"#,
                if m.version() == chosen {
                    " selected"
                } else {
                    ""
                },
                Esc(m.version().as_str())
            );
        }
        body.push_str("</select></label>");
    }
    let _ = write!(
        body,
        r#"<input type="hidden" name="since" value="{}"><input type="hidden" name="bucket" value="{}"><input type="hidden" name="last" value="{}"><button type="submit">Compare</button></form>"#,
        Esc(&range.since_text),
        range.query.bucket().name(),
        range.last
    );
    range_form(&mut body, &range, &[("a", a.as_str()), ("b", b.as_str())]);

    let _ = write!(
        body,
        r#"<div class="scroll"><table><thead><tr><th scope="col">Newest {} predictions</th><th class="num" scope="col"><a href="{}">{}</a> (A)</th><th class="num" scope="col"><a href="{}">{}</a> (B)</th></tr></thead><tbody>"#,
        count(range.last as u64),
        version_href(&name, &a),
        Esc(a.as_str()),
        version_href(&name, &b),
        Esc(b.as_str())
    );
    let rows: [MetricRow; 6] = [
        ("Predictions", "predictions", |m| count(m.predictions)),
        ("Labelled", "labelled", |m| count(m.labelled)),
        ("Accuracy", "accuracy", |m| ratio(m.accuracy)),
        ("Label coverage", "coverage", |m| percent(m.label_coverage)),
        ("Mean confidence", "confidence", |m| {
            ratio(m.confidence.as_ref().map(|c| c.mean))
        }),
        ("Median label lag", "lag", |m| {
            m.label_lag
                .as_ref()
                .map_or_else(|| "–".to_owned(), |l| html::seconds(l.p50_seconds))
        }),
    ];
    for (label, key, f) in rows {
        let _ = write!(
            body,
            r#"<tr><th scope="row">{label}</th><td class="num" data-a="{key}">{}</td><td class="num" data-b="{key}">{}</td></tr>"#,
            f(&cmp.a),
            f(&cmp.b)
        );
    }
    let _ = write!(
        body,
        r#"</tbody></table></div><p>Accuracy B − A: <strong data-compare="difference">{}</strong> · two-proportion z: <span data-compare="z">{}</span> · p-value: <span data-compare="p">{}</span></p>"#,
        cmp.accuracy_difference
            .map_or_else(|| "–".to_owned(), |d| format!("{d:+.4}")),
        ratio(cmp.z),
        ratio(cmp.p_value)
    );
    let labels = labels_of(&sa);
    body.push_str(&format!(
        r#"<section class="card"><h2>Accuracy per {}</h2><p class="legend"><span class="sw a"></span>{} (A)<span class="sw b"></span>{} (B)</p>"#,
        sa.bucket.name(),
        Esc(a.as_str()),
        Esc(b.as_str())
    ));
    body.push_str(&chart::lines(
        &format!("Accuracy per {} of {a} and {b}", sa.bucket.name()),
        &labels,
        &[
            Line {
                class: "a",
                name: a.as_str(),
                values: sa.points.iter().map(|p| p.accuracy).collect(),
            },
            Line {
                class: "b",
                name: b.as_str(),
                values: sb.points.iter().map(|p| p.accuracy).collect(),
            },
        ],
        &YAxis::percent(),
    ));
    body.push_str("</section>");
    Ok(timed(
        start,
        &page(
            &format!("Compare {name}"),
            &[
                ("Models".into(), "/".into()),
                model_crumb(&name),
                ("compare".into(), String::new()),
            ],
            &body,
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// An alias's timeline.

async fn alias_page(
    State(s): St,
    Path((name, alias)): Path<(String, String)>,
) -> PageResult<Response> {
    let start = Instant::now();
    let (name, alias) = (ModelName::new(name)?, Alias::new(alias)?);
    let h = &s.handle;
    let (current, events) = tokio::join!(
        h.resolve_alias(&name, &alias),
        h.alias_history(&name, &alias)
    );
    let (current, events): (Option<Version>, Vec<Event>) = (current?, events?);
    if current.is_none() && events.is_empty() {
        return Err(
            mlstore_core::Error::not_found(format!("alias {alias:?} of model {name:?}")).into(),
        );
    }
    let mut body = format!(
        "<h1>{} <span class=\"muted\">@{}</span></h1><p>Points at: ",
        Esc(name.as_str()),
        Esc(alias.as_str())
    );
    match &current {
        Some(v) => {
            let _ = write!(
                body,
                r#"<a href="{}" data-alias-target="{}">{}</a>"#,
                version_href(&name, v),
                Esc(v.as_str()),
                Esc(v.as_str())
            );
        }
        None => body.push_str("nothing (removed)"),
    }
    body.push_str("</p><h2>Timeline</h2>");
    if events.is_empty() {
        body.push_str(r#"<p class="empty">No recorded changes (the alias was set before history was kept).</p>"#);
    } else {
        body.push_str(r#"<div class="scroll"><table><thead><tr><th scope="col">When</th><th scope="col">Change</th><th scope="col">From</th><th scope="col">To</th><th scope="col">By</th></tr></thead><tbody>"#);
        for e in events.iter().rev() {
            let change = match e.kind {
                EventKind::AliasSet => "set",
                EventKind::AliasRemoved => "removed",
                EventKind::AliasRolledBack => "rolled back",
                _ => "changed",
            };
            let link = |v: &Option<Version>| {
                v.as_ref().map_or_else(
                    || "–".to_owned(),
                    |v| {
                        format!(
                            r#"<a href="{}">{}</a>"#,
                            version_href(&name, v),
                            Esc(v.as_str())
                        )
                    },
                )
            };
            let _ = write!(
                body,
                r#"<tr><td>{}</td><td>{change}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                instant(e.at),
                link(&e.from_version),
                link(&e.version),
                Esc(e.actor.as_deref().unwrap_or("–"))
            );
        }
        body.push_str("</tbody></table></div>");
    }
    Ok(timed(
        start,
        &page(
            &format!("{name} @{alias}"),
            &[
                ("Models".into(), "/".into()),
                model_crumb(&name),
                (format!("@{alias}"), String::new()),
            ],
            &body,
        ),
    ))
}
