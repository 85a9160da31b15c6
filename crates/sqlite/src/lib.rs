#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

mod config;
mod error;
mod migrate;
mod process;
pub mod sql;
mod store;

pub use config::{Location, SqliteConfig, Synchronous};
pub use migrate::{latest_version as latest_schema_version, Migration, MIGRATIONS};
pub use process::spinning_mutexes;
pub use store::SqliteStore;
