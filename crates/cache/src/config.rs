//! Cache options, the `MLSTORE_CACHE` URL form, and their defaults.

use std::fmt;
use std::time::Duration;

use mlstore_core::env::{CACHE, CACHE_NAMESPACE, CACHE_TTL};
use mlstore_core::{redact_url, DatabaseId, Error, Result};

/// Which layers cache reads.
#[derive(Clone, PartialEq, Eq)]
pub enum CacheMode {
    /// No caching: the decorator is not used.
    None,
    /// In-process moka cache only (one per store handle).
    Moka,
    /// Shared Redis only, at this URL.
    Redis(String),
    /// moka in front of Redis at this URL; Redis pub/sub keeps every instance's moka coherent.
    MokaRedis(String),
}

impl CacheMode {
    /// The Redis URL, for the modes that have one.
    pub fn redis_url(&self) -> Option<&str> {
        match self {
            CacheMode::Redis(url) | CacheMode::MokaRedis(url) => Some(url),
            _ => None,
        }
    }

    /// Whether the in-process moka layer is on.
    pub fn uses_moka(&self) -> bool {
        matches!(self, CacheMode::Moka | CacheMode::MokaRedis(_))
    }

    /// A short name for reports: `none`, `moka`, `redis`, `moka+redis`.
    pub fn label(&self) -> &'static str {
        match self {
            CacheMode::None => "none",
            CacheMode::Moka => "moka",
            CacheMode::Redis(_) => "redis",
            CacheMode::MokaRedis(_) => "moka+redis",
        }
    }
}

impl fmt::Debug for CacheMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.redis_url() {
            Some(url) => write!(f, "{}({:?})", self.label(), redact_url(url)),
            None => f.write_str(self.label()),
        }
    }
}

/// Options of [`crate::CachedStore`]. Fields are private and every setter checks its value, so
/// a configuration can never be put into a state the cache cannot run with.
///
/// | option | default | meaning |
/// |---|---|---|
/// | `mode` | (required) | see [`CacheMode`] |
/// | `ttl` | 300 s | how long a cached read may be served; also the worst-case staleness when an invalidation is lost |
/// | `moka_capacity` | 100,000 | most entries in the in-process cache |
/// | `namespace` | `mlstore:<database id>` | prefix of every Redis key and of the invalidation channel; by default bound to the identity of the database (see [`mlstore_core::DatabaseId`]), so two databases behind one Redis never share an entry and two spellings of one database's URL always do |
/// | `redis_timeout` | 100 ms | a Redis call slower than this counts as an error and the read or write goes to the backend |
/// | `redis_retry_after` | 1 s | after a Redis error, Redis is skipped for this long, then tried again |
#[derive(Clone, PartialEq, Eq)]
pub struct CacheConfig {
    mode: CacheMode,
    ttl: Duration,
    moka_capacity: u64,
    namespace: Option<String>,
    redis_timeout: Duration,
    redis_retry_after: Duration,
}

fn positive(what: &str, value: Duration) -> Result<Duration> {
    if value.is_zero() {
        return Err(Error::configuration(format!(
            "cache {what} must be above zero"
        )));
    }
    Ok(value)
}

impl CacheConfig {
    /// The defaults for `mode`.
    pub fn new(mode: CacheMode) -> Self {
        Self {
            mode,
            ttl: Duration::from_secs(300),
            moka_capacity: 100_000,
            namespace: None,
            redis_timeout: Duration::from_millis(100),
            redis_retry_after: Duration::from_secs(1),
        }
    }

    /// In-process moka cache only.
    pub fn moka() -> Self {
        Self::new(CacheMode::Moka)
    }

    /// Parses `none`, `moka`, `redis://host:6379/0` or `moka+redis://host:6379/0` (also
    /// `rediss://` for TLS; schemes in any case). A Redis URL may name the key namespace:
    /// `redis://host:6379/0?namespace=team-a`.
    ///
    /// # Errors
    /// [`Error::Configuration`] for anything else; the message never shows a password.
    pub fn from_url(url: &str) -> Result<Self> {
        let text = url.trim();
        let bad = || {
            Error::configuration(format!(
                "cache {:?}: expected none, moka, redis://HOST:PORT/DB or moka+redis://HOST:PORT/DB",
                redact_url(text)
            ))
        };
        if text.is_empty() || text.eq_ignore_ascii_case("none") {
            return Ok(Self::new(CacheMode::None));
        }
        if text.eq_ignore_ascii_case("moka") {
            return Ok(Self::moka());
        }
        let (scheme, _) = text.split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        let (with_moka, redis_scheme) = match scheme.strip_prefix("moka+") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, scheme),
        };
        if !matches!(redis_scheme.as_str(), "redis" | "rediss") {
            return Err(bad());
        }
        let mut parsed = url::Url::parse(&format!(
            "{redis_scheme}{}",
            &text[text.find("://").expect("split above")..]
        ))
        .map_err(|e| Error::configuration(format!("cache {:?}: {e}", redact_url(text))))?;
        let mut namespace = None;
        let mut kept: Vec<(String, String)> = Vec::new();
        for (key, value) in parsed.query_pairs() {
            if key == "namespace" {
                namespace = Some(value.into_owned());
            } else {
                kept.push((key.into_owned(), value.into_owned()));
            }
        }
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
        let redis_url = parsed.to_string();
        let mode = if with_moka {
            CacheMode::MokaRedis(redis_url)
        } else {
            CacheMode::Redis(redis_url)
        };
        let config = Self::new(mode);
        match namespace {
            Some(ns) => config.with_namespace(ns),
            None => Ok(config),
        }
    }

    /// Reads `MLSTORE_CACHE` (default `none`), `MLSTORE_CACHE_TTL` (seconds, default 300) and
    /// `MLSTORE_CACHE_NAMESPACE` (default: bound to the database's identity).
    ///
    /// # Errors
    /// [`Error::Configuration`] for a bad cache URL, a TTL that is not a whole number of seconds
    /// above zero, or an empty namespace.
    pub fn from_env() -> Result<Self> {
        let mut config = Self::from_url(&std::env::var(CACHE).unwrap_or_default())?;
        if let Ok(ttl) = std::env::var(CACHE_TTL) {
            let seconds: u64 = ttl.trim().parse().map_err(|_| {
                Error::configuration(format!(
                    "{CACHE_TTL}={ttl:?}: expected a whole number of seconds"
                ))
            })?;
            config = config.with_ttl(Duration::from_secs(seconds))?;
        }
        if let Ok(namespace) = std::env::var(CACHE_NAMESPACE) {
            config = config.with_namespace(namespace)?;
        }
        Ok(config)
    }

    /// Which layers cache reads.
    pub fn mode(&self) -> &CacheMode {
        &self.mode
    }

    /// How long a cached read may be served.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Most entries in the in-process cache.
    pub fn moka_capacity(&self) -> u64 {
        self.moka_capacity
    }

    /// The Redis key namespace set explicitly, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The Redis key namespace for a store on the database `database`: the one set, or
    /// `mlstore:<database id>`.
    pub fn namespace_for(&self, database: DatabaseId) -> String {
        self.namespace
            .clone()
            .unwrap_or_else(|| format!("mlstore:{database}"))
    }

    /// Timeout of one Redis call.
    pub fn redis_timeout(&self) -> Duration {
        self.redis_timeout
    }

    /// How long Redis is skipped after an error.
    pub fn redis_retry_after(&self) -> Duration {
        self.redis_retry_after
    }

    /// Sets how long a cached read may be served.
    ///
    /// # Errors
    /// [`Error::Configuration`] for zero (use the mode `none` to cache nothing).
    pub fn with_ttl(mut self, ttl: Duration) -> Result<Self> {
        self.ttl = positive("ttl", ttl)?;
        Ok(self)
    }

    /// Sets the Redis key namespace (instead of the database's identity). Two deployments that
    /// set the same namespace share entries: give each database its own.
    ///
    /// # Errors
    /// [`Error::Configuration`] for an empty namespace, or one with whitespace or control
    /// characters.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Result<Self> {
        let namespace = namespace.into();
        if namespace.is_empty()
            || namespace
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::configuration(format!(
                "cache namespace {namespace:?}: expected a non-empty name without spaces"
            )));
        }
        self.namespace = Some(namespace);
        Ok(self)
    }

    /// Sets the most entries in the in-process cache.
    ///
    /// # Errors
    /// [`Error::Configuration`] for zero.
    pub fn with_moka_capacity(mut self, capacity: u64) -> Result<Self> {
        if capacity == 0 {
            return Err(Error::configuration(
                "cache moka capacity must be above zero",
            ));
        }
        self.moka_capacity = capacity;
        Ok(self)
    }

    /// Sets the timeout of one Redis call.
    ///
    /// # Errors
    /// [`Error::Configuration`] for zero.
    pub fn with_redis_timeout(mut self, timeout: Duration) -> Result<Self> {
        self.redis_timeout = positive("redis timeout", timeout)?;
        Ok(self)
    }

    /// Sets how long Redis is skipped after an error.
    ///
    /// # Errors
    /// [`Error::Configuration`] for zero.
    pub fn with_redis_retry_after(mut self, wait: Duration) -> Result<Self> {
        self.redis_retry_after = positive("redis retry delay", wait)?;
        Ok(self)
    }
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("mode", &self.mode)
            .field("ttl", &self.ttl)
            .field("moka_capacity", &self.moka_capacity)
            .field("namespace", &self.namespace)
            .field("redis_timeout", &self.redis_timeout)
            .field("redis_retry_after", &self.redis_retry_after)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_table() {
        let cases = [
            ("none", CacheMode::None),
            ("", CacheMode::None),
            ("moka", CacheMode::Moka),
            (
                "redis://h:6379/0",
                CacheMode::Redis("redis://h:6379/0".into()),
            ),
            (
                "moka+redis://:pw@h:6379/1",
                CacheMode::MokaRedis("redis://:pw@h:6379/1".into()),
            ),
        ];
        for (url, mode) in cases {
            assert_eq!(*CacheConfig::from_url(url).unwrap().mode(), mode, "{url}");
        }
        let c = CacheConfig::from_url("moka+redis://:hunter2@h:6379/1").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.ttl(), Duration::from_secs(300));
        assert_eq!(c.namespace(), None);
        let c = CacheConfig::from_url("MOKA+Redis://:p%40ss@h:6379/1?namespace=team-a").unwrap();
        assert_eq!(c.namespace(), Some("team-a"));
        assert_eq!(
            *c.mode(),
            CacheMode::MokaRedis("redis://:p%40ss@h:6379/1".into()),
            "scheme lowered, password kept encoded for the Redis client, namespace removed"
        );
        assert_eq!(CacheConfig::from_url("MOKA").unwrap(), CacheConfig::moka());
        let id = DatabaseId::random();
        assert_eq!(
            CacheConfig::moka().namespace_for(id),
            format!("mlstore:{id}")
        );
        assert!(CacheConfig::moka().with_ttl(Duration::ZERO).is_err());
        assert!(CacheConfig::moka().with_moka_capacity(0).is_err());
        assert!(CacheConfig::moka().with_namespace("").is_err());
        assert!(CacheConfig::moka().with_namespace("a b").is_err());
        for bad in [
            "memcached://h",
            "moka+",
            "redis:/h",
            "yes",
            "redis://h?namespace=",
        ] {
            let err = CacheConfig::from_url(bad).unwrap_err();
            assert_eq!(err.kind(), mlstore_core::ErrorKind::Configuration, "{bad}");
        }
        let err = CacheConfig::from_url("memcached://u:hunter2@h").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
