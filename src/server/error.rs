//! How errors become HTTP responses: one JSON shape for every error,
//! `{"error": {"kind": ..., "message": ..., "field": ...}}`.
//!
//! | error | status |
//! |---|---|
//! | [`Error::InvalidInput`], malformed JSON, a bad query or path | 400 |
//! | missing or unknown token | 401 (with `WWW-Authenticate: Bearer`) |
//! | token without the scope | 403 |
//! | [`Error::NotFound`], no such route | 404 |
//! | [`Error::AlreadyExists`] | 409 |
//! | body over the limit | 413 |
//! | [`Error::Unavailable`], too many requests in flight | 503 (with `Retry-After`) |
//! | request over the time limit | 504 |
//! | anything else | 500, with no internals (they go to the server's log) |

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mlstore_core::Error;
use serde::Serialize;

/// An error as the HTTP service reports it.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    field: Option<&'static str>,
    basic_challenge: bool,
}

/// The body of every error answer.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "Error")]
pub(crate) struct Body<'a> {
    error: Inner<'a>,
}

/// What went wrong.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "ErrorDetail")]
struct Inner<'a> {
    /// `invalid_input`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `already_exists`, `payload_too_large`, `unavailable`, `timeout` or `internal`.
    kind: &'a str,
    /// What is wrong, in words.
    message: &'a str,
    /// The field (or `body`, `query`, `path`) that is wrong, for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_SECONDS: u64 = 1;

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            field: None,
            basic_challenge: false,
        }
    }

    /// 400: a bad request, naming the part (`body`, `query`, a field).
    pub fn bad_request(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
        }
    }

    /// 401: no token, or not a known one.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// A 401 that also asks a browser for the token (HTTP Basic, for the dashboard's pages).
    pub(crate) fn ask_browser(mut self) -> Self {
        self.basic_challenge = true;
        self
    }

    /// 403: a known token without the scope the request needs.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such route.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route {path}; see /openapi.json"),
        )
    }

    /// 405: the route exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take that method; see /openapi.json",
        )
    }

    /// 413: the body is larger than the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than the limit of {limit} bytes (--max-body)"),
        )
    }

    /// 503: too many requests in flight.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 504: the request took longer than the limit.
    pub fn timed_out(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than {limit:?} (--timeout); a write may or may not \
                 have been applied: read before retrying"
            ),
        )
    }

    /// The malformed or mistyped JSON body `e`, with its line and column.
    pub fn json(e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Syntax | Category::Eof => "malformed JSON",
            Category::Data | Category::Io => "invalid body",
        };
        Self::bad_request("body", format!("{what}: {e}"))
    }

    /// The status this error is reported with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What went wrong, in words (never internals).
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match &e {
            Error::InvalidInput { field, .. } => Self {
                field: Some(field),
                ..Self::new(StatusCode::BAD_REQUEST, "invalid_input", e.to_string())
            },
            Error::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            Error::AlreadyExists { .. } => {
                Self::new(StatusCode::CONFLICT, "already_exists", e.to_string())
            }
            Error::Unavailable { .. } => {
                tracing::warn!(target: "mlstore::http", error = %e, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable now; retry later",
                )
            }
            _ => {
                tracing::error!(target: "mlstore::http", error = %e, "request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the server's log has the details",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                kind: self.kind,
                message: &self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mlstore\""),
            );
            if self.basic_challenge {
                // A browser asks for the token (as the password) on this one.
                headers.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"mlstore\", charset=\"UTF-8\""),
                );
            }
        }
        response
    }
}
