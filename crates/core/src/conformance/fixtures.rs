//! Small builders the checks share.

use serde_json::{json, Value};

use crate::{ModelMetadata, ModelName, Prediction, Version};

/// A model name no other check uses: `prefix` followed by a random suffix.
pub fn unique_name(prefix: &str) -> ModelName {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    ModelName::new(format!("{prefix}-{}", &suffix[..12])).expect("valid generated name")
}

/// Parses a version the checks know is valid.
pub fn version(text: &str) -> Version {
    Version::new(text).expect("valid version in a conformance check")
}

/// Metadata with every field set, so a round-trip compares all of them.
pub fn metadata(name: &ModelName, version_text: &str) -> ModelMetadata {
    let configuration = json!({"threshold": 0.5, "layers": [64, 32], "nested": {"k": "v"}});
    let Value::Object(configuration) = configuration else {
        unreachable!()
    };
    ModelMetadata::builder(name.clone(), version(version_text), "xgboost")
        .configuration(configuration)
        .metric("auc", 0.91)
        .metric("f1", 0.875)
        .tag("team", "risk")
        .description("conformance model")
        .environment("test")
        .created_at(crate::time::from_micros(1_700_000_000_123_456).expect("in range"))
        .deployed_at(Some(
            crate::time::from_micros(1_700_000_100_000_001).expect("in range"),
        ))
        .build()
        .expect("valid metadata")
}

/// The fixed instant the checks' predictions are dated from, plus `micros` microseconds.
pub fn at(micros: i64) -> crate::Timestamp {
    crate::time::from_micros(1_800_000_000_000_000 + micros).expect("in range")
}

/// A prediction of `name`/`version_text` with value `value`, confidence 0.8, features set, and a
/// timestamp `micros` microseconds after a fixed instant ([`at`]).
pub fn prediction(name: &ModelName, version_text: &str, value: Value, micros: i64) -> Prediction {
    Prediction::builder(name.clone(), version(version_text), value, 0.8)
        .feature("amount", json!(12.5))
        .feature("country", json!("NO"))
        .timestamp(at(micros))
        .build()
        .expect("valid prediction")
}
