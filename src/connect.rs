//! One URL picks the backend; [`Handle`] reaches everything the deployment offers.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use mlstore_core::env;
use mlstore_core::layers::{LayeredStore, MeteredStore, OperationMetrics};
use mlstore_core::{redact_url, Error, Result, Store};

/// The database used when `MLSTORE_DATABASE_URL` is not set: a SQLite file in the working
/// directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./mlstore.db";

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
    /// Parses a database URL. Schemes are case-insensitive (`SQLITE://`, `PostgreSQL://`). A
    /// PostgreSQL URL's read replicas (`?replica=host:port`, repeatable) are joined by those of
    /// `MLSTORE_POSTGRES_REPLICAS` ([`mlstore_core::env::POSTGRES_REPLICAS`]).
    ///
    /// # Errors
    /// [`Error::Configuration`] for a scheme this build does not support (the message lists the
    /// schemes compiled in) or a malformed URL. The message never contains the URL's password.
    pub fn from_url(url: &str) -> Result<Self> {
        // The URL parser lowers the scheme. A URL it refuses (a bad port, say) is still routed by
        // its scheme, so that the backend names what is wrong with it.
        let scheme = match url::Url::parse(url.trim()) {
            Ok(parsed) => parsed.scheme().to_owned(),
            Err(_) => url
                .trim()
                .split_once(':')
                .map(|(s, _)| s)
                .filter(|s| {
                    s.starts_with(|c: char| c.is_ascii_alphabetic())
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                })
                .unwrap_or_default()
                .to_ascii_lowercase(),
        };
        match SCHEMES.iter().find(|(s, _, _)| *s == scheme) {
            #[cfg(feature = "sqlite")]
            Some(("sqlite", _, _)) => {
                Ok(Self::Sqlite(mlstore_sqlite::SqliteConfig::from_url(url)?))
            }
            #[cfg(feature = "postgres")]
            Some(("postgres" | "postgresql", _, _)) => {
                let config = mlstore_postgres::PostgresConfig::from_url(url)?;
                let replicas = std::env::var(env::POSTGRES_REPLICAS).unwrap_or_default();
                let replicas: Vec<&str> = replicas
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .collect();
                Ok(Self::Postgres(config.with_replicas(&replicas)?))
            }
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
    pub async fn connect(self) -> Result<Handle> {
        let backend = match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(config) => {
                Backend::Sqlite(mlstore_sqlite::SqliteStore::open(config).await?)
            }
            #[cfg(feature = "postgres")]
            Self::Postgres(config) => {
                Backend::Postgres(mlstore_postgres::PostgresStore::connect(config).await?)
            }
        };
        Ok(Handle::new(backend))
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

/// The backend behind a [`Handle`], for what only that backend does (its schema, its own
/// options, maintenance) without downcasting.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Backend {
    /// The embedded SQLite store (feature `sqlite`).
    #[cfg(feature = "sqlite")]
    Sqlite(mlstore_sqlite::SqliteStore),
    /// The PostgreSQL store (feature `postgres`).
    #[cfg(feature = "postgres")]
    Postgres(mlstore_postgres::PostgresStore),
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The schema version of the database (the last migration applied, on open).
    pub fn schema_version(&self) -> i64 {
        match self {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(store) => store.schema_version(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.schema_version(),
        }
    }

    /// The newest schema version this build knows.
    pub fn latest_schema_version(&self) -> i64 {
        match self {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => mlstore_sqlite::latest_schema_version(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => mlstore_postgres::latest_schema_version(),
        }
    }

    fn store(&self) -> Arc<dyn Store> {
        match self {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(store) => Arc::new(store.clone()),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => Arc::new(store.clone()),
        }
    }
}

/// A store opened by URL, with everything the deployment offers: it is a [`Store`] (registry,
/// predictions and every operation the traits gain), and it names its [`Backend`] (schema,
/// maintenance), its cache's figures and its per-operation metrics. Cheap to clone.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use mlstore::ModelRegistry;
/// let handle = mlstore::connect("sqlite::memory:").await.unwrap().with_metrics();
/// assert!(handle.list_models().await.unwrap().is_empty());
/// assert_eq!(handle.backend().name(), "sqlite");
/// assert_eq!(handle.backend().schema_version(), handle.backend().latest_schema_version());
/// assert_eq!(handle.operation_metrics().unwrap().snapshot()[0].calls, 1);
/// # });
/// ```
#[derive(Clone)]
pub struct Handle {
    store: Arc<dyn Store>,
    backend: Backend,
    #[cfg(feature = "cache")]
    cache: Option<mlstore_cache::CachedStore<Arc<dyn Store>>>,
    metrics: Option<Arc<OperationMetrics>>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Handle {
    fn new(backend: Backend) -> Self {
        Self {
            store: backend.store(),
            backend,
            #[cfg(feature = "cache")]
            cache: None,
            metrics: None,
        }
    }

    /// The store, to pass around as an `Arc<dyn Store>` (cache and metrics included).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The backend, for what only it does.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The cache in front of the backend, if one was configured (feature `cache`): its figures
    /// ([`mlstore_cache::CachedStore::stats`]), its namespace, whether Redis answers.
    #[cfg(feature = "cache")]
    pub fn cache(&self) -> Option<&mlstore_cache::CachedStore<Arc<dyn Store>>> {
        self.cache.as_ref()
    }

    /// Counts and times every operation from now on ([`MeteredStore`]), outermost, so the
    /// figures include the cache.
    #[must_use]
    pub fn with_metrics(mut self) -> Self {
        let metered = MeteredStore::new(Arc::clone(&self.store));
        self.metrics = Some(Arc::clone(metered.metrics()));
        self.store = Arc::new(metered);
        self
    }

    /// The per-operation call counts and latencies, after [`with_metrics`](Self::with_metrics).
    pub fn operation_metrics(&self) -> Option<&Arc<OperationMetrics>> {
        self.metrics.as_ref()
    }

    /// Closes the store: on PostgreSQL the pool closes its idle connections and refuses new
    /// queries (queries running finish first); on SQLite the connections close when the last
    /// clone of the handle is dropped.
    pub fn close(&self) {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => {}
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.close(),
        }
    }

    /// Puts the cache `config` describes in front of the store (nothing for the mode `none`).
    ///
    /// # Errors
    /// [`Error::Configuration`] for a malformed Redis URL.
    #[cfg(feature = "cache")]
    pub fn with_cache(mut self, config: mlstore_cache::CacheConfig) -> Result<Self> {
        if *config.mode() == mlstore_cache::CacheMode::None {
            return Ok(self);
        }
        let cached = mlstore_cache::CachedStore::new(Arc::clone(&self.store), config)?;
        self.store = Arc::new(cached.clone());
        self.cache = Some(cached);
        Ok(self)
    }
}

/// A handle is a store: every operation goes through its cache and metrics, if any.
impl LayeredStore for Handle {
    type Inner = dyn Store;
    fn inner(&self) -> &(dyn Store + 'static) {
        &*self.store
    }
}

/// Opens the store a URL names, migrated and ready: `sqlite://./mlstore.db`, `sqlite::memory:`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use mlstore::ModelRegistry;
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
pub async fn connect(url: &str) -> Result<Handle> {
    StoreConfig::from_url(url)?.connect().await
}

/// Opens the store `database_url` names, behind the cache `cache_url` names: `none` (or empty)
/// for no cache, `moka`, `redis://host:6379/0` or `moka+redis://host:6379/0` (feature `cache`).
/// The Redis key namespace is bound to the database's identity unless the URL names one
/// (`redis://host:6379/0?namespace=team-a`).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use mlstore::ModelRegistry;
/// let store = mlstore::connect_with_cache("sqlite::memory:", "none").await.unwrap();
/// assert!(store.list_models().await.unwrap().is_empty());
/// # });
/// ```
///
/// # Errors
/// As [`connect`]; [`Error::Configuration`] for a bad cache URL, or a cache when the `cache`
/// feature is off.
pub async fn connect_with_cache(database_url: &str, cache_url: &str) -> Result<Handle> {
    #[cfg(feature = "cache")]
    {
        let config = mlstore_cache::CacheConfig::from_url(cache_url)?;
        connect(database_url).await?.with_cache(config)
    }
    #[cfg(not(feature = "cache"))]
    {
        no_cache(cache_url)?;
        connect(database_url).await
    }
}

/// Checks that `cache_url` asks for no cache; an error otherwise, naming the feature.
#[cfg(not(feature = "cache"))]
fn no_cache(cache_url: &str) -> Result<()> {
    if matches!(cache_url.trim(), "" | "none") {
        return Ok(());
    }
    Err(Error::configuration(format!(
        "cache {:?}: caching is not compiled into this build (enable the `cache` feature of \
         mlstore)",
        redact_url(cache_url)
    )))
}

/// Opens the store named by `MLSTORE_DATABASE_URL` (default [`DEFAULT_DATABASE_URL`]) behind
/// the cache named by `MLSTORE_CACHE` (default `none`) with the TTL `MLSTORE_CACHE_TTL`
/// (seconds, default 300) and the namespace `MLSTORE_CACHE_NAMESPACE` (default: bound to the
/// database). The names are in [`mlstore_core::env`].
///
/// # Errors
/// As [`connect_with_cache`]; [`Error::Configuration`] for a TTL that is not a whole number of
/// seconds.
pub async fn connect_from_env() -> Result<Handle> {
    let url = std::env::var(env::DATABASE_URL).unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_string());
    #[cfg(feature = "cache")]
    {
        let config = mlstore_cache::CacheConfig::from_env()?;
        connect(&url).await?.with_cache(config)
    }
    #[cfg(not(feature = "cache"))]
    {
        no_cache(&std::env::var(env::CACHE).unwrap_or_default())?;
        connect(&url).await
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
            use mlstore_sqlite::Location;
            let ok = [
                ("sqlite::memory:", Location::Memory),
                ("sqlite://./a.db", Location::File("./a.db".into())),
                ("SQLITE://./a.db", Location::File("./a.db".into())),
                (
                    "SQLite:///var/x.db?max_readers=2",
                    Location::File("/var/x.db".into()),
                ),
            ];
            for (url, location) in ok {
                let Ok(StoreConfig::Sqlite(config)) = StoreConfig::from_url(url) else {
                    panic!("{url} should parse");
                };
                assert_eq!(*config.location(), location, "{url}");
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
