//! The wire format of predictions and labels: the record a JSON Lines line, a CSV row or an HTTP
//! body holds. One definition, so that the command line's import and export and the HTTP service
//! read and write the same thing.
//!
//! A prediction record has `id` (optional UUID; a time-ordered one is drawn when absent),
//! `model`, `version`, `prediction` (any JSON), `actual` (optional JSON), `confidence` (0 to 1),
//! `features` (optional JSON object) and `timestamp` (optional RFC 3339; now when absent). A
//! label record has `id` and `actual`. Unknown fields are refused, so a typo never passes
//! silently. Exported records carry every field, and read back to the same prediction (floats
//! bit for bit, timestamps to the microsecond).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::json::JsonObject;
use crate::{Label, ModelMetadata, ModelName, Prediction, Result, Timestamp, Version};

/// One prediction as a line, a row or a body gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PredictionRecord {
    /// The prediction id; drawn (UUIDv7) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// Model name.
    pub model: String,
    /// Version (SemVer).
    pub version: String,
    /// The predicted value.
    pub prediction: Value,
    /// The label, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
    /// Confidence, 0 to 1.
    pub confidence: f64,
    /// Input features (a JSON object); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<JsonObject>,
    /// When the prediction was made; now when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// The fields of a prediction record, in the order export writes them (and CSV headers list
/// them).
pub const PREDICTION_FIELDS: [&str; 8] = [
    "id",
    "model",
    "version",
    "prediction",
    "actual",
    "confidence",
    "features",
    "timestamp",
];

/// The fields of a label record.
pub const LABEL_FIELDS: [&str; 2] = ["id", "actual"];

impl PredictionRecord {
    /// The prediction this record describes, validated like any other.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming the field that is wrong.
    pub fn into_prediction(self) -> Result<Prediction> {
        let mut builder = Prediction::builder(
            ModelName::new(self.model)?,
            Version::new(&self.version)?,
            self.prediction,
            self.confidence,
        )
        .actual(self.actual)
        .features(self.features.unwrap_or_default());
        if let Some(id) = self.id {
            builder = builder.id(id);
        }
        if let Some(ts) = self.timestamp {
            builder = builder.timestamp(ts);
        }
        builder.build()
    }
}

impl From<&Prediction> for PredictionRecord {
    /// Every field of the prediction, so that importing the record gives it back.
    fn from(p: &Prediction) -> Self {
        Self {
            id: Some(p.id()),
            model: p.model().as_str().to_owned(),
            version: p.version().as_str().to_owned(),
            prediction: p.prediction().clone(),
            actual: p.actual().cloned(),
            confidence: p.confidence(),
            features: Some(p.features().clone()),
            timestamp: Some(p.timestamp()),
        }
    }
}

/// One label as a line, a row or a body gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LabelRecord {
    /// The prediction the label belongs to.
    pub id: Uuid,
    /// The actual value.
    pub actual: Value,
}

impl LabelRecord {
    /// The label this record describes.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] (field `actual`) when the value is too large or too deep.
    pub fn into_label(self) -> Result<Label> {
        Label::new(self.id, self.actual)
    }
}

impl From<&Label> for LabelRecord {
    fn from(l: &Label) -> Self {
        Self {
            id: l.id(),
            actual: l.actual().clone(),
        }
    }
}

/// The metadata of one model version as a body gives it, without the name and version (the
/// HTTP service takes those from the URL): `model_type` is required, every other field optional
/// (`status` defaults to [`crate::DEFAULT_STATUS`], `created_at` to now). Unknown fields are
/// refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VersionRecord {
    /// The kind of model (`"xgboost"`), 1 to 255 bytes.
    pub model_type: String,
    /// Configuration (thresholds, hyperparameters), a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<JsonObject>,
    /// Performance metrics, name to value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<std::collections::BTreeMap<String, f64>>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<std::collections::BTreeMap<String, String>>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Environment (`"staging"`, `"production"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// When the version was registered; now when absent (an update keeps the stored one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the version was deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_at: Option<Timestamp>,
    /// Where the artifact lives (a URI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The training run that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Lifecycle status; [`crate::DEFAULT_STATUS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl VersionRecord {
    /// The metadata of `name` at `version` this record describes, validated like any other.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming the field that is wrong.
    pub fn into_metadata(self, name: ModelName, version: Version) -> Result<ModelMetadata> {
        let mut builder = ModelMetadata::builder(name, version, self.model_type)
            .configuration(self.configuration.unwrap_or_default())
            .metrics(self.metrics.unwrap_or_default())
            .tags(self.tags.unwrap_or_default())
            .deployed_at(self.deployed_at)
            .source(self.source)
            .run(self.run);
        if let Some(d) = self.description {
            builder = builder.description(d);
        }
        if let Some(e) = self.environment {
            builder = builder.environment(e);
        }
        if let Some(at) = self.created_at {
            builder = builder.created_at(at);
        }
        if let Some(status) = self.status {
            builder = builder.status(status);
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_reads_back_to_the_same_prediction() {
        let p = Prediction::builder(
            ModelName::new("m").unwrap(),
            Version::new("1.0.0").unwrap(),
            json!(0.014_089_813_668_273_221),
            0.5,
        )
        .actual(Some(json!([1, 2.5])))
        .feature("x", json!(-0.0))
        .build()
        .unwrap();
        let text = serde_json::to_string(&PredictionRecord::from(&p)).unwrap();
        let back: PredictionRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back.into_prediction().unwrap(), p);
        let err = serde_json::from_str::<PredictionRecord>(
            r#"{"model":"m","version":"1.0.0","prediction":1,"confidence":0.5,"colour":1}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        let minimal: PredictionRecord = serde_json::from_str(
            r#"{"model":"m","version":"1.0.0","prediction":1,"confidence":1}"#,
        )
        .unwrap();
        assert!(minimal.into_prediction().is_ok());
    }
}
