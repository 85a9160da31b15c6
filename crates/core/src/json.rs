//! JSON documents with a size limit, and the canonical text every backend stores.

use serde_json::{Map, Value};

use crate::limits::MAX_JSON_BYTES;
use crate::{Error, Result};

/// A JSON object (model configuration, prediction features).
pub type JsonObject = Map<String, Value>;

/// The canonical text of a JSON value: compact, object keys sorted by their bytes at every depth.
/// Two values are equal as JSON exactly when their canonical texts are equal; this is how a label
/// is judged correct (`actual == prediction`) by every backend and by [`crate::MemoryStore`].
///
/// The keys are sorted here rather than relying on serde_json's map order, which another crate in
/// the build can switch to insertion order with serde_json's `preserve_order` feature.
pub fn canonical(value: &Value) -> String {
    let mut out = String::with_capacity(64);
    write_canonical(value, &mut out);
    out
}

/// The canonical text of a JSON object; see [`canonical`].
pub fn canonical_object(map: &JsonObject) -> String {
    let mut out = String::with_capacity(64);
    write_object(map, &mut out);
    out
}

fn write_object(map: &JsonObject, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).expect("serializing a string cannot fail"));
        out.push(':');
        write_canonical(value, out);
    }
    out.push('}');
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => write_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar_text(scalar)),
    }
}

fn scalar_text(value: &Value) -> String {
    // Serializing a `Value` cannot fail: its keys are strings and its numbers are finite.
    serde_json::to_string(value).expect("serializing a serde_json::Value cannot fail")
}

/// Whether a string or an object key anywhere in `value` holds U+0000, which PostgreSQL cannot
/// store in text; every backend refuses it so that all of them accept the same documents.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => object_has_nul(map),
        _ => false,
    }
}

fn object_has_nul(map: &JsonObject) -> bool {
    map.iter().any(|(k, v)| k.contains('\0') || has_nul(v))
}

fn nul_error(field: &'static str) -> Error {
    Error::invalid(
        field,
        "JSON text must not contain the NUL character (U+0000)",
    )
}

/// Checks a serialized length against [`MAX_JSON_BYTES`].
pub(crate) fn check_len(field: &'static str, len: usize) -> Result<()> {
    if len > MAX_JSON_BYTES {
        return Err(Error::invalid(
            field,
            format!("JSON is {len} bytes, the limit is {MAX_JSON_BYTES}"),
        ));
    }
    Ok(())
}

/// Checks that `value`, serialized, is at most [`MAX_JSON_BYTES`] and holds no NUL character, and
/// returns its canonical text.
pub(crate) fn checked(field: &'static str, value: &Value) -> Result<String> {
    if has_nul(value) {
        return Err(nul_error(field));
    }
    let text = canonical(value);
    check_len(field, text.len())?;
    Ok(text)
}

/// Checks a JSON object the same way as [`checked`].
pub(crate) fn checked_object(field: &'static str, value: &JsonObject) -> Result<()> {
    if object_has_nul(value) {
        return Err(nul_error(field));
    }
    check_len(field, canonical_object(value).len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_keys() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":[true,null]}"#).unwrap();
        assert_eq!(canonical(&a), r#"{"a":[true,null],"b":1}"#);
        assert_eq!(canonical(&json!("x")), "\"x\"");
    }

    #[test]
    fn size_limit() {
        let big = json!("x".repeat(MAX_JSON_BYTES));
        assert!(checked("prediction", &big).is_err());
        assert!(checked("prediction", &json!({"ok": 1})).is_ok());
        assert!(checked("prediction", &json!({"ok": ["a\u{0}b"]})).is_err());
        assert!(checked("prediction", &json!({"a\u{0}": 1})).is_err());
    }
}
