//! The one place where rusqlite errors become mlstore errors.

use mlstore_core::Error;
use rusqlite::ffi;

/// The backend name in errors.
pub(crate) const BACKEND: &str = "sqlite";

/// Maps a rusqlite error on purpose: BUSY/LOCKED -> Unavailable (retryable), a primary-key or
/// unique violation -> AlreadyExists, a foreign-key violation -> NotFound, anything else ->
/// Backend. Callers that know what the conflicting thing was name it with
/// [`Error::naming_conflict`].
pub(crate) fn map(err: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(failure, _) = &err {
        match failure.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                return Error::unavailable(BACKEND, err);
            }
            rusqlite::ErrorCode::ConstraintViolation => match failure.extended_code {
                ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
                    return Error::already_exists(err.to_string());
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return Error::not_found(err.to_string()),
                _ => {}
            },
            _ => {}
        }
    }
    Error::backend(BACKEND, err)
}

/// Whether `err` is SQLITE_BUSY / SQLITE_LOCKED, i.e. worth waiting for.
pub(crate) fn is_busy(err: &Error) -> bool {
    matches!(err, Error::Unavailable { .. })
}
