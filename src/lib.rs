#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

mod connect;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "transfer")]
pub mod transfer;

pub use connect::{
    connect, connect_from_env, connect_with_cache, Backend, Handle, StoreConfig,
    DEFAULT_DATABASE_URL,
};
pub use mlstore_core::*;

/// The embedded SQLite backend (feature `sqlite`, on by default).
#[cfg(feature = "sqlite")]
pub use mlstore_sqlite as sqlite;

/// The PostgreSQL backend (feature `postgres`).
#[cfg(feature = "postgres")]
pub use mlstore_postgres as postgres;

/// The caching decorator (feature `cache`).
#[cfg(feature = "cache")]
pub use mlstore_cache as cache;
