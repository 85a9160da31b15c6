//! The one error type of mlstore.

use std::fmt;
use std::sync::Arc;

/// A boxed error from a driver or library underneath a store (what the constructors take).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A driver's error as [`Error`] keeps it: shared, so that an [`Error`] is cheap to clone.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout mlstore.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error an mlstore store can return.
///
/// Match on [`Error::kind`] when only the category matters (for example to decide whether to retry:
/// [`ErrorKind::Unavailable`] is the only retryable kind). Messages never contain a password from a
/// connection URL: backends redact URLs with [`crate::redact_url`] before they put them in an error.
///
/// Errors are `Clone` (a driver's error is kept behind an `Arc`), so a layer that hands one
/// result to several callers (a cache's single-flight load) passes the error on unchanged.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input was rejected before anything was written.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field (or argument) that is wrong, e.g. `"version"` or `"confidence"`.
        field: &'static str,
        /// Why it is wrong, in words.
        reason: String,
    },
    /// The thing an operation needs does not exist (a model version, an alias, a prediction id).
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for, e.g. `model version "fraud" 1.2.0`.
        what: String,
    },
    /// The thing being created exists already; nothing was changed.
    #[error("already exists: {what}")]
    AlreadyExists {
        /// What exists already, e.g. `model version "fraud" 1.2.0`.
        what: String,
    },
    /// The backend could not serve the request now (busy database, lost connection, timeout).
    /// Nothing was written; the same call may succeed if retried.
    #[error("{backend} unavailable: {source}")]
    Unavailable {
        /// The backend that failed, e.g. `"sqlite"`.
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: SharedError,
    },
    /// Any other error from a backend, with its source.
    #[error("{backend} error: {source}")]
    Backend {
        /// The backend that failed, e.g. `"sqlite"`.
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: SharedError,
    },
    /// The store could not be set up: a bad URL, an unsupported scheme, a schema newer than this
    /// build, an edited migration.
    #[error("configuration error: {message}")]
    Configuration {
        /// What is wrong and, where possible, how to fix it.
        message: String,
    },
}

/// The category of an [`Error`], for matching and comparing without the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::NotFound`].
    NotFound,
    /// See [`Error::AlreadyExists`].
    AlreadyExists,
    /// See [`Error::Unavailable`].
    Unavailable,
    /// See [`Error::Backend`].
    Backend,
    /// See [`Error::Configuration`].
    Configuration,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Backend => "backend error",
            ErrorKind::Configuration => "configuration error",
        };
        f.write_str(s)
    }
}

impl Error {
    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Backend { .. } => ErrorKind::Backend,
            Error::Configuration { .. } => ErrorKind::Configuration,
        }
    }

    /// Whether retrying the same call may succeed (only [`ErrorKind::Unavailable`]).
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Unavailable
    }

    /// Builds an [`Error::InvalidInput`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::NotFound`].
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// Builds an [`Error::AlreadyExists`].
    pub fn already_exists(what: impl Into<String>) -> Self {
        Error::AlreadyExists { what: what.into() }
    }

    /// [`Error::NotFound`] for a model version that is not registered; the wording every store
    /// uses.
    pub fn version_not_found(name: &crate::ModelName, version: &crate::Version) -> Self {
        Self::not_found(format!("model version {name:?} {version}"))
    }

    /// [`Error::NotFound`] for a model name with no versions; the wording every store uses.
    pub fn model_not_found(name: &crate::ModelName) -> Self {
        Self::not_found(format!("model {name:?} has no versions"))
    }

    /// [`Error::AlreadyExists`] for a model version registered already.
    pub fn version_exists(name: &crate::ModelName, version: &crate::Version) -> Self {
        Self::already_exists(format!("model version {name:?} {version}"))
    }

    /// [`Error::NotFound`] for an alias that does not exist.
    pub fn alias_not_found(name: &crate::ModelName, alias: &crate::Alias) -> Self {
        Self::not_found(format!("alias {alias:?} of model {name:?}"))
    }

    /// Replaces an [`Error::AlreadyExists`] in a driver's wording ("unique constraint failed
    /// ...") with `named`, which names what exists; any other error is returned as it is.
    pub fn naming_conflict(self, named: impl FnOnce() -> Error) -> Self {
        match self {
            Error::AlreadyExists { .. } => named(),
            other => other,
        }
    }

    /// Builds an [`Error::Configuration`].
    pub fn configuration(message: impl Into<String>) -> Self {
        Error::Configuration {
            message: message.into(),
        }
    }

    /// Builds an [`Error::Backend`].
    pub fn backend(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            backend,
            source: Arc::from(source.into()),
        }
    }

    /// Builds an [`Error::Unavailable`].
    pub fn unavailable(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            backend,
            source: Arc::from(source.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_messages() {
        let e = Error::invalid("version", "not SemVer");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "invalid version: not SemVer");
        assert!(!e.is_retryable());
        let e = Error::unavailable("sqlite", "database is locked");
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "sqlite unavailable: database is locked");
        let copy = e.clone();
        assert_eq!(copy.to_string(), e.to_string());
        assert!(std::error::Error::source(&copy).is_some());
    }
}
