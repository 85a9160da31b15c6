//! `--dashboard [N]`: the dashboard's pages over a model version with N predictions (default
//! 1,000,000; 100,000 with `--quick`), SQLite, as `mlstore serve` runs. Each page is asked for
//! repeatedly; the report gives the server's own time per page (its `Server-Timing` header: from
//! the handler's start to the page built) and the time a client waits, p50 and max.

use std::path::Path;
use std::time::{Duration, Instant};

use mlstore::server::{Server, ServerConfig};
use mlstore::{
    Alias, ModelMetadata, ModelName, ModelRegistry, Prediction, PredictionStore,
    PredictionStoreExt, Version, Window,
};
use serde_json::json;

use crate::measure::Summary;

/// The model the section creates.
const MODEL: &str = "bench-dashboard";
/// Predictions stored per call while seeding.
const CHUNK: usize = 10_000;

/// One page's figures.
#[derive(Debug, Clone)]
pub struct PageRow {
    /// Which page.
    pub page: &'static str,
    /// Its path.
    pub path: String,
    /// The server's time per request (from `Server-Timing`).
    pub server: Summary,
    /// The client's wait per request.
    pub client: Summary,
    /// Bytes of HTML.
    pub bytes: usize,
}

/// What the section measured.
#[derive(Debug, Clone)]
pub struct DashboardReport {
    /// Predictions of the measured version.
    pub predictions: u64,
    /// How long seeding took.
    pub seeded_in: Duration,
    /// One row per page.
    pub pages: Vec<PageRow>,
}

/// Seeds `predictions` predictions of version 2.0.0 over the last 90 days (80% labelled, a
/// baseline from its first 10,000), a second version and aliases, then measures every page.
///
/// # Errors
/// When the store or the server cannot start, or a page does not answer 200.
pub async fn run(
    dir: &Path,
    predictions: u64,
    quick: bool,
    mut progress: impl FnMut(&str),
) -> mlstore::Result<DashboardReport> {
    let url = format!("sqlite://{}", dir.join("dashboard.db").display());
    let handle = mlstore::connect(&url).await?;
    let name = ModelName::new(MODEL)?;
    let now = mlstore::time::now();
    let (old, new) = (Version::new("1.0.0")?, Version::new("2.0.0")?);
    for v in [&old, &new] {
        handle
            .register(&ModelMetadata::builder(name.clone(), v.clone(), "xgboost").build()?)
            .await?;
    }
    let started = Instant::now();
    let span_us = 90 * 86_400 * 1_000_000 / predictions.max(1) as i64;
    let mut seq = 0u64;
    while seq < predictions {
        let n = (predictions - seq).min(CHUNK as u64);
        if seq % 100_000 == 0 {
            progress(&format!(
                "dashboard: seeding {} of {} predictions",
                seq, predictions
            ));
        }
        let batch: Vec<Prediction> = (seq..seq + n)
            .map(|i| {
                let predicted = if i % 3 == 0 { "fraud" } else { "ok" };
                let label = match i % 10 {
                    0..=6 => Some(json!(predicted)),
                    7 => Some(json!("other")),
                    _ => None,
                };
                let age = chrono::Duration::microseconds(span_us * (predictions - i) as i64);
                Prediction::builder(
                    name.clone(),
                    new.clone(),
                    json!(predicted),
                    0.4 + (i % 60) as f64 / 100.0,
                )
                .timestamp(now - age)
                .actual(label)
                .build()
            })
            .collect::<mlstore::Result<_>>()?;
        handle.store_predictions(&batch).await?;
        seq += n;
    }
    let seeded_in = started.elapsed();
    handle
        .compute_baseline(&name, &new, Window::all().with_last(10_000))
        .await?;
    let champion = Alias::new("champion")?;
    handle.set_alias(&name, &champion, &old).await?;
    handle.set_alias(&name, &champion, &new).await?;

    let server = Server::bind(
        handle,
        ServerConfig::default().listen("127.0.0.1:0".parse().expect("address")),
    )
    .await?;
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(|e| mlstore::Error::configuration(format!("HTTP client: {e}")))?;
    let pages: [(&'static str, String); 6] = [
        ("models", "/".to_owned()),
        (
            "version, 30 days by day",
            format!("/models/{MODEL}/versions/2.0.0"),
        ),
        (
            "version, 90 days by hour",
            format!("/models/{MODEL}/versions/2.0.0?since=90d&bucket=hour"),
        ),
        (
            "version, drift over 100,000",
            format!("/models/{MODEL}/versions/2.0.0?last=100000"),
        ),
        (
            "compare",
            format!("/models/{MODEL}/compare?a=1.0.0&b=2.0.0"),
        ),
        ("alias history", format!("/models/{MODEL}/aliases/champion")),
    ];
    let runs = if quick { 3 } else { 20 };
    let mut rows = Vec::new();
    for (page, path) in pages {
        progress(&format!("dashboard: {page}"));
        let (mut server_t, mut client_t, mut bytes) = (Vec::new(), Vec::new(), 0);
        for i in 0..=runs {
            let start = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .map_err(|e| mlstore::Error::configuration(format!("{path}: {e}")))?;
            let status = response.status();
            let timing = response
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split("dur=").nth(1))
                .and_then(|ms| ms.parse::<f64>().ok());
            let body = response
                .bytes()
                .await
                .map_err(|e| mlstore::Error::configuration(format!("{path}: {e}")))?;
            let waited = start.elapsed();
            if !status.is_success() {
                return Err(mlstore::Error::configuration(format!(
                    "{path}: HTTP {status}: {}",
                    String::from_utf8_lossy(&body)
                )));
            }
            if i == 0 {
                continue; // the first request warms the page cache of the file
            }
            bytes = body.len();
            client_t.push(waited);
            server_t.push(Duration::from_secs_f64(timing.unwrap_or(0.0) / 1000.0));
        }
        rows.push(PageRow {
            page,
            path,
            server: Summary::of(server_t),
            client: Summary::of(client_t),
            bytes,
        });
    }
    let _ = stop.send(());
    let _ = serving.await;
    Ok(DashboardReport {
        predictions,
        seeded_in,
        pages: rows,
    })
}
