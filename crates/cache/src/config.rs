//! Cache options, the `MLSTORE_CACHE` URL form, and their defaults.

use std::fmt;
use std::time::Duration;

use mlstore_core::{redact_url, Error, Result};

/// Environment variable selecting the cache: `none`, `moka`, `redis://...`, `moka+redis://...`.
pub const CACHE_ENV: &str = "MLSTORE_CACHE";
/// Environment variable with the cache TTL in seconds.
pub const CACHE_TTL_ENV: &str = "MLSTORE_CACHE_TTL";

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

/// Options of [`crate::CachedStore`].
///
/// | option | default | meaning |
/// |---|---|---|
/// | `mode` | (required) | see [`CacheMode`] |
/// | `ttl` | 300 s | how long a cached read may be served; also the worst-case staleness when an invalidation is lost |
/// | `moka_capacity` | 100,000 | most entries in the in-process cache |
/// | `namespace` | `mlstore` | prefix of every Redis key and of the invalidation channel |
/// | `redis_timeout` | 100 ms | a Redis call slower than this counts as an error and the read or write goes to the backend |
/// | `redis_retry_after` | 1 s | after a Redis error, Redis is skipped for this long, then tried again |
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Which layers cache reads.
    pub mode: CacheMode,
    /// How long a cached read may be served.
    pub ttl: Duration,
    /// Most entries in the in-process cache.
    pub moka_capacity: u64,
    /// Prefix of Redis keys and the invalidation channel.
    pub namespace: String,
    /// Timeout of one Redis call.
    pub redis_timeout: Duration,
    /// How long Redis is skipped after an error.
    pub redis_retry_after: Duration,
}

impl CacheConfig {
    /// The defaults for `mode`.
    pub fn new(mode: CacheMode) -> Self {
        Self {
            mode,
            ttl: Duration::from_secs(300),
            moka_capacity: 100_000,
            namespace: "mlstore".into(),
            redis_timeout: Duration::from_millis(100),
            redis_retry_after: Duration::from_secs(1),
        }
    }

    /// In-process moka cache only.
    pub fn moka() -> Self {
        Self::new(CacheMode::Moka)
    }

    /// Parses `none`, `moka`, `redis://host:6379/0` or `moka+redis://host:6379/0` (also
    /// `rediss://` for TLS).
    ///
    /// # Errors
    /// [`Error::Configuration`] for anything else; the message never shows a password.
    pub fn from_url(url: &str) -> Result<Self> {
        let mode = match url.trim() {
            "" | "none" => CacheMode::None,
            "moka" => CacheMode::Moka,
            u if u.starts_with("redis://") || u.starts_with("rediss://") => {
                CacheMode::Redis(u.to_owned())
            }
            u if u.starts_with("moka+redis://") || u.starts_with("moka+rediss://") => {
                CacheMode::MokaRedis(u["moka+".len()..].to_owned())
            }
            other => {
                return Err(Error::configuration(format!(
                    "cache {:?}: expected none, moka, redis://HOST:PORT/DB or moka+redis://HOST:PORT/DB",
                    redact_url(other)
                )))
            }
        };
        Ok(Self::new(mode))
    }

    /// Reads `MLSTORE_CACHE` (default `none`) and `MLSTORE_CACHE_TTL` (seconds, default 300).
    ///
    /// # Errors
    /// [`Error::Configuration`] for a bad cache URL or a TTL that is not a whole number of
    /// seconds.
    pub fn from_env() -> Result<Self> {
        let mut config = Self::from_url(&std::env::var(CACHE_ENV).unwrap_or_default())?;
        if let Ok(ttl) = std::env::var(CACHE_TTL_ENV) {
            let seconds: u64 = ttl.trim().parse().map_err(|_| {
                Error::configuration(format!(
                    "{CACHE_TTL_ENV}={ttl:?}: expected a whole number of seconds"
                ))
            })?;
            config.ttl = Duration::from_secs(seconds);
        }
        Ok(config)
    }

    /// Sets [`CacheConfig::ttl`].
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets [`CacheConfig::namespace`].
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets [`CacheConfig::moka_capacity`].
    #[must_use]
    pub fn moka_capacity(mut self, capacity: u64) -> Self {
        self.moka_capacity = capacity;
        self
    }

    /// Sets [`CacheConfig::redis_timeout`].
    #[must_use]
    pub fn redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis_timeout = timeout;
        self
    }

    /// Sets [`CacheConfig::redis_retry_after`].
    #[must_use]
    pub fn redis_retry_after(mut self, wait: Duration) -> Self {
        self.redis_retry_after = wait;
        self
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
            assert_eq!(CacheConfig::from_url(url).unwrap().mode, mode, "{url}");
        }
        let c = CacheConfig::from_url("moka+redis://:hunter2@h:6379/1").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.ttl, Duration::from_secs(300));
        for bad in ["memcached://h", "moka+", "redis:/h", "yes"] {
            let err = CacheConfig::from_url(bad).unwrap_err();
            assert_eq!(err.kind(), mlstore_core::ErrorKind::Configuration, "{bad}");
        }
        let err = CacheConfig::from_url("memcached://u:hunter2@h").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
