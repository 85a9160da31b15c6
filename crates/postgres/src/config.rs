//! Options of the PostgreSQL store, with their defaults. `Debug` and `Display` hide the password.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use mlstore_core::{redact_url, Error, Result};
use sqlx::postgres::PgConnectOptions;

/// Options of [`crate::PostgresStore`].
///
/// | option | default | meaning |
/// |---|---|---|
/// | `url` | (required) | `postgres://user:password@host:5432/db?sslmode=require` (libpq URL parameters) |
/// | `max_connections` | 16 | pool size: the most queries in flight at once from this process |
/// | `acquire_timeout` | 5 s | how long a query waits for a connection (including connecting) before it returns [`Error::Unavailable`] |
/// | `idle_timeout` | 10 min | an idle connection above `min_connections` is closed after this |
/// | `max_lifetime` | 30 min | a connection is replaced after this, so server-side changes (fail-over, settings) are picked up |
/// | `statement_cache_capacity` | 128 | prepared statements cached per connection |
///
/// The pool never pings: a connection is reused only if its last query finished (successfully or
/// with an error the server reported); after an I/O error, or a query abandoned mid-way, it is
/// closed. A connection the server dropped while idle fails its next query with
/// [`Error::Unavailable`] (retryable), and is replaced.
///
/// ```
/// use mlstore_postgres::PostgresConfig;
/// let config = PostgresConfig::from_url("postgres://app:s3cret@db:5432/ml").unwrap();
/// assert!(!format!("{config:?}").contains("s3cret"));
/// assert_eq!(config.to_string(), "postgres://app:***@db:5432/ml");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresConfig {
    url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a connection.
    pub acquire_timeout: Duration,
    /// When an idle connection is closed.
    pub idle_timeout: Option<Duration>,
    /// When a connection is replaced.
    pub max_lifetime: Option<Duration>,
    /// Prepared statements cached per connection.
    pub statement_cache_capacity: usize,
}

impl PostgresConfig {
    /// Parses a `postgres://` or `postgresql://` URL, with the default pool options.
    ///
    /// # Errors
    /// [`Error::Configuration`] when the URL is not a PostgreSQL URL sqlx accepts; the message
    /// shows the URL without its password.
    pub fn from_url(url: &str) -> Result<Self> {
        let config = Self {
            url: url.to_owned(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            statement_cache_capacity: 128,
        };
        config.connect_options()?;
        Ok(config)
    }

    /// Sets [`PostgresConfig::max_connections`] (at least 1).
    #[must_use]
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets [`PostgresConfig::acquire_timeout`].
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The password of the URL, if any (raw and percent-decoded), so that errors can be scrubbed
    /// of it.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        if let Some(rest) = self.url.split_once("://").map(|(_, r)| r) {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                if let Some((_, password)) = userinfo.split_once(':') {
                    if !password.is_empty() {
                        secrets.push(password.to_owned());
                        secrets.push(percent_decode(password));
                    }
                }
            }
        }
        for pair in self.url.split(['?', '&']).skip(1) {
            if let Some((key, value)) = pair.split_once('=') {
                if key.eq_ignore_ascii_case("password") && !value.is_empty() {
                    secrets.push(value.to_owned());
                    secrets.push(percent_decode(value));
                }
            }
        }
        secrets
    }

    pub(crate) fn connect_options(&self) -> Result<PgConnectOptions> {
        let options = PgConnectOptions::from_str(&self.url).map_err(|e| {
            let scrubbed = scrub(&e.to_string(), &self.secrets());
            Error::configuration(format!(
                "{:?} is not a usable PostgreSQL URL: {scrubbed}",
                self.redacted_url()
            ))
        })?;
        Ok(options.statement_cache_capacity(self.statement_cache_capacity))
    }
}

/// Replaces every secret in `text` with `***`.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 2) {
        out = out.replace(secret.as_str(), "***");
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .field("statement_cache_capacity", &self.statement_cache_capacity)
            .finish()
    }
}

impl fmt::Display for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_and_scrubbed() {
        let c = PostgresConfig::from_url("postgres://app:p%40ss@db/ml?password=other").unwrap();
        let secrets = c.secrets();
        assert!(secrets.contains(&"p%40ss".to_string()));
        assert!(secrets.contains(&"p@ss".to_string()));
        assert!(secrets.contains(&"other".to_string()));
        assert_eq!(
            scrub("auth failed for p@ss", &secrets),
            "auth failed for ***"
        );
        let debug = format!("{c:?} {c}");
        assert!(
            !debug.contains("p%40ss") && !debug.contains("other"),
            "{debug}"
        );
    }

    #[test]
    fn bad_urls_are_configuration_errors_without_the_password() {
        let err = PostgresConfig::from_url("postgres://app:hunter2@db:notaport/ml").unwrap_err();
        assert_eq!(err.kind(), mlstore_core::ErrorKind::Configuration);
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
