//! The environment variables mlstore reads, named once for every crate and the command line.

/// The database URL (`sqlite://./mlstore.db`, `postgres://...`).
pub const DATABASE_URL: &str = "MLSTORE_DATABASE_URL";

/// The cache: `none`, `moka`, `redis://host:6379/0`, `moka+redis://host:6379/0`.
pub const CACHE: &str = "MLSTORE_CACHE";

/// The cache TTL, in whole seconds.
pub const CACHE_TTL: &str = "MLSTORE_CACHE_TTL";

/// The Redis key namespace of the cache (default: derived from the database's identity).
pub const CACHE_NAMESPACE: &str = "MLSTORE_CACHE_NAMESPACE";

/// Who the command line records as the actor of registry changes (default: `USER`).
pub const ACTOR: &str = "MLSTORE_ACTOR";
