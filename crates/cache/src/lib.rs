#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

mod clock;
mod config;
mod key;
mod shared;
mod stats;
mod store;

pub use clock::{Clock, MockClock, SystemClock};
pub use config::{CacheConfig, CacheMode};
pub use stats::CacheStats;
pub use store::CachedStore;
