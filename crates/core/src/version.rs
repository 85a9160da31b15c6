//! [`Version`]: a SemVer 2.0 version ordered by precedence, and its byte sort key.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::limits::MAX_VERSION_BYTES;
use crate::{Error, Result};

/// A model version: a SemVer 2.0 version string (`1.2.3`, `2.0.0-rc.1`, `1.0.0+build.5`) of at
/// most 50 bytes.
///
/// Versions are ordered by SemVer precedence (`1.10.0 > 1.9.0`, `1.0.0 > 1.0.0-rc.1`,
/// `1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta`). Build metadata does not take part in precedence;
/// two versions that differ only in build metadata are still different versions, and between them
/// the one whose build metadata is greater as a byte string sorts higher, so the order is total and
/// agrees with equality.
///
/// ```
/// use mlstore_core::Version;
/// let a: Version = "1.9.0".parse().unwrap();
/// let b: Version = "1.10.0".parse().unwrap();
/// assert!(b > a);
/// assert!(Version::new("1.0").is_err());
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    text: String,
    parsed: semver::Version,
}

impl Version {
    /// Parses a SemVer 2.0 version.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `version`) when the text is longer than 50 bytes or is not a
    /// SemVer 2.0 version (e.g. `1.0`, `v1.0.0`, `01.0.0`).
    pub fn new(text: impl AsRef<str>) -> Result<Self> {
        let text = text.as_ref();
        if text.len() > MAX_VERSION_BYTES {
            return Err(Error::invalid(
                "version",
                format!(
                    "is {} bytes long, the limit is {MAX_VERSION_BYTES}",
                    text.len()
                ),
            ));
        }
        let parsed = semver::Version::parse(text).map_err(|e| {
            Error::invalid(
                "version",
                format!("{text:?} is not a SemVer 2.0 version: {e}"),
            )
        })?;
        // A valid SemVer 2.0 text is already in the form `Display` writes (no leading zeros,
        // nothing to normalize): keep it rather than format it again.
        debug_assert_eq!(parsed.to_string(), text);
        Ok(Self {
            text: text.to_owned(),
            parsed,
        })
    }

    /// The version text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed SemVer version.
    pub fn semver(&self) -> &semver::Version {
        &self.parsed
    }

    /// Whether this is a pre-release (`1.0.0-rc.1`).
    pub fn is_prerelease(&self) -> bool {
        !self.parsed.pre.is_empty()
    }

    /// A byte string whose plain byte order (`memcmp`, SQLite `BLOB`, PostgreSQL `bytea`) is the
    /// order of [`Version`]. Backends store it in an indexed column so that "latest" is one index
    /// seek instead of a scan of every version of a model.
    ///
    /// Layout: major, minor and patch as 8-byte big-endian integers; then the pre-release part,
    /// either `0xFF` for a release (which sorts above every pre-release) or each identifier as
    /// `0x01 <length> <digits>` (numeric) or `0x02 <bytes> 0x00` (alphanumeric) followed by `0x00`;
    /// then the build metadata bytes.
    pub fn sort_key(&self) -> Vec<u8> {
        let v = &self.parsed;
        let mut key = Vec::with_capacity(24 + self.text.len() + 8);
        key.extend_from_slice(&v.major.to_be_bytes());
        key.extend_from_slice(&v.minor.to_be_bytes());
        key.extend_from_slice(&v.patch.to_be_bytes());
        if v.pre.is_empty() {
            key.push(0xFF);
        } else {
            for ident in v.pre.as_str().split('.') {
                if !ident.is_empty() && ident.bytes().all(|b| b.is_ascii_digit()) {
                    key.push(0x01);
                    // SemVer forbids leading zeros in numeric identifiers, so a longer digit
                    // string is a larger number; the version is at most 50 bytes, so it fits.
                    key.push(ident.len() as u8);
                } else {
                    key.push(0x02);
                }
                key.extend_from_slice(ident.as_bytes());
                if !ident.bytes().all(|b| b.is_ascii_digit()) {
                    key.push(0x00);
                }
            }
            key.push(0x00);
        }
        key.extend_from_slice(v.build.as_str().as_bytes());
        key
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parsed
            .cmp_precedence(&other.parsed)
            .then_with(|| self.parsed.build.as_str().cmp(other.parsed.build.as_str()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl FromStr for Version {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

impl TryFrom<String> for Version {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::new(s)
    }
}

impl TryFrom<&str> for Version {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.text
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Version {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "maxLength": crate::limits::MAX_VERSION_BYTES,
            "description": "A SemVer 2.0 version, e.g. 1.2.0 or 1.0.0-rc.1.",
            "example": "1.2.0"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::new(s).unwrap()
    }

    #[test]
    fn precedence() {
        let ordered = [
            "0.9.0",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.0+build.1",
            "1.0.0+build.2",
            "1.9.0",
            "1.10.0",
            "10.0.0",
        ];
        for pair in ordered.windows(2) {
            let (a, b) = (v(pair[0]), v(pair[1]));
            assert!(a < b, "{a} < {b}");
            assert!(a.sort_key() < b.sort_key(), "key {a} < {b}");
        }
    }

    #[test]
    fn rejects() {
        for s in [
            "", "1", "1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-01", " 1.0.0",
        ] {
            assert!(Version::new(s).is_err(), "{s:?}");
        }
        let long = format!("1.0.0-{}", "a".repeat(45));
        assert!(Version::new(long)
            .unwrap_err()
            .to_string()
            .contains("limit is 50"));
    }

    fn arb_version() -> impl Strategy<Value = Version> {
        let ident = prop_oneof![
            (0u64..30).prop_map(|n| n.to_string()),
            "[a-z][a-z0-9-]{0,3}",
            Just("rc".to_string()),
        ];
        (
            0u64..3,
            0u64..12,
            prop_oneof![0u64..3, Just(u64::MAX)],
            proptest::collection::vec(ident, 0..3),
            proptest::option::of("[a-z0-9]{1,3}"),
        )
            .prop_map(|(ma, mi, pa, pre, build)| {
                let mut s = format!("{ma}.{mi}.{pa}");
                if !pre.is_empty() {
                    s.push('-');
                    s.push_str(&pre.join("."));
                }
                if let Some(b) = build {
                    s.push('+');
                    s.push_str(&b);
                }
                Version::new(&s).unwrap()
            })
    }

    proptest! {
        #[test]
        fn sort_key_order_is_version_order(a in arb_version(), b in arb_version()) {
            prop_assert_eq!(a.cmp(&b), a.sort_key().cmp(&b.sort_key()), "{} vs {}", a, b);
            prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
        }
    }
}
