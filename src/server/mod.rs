//! The store over HTTP (feature `server`): `mlstore serve`, or [`Server`] in a program.
//!
//! A thin layer over the store traits: each endpoint parses its path, query and JSON body into
//! the library's types (the record formats of [`crate::records`], the same the command line
//! imports), calls one operation of the [`Handle`], and writes its result as JSON. Errors have
//! one JSON shape and fixed statuses ([`ApiError`]).
//!
//! Around every route, in one step: a limit on requests in flight (a turn waits up to the queue
//! timeout, then 503), bearer-token authentication with scopes ([`Scope`]), a time limit per
//! request (504), then the route's metrics and one log line per request; bodies over the limit
//! are 413. `/healthz`, `/readyz` and `/openapi.json` need no token; `/metrics` needs `read`.
//!
//! ```no_run
//! # async fn run() -> mlstore::Result<()> {
//! use mlstore::server::{Server, ServerConfig};
//! let handle = mlstore::connect("sqlite://./mlstore.db").await?.with_metrics();
//! let server = Server::bind(handle, ServerConfig::default()).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.run_until(mlstore::server::shutdown_signal()).await
//! # }
//! ```

mod auth;
pub mod dashboard;
mod error;
pub mod metrics;
mod openapi;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use mlstore_core::{Error, Result};
use tokio::sync::Semaphore;

pub use auth::{Scope, Token, Tokens, MIN_SECRET_BYTES};
pub use error::{ApiError, RETRY_AFTER_SECONDS};
pub use metrics::HttpMetrics;
pub use openapi::document as openapi_document;
pub use routes::{Endpoint, Route, ROUTES};

use crate::Handle;

/// The address `mlstore serve` listens on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The largest request body accepted by default: 32 MiB (a batch of 10,000 predictions with a
/// few hundred bytes of features each fits).
pub const DEFAULT_MAX_BODY: usize = 32 * 1024 * 1024;
/// How long a request may take by default: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How many requests are served at once by default; more wait for a turn (up to the queue
/// timeout, then 503).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;
/// How long a request waits for a turn by default when [`DEFAULT_MAX_IN_FLIGHT`] are being
/// served: 5 s, then 503 with `Retry-After`.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a server is set up. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    listen: SocketAddr,
    tokens: Tokens,
    insecure_no_auth: bool,
    max_body: usize,
    timeout: Duration,
    max_in_flight: usize,
    queue_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("a valid address"),
            tokens: Tokens::none(),
            insecure_no_auth: false,
            max_body: DEFAULT_MAX_BODY,
            timeout: DEFAULT_TIMEOUT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
        }
    }
}

impl ServerConfig {
    /// Listens on `addr` (port 0: a free port, see [`Server::local_addr`]).
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Accepts these bearer tokens (and only requests that carry one).
    #[must_use]
    pub fn tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = tokens;
        self
    }

    /// Without tokens, serves every request unauthenticated even on a non-loopback address.
    /// Without this, a server with no tokens refuses to listen beyond loopback.
    #[must_use]
    pub fn insecure_no_auth(mut self, yes: bool) -> Self {
        self.insecure_no_auth = yes;
        self
    }

    /// The largest body accepted, in bytes ([`DEFAULT_MAX_BODY`]).
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How long a request may take ([`DEFAULT_TIMEOUT`]).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many requests are served at once ([`DEFAULT_MAX_IN_FLIGHT`]).
    #[must_use]
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// How long a request waits for a turn when the most requests are in flight
    /// ([`DEFAULT_QUEUE_TIMEOUT`]).
    #[must_use]
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }

    fn check(&self) -> Result<()> {
        if self.tokens.is_empty() && !self.insecure_no_auth && !self.listen.ip().is_loopback() {
            return Err(Error::configuration(format!(
                "no API token is configured, so the server listens on loopback only, not on {}: \
                 give tokens ({} or {}), or --insecure-no-auth to serve without",
                self.listen,
                crate::env::TOKENS,
                crate::env::TOKENS_FILE
            )));
        }
        if self.max_body == 0 || self.max_in_flight == 0 || self.timeout.is_zero() {
            return Err(Error::configuration(
                "the body limit, the requests in flight and the time limit must be above 0",
            ));
        }
        Ok(())
    }
}

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) handle: Handle,
    config: ServerConfig,
    http: HttpMetrics,
    in_flight: Arc<Semaphore>,
    gauges: tokio::sync::Mutex<Option<(Instant, String)>>,
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
}

impl Server {
    /// Binds the configured address, serving `handle` (give it
    /// [`Handle::with_metrics`] for per-operation figures in `/metrics`).
    ///
    /// # Errors
    /// [`Error::Configuration`] for a configuration refused by the rules of [`ServerConfig`],
    /// or an address that cannot be bound.
    pub async fn bind(handle: Handle, config: ServerConfig) -> Result<Self> {
        config.check()?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| {
                Error::configuration(format!("cannot listen on {}: {e}", config.listen))
            })?;
        let state = Arc::new(AppState {
            handle,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            config,
            http: HttpMetrics::default(),
            gauges: tokio::sync::Mutex::new(None),
        });
        Ok(Self { listener, state })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.config.listen)
    }

    /// Serves until `shutdown` completes; then stops accepting, lets the requests in flight
    /// finish (each is answered: nothing acknowledged is lost), and closes the store.
    ///
    /// # Errors
    /// [`Error::Configuration`] when the listener fails.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let state = Arc::clone(&self.state);
        let app = router(Arc::clone(&state));
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| Error::configuration(format!("the server stopped: {e}")))?;
        tracing::info!(target: "mlstore::http", "requests in flight answered; closing the store");
        state.handle.close();
        Ok(())
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT), for [`Server::run_until`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!(target: "mlstore::http", "shutting down: no new connections");
}

fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body;
    let mut app = Router::new();
    for route in ROUTES {
        app = app.route(route.path, (route.handler)());
    }
    for (path, handler) in dashboard::routes() {
        app = app.route(path, handler);
    }
    app.route_layer(middleware::from_fn_with_state(Arc::clone(&state), gate))
        .fallback(no_route)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::no_route(uri.path())
}

/// Around every request to a route, in one step (one middleware, so one boxed future): waits
/// for a turn among the requests in flight, checks the token, runs the request within the time
/// limit, then counts it in the route's metrics and logs one line for it (never its body, its
/// query or its token).
async fn gate(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    // A matched path is a shared string: cloning it does not allocate.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let response = match admit(&state).await {
        Err(busy) => busy.into_response(),
        Ok(_permit) => match authorize(&state, &method, route, &req) {
            Err(refused) => refused.into_response(),
            Ok(actor) => {
                let run = next.run(req);
                let limit = state.config.timeout;
                let guarded = async {
                    match tokio::time::timeout(limit, run).await {
                        Ok(response) => response,
                        Err(_) => ApiError::timed_out(limit).into_response(),
                    }
                };
                match actor {
                    Some(name) => mlstore_core::history::acting_as(name, guarded).await,
                    None => guarded.await,
                }
            }
        },
    };
    let latency = start.elapsed();
    let status = response.status().as_u16();
    state.http.record(method.as_str(), route, status, latency);
    tracing::info!(
        target: "mlstore::http",
        method = %method,
        route = %route,
        status,
        latency_us = latency.as_micros() as u64,
        "request"
    );
    response
}

/// A turn among the requests in flight: at once when one is free, else waiting up to the queue
/// timeout.
async fn admit(
    state: &AppState,
) -> std::result::Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    if let Ok(permit) = Arc::clone(&state.in_flight).try_acquire_owned() {
        return Ok(permit);
    }
    let queue = state.config.queue_timeout;
    match tokio::time::timeout(queue, Arc::clone(&state.in_flight).acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::busy(format!(
            "{} requests are in flight, the most this server serves at once",
            state.config.max_in_flight
        ))),
    }
}

/// The scope a request needs: `read` to read, `admin` to delete, `write` for the rest; none
/// for the health checks and the API description.
fn required_scope(method: &Method, route: &str) -> Option<Scope> {
    if matches!(route, "/healthz" | "/readyz" | "/openapi.json") {
        return None;
    }
    Some(match *method {
        Method::GET | Method::HEAD => Scope::Read,
        Method::DELETE if route == "/v1/models/{name}/versions/{version}" => Scope::Admin,
        _ => Scope::Write,
    })
}

/// Checks the bearer token against the scope the request needs; the token's name is then the
/// actor of the registry changes the request makes.
fn authorize(
    state: &AppState,
    method: &Method,
    route: &str,
    req: &Request,
) -> std::result::Result<Option<String>, ApiError> {
    let tokens = &state.config.tokens;
    let Some(needed) = required_scope(method, route) else {
        return Ok(None);
    };
    if tokens.is_empty() {
        return Ok(None);
    }
    // HTTP Basic only for the dashboard's pages, which only read: a browser sends Basic
    // credentials by itself, even with a request another site makes it send.
    let page = dashboard::is_page(route) && matches!(*method, Method::GET | Method::HEAD);
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::presented_secret)
        .and_then(|p| match p {
            auth::Presented::Bearer(secret) => Some(secret),
            auth::Presented::Basic(secret) if page => Some(secret),
            auth::Presented::Basic(_) => None,
        });
    let Some(presented) = presented else {
        return Err(if page {
            ApiError::unauthorized(
                "the dashboard needs a token: give it as the password (any user name)",
            )
            .ask_browser()
        } else {
            ApiError::unauthorized("this server needs `Authorization: Bearer TOKEN`")
        });
    };
    let Some(token) = tokens.authenticate(&presented) else {
        let refused = ApiError::unauthorized("the token is not one this server accepts");
        return Err(if page { refused.ask_browser() } else { refused });
    };
    if token.scope() < needed {
        return Err(ApiError::forbidden(format!(
            "token {:?} has scope {}; this request needs {needed}",
            token.name(),
            token.scope()
        )));
    }
    Ok(Some(token.name().to_owned()))
}
