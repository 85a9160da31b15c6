//! How the SQL backends lay values out in columns, shared so that every backend stores the same
//! text and decodes it with the same checks.
//!
//! JSON documents (configuration, prediction, actual, features) are stored as their canonical
//! text ([`crate::json::canonical`]); metrics and tags as JSON objects; `correct` is computed once,
//! when a label is known, by [`crate::labels_match`]: the stored prediction's match key (its
//! canonical text, or `prediction_key` when the prediction holds floats) equals the label's
//! ([`crate::json::match_key`]). Backends add only their own column types (timestamps, UUIDs) and
//! SQL.
//!
//! Each row type lists every stored column of its table by the column's name, so a backend that
//! binds or reads a row by destructuring it fails to compile when a column is added here and not
//! there.

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

use crate::json::{canonical, canonical_object, distinct_match_key, JsonObject};
use crate::{
    ConfidenceBaseline, Error, ModelMetadata, ModelName, Prediction, Result, Timestamp, Version,
};

fn corrupt(backend: &'static str, what: &str, detail: impl std::fmt::Display) -> Error {
    Error::backend(
        backend,
        format!("stored {what} does not decode (was the database changed by another program?): {detail}"),
    )
}

/// The columns of a model version (table `ml_models`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataRow {
    /// Model name.
    pub name: String,
    /// Version text.
    pub version: String,
    /// [`Version::sort_key`]: bytes ordered like SemVer precedence.
    pub version_key: Vec<u8>,
    /// Model type.
    pub model_type: String,
    /// Canonical JSON object.
    pub configuration: String,
    /// JSON object, metric name to number.
    pub metrics: String,
    /// JSON object, tag to text.
    pub tags: String,
    /// Description.
    pub description: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Registration time.
    pub created_at: Timestamp,
    /// Deployment time.
    pub deployed_at: Option<Timestamp>,
    /// Artifact URI.
    pub source: Option<String>,
    /// Training run link.
    pub run: Option<String>,
    /// Status.
    pub status: String,
}

impl MetadataRow {
    /// The columns of `m`.
    pub fn encode(m: &ModelMetadata) -> Self {
        Self {
            name: m.name().as_str().to_owned(),
            version: m.version().as_str().to_owned(),
            version_key: m.version().sort_key(),
            model_type: m.model_type().to_owned(),
            configuration: canonical_object(m.configuration()),
            metrics: serde_json::to_string(m.metrics()).expect("finite metrics serialize"),
            tags: serde_json::to_string(m.tags()).expect("string tags serialize"),
            description: m.description().map(str::to_owned),
            environment: m.environment().map(str::to_owned),
            created_at: m.created_at(),
            deployed_at: m.deployed_at(),
            source: m.source().map(str::to_owned),
            run: m.run().map(str::to_owned),
            status: m.status().to_owned(),
        }
    }

    /// The metadata these columns hold, validated like any other.
    ///
    /// # Errors
    /// [`Error::Backend`] (naming `backend`) when a column does not decode.
    pub fn decode(self, backend: &'static str) -> Result<ModelMetadata> {
        let bad = |what: &str, e: &dyn std::fmt::Display| corrupt(backend, what, e);
        let name = ModelName::new(self.name).map_err(|e| bad("model name", &e))?;
        let version = Version::new(&self.version).map_err(|e| bad("version", &e))?;
        let configuration_len = self.configuration.len();
        let configuration: JsonObject =
            serde_json::from_str(&self.configuration).map_err(|e| bad("configuration", &e))?;
        let metrics: BTreeMap<String, f64> =
            serde_json::from_str(&self.metrics).map_err(|e| bad("metrics", &e))?;
        let tags: BTreeMap<String, String> =
            serde_json::from_str(&self.tags).map_err(|e| bad("tags", &e))?;
        let mut builder = ModelMetadata::builder(name, version, self.model_type)
            .configuration(configuration)
            .metrics(metrics)
            .tags(tags)
            .created_at(self.created_at)
            .deployed_at(self.deployed_at)
            .source(self.source)
            .run(self.run)
            .status(self.status);
        if let Some(d) = self.description {
            builder = builder.description(d);
        }
        if let Some(e) = self.environment {
            builder = builder.environment(e);
        }
        builder
            .build_stored(configuration_len)
            .map_err(|e| bad("model metadata", &e))
    }
}

/// The columns of a prediction (table `ml_predictions`; the model version is the backend's
/// foreign key).
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    /// Prediction id.
    pub id: Uuid,
    /// Canonical JSON.
    pub prediction: String,
    /// The prediction's [`crate::json::match_key`] when it differs from the canonical text
    /// (the prediction holds a float); `None` otherwise.
    pub prediction_key: Option<String>,
    /// Canonical JSON, once labelled.
    pub actual: Option<String>,
    /// The label's match key when it differs from its canonical text.
    pub actual_key: Option<String>,
    /// Whether the label matches the prediction ([`crate::labels_match`]), once labelled.
    pub correct: Option<bool>,
    /// When the label was written (for label lag).
    pub labelled_at: Option<Timestamp>,
    /// The prediction as a number, when it is a JSON number (for errors of numeric
    /// predictions).
    pub prediction_number: Option<f64>,
    /// The label as a number, when it is a JSON number.
    pub actual_number: Option<f64>,
    /// Confidence.
    pub confidence: f64,
    /// Canonical JSON object.
    pub features: String,
    /// When the prediction was made.
    pub ts: Timestamp,
}

/// The columns a label writes: canonical text, match key (always, for comparison), whether the
/// key differs from the text, the number it is, and when it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelColumns {
    /// Canonical JSON.
    pub actual: String,
    /// [`crate::json::match_key`], compared with the prediction's.
    pub match_key: String,
    /// The match key when it differs from the canonical text (what is stored).
    pub actual_key: Option<String>,
    /// The label as a number, when it is a JSON number.
    pub actual_number: Option<f64>,
    /// When the label is written.
    pub labelled_at: Timestamp,
}

impl LabelColumns {
    /// The columns of `actual`, written at `at`.
    pub fn encode(actual: &Value, at: Timestamp) -> Self {
        Self {
            actual: canonical(actual),
            match_key: crate::json::match_key(actual),
            actual_key: distinct_match_key(actual),
            actual_number: number(actual),
            labelled_at: at,
        }
    }
}

/// Largest magnitude of a number that regression metrics count: beyond it, the square of an
/// error could overflow a double.
pub const MAX_METRIC_NUMBER: f64 = 1e150;

/// A JSON number as `f64` (integers converted), for regression metrics; `None` for anything
/// else, and for numbers beyond ±[`MAX_METRIC_NUMBER`].
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|x| x.abs() <= MAX_METRIC_NUMBER),
        _ => None,
    }
}

impl PredictionRow {
    /// The columns of `p`.
    pub fn encode(p: &Prediction) -> Self {
        Self {
            id: p.id(),
            prediction: canonical(p.prediction()),
            prediction_key: distinct_match_key(p.prediction()),
            actual: p.actual().map(canonical),
            actual_key: p.actual().and_then(distinct_match_key),
            correct: p.is_correct(),
            labelled_at: p.actual().map(|_| crate::time::now()),
            prediction_number: number(p.prediction()),
            actual_number: p.actual().and_then(number),
            confidence: p.confidence(),
            features: canonical_object(p.features()),
            ts: p.timestamp(),
        }
    }

    /// The prediction these columns hold for `model` at `version`, validated like any other.
    ///
    /// # Errors
    /// [`Error::Backend`] (naming `backend`) when a column does not decode.
    pub fn decode(
        self,
        model: &ModelName,
        version: &Version,
        backend: &'static str,
    ) -> Result<Prediction> {
        let bad = |what: &str, e: &dyn std::fmt::Display| corrupt(backend, what, e);
        let lengths = [
            self.prediction.len(),
            self.actual.as_ref().map_or(0, String::len),
            self.features.len(),
        ];
        let prediction: Value =
            serde_json::from_str(&self.prediction).map_err(|e| bad("prediction", &e))?;
        let actual: Option<Value> = self
            .actual
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(|e| bad("actual", &e))?;
        let features: JsonObject =
            serde_json::from_str(&self.features).map_err(|e| bad("features", &e))?;
        Prediction::from_stored(
            self.id,
            model.clone(),
            version.clone(),
            prediction,
            actual,
            self.confidence,
            features,
            self.ts,
            lengths,
        )
        .map_err(|e| bad("prediction", &e))
    }
}

/// The columns of a confidence baseline (table `ml_confidence_baselines`; the model version is
/// the backend's key).
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineRow {
    /// Mean confidence.
    pub mean: f64,
    /// Standard deviation.
    pub std_dev: f64,
    /// Sample count, as SQL's signed 64-bit integer.
    pub sample_count: i64,
    /// Last write.
    pub updated_at: Timestamp,
    /// JSON array of the histogram's counts.
    pub histogram: Option<String>,
    /// JSON array of the quantiles.
    pub quantiles: Option<String>,
    /// JSON of the window it was computed from.
    pub computed_from: Option<String>,
    /// The sorted sample, 8 bytes (little-endian `f64`) per value.
    pub samples: Option<Vec<u8>>,
}

impl BaselineRow {
    /// The columns of `b`.
    pub fn encode(b: &ConfidenceBaseline) -> Self {
        Self {
            mean: b.mean(),
            std_dev: b.std_dev(),
            // The constructor keeps the count within i64.
            sample_count: b.sample_count() as i64,
            updated_at: b.updated_at(),
            histogram: b.histogram().map(json),
            quantiles: b.quantiles().map(|q| json(&q.to_array())),
            computed_from: b.window().map(json),
            samples: b
                .samples()
                .map(|s| s.iter().flat_map(|x| x.to_le_bytes()).collect()),
        }
    }

    /// The baseline these columns hold for `model` at `version`, validated like any other.
    ///
    /// # Errors
    /// [`Error::Backend`] (naming `backend`) when a column is out of range.
    pub fn decode(
        self,
        model: &ModelName,
        version: &Version,
        backend: &'static str,
    ) -> Result<ConfidenceBaseline> {
        let bad = |what: &str, e: &dyn std::fmt::Display| corrupt(backend, what, e);
        let count = u64::try_from(self.sample_count).map_err(|e| bad("sample count", &e))?;
        let base = ConfidenceBaseline::with_updated_at(
            model.clone(),
            version.clone(),
            self.mean,
            self.std_dev,
            count,
            self.updated_at,
        )
        .map_err(|e| bad("baseline", &e))?;
        let histogram: Option<Vec<u64>> = self
            .histogram
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| bad("histogram", &e))?;
        let quantiles: Option<[f64; 5]> = self
            .quantiles
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| bad("quantiles", &e))?;
        let window: Option<crate::Window> = self
            .computed_from
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| bad("window", &e))?;
        let samples = match self.samples {
            Some(bytes) if bytes.len() % 8 == 0 => Some(
                bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            ),
            Some(bytes) => return Err(bad("samples", &format!("{} bytes", bytes.len()))),
            None => None,
        };
        ConfidenceBaseline::from_stored_parts(
            base,
            histogram,
            quantiles.map(crate::monitoring::Quantiles::from_array),
            window,
            samples,
        )
        .map_err(|e| bad("baseline", &e))
    }
}

/// The columns of a registry event (table `ml_events`).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Sequence number: assigned by the database on insert where it counts itself (`None`).
    pub seq: Option<i64>,
    /// When.
    pub at: Timestamp,
    /// [`crate::EventKind::as_str`].
    pub kind: String,
    /// Model name.
    pub model: String,
    /// Version text.
    pub version: Option<String>,
    /// Alias.
    pub alias: Option<String>,
    /// The alias's previous target.
    pub from_version: Option<String>,
    /// Who.
    pub actor: Option<String>,
    /// JSON array of changed fields.
    pub fields: Option<String>,
}

impl EventRow {
    /// The columns of `e`, numbered `seq` (or by the database).
    pub fn encode(e: &crate::history::NewEvent, seq: Option<i64>) -> Self {
        Self {
            seq,
            at: e.at,
            kind: e.kind.as_str().to_owned(),
            model: e.model.as_str().to_owned(),
            version: e.version.as_ref().map(|v| v.as_str().to_owned()),
            alias: e.alias.as_ref().map(|a| a.as_str().to_owned()),
            from_version: e.from_version.as_ref().map(|v| v.as_str().to_owned()),
            actor: e.actor.clone(),
            fields: e.fields_text(),
        }
    }

    /// The event these columns hold.
    ///
    /// # Errors
    /// [`Error::Backend`] (naming `backend`) when a column does not decode.
    pub fn decode(self, backend: &'static str) -> Result<crate::Event> {
        let bad = |what: &str, e: &dyn std::fmt::Display| corrupt(backend, what, e);
        let version = |v: Option<String>| {
            v.map(|t| Version::new(&t))
                .transpose()
                .map_err(|e| bad("event version", &e))
        };
        Ok(crate::Event {
            seq: self
                .seq
                .and_then(|s| u64::try_from(s).ok())
                .ok_or_else(|| bad("event seq", &"missing"))?,
            at: self.at,
            kind: crate::EventKind::parse(&self.kind).map_err(|e| bad("event kind", &e))?,
            model: ModelName::new(self.model).map_err(|e| bad("event model", &e))?,
            version: version(self.version)?,
            alias: self
                .alias
                .map(crate::Alias::new)
                .transpose()
                .map_err(|e| bad("event alias", &e))?,
            from_version: version(self.from_version)?,
            actor: self.actor,
            fields: self
                .fields
                .map(|f| serde_json::from_str(&f))
                .transpose()
                .map_err(|e| bad("event fields", &e))?
                .unwrap_or_default(),
        })
    }
}

/// A baseline's part as JSON text.
fn json<T: serde::Serialize + ?Sized>(part: &T) -> String {
    serde_json::to_string(part).expect("baseline parts serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_round_trip() {
        let name = ModelName::new("m").unwrap();
        let version = Version::new("1.2.3-rc.1").unwrap();
        let m = ModelMetadata::builder(name.clone(), version.clone(), "t")
            .metric("auc", 0.5)
            .tag("k", "v")
            .description("d")
            .build()
            .unwrap();
        assert_eq!(MetadataRow::encode(&m).decode("test").unwrap(), m);
        let p = Prediction::builder(name.clone(), version.clone(), json!({"b": 1, "a": 2}), 0.4)
            .actual(Some(json!({"a": 2, "b": 1})))
            .feature("x", json!([1, 2]))
            .build()
            .unwrap();
        let row = PredictionRow::encode(&p);
        assert_eq!(row.prediction, r#"{"a":2,"b":1}"#);
        assert_eq!(row.prediction_key, None);
        assert_eq!(row.correct, Some(true));
        assert_eq!(row.decode(&name, &version, "test").unwrap(), p);
    }

    #[test]
    fn corrupt_columns_are_backend_errors() {
        let name = ModelName::new("m").unwrap();
        let version = Version::new("1.0.0").unwrap();
        let m = ModelMetadata::builder(name.clone(), version.clone(), "t")
            .build()
            .unwrap();
        let mut row = MetadataRow::encode(&m);
        row.metrics = "{not json".into();
        let err = row.decode("sqlite").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Backend);
        assert!(err.to_string().contains("metrics"), "{err}");
    }
}
