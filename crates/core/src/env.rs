//! The environment variables mlstore reads, named once for every crate and the command line.

/// The database URL (`sqlite://./mlstore.db`, `postgres://...`).
pub const DATABASE_URL: &str = "MLSTORE_DATABASE_URL";

/// Read replicas of a PostgreSQL database, comma-separated: `host`, `host:port` (the primary's
/// user, password, database and options) or whole `postgres://` URLs; added to the URL's
/// `?replica=` entries.
pub const POSTGRES_REPLICAS: &str = "MLSTORE_POSTGRES_REPLICAS";

/// The cache: `none`, `moka`, `redis://host:6379/0`, `moka+redis://host:6379/0`.
pub const CACHE: &str = "MLSTORE_CACHE";

/// The cache TTL, in whole seconds.
pub const CACHE_TTL: &str = "MLSTORE_CACHE_TTL";

/// The Redis key namespace of the cache (default: derived from the database's identity).
pub const CACHE_NAMESPACE: &str = "MLSTORE_CACHE_NAMESPACE";

/// Who the command line records as the actor of registry changes (default: `USER`).
pub const ACTOR: &str = "MLSTORE_ACTOR";

/// The address `mlstore serve` listens on (`127.0.0.1:8080` by default).
pub const LISTEN: &str = "MLSTORE_LISTEN";

/// The API tokens of `mlstore serve`, one per line (or separated by `;`): `NAME SCOPE SECRET`.
pub const TOKENS: &str = "MLSTORE_TOKENS";

/// A file holding the API tokens of `mlstore serve`, in the format of [`TOKENS`].
pub const TOKENS_FILE: &str = "MLSTORE_TOKENS_FILE";
