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
///
/// Fields are private and every setter checks its value, so a configuration can never be put
/// into a state the store cannot run with.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    url: String,
    max_connections: u32,
    acquire_timeout: Duration,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    statement_cache_capacity: usize,
}

impl PostgresConfig {
    /// Parses a `postgres://` or `postgresql://` URL (the scheme in any case), with the default
    /// pool options. A password may be percent-encoded (`p%40ss` is `p@ss`).
    ///
    /// # Errors
    /// [`Error::Configuration`] when the URL is not a PostgreSQL URL sqlx accepts; the message
    /// shows the URL without its password.
    pub fn from_url(url: &str) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::configuration(format!(
                "{:?} is not a usable PostgreSQL URL: {e}",
                redact_url(url)
            ))
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(Error::configuration(format!(
                "{:?} is not a PostgreSQL URL (expected postgres:// or postgresql://)",
                redact_url(url)
            )));
        }
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

    /// Pool size: the most queries in flight at once from this process.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// How long a query waits for a connection.
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    /// When an idle connection is closed.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// When a connection is replaced.
    pub fn max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime
    }

    /// Prepared statements cached per connection.
    pub fn statement_cache_capacity(&self) -> usize {
        self.statement_cache_capacity
    }

    /// Sets the pool size.
    ///
    /// # Errors
    /// [`Error::Configuration`] for 0 (no query could ever run).
    pub fn with_max_connections(mut self, n: u32) -> Result<Self> {
        if n == 0 {
            return Err(Error::configuration(
                "postgres max_connections is 0: at least one connection is needed",
            ));
        }
        self.max_connections = n;
        Ok(self)
    }

    /// Sets how long a query waits for a connection.
    ///
    /// # Errors
    /// [`Error::Configuration`] for zero (every query would time out).
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Result<Self> {
        if timeout.is_zero() {
            return Err(Error::configuration(
                "postgres acquire_timeout is 0: every query would time out",
            ));
        }
        self.acquire_timeout = timeout;
        Ok(self)
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The password of the URL, if any (raw and percent-decoded), so that errors can be scrubbed
    /// of it.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        let Ok(url) = url::Url::parse(&self.url) else {
            return secrets;
        };
        let mut add = |raw: &str| {
            if !raw.is_empty() {
                secrets.push(raw.to_owned());
                secrets.push(
                    percent_encoding::percent_decode_str(raw)
                        .decode_utf8_lossy()
                        .into_owned(),
                );
            }
        };
        if let Some(password) = url.password() {
            add(password);
        }
        if let Some(query) = url.query() {
            for pair in query.split('&') {
                if let Some((key, value)) = pair.split_once('=') {
                    if key.eq_ignore_ascii_case("password") {
                        add(value);
                    }
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
    fn schemes_are_case_insensitive() {
        for url in [
            "POSTGRES://app:x@db/ml",
            "PostgreSQL://app@db/ml",
            "postgresql://db/ml",
        ] {
            assert!(PostgresConfig::from_url(url).is_ok(), "{url}");
        }
        let err = PostgresConfig::from_url("mysql://app:hunter2@db/ml").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let c = PostgresConfig::from_url("postgres://db/ml").unwrap();
        assert!(c.clone().with_max_connections(0).is_err());
        assert!(c.with_acquire_timeout(Duration::ZERO).is_err());
    }

    #[test]
    fn bad_urls_are_configuration_errors_without_the_password() {
        let err = PostgresConfig::from_url("postgres://app:hunter2@db:notaport/ml").unwrap_err();
        assert_eq!(err.kind(), mlstore_core::ErrorKind::Configuration);
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
