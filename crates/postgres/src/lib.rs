#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

mod config;
mod error;
mod pool;
pub mod replicas;
pub mod sql;
mod store;

pub use config::{PostgresConfig, DEFAULT_REPLICA_CONNECT_TIMEOUT, DEFAULT_REPLICA_MAX_LAG};
pub use pool::{PoolStatus, PooledConnection};
pub use replicas::ReplicaStatus;
pub use store::{latest_schema_version, PostgresStore, MIGRATOR};
