//! The one exit-code rule of every command, and the error type that carries it.

use mlstore::{redact_url, Error, ErrorKind};

/// Exit codes: 0 ok, 1 error, 2 usage (including out-of-range values), 3 not found.
pub(crate) const EXIT_CODES: &str = "Exit codes: 0 ok, 1 error, 2 usage (including out-of-range \
    values), 3 not found (an unknown model, version, alias, prediction or baseline in any \
    command), 4 drift warn and 5 drift (from `drift`).";

/// An error with the exit code it maps to.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl CliError {
    /// A failure that is nobody's usage mistake (a file that cannot be read, bad data): 1.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    /// A usage mistake (a bad argument or option, a value out of range): 2.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }

    /// Something the command names does not exist: 3.
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self {
            message: format!("not found: {}", what.into()),
            code: 3,
        }
    }

    /// `err` as a failure of the data rather than of the arguments: invalid input is 1, not 2.
    pub(crate) fn from_data(err: Error) -> Self {
        let mut e = Self::from(err);
        if e.code == 2 {
            e.code = 1;
        }
        e
    }
}

impl From<Error> for CliError {
    /// Invalid input (from arguments) is a usage error, not found is 3, anything else 1. The
    /// message never holds a password from a URL.
    fn from(err: Error) -> Self {
        let code = match err.kind() {
            ErrorKind::NotFound => 3,
            ErrorKind::InvalidInput => 2,
            _ => 1,
        };
        Self {
            message: redact_url(&err.to_string()),
            code,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, CliError>;
