//! The one place where sqlx errors become mlstore errors.

use std::fmt;

use mlstore_core::Error;
use sqlx::migrate::MigrateError;

use crate::config::scrub;

/// The backend name in errors.
pub(crate) const BACKEND: &str = "postgres";

/// A driver error reduced to its text, scrubbed of the connection password. The original error
/// is not kept as a source: its chain could print the password.
#[derive(Debug)]
struct Scrubbed(String);

impl fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Scrubbed {}

/// SQLSTATE classes and codes that mean "try again": serialization failure, deadlock, lock not
/// available, connection exceptions (class 08), too many connections, server shutting down or
/// starting up.
fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "40001" | "40P01" | "55P03" | "53300" | "57P01" | "57P02" | "57P03"
    ) || code.starts_with("08")
}

/// Maps sqlx errors on purpose, scrubbing `secrets` (the URL password) from every message:
/// unique violation -> AlreadyExists; foreign-key violation -> NotFound; transient server states,
/// I/O errors (an unreachable server) and pool timeouts -> Unavailable (retryable); failed
/// authentication, an unknown role or database, bad configuration or TLS -> Configuration (not
/// retryable); anything else -> Backend.
#[derive(Clone)]
pub(crate) struct ErrorMap {
    secrets: Vec<String>,
}

impl ErrorMap {
    pub(crate) fn new(secrets: Vec<String>) -> Self {
        Self { secrets }
    }

    fn text(&self, err: &dyn fmt::Display) -> String {
        scrub(&err.to_string(), &self.secrets)
    }

    pub(crate) fn map(&self, err: sqlx::Error) -> Error {
        match &err {
            sqlx::Error::Database(db) => {
                let message = self.text(&db.message());
                match db.code().as_deref() {
                    // Authentication failed, role or database unknown: a wrong URL, not a
                    // moment to retry.
                    Some(code @ ("28P01" | "28000" | "3D000")) => {
                        Error::configuration(format!("{message} ({code})"))
                    }
                    Some("23505") => Error::already_exists(message),
                    Some("23503") => Error::not_found(message),
                    Some(code) if is_transient(code) => {
                        Error::unavailable(BACKEND, Scrubbed(format!("{message} ({code})")))
                    }
                    _ => Error::backend(BACKEND, Scrubbed(self.text(&err))),
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Error::unavailable(BACKEND, Scrubbed(self.text(&err))),
            sqlx::Error::Configuration(_) | sqlx::Error::Tls(_) => {
                Error::configuration(self.text(&err))
            }
            _ => Error::backend(BACKEND, Scrubbed(self.text(&err))),
        }
    }

    /// Maps a migration failure: a database migrated by a newer build, or an edited migration, is
    /// a Configuration error.
    pub(crate) fn migration(&self, err: MigrateError) -> Error {
        match err {
            MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => self.map(e),
            MigrateError::VersionMissing(version) => Error::configuration(format!(
                "the database schema has migration {version}, which this build of \
                 mlstore-postgres does not know: it was migrated by a newer mlstore; use a newer \
                 mlstore"
            )),
            MigrateError::VersionMismatch(version) => Error::configuration(format!(
                "migration {version} was applied with a different checksum: \
                 migrations/postgres/{version:04}_*.sql changed after it ran"
            )),
            other => Error::configuration(format!("migrating the database: {}", self.text(&other))),
        }
    }
}

impl fmt::Debug for ErrorMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ErrorMap { secrets: *** }")
    }
}
