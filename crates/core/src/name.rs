//! Validated names: [`ModelName`] and [`Alias`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_ALIAS_BYTES, MAX_NAME_BYTES};
use crate::{Error, Result};

/// Checks a short identifier-like text: 1 to `max` bytes, no control characters, no leading or
/// trailing whitespace. Everything else (quotes, SQL fragments, emoji) is data and is kept verbatim.
pub(crate) fn check_label(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(Error::invalid(
            field,
            format!("is {} bytes long, the limit is {max}", value.len()),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!("contains the control character {:?}", c),
        ));
    }
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err(Error::invalid(
            field,
            "must not start or end with whitespace",
        ));
    }
    Ok(())
}

/// Checks that free text (a description, a tag value) holds no NUL character, which PostgreSQL
/// cannot store; other control characters (newlines, tabs) are fine there.
pub(crate) fn check_no_nul(field: &'static str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::invalid(
            field,
            "must not contain the NUL character (U+0000)",
        ));
    }
    Ok(())
}

macro_rules! label_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            ///
            /// # Errors
            #[doc = concat!("[`Error::InvalidInput`] (field `", $field, "`) when the value is empty,")]
            /// too long, contains a control character, or starts or ends with whitespace.
            pub fn new(value: impl Into<String>) -> Result<Self> {
                let value = value.into();
                check_label($field, &value, $max)?;
                Ok(Self(value))
            }

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "minLength": 1,
                    "maxLength": $max,
                    "description": concat!("A ", $field, ": 1 to ", stringify!($max), " bytes, no control characters, no leading or trailing whitespace.")
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

label_type!(
    /// The name of a model: 1 to 255 bytes of UTF-8, no control characters, no leading or trailing
    /// whitespace. Quotes, SQL fragments and emoji are ordinary data and are stored verbatim.
    ///
    /// ```
    /// use mlstore_core::ModelName;
    /// let name = ModelName::new("fraud-detector").unwrap();
    /// assert_eq!(name.as_str(), "fraud-detector");
    /// assert!(ModelName::new(" padded").is_err());
    /// ```
    ModelName,
    "model name",
    MAX_NAME_BYTES
);

label_type!(
    /// A mutable name ("production", "champion") that points at one version of a model. Same rules
    /// as [`ModelName`]: 1 to 255 bytes, no control characters, no surrounding whitespace.
    ///
    /// ```
    /// use mlstore_core::Alias;
    /// assert!(Alias::new("production").is_ok());
    /// assert!(Alias::new("").is_err());
    /// ```
    Alias,
    "alias",
    MAX_ALIAS_BYTES
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn accepts_data_that_looks_like_code() {
        for s in [
            "a",
            "'; DROP TABLE ml_models; --",
            "模型 🚀",
            "a b",
            "\"quoted\"",
        ] {
            assert_eq!(ModelName::new(s).unwrap().as_str(), s);
        }
        assert!(ModelName::new("x".repeat(255)).is_ok());
    }

    #[test]
    fn rejects_bad_names() {
        for s in ["", " a", "a ", "a\nb", "a\0b", "\t"] {
            let e = ModelName::new(s).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{s:?}");
        }
        let e = ModelName::new("x".repeat(256)).unwrap_err();
        assert!(e.to_string().contains("256 bytes"), "{e}");
        // multi-byte characters count in bytes
        assert!(ModelName::new("é".repeat(128)).is_err());
    }

    #[test]
    fn serde_validates() {
        let n: ModelName = serde_json::from_str("\"ok\"").unwrap();
        assert_eq!(n.as_str(), "ok");
        assert!(serde_json::from_str::<ModelName>("\" bad\"").is_err());
    }
}
