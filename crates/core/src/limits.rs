//! Size limits every store enforces, checked in the value-object constructors so that an oversized
//! value never reaches a backend.
//!
//! The limits keep one record small enough to be written and read in microseconds and to fit
//! comfortably in a cache entry; they are far above what a model record or a prediction needs.
//!
//! No text anywhere (names, descriptions, tags, JSON strings and keys) may contain the NUL
//! character U+0000, which PostgreSQL cannot store: every backend accepts the same values.

/// Longest model name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest version string, in bytes.
pub const MAX_VERSION_BYTES: usize = 50;
/// Longest alias, in bytes of UTF-8.
pub const MAX_ALIAS_BYTES: usize = 255;
/// Longest short text field (model type, environment, metric name, tag key or value), in bytes.
pub const MAX_SHORT_TEXT_BYTES: usize = 255;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Longest source (artifact URI) or run link of a model version, in bytes.
pub const MAX_URI_BYTES: usize = 2048;
/// Most entries in the performance metrics or in the tags of one model version.
pub const MAX_MAP_ENTRIES: usize = 256;
/// Largest JSON document (model configuration, prediction, actual, features), serialized, in bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Most predictions (or labels) in one batch call.
pub const MAX_BATCH_LEN: usize = 10_000;
/// Largest count of a [`crate::Window`] that returns predictions (recent predictions).
pub const MAX_RECENT_LIMIT: usize = 10_000;
/// Largest count of a [`crate::Window`] that aggregates (accuracy, baselines, metrics).
pub const MAX_WINDOW_LAST: usize = 1_000_000;
/// Deepest nesting of arrays and objects in a JSON document (`[[1]]` is 2 deep). Every value
/// that passes it decodes on read, also wrapped in a record (an import line, an HTTP body, a
/// cache entry), well inside the 128 levels serde_json's parser accepts.
pub const MAX_JSON_DEPTH: usize = 64;
