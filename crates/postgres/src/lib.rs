#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

mod config;
mod error;
mod pool;
pub mod sql;
mod store;

pub use config::PostgresConfig;
pub use pool::{PoolStatus, PooledConnection};
pub use store::{latest_schema_version, PostgresStore, MIGRATOR};
