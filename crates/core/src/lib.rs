#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

pub mod batcher;
pub mod codec;
pub mod env;
mod error;
pub mod history;
pub mod json;
pub mod layers;
pub mod limits;
mod memory;
mod metadata;
pub mod monitoring;
mod name;
mod prediction;
mod query;
pub mod records;
mod redact;
pub mod retention;
pub mod routing;
pub mod stats;
mod store;
pub mod time;
pub mod validate;
mod version;
mod window;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{BoxError, Error, ErrorKind, Result};
pub use history::{Event, EventKind, EventPage, EventQuery};
pub use memory::MemoryStore;
pub use metadata::{ModelMetadata, ModelMetadataBuilder, DEFAULT_STATUS};
pub use monitoring::{
    Bucket, BucketSums, Comparison, DriftReport, DriftThresholds, MetricsOptions, Series,
    SeriesQuery, Verdict, WindowMetrics, WindowRow,
};
pub use name::{Alias, ModelName};
pub use prediction::{
    labels_match, Accuracy, ConfidenceBaseline, Label, Prediction, PredictionBuilder,
    MAX_BASELINE_SAMPLES,
};
pub use query::{
    BatchOptions, BatchOutcome, Cursor, ListFilter, ModelPage, ModelQuery, OnProblem,
    PredictionFilter, ScanOptions, ScanPage, SkipReason, Skipped, VersionPage, VersionQuery,
};
pub use redact::redact_url;
pub use store::{
    DatabaseId, ModelRegistry, ModelRegistryExt, Operation, PredictionStore, PredictionStoreExt,
    Store,
};
pub use time::Timestamp;
pub use version::Version;
pub use window::{Bounds, Window};

/// Re-exported so that implementors use the same `async_trait` as the traits.
pub use async_trait::async_trait;
