//! The endpoints: one table ([`ROUTES`]) that the router is built from, each entry a path and
//! its handlers, each handler a parse, one store call and a JSON answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Json;
use mlstore_core::records::{LabelRecord, PredictionRecord, VersionRecord};
use mlstore_core::{
    Alias, BatchOptions, Bucket, Comparison, ConfidenceBaseline, DriftReport, DriftThresholds,
    Event, EventKind, EventPage, EventQuery, ListFilter, MetricsOptions, ModelMetadata, ModelName,
    ModelPage, ModelQuery, ModelRegistry, ModelRegistryExt, OnProblem, PredictionFilter,
    PredictionStore, PredictionStoreExt, Series, SeriesQuery, Skipped, Timestamp, Version,
    VersionPage, VersionQuery, Window, WindowMetrics,
};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use uuid::Uuid;

use super::{metrics, ApiError, AppState};

type St = State<Arc<AppState>>;
type ApiResult<T = Response> = std::result::Result<T, ApiError>;

/// Builds the JSON Schema of a body, a response or a query (OpenAPI 3.0 flavour).
pub(crate) type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, as a reference into the document's components.
fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// The schema of `T` inline (for query parameters, read off its properties).
fn inline<T: JsonSchema>(_: &mut SchemaGenerator) -> Schema {
    super::openapi::query_schema::<T>()
}

/// One method at one path: what it does, what it reads and what it answers. The OpenAPI
/// document is generated from these, with the schemas of the very types the handlers parse and
/// write.
pub struct Endpoint {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// The status of a success.
    pub status: u16,
    pub(crate) query: Option<SchemaFn>,
    pub(crate) body: Option<SchemaFn>,
    pub(crate) response: Option<SchemaFn>,
}

impl Endpoint {
    const fn new(method: &'static str, summary: &'static str, response: Option<SchemaFn>) -> Self {
        Self {
            method,
            summary,
            status: 200,
            query: None,
            body: None,
            response,
        }
    }

    const fn query(mut self, query: SchemaFn) -> Self {
        self.query = Some(query);
        self
    }

    const fn body(mut self, body: SchemaFn) -> Self {
        self.body = Some(body);
        self
    }

    const fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("method", &self.method)
            .field("summary", &self.summary)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// One path of the API and the methods it serves.
pub struct Route {
    /// The path pattern (`{name}` is a percent-decoded path segment).
    pub path: &'static str,
    /// The methods at this path.
    pub endpoints: &'static [Endpoint],
    pub(crate) handler: fn() -> MethodRouter<Arc<AppState>>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

const GET: &str = "GET";
const POST: &str = "POST";
const PUT: &str = "PUT";
const DELETE: &str = "DELETE";

/// Every route the server answers.
pub const ROUTES: &[Route] = &[
    Route {
        path: "/healthz",
        endpoints: &[Endpoint::new(
            GET,
            "The process is up (no token needed).",
            Some(schema::<Health>),
        )],
        handler: || get(healthz),
    },
    Route {
        path: "/readyz",
        endpoints: &[Endpoint::new(
            GET,
            "The database answers and its schema is current; Redis is reported, not required \
             (no token needed). 503 when not ready.",
            Some(schema::<Readiness>),
        )],
        handler: || get(readyz),
    },
    Route {
        path: "/metrics",
        endpoints: &[Endpoint::new(
            GET,
            "Prometheus text format: requests, operations, cache, pool, predictions per version.",
            None,
        )],
        handler: || get(prometheus),
    },
    Route {
        path: "/openapi.json",
        endpoints: &[Endpoint::new(
            GET,
            "This API as an OpenAPI 3.0 document (no token needed).",
            None,
        )],
        handler: || get(openapi),
    },
    Route {
        path: "/v1/models",
        endpoints: &[
            Endpoint::new(GET, "A page of model names.", Some(schema::<ModelPage>))
                .query(inline::<PageParams>),
        ],
        handler: || get(models_page),
    },
    Route {
        path: "/v1/models/{name}/versions",
        endpoints: &[Endpoint::new(
            GET,
            "A page of a model's versions, by SemVer precedence.",
            Some(schema::<VersionPage>),
        )
        .query(inline::<PageParams>)],
        handler: || get(versions_page),
    },
    Route {
        path: "/v1/models/{name}/versions/{version}",
        endpoints: &[
            Endpoint::new(
                GET,
                "One version's metadata.",
                Some(schema::<ModelMetadata>),
            ),
            Endpoint::new(
                POST,
                "Registers the version; 409 if it exists.",
                Some(schema::<ModelMetadata>),
            )
            .body(schema::<VersionRecord>)
            .status(201),
            Endpoint::new(
                PUT,
                "Replaces the version's metadata (created_at is kept); 404 if it is missing.",
                Some(schema::<ModelMetadata>),
            )
            .body(schema::<VersionRecord>),
            Endpoint::new(
                DELETE,
                "Deletes the version with its predictions, baseline and aliases (scope admin).",
                None,
            )
            .status(204),
        ],
        handler: || {
            get(get_version)
                .post(register)
                .put(update)
                .delete(delete_version)
        },
    },
    Route {
        path: "/v1/models/{name}/latest",
        endpoints: &[Endpoint::new(
            GET,
            "The version with the highest SemVer precedence.",
            Some(schema::<ModelMetadata>),
        )],
        handler: || get(latest),
    },
    Route {
        path: "/v1/models/{name}/aliases",
        endpoints: &[Endpoint::new(
            GET,
            "The model's aliases and their versions.",
            Some(schema::<Vec<AliasTarget>>),
        )],
        handler: || get(aliases),
    },
    Route {
        path: "/v1/models/{name}/aliases/{alias}",
        endpoints: &[
            Endpoint::new(
                GET,
                "The version the alias points at (with at: at that time); 404 when none.",
                Some(schema::<AliasTarget>),
            )
            .query(inline::<AtParams>),
            Endpoint::new(
                PUT,
                "Points the alias at a version.",
                Some(schema::<AliasTarget>),
            )
            .body(schema::<AliasBody>),
            Endpoint::new(DELETE, "Removes the alias.", None).status(204),
        ],
        handler: || get(resolve_alias).put(set_alias).delete(remove_alias),
    },
    Route {
        path: "/v1/models/{name}/aliases/{alias}/history",
        endpoints: &[Endpoint::new(
            GET,
            "Every set, removal and rollback of the alias, oldest first.",
            Some(schema::<Vec<Event>>),
        )],
        handler: || get(alias_history),
    },
    Route {
        path: "/v1/models/{name}/aliases/{alias}/rollback",
        endpoints: &[Endpoint::new(
            POST,
            "Moves the alias back to its previous version.",
            Some(schema::<AliasTarget>),
        )],
        handler: || post(rollback_alias),
    },
    Route {
        path: "/v1/events",
        endpoints: &[Endpoint::new(
            GET,
            "The registry's change log, a page at a time.",
            Some(schema::<EventPage>),
        )
        .query(inline::<EventParams>)],
        handler: || get(events),
    },
    Route {
        path: "/v1/predictions",
        endpoints: &[
            Endpoint::new(POST, "Stores one prediction.", Some(schema::<Stored>))
                .body(schema::<PredictionRecord>)
                .status(201),
        ],
        handler: || post(store_prediction),
    },
    Route {
        path: "/v1/predictions/batch",
        endpoints: &[Endpoint::new(
            POST,
            "Stores a batch: all or nothing, or skipping known ids (on_conflict) and unknown \
             versions (on_missing).",
            Some(schema::<BatchStored>),
        )
        .body(schema::<PredictionBatch>)],
        handler: || post(store_batch),
    },
    Route {
        path: "/v1/predictions/count",
        endpoints: &[
            Endpoint::new(GET, "Counts predictions.", Some(schema::<Count>))
                .query(inline::<CountParams>),
        ],
        handler: || get(count_predictions),
    },
    Route {
        path: "/v1/predictions/{id}",
        endpoints: &[Endpoint::new(
            GET,
            "One prediction by id.",
            Some(schema::<PredictionRecord>),
        )],
        handler: || get(get_prediction),
    },
    Route {
        path: "/v1/labels",
        endpoints: &[Endpoint::new(
            POST,
            "Records the label of a prediction.",
            Some(schema::<Recorded>),
        )
        .body(schema::<LabelRecord>)],
        handler: || post(record_label),
    },
    Route {
        path: "/v1/labels/batch",
        endpoints: &[Endpoint::new(
            POST,
            "Records a batch of labels: all or nothing, or skipping unknown ids (on_missing).",
            Some(schema::<Recorded>),
        )
        .body(schema::<LabelBatch>)],
        handler: || post(record_labels),
    },
    Route {
        path: "/v1/models/{name}/versions/{version}/predictions",
        endpoints: &[Endpoint::new(
            GET,
            "The newest predictions, newest first (last defaults to 100).",
            Some(schema::<Vec<PredictionRecord>>),
        )
        .query(inline::<WindowParams>)],
        handler: || get(recent),
    },
    Route {
        path: "/v1/models/{name}/versions/{version}/accuracy",
        endpoints: &[Endpoint::new(
            GET,
            "Accuracy over the newest labelled predictions of the window.",
            Some(schema::<AccuracyBody>),
        )
        .query(inline::<WindowParams>)],
        handler: || get(accuracy),
    },
    Route {
        path: "/v1/models/{name}/versions/{version}/baseline",
        endpoints: &[
            Endpoint::new(
                GET,
                "The confidence baseline.",
                Some(schema::<ConfidenceBaseline>),
            ),
            Endpoint::new(
                PUT,
                "Sets the baseline from confidences, or from mean, std_dev and sample_count.",
                Some(schema::<ConfidenceBaseline>),
            )
            .body(schema::<BaselineBody>),
        ],
        handler: || get(get_baseline).put(set_baseline),
    },
    Route {
        path: "/v1/models/{name}/versions/{version}/baseline/compute",
        endpoints: &[Endpoint::new(
            POST,
            "Computes and stores the baseline from the window's predictions.",
            Some(schema::<ConfidenceBaseline>),
        )
        .query(inline::<WindowParams>)],
        handler: || post(compute_baseline),
    },
    Route {
        path: "/v1/models/{name}/versions/{version}/metrics",
        endpoints: &[
            Endpoint::new(GET, "Metrics over a window.", Some(schema::<WindowMetrics>))
                .query(inline::<MetricsParams>),
        ],
        handler: || get(window_metrics),
    },
    Route {
        path: "/v1/models/{name}/versions/{version}/series",
        endpoints: &[Endpoint::new(
            GET,
            "Metrics per time bucket (UTC).",
            Some(schema::<Series>),
        )
        .query(inline::<SeriesParams>)],
        handler: || get(series),
    },
    Route {
        path: "/v1/models/{name}/versions/{version}/drift",
        endpoints: &[Endpoint::new(
            GET,
            "Confidence drift of a window against the baseline (PSI, KS, mean shift).",
            Some(schema::<DriftReport>),
        )
        .query(inline::<DriftParams>)],
        handler: || get(drift),
    },
    Route {
        path: "/v1/models/{name}/compare",
        endpoints: &[Endpoint::new(
            GET,
            "Two versions over one window, with a two-proportion z-test.",
            Some(schema::<Comparison>),
        )
        .query(inline::<CompareParams>)],
        handler: || get(compare),
    },
];

// ---------------------------------------------------------------------------------------------
// Extractors whose rejections are [`ApiError`]s.

/// Path parameters, percent-decoded.
struct P<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| P(t))
            .map_err(|e| ApiError::bad_request("path", e.body_text()))
    }
}

/// Query parameters; unknown ones are refused.
struct Q<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Q(t))
            .map_err(|e| ApiError::bad_request("query", e.body_text()))
    }
}

/// A JSON body: malformed JSON is a 400 naming the line and column, a body over the limit 413.
/// Any content type is read as JSON.
struct J<T>(T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for J<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &Arc<AppState>) -> ApiResult<Self> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(state.config.max_body)
            } else {
                ApiError::bad_request("body", e.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(J)
            .map_err(|e| ApiError::json(&e))
    }
}

fn model(name: String) -> ApiResult<ModelName> {
    Ok(ModelName::new(name)?)
}

fn version(text: &str) -> ApiResult<Version> {
    Ok(Version::new(text)?)
}

fn alias(name: String) -> ApiResult<Alias> {
    Ok(Alias::new(name)?)
}

fn instant(field: &'static str, text: &str) -> ApiResult<Timestamp> {
    mlstore_core::time::parse_instant(text, mlstore_core::time::now())
        .map_err(|e| ApiError::bad_request(field, format!("{field}: {e}")))
}

fn window(
    last: Option<usize>,
    since: &Option<String>,
    until: &Option<String>,
) -> ApiResult<Window> {
    let mut w = Window::all();
    if let Some(n) = last {
        w = w.with_last(n);
    }
    if let Some(t) = since {
        w = w.with_since(instant("since", t)?);
    }
    if let Some(t) = until {
        w = w.with_until(instant("until", t)?);
    }
    Ok(w)
}

fn list_filter(status: Option<String>, tag: Option<String>) -> ApiResult<ListFilter> {
    let mut filter = ListFilter::default();
    if let Some(s) = status {
        filter = filter.status(s);
    }
    if let Some(t) = tag {
        let (k, v) = t
            .split_once('=')
            .ok_or_else(|| ApiError::bad_request("tag", "tag: expected KEY=VALUE"))?;
        filter = filter.tag(k, v);
    }
    Ok(filter)
}

fn created<T: Serialize>(value: T) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

fn found<T: Serialize>(value: Option<T>, what: impl FnOnce() -> String) -> ApiResult {
    match value {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(mlstore_core::Error::not_found(what()).into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Health and metrics.

/// `GET /healthz`.
#[derive(Serialize, JsonSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
}

async fn openapi() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`.
#[derive(Serialize, JsonSchema)]
struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    database: DatabaseReadiness,
    redis: RedisReadiness,
}

#[derive(Serialize, JsonSchema)]
struct DatabaseReadiness {
    /// `sqlite` or `postgres`.
    backend: &'static str,
    /// Whether a read succeeded within 5 s.
    answers: bool,
    /// Why not, when it did not.
    error: Option<String>,
    schema_version: i64,
    latest_schema_version: i64,
}

#[derive(Serialize, JsonSchema)]
struct RedisReadiness {
    /// Whether a Redis cache is configured.
    configured: bool,
    /// Whether it answers `PING` (absent without Redis).
    #[serde(skip_serializing_if = "Option::is_none")]
    up: Option<bool>,
}

async fn readyz(State(s): St) -> Response {
    let handle = &s.handle;
    let backend = handle.backend();
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        handle.models_page(&ModelQuery::default().page_size(1)),
    )
    .await;
    let (database_ok, database_error) = match probe {
        Ok(Ok(_)) => (true, None),
        Ok(Err(e)) => (false, Some(e.kind().to_string())),
        Err(_) => (false, Some("no answer within 5 s".to_owned())),
    };
    let schema_current = backend.schema_version() == backend.latest_schema_version();
    #[cfg(feature = "cache")]
    let redis = match handle.cache() {
        Some(cache) if cache.config().mode().redis_url().is_some() => RedisReadiness {
            configured: true,
            up: Some(cache.redis_is_up().await),
        },
        _ => RedisReadiness {
            configured: false,
            up: None,
        },
    };
    #[cfg(not(feature = "cache"))]
    let redis = RedisReadiness {
        configured: false,
        up: None,
    };
    let ready = database_ok && schema_current;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        database: DatabaseReadiness {
            backend: backend.name(),
            answers: database_ok,
            error: database_error,
            schema_version: backend.schema_version(),
            latest_schema_version: backend.latest_schema_version(),
        },
        redis,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The most model versions `/metrics` reports prediction counts for; the rest are left out
/// (and `mlstore_prediction_gauges_truncated` says so).
pub const MAX_GAUGE_VERSIONS: usize = 200;
/// How long the prediction counts of `/metrics` are reused before they are counted again.
pub const GAUGE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

async fn prometheus(State(s): St) -> ApiResult {
    let mut out = String::new();
    s.http.render(&mut out);
    if let Some(ops) = s.handle.operation_metrics() {
        metrics::render_operations(&mut out, &ops.snapshot());
    }
    #[cfg(feature = "cache")]
    if let Some(cache) = s.handle.cache() {
        let c = cache.stats();
        let families = [
            (
                "mlstore_cache_hits_total",
                "Reads a cache layer answered.",
                vec![
                    ("layer=\"moka\"", c.moka_hits),
                    ("layer=\"redis\"", c.redis_hits),
                ],
            ),
            (
                "mlstore_cache_misses_total",
                "Reads a cache layer did not have.",
                vec![
                    ("layer=\"moka\"", c.moka_misses),
                    ("layer=\"redis\"", c.redis_misses),
                ],
            ),
            (
                "mlstore_cache_redis_fail_open_total",
                "Redis calls that failed or timed out, served by the database instead.",
                vec![("", c.redis_errors)],
            ),
            (
                "mlstore_cache_backend_reads_total",
                "Reads the cache passed to the database.",
                vec![("", c.backend_reads)],
            ),
        ];
        for (name, help, samples) in families {
            metrics::family(&mut out, name, "counter", help, samples);
        }
    }
    #[cfg(feature = "postgres")]
    if let crate::Backend::Postgres(pg) = s.handle.backend() {
        let p = pg.pool_status();
        metrics::family(
            &mut out,
            "mlstore_pool_connections",
            "gauge",
            "PostgreSQL connections of the pool, by state; max is the pool's size.",
            [
                ("state=\"in_use\"", u64::from(p.in_use)),
                ("state=\"idle\"", u64::from(p.idle)),
                ("state=\"max\"", u64::from(p.max)),
            ],
        );
    }
    out.push_str(&prediction_gauges(&s).await?);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

/// Predictions and labels stored per model version, counted at most every [`GAUGE_TTL`].
async fn prediction_gauges(s: &AppState) -> ApiResult<String> {
    let mut cached = s.gauges.lock().await;
    if let Some((at, text)) = &*cached {
        if at.elapsed() < GAUGE_TTL {
            return Ok(text.clone());
        }
    }
    let store = &s.handle;
    let mut versions = Vec::new();
    let mut truncated = false;
    let mut query = ModelQuery::default().page_size(1000);
    'models: loop {
        let page = store.models_page(&query).await?;
        for name in &page.names {
            for m in store.versions(name).await? {
                if versions.len() == MAX_GAUGE_VERSIONS {
                    truncated = true;
                    break 'models;
                }
                versions.push((name.clone(), m.version().clone()));
            }
        }
        match page.next {
            Some(next) => query = query.after(Some(next)),
            None => break,
        }
    }
    let mut counts = Vec::with_capacity(versions.len());
    for (name, v) in &versions {
        let filter = PredictionFilter::version(name.clone(), v.clone());
        let total = store.count_predictions(&filter).await?;
        let labelled = store.count_predictions(&filter.labelled_only(true)).await?;
        let labels = format!(
            "model=\"{}\",version=\"{}\"",
            metrics::escape(name.as_str()),
            metrics::escape(v.as_str())
        );
        counts.push((labels, total, labelled));
    }
    let mut out = String::new();
    metrics::family(
        &mut out,
        "mlstore_predictions",
        "gauge",
        "Predictions stored, by model and version.",
        counts.iter().map(|(l, total, _)| (l, *total)),
    );
    metrics::family(
        &mut out,
        "mlstore_labels",
        "gauge",
        "Predictions with a label, by model and version.",
        counts.iter().map(|(l, _, labelled)| (l, *labelled)),
    );
    metrics::family(
        &mut out,
        "mlstore_prediction_gauges_truncated",
        "gauge",
        "1 when more model versions exist than the predictions gauges report.",
        [("", u64::from(truncated))],
    );
    *cached = Some((std::time::Instant::now(), out.clone()));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Registry.

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PageParams {
    page_size: Option<usize>,
    after: Option<String>,
    status: Option<String>,
    tag: Option<String>,
}

async fn models_page(State(s): St, Q(q): Q<PageParams>) -> ApiResult {
    let mut query = ModelQuery::default().filter(list_filter(q.status, q.tag)?);
    if let Some(n) = q.page_size {
        query = query.page_size(n);
    }
    if let Some(after) = q.after {
        query = query.after(Some(model(after)?));
    }
    Ok(Json(s.handle.models_page(&query).await?).into_response())
}

async fn versions_page(State(s): St, P(name): P<String>, Q(q): Q<PageParams>) -> ApiResult {
    let name = model(name)?;
    let mut query = VersionQuery::default().filter(list_filter(q.status, q.tag)?);
    if let Some(n) = q.page_size {
        query = query.page_size(n);
    }
    if let Some(after) = q.after {
        query = query.after(Some(version(&after)?));
    }
    Ok(Json(s.handle.versions_page(&name, &query).await?).into_response())
}

async fn get_version(State(s): St, P((name, v)): P<(String, String)>) -> ApiResult {
    let (name, v) = (model(name)?, version(&v)?);
    let m = s.handle.get(&name, &v).await?;
    found(m, || format!("model version {name:?} {v}"))
}

async fn register(
    State(s): St,
    P((name, v)): P<(String, String)>,
    J(body): J<VersionRecord>,
) -> ApiResult {
    let metadata = body.into_metadata(model(name)?, version(&v)?)?;
    s.handle.register(&metadata).await?;
    Ok(created(metadata))
}

async fn update(
    State(s): St,
    P((name, v)): P<(String, String)>,
    J(body): J<VersionRecord>,
) -> ApiResult {
    let metadata = body.into_metadata(model(name)?, version(&v)?)?;
    s.handle.update(&metadata).await?;
    let stored = s.handle.get(metadata.name(), metadata.version()).await?;
    found(stored, || "the version was deleted meanwhile".to_owned())
}

async fn delete_version(State(s): St, P((name, v)): P<(String, String)>) -> ApiResult {
    let (name, v) = (model(name)?, version(&v)?);
    s.handle.delete(&name, &v).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn latest(State(s): St, P(name): P<String>) -> ApiResult {
    let name = model(name)?;
    let m = s.handle.latest(&name).await?;
    found(m, || format!("model {name:?} has no versions"))
}

#[derive(Serialize, JsonSchema)]
struct AliasTarget {
    alias: Alias,
    version: Version,
}

async fn aliases(State(s): St, P(name): P<String>) -> ApiResult {
    let name = model(name)?;
    let list: Vec<AliasTarget> = s
        .handle
        .aliases(&name)
        .await?
        .into_iter()
        .map(|(alias, version)| AliasTarget { alias, version })
        .collect();
    Ok(Json(list).into_response())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AtParams {
    at: Option<String>,
}

async fn resolve_alias(
    State(s): St,
    P((name, a)): P<(String, String)>,
    Q(q): Q<AtParams>,
) -> ApiResult {
    let (name, a) = (model(name)?, alias(a)?);
    let target = match q.at {
        Some(at) => {
            let at = instant("at", &at)?;
            s.handle.resolve_alias_at(&name, &a, at).await?
        }
        None => s.handle.resolve_alias(&name, &a).await?,
    };
    let what = || format!("alias {:?} of model {:?}", a.as_str(), name.as_str());
    found(
        target.map(|version| AliasTarget {
            alias: a.clone(),
            version,
        }),
        what,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AliasBody {
    version: String,
}

async fn set_alias(
    State(s): St,
    P((name, a)): P<(String, String)>,
    J(body): J<AliasBody>,
) -> ApiResult {
    let (name, a, v) = (model(name)?, alias(a)?, version(&body.version)?);
    s.handle.set_alias(&name, &a, &v).await?;
    Ok(Json(AliasTarget {
        alias: a,
        version: v,
    })
    .into_response())
}

async fn remove_alias(State(s): St, P((name, a)): P<(String, String)>) -> ApiResult {
    let (name, a) = (model(name)?, alias(a)?);
    s.handle.remove_alias(&name, &a).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn alias_history(State(s): St, P((name, a)): P<(String, String)>) -> ApiResult {
    let (name, a) = (model(name)?, alias(a)?);
    Ok(Json(s.handle.alias_history(&name, &a).await?).into_response())
}

async fn rollback_alias(State(s): St, P((name, a)): P<(String, String)>) -> ApiResult {
    let (name, a) = (model(name)?, alias(a)?);
    let version = s.handle.rollback_alias(&name, &a).await?;
    Ok(Json(AliasTarget { alias: a, version }).into_response())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EventParams {
    model: Option<String>,
    alias: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    after: Option<u64>,
    before: Option<u64>,
    newest_first: Option<bool>,
    limit: Option<usize>,
}

async fn events(State(s): St, Q(q): Q<EventParams>) -> ApiResult {
    let mut query = EventQuery::all();
    if let Some(m) = q.model {
        query = query.model(model(m)?);
    }
    if let Some(a) = q.alias {
        query = query.alias(alias(a)?);
    }
    if let Some(k) = q.kind {
        query = query.kind(EventKind::parse(&k)?);
    }
    if let Some(t) = q.since {
        query = query.since(instant("since", &t)?);
    }
    if let Some(seq) = q.after {
        query = query.after(seq);
    }
    if let Some(seq) = q.before {
        query = query.before(seq);
    }
    if let Some(newest) = q.newest_first {
        query = query.newest_first(newest);
    }
    if let Some(n) = q.limit {
        query = query.limit(n);
    }
    Ok(Json(s.handle.events(&query).await?).into_response())
}

// ---------------------------------------------------------------------------------------------
// Predictions and labels.

#[derive(Serialize, JsonSchema)]
struct Stored {
    id: Uuid,
}

async fn store_prediction(State(s): St, J(record): J<PredictionRecord>) -> ApiResult {
    let prediction = record.into_prediction()?;
    s.handle.store_prediction(&prediction).await?;
    Ok(created(Stored {
        id: prediction.id(),
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PredictionBatch {
    predictions: Vec<PredictionRecord>,
    #[serde(default)]
    on_conflict: OnProblem,
    #[serde(default)]
    on_missing: OnProblem,
}

#[derive(Serialize, JsonSchema)]
struct BatchStored {
    stored: usize,
    ids: Vec<Uuid>,
    skipped: Vec<Skipped>,
}

/// The position of the first invalid record, so a client can find it in its batch.
fn at_index(i: usize, e: mlstore_core::Error) -> ApiError {
    match e {
        mlstore_core::Error::InvalidInput { field, reason } => {
            ApiError::bad_request(field, format!("record {i}: invalid {field}: {reason}"))
        }
        other => other.into(),
    }
}

async fn store_batch(State(s): St, J(batch): J<PredictionBatch>) -> ApiResult {
    let predictions = batch
        .predictions
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.into_prediction().map_err(|e| at_index(i, e)))
        .collect::<ApiResult<Vec<_>>>()?;
    let options = BatchOptions::default()
        .on_conflict(batch.on_conflict)
        .on_missing(batch.on_missing);
    let outcome = s
        .handle
        .store_predictions_with(&predictions, options)
        .await?;
    let skipped: std::collections::HashSet<usize> =
        outcome.skipped.iter().map(|k| k.index).collect();
    let ids = predictions
        .iter()
        .enumerate()
        .filter(|(i, _)| !skipped.contains(i))
        .map(|(_, p)| p.id())
        .collect();
    Ok(Json(BatchStored {
        stored: outcome.stored,
        ids,
        skipped: outcome.skipped,
    })
    .into_response())
}

async fn get_prediction(State(s): St, P(id): P<String>) -> ApiResult {
    let id = Uuid::parse_str(&id)
        .map_err(|e| ApiError::bad_request("id", format!("id: not a UUID: {e}")))?;
    let p = s.handle.prediction(id).await?;
    found(p.as_ref().map(PredictionRecord::from), || {
        format!("prediction {id}")
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CountParams {
    model: Option<String>,
    version: Option<String>,
    since: Option<String>,
    until: Option<String>,
    labelled: Option<bool>,
}

async fn count_predictions(State(s): St, Q(q): Q<CountParams>) -> ApiResult {
    let filter = match (q.model, q.version) {
        (None, None) => PredictionFilter::all(),
        (Some(m), None) => PredictionFilter::model(model(m)?),
        (Some(m), Some(v)) => PredictionFilter::version(model(m)?, version(&v)?),
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "version",
                "version: give the model too",
            ))
        }
    }
    .within(window(None, &q.since, &q.until)?)
    .labelled_only(q.labelled.unwrap_or(false));
    let count = s.handle.count_predictions(&filter).await?;
    Ok(Json(Count { count }).into_response())
}

/// What a count answers.
#[derive(Serialize, JsonSchema)]
struct Count {
    count: u64,
}

/// What a label write answers.
#[derive(Serialize, JsonSchema)]
struct Recorded {
    /// Labels recorded.
    recorded: usize,
    /// Labels skipped (with `on_missing: skip`), with their position and reason.
    skipped: Vec<Skipped>,
}

/// Accuracy over a window.
#[derive(Serialize, JsonSchema)]
struct AccuracyBody {
    /// Labelled predictions that were right.
    correct: u64,
    /// Labelled predictions in the window.
    total: u64,
    /// correct / total; null when total is 0.
    accuracy: Option<f64>,
}

async fn record_label(State(s): St, J(record): J<LabelRecord>) -> ApiResult {
    let label = record.into_label()?;
    s.handle.record_actual(label.id(), label.actual()).await?;
    Ok(Json(Recorded {
        recorded: 1,
        skipped: Vec::new(),
    })
    .into_response())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LabelBatch {
    labels: Vec<LabelRecord>,
    #[serde(default)]
    on_missing: OnProblem,
}

async fn record_labels(State(s): St, J(batch): J<LabelBatch>) -> ApiResult {
    let labels = batch
        .labels
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.into_label().map_err(|e| at_index(i, e)))
        .collect::<ApiResult<Vec<_>>>()?;
    let options = BatchOptions::default().on_missing(batch.on_missing);
    let outcome = s.handle.record_actuals_with(&labels, options).await?;
    Ok(Json(Recorded {
        recorded: outcome.stored,
        skipped: outcome.skipped,
    })
    .into_response())
}

// ---------------------------------------------------------------------------------------------
// Windows, baselines and monitoring.

/// The newest predictions `GET .../predictions` returns without `last`.
pub const DEFAULT_RECENT: usize = 100;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WindowParams {
    last: Option<usize>,
    since: Option<String>,
    until: Option<String>,
}

async fn recent(
    State(s): St,
    P((name, v)): P<(String, String)>,
    Q(q): Q<WindowParams>,
) -> ApiResult {
    let (name, v) = (model(name)?, version(&v)?);
    let w = window(Some(q.last.unwrap_or(DEFAULT_RECENT)), &q.since, &q.until)?;
    let list: Vec<PredictionRecord> = s
        .handle
        .recent_predictions(&name, &v, w)
        .await?
        .iter()
        .map(PredictionRecord::from)
        .collect();
    Ok(Json(list).into_response())
}

async fn accuracy(
    State(s): St,
    P((name, v)): P<(String, String)>,
    Q(q): Q<WindowParams>,
) -> ApiResult {
    let (name, v) = (model(name)?, version(&v)?);
    let a = s
        .handle
        .accuracy(&name, &v, window(q.last, &q.since, &q.until)?)
        .await?;
    Ok(Json(AccuracyBody {
        correct: a.correct(),
        total: a.total(),
        accuracy: a.ratio(),
    })
    .into_response())
}

async fn get_baseline(State(s): St, P((name, v)): P<(String, String)>) -> ApiResult {
    let (name, v) = (model(name)?, version(&v)?);
    let b = s.handle.baseline(&name, &v).await?;
    found(b, || {
        format!(
            "baseline of model version {:?} {v}; set one with PUT or POST .../baseline/compute",
            name.as_str()
        )
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BaselineBody {
    confidences: Option<Vec<f64>>,
    mean: Option<f64>,
    std_dev: Option<f64>,
    sample_count: Option<u64>,
}

async fn set_baseline(
    State(s): St,
    P((name, v)): P<(String, String)>,
    J(body): J<BaselineBody>,
) -> ApiResult {
    let (name, v) = (model(name)?, version(&v)?);
    let baseline =
        match body {
            BaselineBody {
                confidences: Some(c),
                mean: None,
                std_dev: None,
                sample_count: None,
            } => ConfidenceBaseline::from_confidences(name, v, c)?,
            BaselineBody {
                confidences: None,
                mean: Some(mean),
                std_dev: Some(std_dev),
                sample_count: Some(n),
            } => ConfidenceBaseline::new(name, v, mean, std_dev, n)?,
            _ => return Err(ApiError::bad_request(
                "body",
                "give either \"confidences\" or all of \"mean\", \"std_dev\" and \"sample_count\"",
            )),
        };
    s.handle.store_baseline(&baseline).await?;
    Ok(Json(baseline).into_response())
}

async fn compute_baseline(
    State(s): St,
    P((name, v)): P<(String, String)>,
    Q(q): Q<WindowParams>,
) -> ApiResult {
    let (name, v) = (model(name)?, version(&v)?);
    let b = s
        .handle
        .compute_baseline(&name, &v, window(q.last, &q.since, &q.until)?)
        .await?;
    Ok(Json(b).into_response())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct MetricsParams {
    last: Option<usize>,
    since: Option<String>,
    until: Option<String>,
    classes: Option<bool>,
}

impl MetricsParams {
    fn options(&self) -> ApiResult<MetricsOptions> {
        Ok(
            MetricsOptions::new(window(self.last, &self.since, &self.until)?)
                .classes(self.classes.unwrap_or(true)),
        )
    }
}

async fn window_metrics(
    State(s): St,
    P((name, v)): P<(String, String)>,
    Q(q): Q<MetricsParams>,
) -> ApiResult {
    let (name, v) = (model(name)?, version(&v)?);
    let m = s.handle.metrics(&name, &v, q.options()?).await?;
    Ok(Json(m).into_response())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SeriesParams {
    since: String,
    until: Option<String>,
    bucket: Option<String>,
}

async fn series(
    State(s): St,
    P((name, v)): P<(String, String)>,
    Q(q): Q<SeriesParams>,
) -> ApiResult {
    let (name, v) = (model(name)?, version(&v)?);
    let since = instant("since", &q.since)?;
    let until = match &q.until {
        Some(t) => instant("until", t)?,
        None => mlstore_core::time::now(),
    };
    let bucket = Bucket::parse(q.bucket.as_deref().unwrap_or("day"))?;
    let query = SeriesQuery::new(since, until, bucket);
    Ok(Json(s.handle.series(&name, &v, &query).await?).into_response())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DriftParams {
    last: Option<usize>,
    since: Option<String>,
    until: Option<String>,
    psi_warn: Option<f64>,
    psi_drift: Option<f64>,
    mean_shift_warn: Option<f64>,
    mean_shift_drift: Option<f64>,
    ks_warn: Option<f64>,
    ks_drift: Option<f64>,
}

async fn drift(State(s): St, P((name, v)): P<(String, String)>, Q(q): Q<DriftParams>) -> ApiResult {
    let (name, v) = (model(name)?, version(&v)?);
    let thresholds = DriftThresholds::from_parts(
        [q.psi_warn, q.psi_drift],
        [q.mean_shift_warn, q.mean_shift_drift],
        [q.ks_warn, q.ks_drift],
    )?;
    let report = s
        .handle
        .drift(&name, &v, window(q.last, &q.since, &q.until)?, thresholds)
        .await?;
    Ok(Json(report).into_response())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CompareParams {
    a: String,
    b: String,
    last: Option<usize>,
    since: Option<String>,
    until: Option<String>,
    classes: Option<bool>,
}

async fn compare(State(s): St, P(name): P<String>, Q(q): Q<CompareParams>) -> ApiResult {
    let name = model(name)?;
    let (a, b) = (version(&q.a)?, version(&q.b)?);
    let options = MetricsParams {
        last: q.last,
        since: q.since,
        until: q.until,
        classes: q.classes,
    }
    .options()?;
    Ok(Json(s.handle.compare(&name, &a, &b, options).await?).into_response())
}
