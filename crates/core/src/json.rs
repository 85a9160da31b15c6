//! JSON documents with a size limit, and the canonical text every backend stores.

use serde_json::{Map, Value};

use crate::limits::{MAX_JSON_BYTES, MAX_JSON_DEPTH};
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

/// The text by which two JSON values are compared as labels: the [`canonical`] text with every
/// number written by its numeric value, so that `3`, `3.0` and `3e0` are one number, and
/// `1e2` is `100`. Integers are written in decimal; a float with no fractional part is written as
/// the integer it equals; any other float in its shortest round-trip form. Strings, booleans,
/// `null`, arrays (in order) and objects (by key) compare as in [`canonical`].
///
/// Two values are equal labels exactly when their match keys are equal; see
/// [`crate::labels_match`].
pub fn match_key(value: &Value) -> String {
    let mut out = String::with_capacity(64);
    write_key(value, &mut out);
    out
}

/// The match key of a value when it differs from its canonical text (which it does only when
/// the value holds a float); `None` when the canonical text serves as the key. Backends store it
/// beside the canonical text only when it is `Some`.
pub fn distinct_match_key(value: &Value) -> Option<String> {
    has_float(value).then(|| match_key(value))
}

fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

fn write_key(value: &Value, out: &mut String) {
    match value {
        Value::Number(n) => match n.as_f64() {
            // Integers (u64, i64) are written as they are.
            _ if !n.is_f64() => out.push_str(&n.to_string()),
            // |f| < 2^127: the integer it equals, exactly.
            Some(f) if f.fract() == 0.0 && f.abs() < 1.7e38 => {
                out.push_str(&(f as i128).to_string())
            }
            _ => out.push_str(&n.to_string()),
        },
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_key(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(
                    &serde_json::to_string(key).expect("serializing a string cannot fail"),
                );
                out.push(':');
                write_key(value, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar_text(scalar)),
    }
}

/// How deeply arrays and objects nest in `value`: 0 for a scalar, 1 for `[1]` or `{}`. Counts
/// no further than `cap + 1` (so a hostile document costs no deep recursion).
pub fn depth(value: &Value, cap: usize) -> usize {
    match value {
        Value::Array(items) => nested_depth(items.iter(), cap),
        Value::Object(map) => object_depth(map, cap),
        _ => 0,
    }
}

fn object_depth(map: &JsonObject, cap: usize) -> usize {
    nested_depth(map.values(), cap)
}

fn nested_depth<'a>(children: impl Iterator<Item = &'a Value>, cap: usize) -> usize {
    if cap == 0 {
        return 1;
    }
    let mut deepest = 0;
    for child in children {
        deepest = deepest.max(depth(child, cap - 1));
        if deepest >= cap {
            break;
        }
    }
    1 + deepest
}

fn check_depth(field: &'static str, depth: usize) -> Result<()> {
    if depth > MAX_JSON_DEPTH {
        return Err(Error::invalid(
            field,
            format!("JSON nests more than {MAX_JSON_DEPTH} levels deep (the limit)"),
        ));
    }
    Ok(())
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

/// Checks that `value`, serialized, is at most [`MAX_JSON_BYTES`], nests at most
/// [`MAX_JSON_DEPTH`] deep and holds no NUL character, and returns its canonical text.
pub(crate) fn checked(field: &'static str, value: &Value) -> Result<String> {
    check_depth(field, depth(value, MAX_JSON_DEPTH))?;
    if has_nul(value) {
        return Err(nul_error(field));
    }
    let text = canonical(value);
    check_len(field, text.len())?;
    Ok(text)
}

/// Checks a JSON object the same way as [`checked`].
pub(crate) fn checked_object(field: &'static str, value: &JsonObject) -> Result<()> {
    check_depth(field, object_depth(value, MAX_JSON_DEPTH))?;
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
    fn match_keys_compare_numbers_by_value() {
        let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap();
        let same = [
            ("3", "3.0"),
            ("1e2", "100"),
            ("-0.0", "0"),
            (
                "[1, {\"b\": 2.50, \"a\": 1}]",
                "[1.0, {\"a\": 1, \"b\": 2.5}]",
            ),
            ("18446744073709551615", "18446744073709551615"),
            ("0.1", "0.1"),
            ("1e300", "1e300"),
        ];
        for (a, b) in same {
            assert_eq!(match_key(&parse(a)), match_key(&parse(b)), "{a} vs {b}");
        }
        let different = [
            ("3", "\"3\""),
            ("0.1", "0.10000000000000002"),
            ("9007199254740993", "9007199254740992.0"),
            ("[1, 2]", "[2, 1]"),
            ("true", "1"),
        ];
        for (a, b) in different {
            assert_ne!(match_key(&parse(a)), match_key(&parse(b)), "{a} vs {b}");
        }
        assert_eq!(distinct_match_key(&parse("{\"a\": 1}")), None);
        assert_eq!(
            distinct_match_key(&parse("{\"a\": 1.0}")).as_deref(),
            Some("{\"a\":1}")
        );
    }

    #[test]
    fn depth_limit() {
        let nested = |levels: usize| {
            let mut v = json!(1);
            for _ in 0..levels {
                v = json!([v]);
            }
            v
        };
        assert_eq!(depth(&nested(0), 10), 0);
        assert_eq!(depth(&json!({"a": [1]}), 10), 2);
        assert_eq!(depth(&nested(100), 10), 11);
        assert!(checked("prediction", &nested(MAX_JSON_DEPTH)).is_ok());
        let err = checked("prediction", &nested(MAX_JSON_DEPTH + 1)).unwrap_err();
        assert!(err.to_string().contains("more than 64 levels"), "{err}");
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
