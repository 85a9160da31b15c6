//! Options of the SQLite store, with their defaults, and the `sqlite:` URL form.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mlstore_core::{Error, Result};

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A database file (created if missing), with its `-wal` and `-shm` files beside it.
    File(PathBuf),
    /// A private in-memory database that lives as long as the store.
    Memory,
}

/// SQLite's `synchronous` setting: what a commit waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `NORMAL` (default): in WAL mode a commit is durable against a crash of the process, and
    /// the database can never be corrupted, but the last commits may be lost if the machine loses
    /// power. Commits do not wait for the disk.
    #[default]
    Normal,
    /// `FULL`: every commit waits for the WAL to reach the disk; durable against power loss,
    /// slower.
    Full,
}

impl Synchronous {
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Options of [`crate::SqliteStore`]. Fields are private and every setter checks its value, so
/// a configuration can never be put into a state the store cannot run with.
///
/// | option | default | meaning |
/// |---|---|---|
/// | `location` | (required) | file path, or in memory |
/// | `synchronous` | `Normal` | see [`Synchronous`] |
/// | `busy_timeout` | 5 s | how long a write (and opening a database another process is migrating) waits for another process holding the write lock before it returns [`Error::Unavailable`] |
/// | `max_readers` | 8 | read connections kept open for concurrent reads (WAL readers never wait for the writer); at least 1 |
/// | `statement_cache_capacity` | 64 | prepared statements cached per connection |
///
/// ```
/// use mlstore_sqlite::{SqliteConfig, Synchronous};
/// let config = SqliteConfig::from_url("SQLite://./models.db?synchronous=full").unwrap();
/// assert_eq!(config.synchronous(), Synchronous::Full);
/// assert!(SqliteConfig::in_memory().with_max_readers(0).is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    location: Location,
    synchronous: Synchronous,
    busy_timeout: Duration,
    max_readers: usize,
    statement_cache_capacity: usize,
}

impl SqliteConfig {
    /// A database file at `path`, with the default options.
    pub fn file(path: impl AsRef<Path>) -> Self {
        Self::new(Location::File(path.as_ref().to_path_buf()))
    }

    /// A private in-memory database, with the default options.
    pub fn in_memory() -> Self {
        Self::new(Location::Memory)
    }

    fn new(location: Location) -> Self {
        Self {
            location,
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
            max_readers: 8,
            statement_cache_capacity: 64,
        }
    }

    /// Where the database lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// What a commit waits for.
    pub fn synchronous(&self) -> Synchronous {
        self.synchronous
    }

    /// How long a write waits for another process's write lock.
    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// Most read connections open at once (file databases; an in-memory database has one
    /// connection).
    pub fn max_readers(&self) -> usize {
        self.max_readers
    }

    /// Prepared statements cached per connection.
    pub fn statement_cache_capacity(&self) -> usize {
        self.statement_cache_capacity
    }

    /// Sets what a commit waits for.
    #[must_use]
    pub fn with_synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Sets how long a write waits for another process's write lock.
    #[must_use]
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets the most read connections open at once.
    ///
    /// # Errors
    /// [`Error::Configuration`] for 0 (no read could ever run).
    pub fn with_max_readers(mut self, max_readers: usize) -> Result<Self> {
        if max_readers == 0 {
            return Err(Error::configuration(
                "sqlite max_readers is 0: at least one read connection is needed",
            ));
        }
        self.max_readers = max_readers;
        Ok(self)
    }

    /// Sets the prepared statements cached per connection (0 caches none: every call prepares
    /// its statement again, several times slower).
    #[must_use]
    pub fn with_statement_cache_capacity(mut self, capacity: usize) -> Self {
        self.statement_cache_capacity = capacity;
        self
    }

    /// Parses a `sqlite:` URL. The scheme is case-insensitive (`SQLITE://`); option values are
    /// percent-decoded.
    ///
    /// Accepted forms: `sqlite::memory:`, `sqlite://PATH` (relative `sqlite://./data/ml.db` or
    /// absolute `sqlite:///var/lib/ml.db`) and `sqlite:PATH`, each optionally followed by
    /// `?synchronous=normal|full`, `&busy_timeout_ms=N`, `&max_readers=N`. The path is taken
    /// as written (a general URL parser would read `./data` as a host name).
    ///
    /// # Errors
    /// [`Error::Configuration`] for another scheme, an empty path, or an unknown or malformed
    /// option.
    pub fn from_url(url: &str) -> Result<Self> {
        let not_sqlite = || {
            Error::configuration(format!(
                "{:?} is not a sqlite: URL (expected sqlite://PATH or sqlite::memory:)",
                mlstore_core::redact_url(url)
            ))
        };
        let (scheme, rest) = url.split_once(':').ok_or_else(not_sqlite)?;
        if !scheme.eq_ignore_ascii_case("sqlite") {
            return Err(not_sqlite());
        }
        let (target, query) = match rest.split_once('?') {
            Some((t, q)) => (t, Some(q)),
            None => (rest, None),
        };
        let mut config = match target {
            ":memory:" | "//:memory:" => Self::in_memory(),
            _ => {
                let path = target.strip_prefix("//").unwrap_or(target);
                if path.is_empty() {
                    return Err(Error::configuration(
                        "the sqlite URL has no path; use sqlite://./mlstore.db or sqlite::memory:",
                    ));
                }
                Self::file(path)
            }
        };
        let options = query.map(|q| url::form_urlencoded::parse(q.as_bytes()));
        for (key, value) in options.into_iter().flatten() {
            let bad = |what: &str| {
                Error::configuration(format!("sqlite URL option {key}={value:?}: {what}"))
            };
            match key.as_ref() {
                "synchronous" => {
                    config.synchronous = match value.to_ascii_lowercase().as_str() {
                        "normal" => Synchronous::Normal,
                        "full" => Synchronous::Full,
                        _ => return Err(bad("expected normal or full")),
                    }
                }
                "busy_timeout_ms" => {
                    let ms: u64 = value.parse().map_err(|_| bad("expected milliseconds"))?;
                    config.busy_timeout = Duration::from_millis(ms);
                }
                "max_readers" => {
                    let n: usize = value.parse().map_err(|_| bad("expected a number"))?;
                    config = config
                        .with_max_readers(n)
                        .map_err(|_| bad("must be at least 1"))?;
                }
                _ => {
                    return Err(bad(
                        "unknown option; known: synchronous, busy_timeout_ms, max_readers",
                    ))
                }
            }
        }
        Ok(config)
    }
}

impl fmt::Debug for SqliteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteConfig")
            .field("location", &self.location)
            .field("synchronous", &self.synchronous)
            .field("busy_timeout", &self.busy_timeout)
            .field("max_readers", &self.max_readers)
            .field("statement_cache_capacity", &self.statement_cache_capacity)
            .finish()
    }
}

impl fmt::Display for SqliteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Memory => f.write_str("sqlite::memory:"),
            Location::File(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_table() {
        let file = |p: &str| Location::File(PathBuf::from(p));
        let cases = [
            ("sqlite::memory:", Location::Memory),
            ("sqlite://:memory:", Location::Memory),
            ("sqlite://./mlstore.db", file("./mlstore.db")),
            ("sqlite:///var/lib/ml.db", file("/var/lib/ml.db")),
            ("sqlite:relative.db", file("relative.db")),
            ("SQLITE:///path/x.db", file("/path/x.db")),
            ("SQLite::memory:", Location::Memory),
        ];
        for (url, want) in cases {
            assert_eq!(SqliteConfig::from_url(url).unwrap().location, want, "{url}");
        }
        let c = SqliteConfig::from_url(
            "sqlite://x.db?synchronous=FULL&busy_timeout_ms=%31%30&max_readers=2",
        )
        .unwrap();
        assert_eq!(c.synchronous(), Synchronous::Full);
        assert_eq!(
            c.busy_timeout(),
            Duration::from_millis(10),
            "percent-decoded"
        );
        assert_eq!(c.max_readers(), 2);
    }

    #[test]
    fn url_errors() {
        for url in [
            "sqlite://",
            "sqlite:",
            "postgres://u:secret@h/db",
            "sqlite://x.db?synchronous=off",
            "sqlite://x.db?max_readers=0",
            "sqlite://x.db?cache=shared",
        ] {
            let err = SqliteConfig::from_url(url).unwrap_err();
            assert_eq!(err.kind(), mlstore_core::ErrorKind::Configuration, "{url}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }
}
