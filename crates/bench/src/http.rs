//! `--http`: operations through `mlstore serve` on loopback (keep-alive), with 1 and 32
//! concurrent clients, next to a floor measured in the same run (an axum handler that answers a
//! fixed JSON body: the HTTP cost alone) and the same operation called in process. With one
//! client the three are called in turn in one window; with more, they take turns in four windows
//! each (the client: [`crate::conns::Conns`]).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlstore::server::{Server, ServerConfig};
use mlstore::{ModelMetadata, ModelName, ModelRegistry, Prediction, PredictionStore, Version};
use serde_json::json;

use hyper::Method;

use crate::clients::{run_in_turns, Call, Cell};
use crate::conns::Conns;
use crate::measure::Summary;

/// The operations of the HTTP section.
pub const OPS: [&str; 4] = ["get", "latest", "store_1", "store_100"];

/// One operation with N clients: over HTTP, the floor, and in process.
#[derive(Debug, Clone)]
pub struct HttpRow {
    /// `get`, `latest`, `store_1` or `store_100`.
    pub op: &'static str,
    /// Concurrent clients.
    pub clients: usize,
    /// Through the server.
    pub http: Cell,
    /// The fixed-JSON handler, same clients.
    pub floor: Cell,
    /// The same operation on the store handle the server serves, same clients.
    pub in_process: Cell,
}

/// One client calling each of `calls` in turn, so that every figure sees the same moment of
/// the machine (a floor measured in another window can be ±15 µs off). Each call's rate is its
/// calls over the time spent in them.
async fn drive_interleaved(calls: &[Call], warmup: Duration, duration: Duration) -> Vec<Cell> {
    let started = Instant::now();
    let counting_from = started + warmup;
    let deadline = counting_from + duration;
    let mut samples: Vec<Vec<Duration>> = calls.iter().map(|_| Vec::with_capacity(8192)).collect();
    let mut errors = vec![0u64; calls.len()];
    let mut first_errors: Vec<Option<String>> = vec![None; calls.len()];
    let mut seq = 0u64;
    while Instant::now() < deadline {
        for (i, call) in calls.iter().enumerate() {
            let pending = call(seq);
            let start = Instant::now();
            let result = pending.await;
            let took = start.elapsed();
            seq += 1;
            if start < counting_from {
                continue;
            }
            samples[i].push(took);
            if let Err(e) = result {
                errors[i] += 1;
                first_errors[i].get_or_insert(e);
            }
        }
    }
    samples
        .into_iter()
        .zip(errors)
        .zip(first_errors)
        .map(|((s, errors), first_error)| {
            let busy: Duration = s.iter().sum();
            Cell {
                clients: 1,
                ops_per_s: s.len() as f64 / busy.as_secs_f64().max(f64::MIN_POSITIVE),
                latency: Summary::of(if s.is_empty() {
                    vec![Duration::ZERO]
                } else {
                    s
                }),
                errors,
                first_error,
            }
        })
        .collect()
}

const MODEL: &str = "bench-http";
/// With more than one client, the server, the floor and the in-process call take turns in
/// this many windows each.
const ROUNDS: u32 = 4;
const VERSIONS: u64 = 10;

fn record(version: &str, seq: u64) -> serde_json::Value {
    json!({
        "id": uuid::Uuid::now_v7(),
        "model": MODEL,
        "version": version,
        "prediction": if seq % 2 == 0 { "fraud" } else { "ok" },
        "confidence": 0.5 + (seq % 50) as f64 / 100.0,
        "features": {"amount": seq as f64 * 0.25, "country": "DE"},
    })
}

fn prediction(seq: u64) -> Prediction {
    serde_json::from_value::<mlstore::records::PredictionRecord>(record("1.0.0", seq))
        .expect("a valid record")
        .into_prediction()
        .expect("a valid prediction")
}

/// Starts `mlstore serve` (SQLite file in `dir`, moka cache, per-operation metrics: as
/// `mlstore serve --cache moka` runs) and the floor server, and measures every operation with
/// each number of clients.
///
/// # Errors
/// When the store or a server cannot start.
pub async fn sweep(
    dir: &Path,
    clients: &[usize],
    quick: bool,
    mut progress: impl FnMut(&str),
) -> mlstore::Result<Vec<HttpRow>> {
    let url = format!("sqlite://{}", dir.join("http.db").display());
    let handle = mlstore::connect(&url)
        .await?
        .with_cache(mlstore::cache::CacheConfig::new(
            mlstore::cache::CacheMode::Moka,
        ))?
        .with_metrics();
    let name = ModelName::new(MODEL)?;
    for v in 0..VERSIONS {
        let m = ModelMetadata::builder(name.clone(), Version::new(format!("1.0.{v}"))?, "xgboost")
            .metric("auc", 0.9)
            .tag("team", "risk")
            .build()?;
        handle.register(&m).await?;
    }
    let server = Server::bind(
        handle.clone(),
        ServerConfig::default().listen("127.0.0.1:0".parse().expect("address")),
    )
    .await?;
    let server_conns = Arc::new(Conns::new(server.local_addr()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));

    // The floor: the same HTTP stack, a handler that answers a fixed body of the size of a
    // version's metadata.
    let fixed = serde_json::to_string(&handle.latest(&name).await?).unwrap_or_default();
    let floor_app = axum::Router::new().route(
        "/floor",
        axum::routing::get(move || {
            let body = fixed.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        })
        .post(|| async { (axum::http::StatusCode::CREATED, "{\"id\":\"x\"}") }),
    );
    let floor_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| mlstore::Error::configuration(format!("floor server: {e}")))?;
    let floor_conns = Arc::new(Conns::new(
        floor_listener
            .local_addr()
            .map_err(|e| mlstore::Error::configuration(e.to_string()))?,
    ));
    let floor_task = tokio::spawn(async move {
        let _ = axum::serve(floor_listener, floor_app).await;
    });

    let (warmup, duration) = if quick {
        (Duration::from_millis(50), Duration::from_millis(200))
    } else {
        (Duration::from_millis(500), Duration::from_secs(3))
    };
    let mut rows = Vec::new();
    for op in OPS {
        for &n in clients {
            progress(&format!("HTTP {op}: {n} clients"));
            let (http, floor, in_process) = if n == 1 {
                let calls = [
                    http_call(op, &server_conns),
                    floor_call(op, &floor_conns),
                    store_call(op, &handle),
                ];
                let mut cells = drive_interleaved(&calls, warmup, 3 * duration).await;
                let in_process = cells.pop().expect("three cells");
                let floor = cells.pop().expect("three cells");
                (cells.pop().expect("three cells"), floor, in_process)
            } else {
                let contenders = [
                    (http_call(op, &server_conns), n),
                    (floor_call(op, &floor_conns), n),
                    (store_call(op, &handle), n),
                ];
                let mut cells = run_in_turns(&contenders, ROUNDS, warmup, duration).await;
                let in_process = cells.pop().expect("three cells");
                let floor = cells.pop().expect("three cells");
                (cells.pop().expect("three cells"), floor, in_process)
            };
            rows.push(HttpRow {
                op,
                clients: n,
                http,
                floor,
                in_process,
            });
        }
    }
    let _ = stop.send(());
    let _ = serving.await;
    floor_task.abort();
    Ok(rows)
}

/// Sends one request and checks its status.
async fn send(
    conns: &Conns,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
    expected: u16,
) -> Result<(), String> {
    let body = body
        .map(|b| serde_json::to_vec(b).map_err(|e| e.to_string()))
        .transpose()?;
    let answer = conns.send(method, path, body).await?;
    if answer.status == expected {
        Ok(())
    } else {
        Err(format!(
            "HTTP {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ))
    }
}

/// The body of `store_100`: 100 prediction records.
fn batch_body(seq: u64) -> serde_json::Value {
    json!({"predictions": (0..100).map(|i| record("1.0.0", seq * 100 + i)).collect::<Vec<_>>()})
}

/// Building the request (path, JSON body) is part of each timed call, on the server and on the
/// floor alike.
fn http_call(op: &'static str, conns: &Arc<Conns>) -> Call {
    let conns = conns.clone();
    Arc::new(move |seq| {
        let conns = conns.clone();
        Box::pin(async move {
            match op {
                "get" => {
                    let path = format!("/v1/models/{MODEL}/versions/1.0.{}", seq % VERSIONS);
                    send(&conns, Method::GET, &path, None, 200).await
                }
                "latest" => {
                    let path = format!("/v1/models/{MODEL}/latest");
                    send(&conns, Method::GET, &path, None, 200).await
                }
                "store_1" => {
                    let body = record("1.0.0", seq);
                    send(&conns, Method::POST, "/v1/predictions", Some(&body), 201).await
                }
                _ => {
                    let body = batch_body(seq);
                    send(
                        &conns,
                        Method::POST,
                        "/v1/predictions/batch",
                        Some(&body),
                        200,
                    )
                    .await
                }
            }
        })
    })
}

/// The floor does the same HTTP exchange with a fixed answer: a GET for reads, a POST of the
/// same body for writes (the body is sent and read, not parsed).
fn floor_call(op: &'static str, conns: &Arc<Conns>) -> Call {
    let conns = conns.clone();
    Arc::new(move |seq| {
        let conns = conns.clone();
        Box::pin(async move {
            match op {
                "get" | "latest" => send(&conns, Method::GET, "/floor", None, 200).await,
                "store_1" => {
                    let body = record("1.0.0", seq);
                    send(&conns, Method::POST, "/floor", Some(&body), 201).await
                }
                _ => {
                    let body = batch_body(seq);
                    send(&conns, Method::POST, "/floor", Some(&body), 201).await
                }
            }
        })
    })
}

fn store_call(op: &'static str, handle: &mlstore::Handle) -> Call {
    let handle = handle.clone();
    Arc::new(move |seq| {
        let handle = handle.clone();
        Box::pin(async move {
            let name = ModelName::new(MODEL).map_err(|e| e.to_string())?;
            let result = match op {
                "get" => {
                    let v = Version::new(format!("1.0.{}", seq % VERSIONS))
                        .map_err(|e| e.to_string())?;
                    handle.get(&name, &v).await.map(drop)
                }
                "latest" => handle.latest(&name).await.map(drop),
                "store_1" => handle.store_prediction(&prediction(seq)).await,
                _ => {
                    let batch: Vec<Prediction> =
                        (0..100).map(|i| prediction(seq * 100 + i)).collect();
                    handle.store_predictions(&batch).await
                }
            };
            result.map_err(|e| e.to_string())
        })
    })
}
