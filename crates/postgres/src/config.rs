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
    replicas: Vec<String>,
    replica_max_lag: Duration,
    replica_connect_timeout: Duration,
}

/// The URL query keys that configure read replicas (mlstore's, not the driver's).
const REPLICA_KEYS: [&str; 3] = [
    "replica",
    "replica_max_lag_ms",
    "replica_connect_timeout_ms",
];

/// How far behind a replica may fall before reads skip it, by default: 5 s.
pub const DEFAULT_REPLICA_MAX_LAG: Duration = Duration::from_secs(5);
/// How long a read waits for a replica's connection before using the primary, by default: 1 s.
pub const DEFAULT_REPLICA_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

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
                shown(url)
            ))
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(Error::configuration(format!(
                "{:?} is not a PostgreSQL URL (expected postgres:// or postgresql://)",
                shown(url)
            )));
        }
        let mut primary = parsed.clone();
        let mut replicas = Vec::new();
        let mut replica_max_lag = DEFAULT_REPLICA_MAX_LAG;
        let mut replica_connect_timeout = DEFAULT_REPLICA_CONNECT_TIMEOUT;
        let mut kept: Vec<(String, String)> = Vec::new();
        for (key, value) in parsed.query_pairs() {
            let millis = || {
                value
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| {
                        Error::configuration(format!(
                            "{key}={value:?} in {:?}: expected milliseconds",
                            shown(url)
                        ))
                    })
            };
            match key.as_ref() {
                "replica" => replicas.push(replica_url(&parsed, &value, url)?),
                "replica_max_lag_ms" => replica_max_lag = millis()?,
                "replica_connect_timeout_ms" => replica_connect_timeout = millis()?,
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        if parsed
            .query_pairs()
            .any(|(k, _)| REPLICA_KEYS.contains(&k.as_ref()))
        {
            if kept.is_empty() {
                primary.set_query(None);
            } else {
                primary.query_pairs_mut().clear().extend_pairs(kept);
            }
        }
        if replica_connect_timeout.is_zero() {
            return Err(Error::configuration(
                "replica_connect_timeout_ms is 0: no replica could ever be reached",
            ));
        }
        let config = Self {
            url: primary.to_string(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            statement_cache_capacity: 128,
            replicas,
            replica_max_lag,
            replica_connect_timeout,
        };
        config.connect_options()?;
        for i in 0..config.replicas.len() {
            config.replica_connect_options(i)?;
        }
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

    /// The read replicas, as URLs with their passwords hidden.
    pub fn replicas(&self) -> Vec<String> {
        self.replicas.iter().map(|u| redact_url(u)).collect()
    }

    /// Adds read replicas: each `host`, `host:port` (the primary's user, password, database
    /// and options) or a whole `postgres://` URL. The URL's `?replica=` does the same.
    ///
    /// # Errors
    /// [`Error::Configuration`] for an entry that is neither.
    pub fn with_replicas<S: AsRef<str>>(mut self, entries: &[S]) -> Result<Self> {
        let primary = url::Url::parse(&self.url)
            .map_err(|e| Error::configuration(format!("{:?}: {e}", self.redacted_url())))?;
        for entry in entries {
            let replica = replica_url(&primary, entry.as_ref(), &self.url)?;
            self.replicas.push(replica);
            self.replica_connect_options(self.replicas.len() - 1)?;
        }
        Ok(self)
    }

    /// How far behind the primary a replica may fall before reads skip it
    /// ([`DEFAULT_REPLICA_MAX_LAG`]; `?replica_max_lag_ms=`).
    pub fn replica_max_lag(&self) -> Duration {
        self.replica_max_lag
    }

    /// Sets [`replica_max_lag`](Self::replica_max_lag).
    #[must_use]
    pub fn with_replica_max_lag(mut self, lag: Duration) -> Self {
        self.replica_max_lag = lag;
        self
    }

    /// How long a read waits for a replica's connection before it uses the primary
    /// ([`DEFAULT_REPLICA_CONNECT_TIMEOUT`]; `?replica_connect_timeout_ms=`).
    pub fn replica_connect_timeout(&self) -> Duration {
        self.replica_connect_timeout
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The password of the URL, if any (raw and percent-decoded), so that errors can be scrubbed
    /// of it.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        for text in std::iter::once(&self.url).chain(&self.replicas) {
            secrets.extend(url_secrets(text));
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

    pub(crate) fn replica_connect_options(&self, i: usize) -> Result<PgConnectOptions> {
        let url = &self.replicas[i];
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            let scrubbed = scrub(&e.to_string(), &self.secrets());
            Error::configuration(format!(
                "replica {:?} is not a usable PostgreSQL URL: {scrubbed}",
                redact_url(url)
            ))
        })?;
        Ok(options.statement_cache_capacity(self.statement_cache_capacity))
    }
}

/// A URL for an error message: password hidden, and its query left out (a replica given as a
/// whole URL in the query would carry its own password there).
fn shown(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{}?…", redact_url(base)),
        None => redact_url(url),
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address: the host as a URL takes it
/// (IPv6 in brackets) and the port text, if any.
fn split_host_port(entry: &str) -> Option<(String, Option<&str>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        return Some((format!("[{v6}]"), port));
    }
    match entry.matches(':').count() {
        0 => Some((entry.to_owned(), None)),
        1 => {
            let (h, p) = entry.split_once(':')?;
            Some((h.to_owned(), Some(p)))
        }
        _ => Some((format!("[{entry}]"), None)),
    }
}

/// The URL of a replica entry: `host`, `host:port` (on the primary's URL) or a whole URL.
fn replica_url(primary: &url::Url, entry: &str, whole: &str) -> Result<String> {
    let entry = entry.trim();
    let bad = |why: &str| {
        Error::configuration(format!(
            "replica {:?} of {:?}: {why}",
            shown(entry),
            shown(whole)
        ))
    };
    if entry.contains("://") {
        let u = url::Url::parse(entry).map_err(|e| bad(&e.to_string()))?;
        if !matches!(u.scheme(), "postgres" | "postgresql") {
            return Err(bad("not a postgres:// URL"));
        }
        return Ok(entry.to_owned());
    }
    let (host, port) = split_host_port(entry).ok_or_else(|| bad("expected host or host:port"))?;
    let port = port
        .map(|p| p.parse::<u16>())
        .transpose()
        .map_err(|_| bad("expected host or host:port"))?;
    let mut u = primary.clone();
    u.set_host(Some(&host)).map_err(|e| bad(&e.to_string()))?;
    u.set_port(port.or(primary.port()))
        .map_err(|()| bad("this URL cannot take a port"))?;
    // The primary's own host and port keys would override the replica's.
    let kept: Vec<(String, String)> = primary
        .query_pairs()
        .filter(|(k, _)| {
            !REPLICA_KEYS.contains(&k.as_ref())
                && !matches!(k.as_ref(), "host" | "hostaddr" | "port")
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok(u.to_string())
}

/// The password of a URL, raw and percent-decoded, from its user part and its query.
fn url_secrets(text: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    {
        let Ok(url) = url::Url::parse(text) else {
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
    }
    secrets
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
            .field("replicas", &self.replicas())
            .field("replica_max_lag", &self.replica_max_lag)
            .field("replica_connect_timeout", &self.replica_connect_timeout)
            .finish()
    }
}

impl fmt::Display for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())?;
        match self.replicas.len() {
            0 => Ok(()),
            1 => f.write_str(" (+1 read replica)"),
            n => write!(f, " (+{n} read replicas)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_entries_take_ipv6_and_drop_the_primarys_host_keys() {
        let c = PostgresConfig::from_url(
            "postgres://app:pw@db1/ml?host=db1&port=6000&application_name=x\
             &replica=[::1]:5433&replica=[fe80::2]&replica=::3&replica=db4:5434",
        )
        .unwrap();
        assert_eq!(
            c.replicas(),
            vec![
                "postgres://app:***@[::1]:5433/ml?application_name=x".to_owned(),
                "postgres://app:***@[fe80::2]/ml?application_name=x".to_owned(),
                "postgres://app:***@[::3]/ml?application_name=x".to_owned(),
                "postgres://app:***@db4:5434/ml?application_name=x".to_owned(),
            ]
        );
        for bad in ["[::1", "[::1]x", "db:", "db:port"] {
            let url = format!("postgres://db/ml?replica={bad}");
            assert!(PostgresConfig::from_url(&url).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_never_show_a_replicas_password_from_the_query() {
        let e = PostgresConfig::from_url(
            "postgres://app:pw@db1/ml?replica=postgres%3A%2F%2Fro%3AS3CRET%40r1%2Fml&replica=x:y",
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("S3CRET") && !e.contains("pw@"), "{e}");
    }

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
