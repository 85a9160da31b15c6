//! One URL picks the backend.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use mlstore_core::{redact_url, Error, Result, Store};

/// Environment variable read by [`connect_from_env`].
pub const DATABASE_URL_ENV: &str = "MLSTORE_DATABASE_URL";

/// The database used when [`DATABASE_URL_ENV`] is not set: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./mlstore.db";

/// Environment variable read by [`connect_from_env`] to pick the cache: `none` (default),
/// `moka`, `redis://host:6379/0`, `moka+redis://host:6379/0`.
pub const CACHE_ENV: &str = "MLSTORE_CACHE";

/// Environment variable with the cache TTL in seconds (default 300).
pub const CACHE_TTL_ENV: &str = "MLSTORE_CACHE_TTL";

/// A parsed database URL: which backend, with which options.
///
/// `Debug` and `Display` never show a password.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum StoreConfig {
    /// `sqlite://PATH`, `sqlite:PATH` or `sqlite::memory:` (feature `sqlite`).
    #[cfg(feature = "sqlite")]
    Sqlite(mlstore_sqlite::SqliteConfig),
    /// `postgres://user:password@host:5432/db` or `postgresql://...` (feature `postgres`).
    #[cfg(feature = "postgres")]
    Postgres(mlstore_postgres::PostgresConfig),
}

/// URL schemes this build understands, with the feature that brings each.
const SCHEMES: &[(&str, &str, bool)] = &[
    ("sqlite", "sqlite", cfg!(feature = "sqlite")),
    ("postgres", "postgres", cfg!(feature = "postgres")),
    ("postgresql", "postgres", cfg!(feature = "postgres")),
];

fn compiled_in() -> String {
    let names: Vec<&str> = SCHEMES
        .iter()
        .filter(|(_, _, on)| *on)
        .map(|(scheme, _, _)| *scheme)
        .collect();
    if names.is_empty() {
        "none (enable a backend feature of mlstore)".to_string()
    } else {
        names.join(", ")
    }
}

impl StoreConfig {
    /// Parses a database URL.
    ///
    /// # Errors
    /// [`Error::Configuration`] for a scheme this build does not support (the message lists the
    /// schemes compiled in) or a malformed URL. The message never contains the URL's password.
    pub fn from_url(url: &str) -> Result<Self> {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match SCHEMES.iter().find(|(s, _, _)| *s == scheme) {
            #[cfg(feature = "sqlite")]
            Some(("sqlite", _, _)) => {
                Ok(Self::Sqlite(mlstore_sqlite::SqliteConfig::from_url(url)?))
            }
            #[cfg(feature = "postgres")]
            Some(("postgres" | "postgresql", _, _)) => Ok(Self::Postgres(
                mlstore_postgres::PostgresConfig::from_url(url)?,
            )),
            Some((_, feature, _)) => Err(Error::configuration(format!(
                "{:?}: {scheme} support is not compiled into this build (enable the `{feature}` \
                 feature of mlstore); supported schemes: {}",
                redact_url(url),
                compiled_in()
            ))),
            None => Err(Error::configuration(format!(
                "{:?}: unsupported database URL scheme {scheme:?}; supported schemes: {}",
                redact_url(url),
                compiled_in()
            ))),
        }
    }

    /// Opens the store, applying pending migrations.
    ///
    /// # Errors
    /// As the backend's open: [`Error::Configuration`] (cannot open, schema newer than this
    /// build), [`Error::Unavailable`] (locked, unreachable).
    pub async fn connect(self) -> Result<Arc<dyn Store>> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(config) => Ok(Arc::new(mlstore_sqlite::SqliteStore::open(config).await?)),
            #[cfg(feature = "postgres")]
            Self::Postgres(config) => Ok(Arc::new(
                mlstore_postgres::PostgresStore::connect(config).await?,
            )),
        }
    }
}

impl FromStr for StoreConfig {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_url(s)
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(config) => f.debug_tuple("Sqlite").field(config).finish(),
            #[cfg(feature = "postgres")]
            Self::Postgres(config) => f.debug_tuple("Postgres").field(config).finish(),
        }
    }
}

impl fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(config) => fmt::Display::fmt(config, f),
            #[cfg(feature = "postgres")]
            Self::Postgres(config) => fmt::Display::fmt(config, f),
        }
    }
}

/// Opens the store a URL names, migrated and ready: `sqlite://./mlstore.db`, `sqlite::memory:`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = mlstore::connect("sqlite::memory:").await.unwrap();
/// assert!(store.list_models().await.unwrap().is_empty());
/// let err = mlstore::connect("mysql://app:hunter2@db/ml").await.unwrap_err();
/// assert!(err.to_string().contains("supported schemes: sqlite"));
/// assert!(!err.to_string().contains("hunter2"));
/// # });
/// ```
///
/// # Errors
/// See [`StoreConfig::from_url`] and [`StoreConfig::connect`].
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    StoreConfig::from_url(url)?.connect().await
}

/// Opens the store `database_url` names, behind the cache `cache_url` names: `none` (or empty)
/// for no cache, `moka`, `redis://host:6379/0` or `moka+redis://host:6379/0` (feature `cache`).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = mlstore::connect_with_cache("sqlite::memory:", "none").await.unwrap();
/// assert!(store.list_models().await.unwrap().is_empty());
/// # });
/// ```
///
/// # Errors
/// As [`connect`]; [`Error::Configuration`] for a bad cache URL, or a cache when the `cache`
/// feature is off.
pub async fn connect_with_cache(database_url: &str, cache_url: &str) -> Result<Arc<dyn Store>> {
    let store = connect(database_url).await?;
    #[cfg(feature = "cache")]
    {
        cached(store, mlstore_cache::CacheConfig::from_url(cache_url)?)
    }
    #[cfg(not(feature = "cache"))]
    {
        without_cache(store, cache_url)
    }
}

/// `store` behind the cache `config` describes (none for the mode `none`).
#[cfg(feature = "cache")]
fn cached(store: Arc<dyn Store>, config: mlstore_cache::CacheConfig) -> Result<Arc<dyn Store>> {
    if config.mode == mlstore_cache::CacheMode::None {
        return Ok(store);
    }
    Ok(Arc::new(mlstore_cache::CachedStore::new(store, config)?))
}

/// `store` itself when `cache_url` asks for no cache; an error otherwise, naming the feature.
#[cfg(not(feature = "cache"))]
fn without_cache(store: Arc<dyn Store>, cache_url: &str) -> Result<Arc<dyn Store>> {
    if matches!(cache_url.trim(), "" | "none") {
        return Ok(store);
    }
    Err(Error::configuration(format!(
        "cache {:?}: caching is not compiled into this build (enable the `cache` feature of \
         mlstore)",
        redact_url(cache_url)
    )))
}

/// Opens the store named by `MLSTORE_DATABASE_URL` (default [`DEFAULT_DATABASE_URL`]) behind
/// the cache named by `MLSTORE_CACHE` (default `none`) with the TTL `MLSTORE_CACHE_TTL`
/// (seconds, default 300).
///
/// # Errors
/// As [`connect_with_cache`]; [`Error::Configuration`] for a TTL that is not a whole number of
/// seconds.
pub async fn connect_from_env() -> Result<Arc<dyn Store>> {
    let url = std::env::var(DATABASE_URL_ENV).unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_string());
    #[cfg(feature = "cache")]
    {
        let config = mlstore_cache::CacheConfig::from_env()?;
        cached(connect(&url).await?, config)
    }
    #[cfg(not(feature = "cache"))]
    {
        let store = connect(&url).await?;
        without_cache(store, &std::env::var(CACHE_ENV).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlstore_core::ErrorKind;

    #[test]
    #[cfg(feature = "postgres")]
    fn postgres_urls_parse_and_hide_the_password() {
        for url in [
            "postgres://app:hunter2@db:5432/ml",
            "postgresql://app:hunter2@db/ml?sslmode=require",
        ] {
            let config = StoreConfig::from_url(url).unwrap();
            assert!(matches!(config, StoreConfig::Postgres(_)), "{url}");
            let shown = format!("{config} {config:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("app:***@db"), "{shown}");
        }
    }

    #[tokio::test]
    async fn bad_cache_urls_are_configuration_errors() {
        let err = connect_with_cache("sqlite::memory:", "memcached://u:hunter2@h")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        let store = connect_with_cache("sqlite::memory:", " none ")
            .await
            .unwrap();
        assert!(store.list_models().await.unwrap().is_empty());
        if cfg!(not(feature = "cache")) {
            let err = connect_with_cache("sqlite::memory:", "moka")
                .await
                .unwrap_err();
            assert!(err.to_string().contains("`cache` feature"), "{err}");
        }
    }

    #[test]
    fn url_table() {
        #[cfg(feature = "sqlite")]
        {
            use mlstore_sqlite::{Location, SqliteConfig};
            let ok = [
                ("sqlite::memory:", Location::Memory),
                ("sqlite://./a.db", Location::File("./a.db".into())),
                ("SQLITE://./a.db", Location::File("./a.db".into())),
            ];
            for (url, location) in ok {
                let Ok(StoreConfig::Sqlite(SqliteConfig { location: got, .. })) =
                    StoreConfig::from_url(&url.replace("SQLITE", "sqlite"))
                else {
                    panic!("{url} should parse");
                };
                assert_eq!(got, location, "{url}");
            }
        }
        let mut errors = vec![
            (
                "mysql://app:hunter2@db/ml",
                "unsupported database URL scheme \"mysql\"",
            ),
            ("", "unsupported"),
            ("no-scheme-at-all", "unsupported"),
        ];
        if cfg!(feature = "postgres") {
            errors.push((
                "postgres://app:hunter2@db:notaport/ml",
                "not a usable PostgreSQL URL",
            ));
        } else {
            errors.push((
                "postgres://app:hunter2@db/ml",
                "not compiled into this build",
            ));
            errors.push((
                "postgresql://app:hunter2@db/ml",
                "enable the `postgres` feature",
            ));
        }
        for (url, expected) in errors {
            let err = StoreConfig::from_url(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Configuration, "{url}");
            let text = err.to_string();
            assert!(text.contains(expected), "{url}: {text}");
            if !url.starts_with("postgres") {
                assert!(text.contains("supported schemes"), "{url}: {text}");
            }
            assert!(!text.contains("hunter2"), "{url}: {text}");
            assert!(!format!("{err:?}").contains("hunter2"), "{url}");
        }
    }
}
