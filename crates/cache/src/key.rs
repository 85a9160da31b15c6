//! What is cached, under which keys, and which keys each write invalidates.

use mlstore_core::{Alias, ConfidenceBaseline, ModelMetadata, ModelName, Version};
use serde::{Deserialize, Serialize};

/// Version of the Redis value encoding, part of every Redis key: a build that changes the
/// encoding bumps it and never reads values of the old format.
pub(crate) const FORMAT: &str = "v2";

/// A cached read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Key {
    /// `get(name, version)`.
    Get(ModelName, Version),
    /// `latest(name)`.
    Latest(ModelName),
    /// `versions(name)`.
    Versions(ModelName),
    /// `resolve_alias(name, alias)`.
    Alias(ModelName, Alias),
    /// `baseline(name, version)`.
    Baseline(ModelName, Version),
    /// Not a read: in an invalidation, every alias of the name.
    AllAliases(ModelName),
}

/// A cached value: what the read returned (including "nothing").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Value {
    Metadata(Option<ModelMetadata>),
    Versions(Vec<ModelMetadata>),
    Version(Option<Version>),
    Baseline(Option<ConfidenceBaseline>),
}

/// `len:text`, so that names holding `:` cannot make two keys collide.
fn part(text: &str) -> String {
    format!("{}:{text}", text.len())
}

impl Key {
    pub(crate) fn model(&self) -> &ModelName {
        match self {
            Key::Get(n, _)
            | Key::Latest(n)
            | Key::Versions(n)
            | Key::Alias(n, _)
            | Key::Baseline(n, _)
            | Key::AllAliases(n) => n,
        }
    }

    /// The Redis key, and for aliases the hash field (all aliases of a name share one hash, so
    /// that a delete can drop them together).
    pub(crate) fn redis(&self, namespace: &str) -> (String, Option<String>) {
        let prefix = format!("{namespace}:{FORMAT}");
        match self {
            Key::Get(n, v) => (format!("{prefix}:get:{}:{v}", part(n.as_str())), None),
            Key::Latest(n) => (format!("{prefix}:latest:{}", part(n.as_str())), None),
            Key::Versions(n) => (format!("{prefix}:versions:{}", part(n.as_str())), None),
            Key::Baseline(n, v) => (format!("{prefix}:baseline:{}:{v}", part(n.as_str())), None),
            Key::Alias(n, a) => (
                format!("{prefix}:aliases:{}", part(n.as_str())),
                Some(a.as_str().to_owned()),
            ),
            Key::AllAliases(n) => (format!("{prefix}:aliases:{}", part(n.as_str())), None),
        }
    }
}

/// The Redis counter that every write to a model name increments; a fill of the cache is kept
/// only if the counter has not moved since the fill's read began.
pub(crate) fn stamp_key(namespace: &str, name: &ModelName) -> String {
    format!("{namespace}:{FORMAT}:stamp:{}", part(name.as_str()))
}

/// The pub/sub channel on which instances announce invalidations.
pub(crate) fn channel(namespace: &str) -> String {
    format!("{namespace}:{FORMAT}:invalidate")
}

/// Keys a write of `name` at `version` changes: the version itself, latest and the list.
pub(crate) fn version_keys(name: &ModelName, version: &Version) -> Vec<Key> {
    vec![
        Key::Get(name.clone(), version.clone()),
        Key::Latest(name.clone()),
        Key::Versions(name.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_keys_cannot_collide() {
        let a = Key::Get(
            ModelName::new("a:1").unwrap(),
            Version::new("2.0.0").unwrap(),
        );
        let b = Key::Get(ModelName::new("a").unwrap(), Version::new("1.0.0").unwrap());
        assert_ne!(a.redis("ns"), b.redis("ns"));
        assert_eq!(a.redis("ns").0, "ns:v2:get:3:a:1:2.0.0");
        let alias = Key::Alias(ModelName::new("m").unwrap(), Alias::new("prod").unwrap());
        assert_eq!(
            alias.redis("ns"),
            ("ns:v2:aliases:1:m".to_string(), Some("prod".to_string()))
        );
    }
}
