//! Predictions, their late labels, accuracy and confidence baselines.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::json::{checked, checked_object, JsonObject};
use crate::time::{self, Timestamp};
use crate::{Error, ModelName, Result, Version};

/// Checks a confidence (or a statistic of confidences): finite, 0.0 to 1.0, and not `-0.0`
/// (which not every backend can store with its sign: refused rather than changed).
pub(crate) fn check_unit_interval(field: &'static str, value: f64) -> Result<()> {
    if !value.is_finite() || !(0.0..=1.0).contains(&value) {
        return Err(Error::invalid(
            field,
            format!("is {value}, it must be a finite number from 0.0 to 1.0"),
        ));
    }
    if value.is_sign_negative() {
        return Err(Error::invalid(
            field,
            "is -0.0; use 0.0 (a negative zero cannot be stored with its sign)",
        ));
    }
    Ok(())
}

/// One prediction made by one model version.
///
/// Built with [`Prediction::builder`], which validates, so a value of this type is always valid:
/// confidence finite in `[0, 1]` (`-0.0` is refused), JSON documents at most
/// [`crate::limits::MAX_JSON_BYTES`] and [`crate::limits::MAX_JSON_DEPTH`] deep, timestamp in UTC
/// with microsecond precision within [`crate::time::MIN`]..=[`crate::time::MAX`]. Every value
/// comes back from every store exactly as it was given (floats bit for bit). The id is a UUID the
/// client may assign, so that a label arriving later can be joined to it; by default it is a
/// time-ordered UUIDv7.
///
/// ```
/// use mlstore_core::{ModelName, Prediction, Version};
/// use serde_json::json;
/// let p = Prediction::builder(
///     ModelName::new("fraud").unwrap(),
///     Version::new("1.0.0").unwrap(),
///     json!("fraud"),
///     0.91,
/// )
/// .feature("amount", json!(120.5))
/// .build()
/// .unwrap();
/// assert!(p.actual().is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction(PredictionFields);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PredictionFields {
    id: Uuid,
    model: ModelName,
    version: Version,
    prediction: Value,
    actual: Option<Value>,
    confidence: f64,
    features: JsonObject,
    timestamp: Timestamp,
}

impl PredictionFields {
    fn validate(&self) -> Result<()> {
        check_unit_interval("confidence", self.confidence)?;
        time::check("timestamp", &self.timestamp)?;
        checked("prediction", &self.prediction)?;
        if let Some(actual) = &self.actual {
            checked("actual", actual)?;
        }
        checked_object("features", &self.features)?;
        Ok(())
    }

    /// The checks for a prediction decoded from a backend's canonical JSON texts, whose lengths
    /// are given: the texts passed [`PredictionFields::validate`] when they were written, so
    /// the documents are not serialized again to measure them.
    fn validate_stored(&self, text_lengths: [usize; 3]) -> Result<()> {
        check_unit_interval("confidence", self.confidence)?;
        for (field, len) in ["prediction", "actual", "features"]
            .into_iter()
            .zip(text_lengths)
        {
            crate::json::check_len(field, len)?;
        }
        Ok(())
    }
}

impl Prediction {
    /// Starts building a prediction of `model` at `version` with the predicted value and its
    /// confidence. Defaults: a random id, no actual label, no features, timestamp now.
    pub fn builder(
        model: ModelName,
        version: Version,
        prediction: Value,
        confidence: f64,
    ) -> PredictionBuilder {
        PredictionBuilder(PredictionFields {
            id: Uuid::now_v7(),
            model,
            version,
            prediction,
            actual: None,
            confidence,
            features: JsonObject::new(),
            timestamp: time::now(),
        })
    }

    /// A prediction decoded by [`crate::codec`] from stored canonical JSON texts of
    /// `text_lengths` bytes (prediction, actual or 0, features). Unlike the builder it draws no
    /// id and reads no clock: every field comes from storage.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_stored(
        id: Uuid,
        model: ModelName,
        version: Version,
        prediction: Value,
        actual: Option<Value>,
        confidence: f64,
        features: JsonObject,
        timestamp: Timestamp,
        text_lengths: [usize; 3],
    ) -> Result<Self> {
        let fields = PredictionFields {
            id,
            model,
            version,
            prediction,
            actual,
            confidence,
            features,
            timestamp: time::truncate(timestamp),
        };
        fields.validate_stored(text_lengths)?;
        Ok(Self(fields))
    }

    /// A builder holding a copy of this prediction.
    pub fn to_builder(&self) -> PredictionBuilder {
        PredictionBuilder(self.0.clone())
    }

    /// The prediction id.
    pub fn id(&self) -> Uuid {
        self.0.id
    }
    /// The model that made it.
    pub fn model(&self) -> &ModelName {
        &self.0.model
    }
    /// The version of the model that made it.
    pub fn version(&self) -> &Version {
        &self.0.version
    }
    /// The predicted value.
    pub fn prediction(&self) -> &Value {
        &self.0.prediction
    }
    /// The actual (ground-truth) value, once known.
    pub fn actual(&self) -> Option<&Value> {
        self.0.actual.as_ref()
    }
    /// The model's confidence, 0.0 to 1.0.
    pub fn confidence(&self) -> f64 {
        self.0.confidence
    }
    /// The input features.
    pub fn features(&self) -> &JsonObject {
        &self.0.features
    }
    /// When the prediction was made (UTC, microsecond precision).
    pub fn timestamp(&self) -> Timestamp {
        self.0.timestamp
    }
    /// The key that orders predictions by recency: `(timestamp, id)`. "Newest" in
    /// [`crate::PredictionStore`] means the greatest key.
    pub fn recency_key(&self) -> (Timestamp, Uuid) {
        (self.0.timestamp, self.0.id)
    }
    /// Whether the prediction is labelled and the label equals the prediction
    /// ([`labels_match`]); `None` while unlabelled.
    pub fn is_correct(&self) -> Option<bool> {
        self.0
            .actual
            .as_ref()
            .map(|a| labels_match(&self.0.prediction, a))
    }
}

/// Whether `actual` equals `prediction` as a value: the definition of a correct prediction every
/// backend implements.
///
/// Numbers compare by numeric value (`3 == 3.0`, `1e2 == 100`, `-0.0 == 0`); strings, booleans
/// and `null` by equality; arrays element by element in order; objects key by key, whatever the
/// order of their keys. A string never equals a number (`"3" != 3`). Formally: their
/// [`crate::json::match_key`]s are equal.
///
/// ```
/// use mlstore_core::labels_match;
/// use serde_json::json;
/// assert!(labels_match(&json!(3), &json!(3.0)));
/// assert!(labels_match(&json!({"a": 1, "b": [2.0]}), &json!({"b": [2], "a": 1})));
/// assert!(!labels_match(&json!("3"), &json!(3)));
/// ```
pub fn labels_match(prediction: &Value, actual: &Value) -> bool {
    crate::json::match_key(prediction) == crate::json::match_key(actual)
}

impl Serialize for Prediction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Prediction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let fields = PredictionFields::deserialize(d)?;
        fields.validate().map_err(serde::de::Error::custom)?;
        Ok(Self(fields))
    }
}

/// Builder of [`Prediction`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
#[must_use]
pub struct PredictionBuilder(PredictionFields);

impl PredictionBuilder {
    /// Sets the id (to join a label to it later).
    pub fn id(mut self, id: Uuid) -> Self {
        self.0.id = id;
        self
    }
    /// Sets the actual label, when it is known at write time.
    pub fn actual(mut self, actual: Option<Value>) -> Self {
        self.0.actual = actual;
        self
    }
    /// Replaces the features.
    pub fn features(mut self, features: JsonObject) -> Self {
        self.0.features = features;
        self
    }
    /// Adds (or replaces) one feature.
    pub fn feature(mut self, name: impl Into<String>, value: Value) -> Self {
        self.0.features.insert(name.into(), value);
        self
    }
    /// Sets the timestamp (default now); truncated to microseconds.
    pub fn timestamp(mut self, at: Timestamp) -> Self {
        self.0.timestamp = time::truncate(at);
        self
    }
    /// Sets the confidence.
    pub fn confidence(mut self, confidence: f64) -> Self {
        self.0.confidence = confidence;
        self
    }

    /// Validates and returns the prediction.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: field `confidence` when it is NaN, infinite, below 0 or above 1;
    /// `prediction`, `actual` or `features` when the JSON is over
    /// [`crate::limits::MAX_JSON_BYTES`].
    pub fn build(self) -> Result<Prediction> {
        self.0.validate()?;
        Ok(Prediction(self.0))
    }
}

/// A late ground-truth label for a stored prediction, joined by the prediction id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    id: Uuid,
    actual: Value,
}

impl Label {
    /// A label saying that prediction `id` should have been `actual`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `actual`) when the JSON is over
    /// [`crate::limits::MAX_JSON_BYTES`].
    pub fn new(id: Uuid, actual: Value) -> Result<Self> {
        checked("actual", &actual)?;
        Ok(Self { id, actual })
    }
    /// The prediction id.
    pub fn id(&self) -> Uuid {
        self.id
    }
    /// The actual value.
    pub fn actual(&self) -> &Value {
        &self.actual
    }
}

/// Accuracy over the newest N labelled predictions of a model version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Accuracy {
    correct: u64,
    total: u64,
}

impl Accuracy {
    /// `correct` right out of `total` labelled predictions.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `correct > total`.
    pub fn new(correct: u64, total: u64) -> Result<Self> {
        if correct > total {
            return Err(Error::invalid(
                "accuracy",
                format!("{correct} correct out of {total} is impossible"),
            ));
        }
        Ok(Self { correct, total })
    }
    /// How many of the labelled predictions were correct.
    pub fn correct(&self) -> u64 {
        self.correct
    }
    /// How many labelled predictions were counted.
    pub fn total(&self) -> u64 {
        self.total
    }
    /// `correct / total`, or `None` when nothing was labelled.
    pub fn ratio(&self) -> Option<f64> {
        (self.total > 0).then(|| self.correct as f64 / self.total as f64)
    }
}

/// Most confidences a baseline keeps as its sample (for the exact two-sample KS statistic of
/// drift checks); a baseline computed from more keeps its histogram and quantiles only.
pub const MAX_BASELINE_SAMPLES: usize = crate::limits::MAX_RECENT_LIMIT;

/// The confidence baseline of one model version: the reference for confidence-drift checks.
///
/// It holds the mean and population standard deviation of the confidences it was computed from
/// (`numpy.mean`, `numpy.std`), their count, and, for baselines computed by this version of
/// mlstore, the histogram over [`crate::stats::HISTOGRAM_BINS`] equal bins of `[0, 1]`, the
/// quantiles at [`crate::stats::QUANTILE_LEVELS`], the window it was computed from, and (up to
/// [`MAX_BASELINE_SAMPLES`] confidences) the sorted sample itself. Baselines written before
/// histograms existed read back without them.
///
/// ```
/// use mlstore_core::{ConfidenceBaseline, ModelName, Version};
/// let b = ConfidenceBaseline::from_confidences(
///     ModelName::new("fraud").unwrap(),
///     Version::new("1.0.0").unwrap(),
///     [0.8, 0.9, 1.0],
/// )
/// .unwrap();
/// assert!((b.mean() - 0.9).abs() < 1e-12);
/// assert_eq!(b.sample_count(), 3);
/// assert_eq!(b.histogram().unwrap().iter().sum::<u64>(), 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ConfidenceBaseline(BaselineFields);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
struct BaselineFields {
    model: ModelName,
    version: Version,
    mean: f64,
    std_dev: f64,
    sample_count: u64,
    updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    histogram: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quantiles: Option<crate::monitoring::Quantiles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<crate::Window>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    samples: Option<std::sync::Arc<[f64]>>,
}

impl BaselineFields {
    fn validate(&self) -> Result<()> {
        check_unit_interval("mean", self.mean)?;
        check_unit_interval("std_dev", self.std_dev)?;
        time::check("updated_at", &self.updated_at)?;
        if self.sample_count > i64::MAX as u64 {
            return Err(Error::invalid(
                "sample_count",
                format!("is {}, the limit is {}", self.sample_count, i64::MAX),
            ));
        }
        if let Some(h) = &self.histogram {
            if h.len() != crate::stats::HISTOGRAM_BINS {
                return Err(Error::invalid(
                    "histogram",
                    format!(
                        "has {} bins, a baseline histogram has {}",
                        h.len(),
                        crate::stats::HISTOGRAM_BINS
                    ),
                ));
            }
            let total = h.iter().try_fold(0u64, |a, b| a.checked_add(*b));
            if total != Some(self.sample_count) {
                return Err(Error::invalid(
                    "histogram",
                    format!(
                        "sums to {}, the sample count is {}",
                        total.map_or("more than 2^64".into(), |t| t.to_string()),
                        self.sample_count
                    ),
                ));
            }
        }
        if let Some(q) = &self.quantiles {
            let q = q.to_array();
            for x in q {
                check_unit_interval("quantiles", x)?;
            }
            if q.windows(2).any(|w| w[0] > w[1]) {
                return Err(Error::invalid("quantiles", "must not decrease"));
            }
        }
        if let Some(samples) = &self.samples {
            if samples.len() as u64 != self.sample_count {
                return Err(Error::invalid(
                    "samples",
                    format!(
                        "{} values for a sample count of {}",
                        samples.len(),
                        self.sample_count
                    ),
                ));
            }
            if samples.len() > MAX_BASELINE_SAMPLES {
                return Err(Error::invalid(
                    "samples",
                    format!("more than {MAX_BASELINE_SAMPLES} values"),
                ));
            }
            for &x in samples.iter() {
                check_unit_interval("samples", x)?;
            }
            if samples.windows(2).any(|w| w[0] > w[1]) {
                return Err(Error::invalid("samples", "must be sorted"));
            }
        }
        Ok(())
    }
}

impl ConfidenceBaseline {
    /// A baseline with the given statistics and no histogram, updated now.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: `mean` or `std_dev` NaN, infinite or outside 0.0 to 1.0 (the
    /// standard deviation of values in `[0, 1]` is at most 0.5); `sample_count` above `i64::MAX`.
    pub fn new(
        model: ModelName,
        version: Version,
        mean: f64,
        std_dev: f64,
        sample_count: u64,
    ) -> Result<Self> {
        Self::with_updated_at(model, version, mean, std_dev, sample_count, time::now())
    }

    /// Like [`new`](Self::new) with an explicit update time (truncated to microseconds).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_updated_at(
        model: ModelName,
        version: Version,
        mean: f64,
        std_dev: f64,
        sample_count: u64,
        updated_at: Timestamp,
    ) -> Result<Self> {
        let fields = BaselineFields {
            model,
            version,
            mean,
            std_dev,
            sample_count,
            updated_at: time::truncate(updated_at),
            histogram: None,
            quantiles: None,
            window: None,
            samples: None,
        };
        fields.validate()?;
        Ok(Self(fields))
    }

    /// The baseline of `confidences`: mean and population standard deviation (two-pass,
    /// pairwise sums, as numpy), histogram, quantiles, and the sorted sample when there are at
    /// most [`MAX_BASELINE_SAMPLES`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when there are no values or a value is not a valid confidence.
    pub fn from_confidences(
        model: ModelName,
        version: Version,
        confidences: impl IntoIterator<Item = f64>,
    ) -> Result<Self> {
        let mut values: Vec<f64> = confidences.into_iter().collect();
        for c in &values {
            check_unit_interval("confidence", *c)?;
        }
        values.sort_by(f64::total_cmp);
        let Some((mean, std_dev, _)) = crate::stats::mean_and_std(&values) else {
            return Err(Error::invalid(
                "confidences",
                "a baseline needs at least one prediction",
            ));
        };
        let fields = BaselineFields {
            model,
            version,
            // `+ 0.0` turns a negative zero into a positive one.
            mean: mean.clamp(0.0, 1.0) + 0.0,
            std_dev: std_dev.clamp(0.0, 1.0) + 0.0,
            sample_count: values.len() as u64,
            updated_at: time::now(),
            histogram: Some(crate::stats::histogram(&values).to_vec()),
            quantiles: crate::monitoring::Quantiles::of_sorted(&values),
            window: None,
            samples: (values.len() <= MAX_BASELINE_SAMPLES).then(|| values.into()),
        };
        fields.validate()?;
        Ok(Self(fields))
    }

    /// A baseline from a histogram over [`crate::stats::HISTOGRAM_BINS`] equal bins of
    /// `[0, 1]` (a validation set summarised elsewhere). Its mean and standard deviation are
    /// those of the bin midpoints weighted by the counts; it has no quantiles and no sample, so
    /// drift checks take the KS statistic against the histogram.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `histogram`) for another number of bins or no counts.
    pub fn from_histogram(model: ModelName, version: Version, histogram: &[u64]) -> Result<Self> {
        let bins = crate::stats::HISTOGRAM_BINS;
        if histogram.len() != bins {
            return Err(Error::invalid(
                "histogram",
                format!(
                    "has {} bins, a baseline histogram has {bins}",
                    histogram.len()
                ),
            ));
        }
        let total: u64 = histogram.iter().sum();
        if total == 0 {
            return Err(Error::invalid("histogram", "holds no counts"));
        }
        let mid = |i: usize| (crate::stats::bin_edge(i) + crate::stats::bin_edge(i + 1)) / 2.0;
        let n = total as f64;
        let mean: f64 = histogram
            .iter()
            .enumerate()
            .map(|(i, c)| mid(i) * *c as f64)
            .sum::<f64>()
            / n;
        let var: f64 = histogram
            .iter()
            .enumerate()
            .map(|(i, c)| (mid(i) - mean).powi(2) * *c as f64)
            .sum::<f64>()
            / n;
        let fields = BaselineFields {
            model,
            version,
            mean: mean.clamp(0.0, 1.0) + 0.0,
            std_dev: var.sqrt().clamp(0.0, 1.0) + 0.0,
            sample_count: total,
            updated_at: time::now(),
            histogram: Some(histogram.to_vec()),
            quantiles: None,
            window: None,
            samples: None,
        };
        fields.validate()?;
        Ok(Self(fields))
    }

    /// The baseline, noting the window of predictions it was computed from.
    #[must_use]
    pub fn computed_from(mut self, window: crate::Window) -> Self {
        self.0.window = Some(window);
        self
    }

    /// A baseline decoded by [`crate::codec`], with its optional parts, validated.
    pub(crate) fn from_stored_parts(
        base: Self,
        histogram: Option<Vec<u64>>,
        quantiles: Option<crate::monitoring::Quantiles>,
        window: Option<crate::Window>,
        samples: Option<Vec<f64>>,
    ) -> Result<Self> {
        let mut fields = base.0;
        fields.histogram = histogram;
        fields.quantiles = quantiles;
        fields.window = window;
        fields.samples = samples.map(Into::into);
        fields.validate()?;
        Ok(Self(fields))
    }

    /// The model.
    pub fn model(&self) -> &ModelName {
        &self.0.model
    }
    /// The model version.
    pub fn version(&self) -> &Version {
        &self.0.version
    }
    /// Mean confidence.
    pub fn mean(&self) -> f64 {
        self.0.mean
    }
    /// Population standard deviation of the confidence.
    pub fn std_dev(&self) -> f64 {
        self.0.std_dev
    }
    /// How many predictions the statistics were computed from.
    pub fn sample_count(&self) -> u64 {
        self.0.sample_count
    }
    /// When the baseline was last written (computed).
    pub fn updated_at(&self) -> Timestamp {
        self.0.updated_at
    }
    /// The histogram, if the baseline has one.
    pub fn histogram(&self) -> Option<&[u64]> {
        self.0.histogram.as_deref()
    }
    /// The quantiles, if known.
    pub fn quantiles(&self) -> Option<&crate::monitoring::Quantiles> {
        self.0.quantiles.as_ref()
    }
    /// The window it was computed from, if it was computed by mlstore.
    pub fn window(&self) -> Option<&crate::Window> {
        self.0.window.as_ref()
    }
    /// The sorted sample, if kept.
    pub fn samples(&self) -> Option<&[f64]> {
        self.0.samples.as_deref()
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for ConfidenceBaseline {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ConfidenceBaseline".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        BaselineFields::json_schema(generator)
    }
}

impl Serialize for ConfidenceBaseline {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ConfidenceBaseline {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let fields = BaselineFields::deserialize(d)?;
        fields.validate().map_err(serde::de::Error::custom)?;
        Ok(Self(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    fn builder(conf: f64) -> PredictionBuilder {
        Prediction::builder(
            ModelName::new("m").unwrap(),
            Version::new("1.0.0").unwrap(),
            json!(1),
            conf,
        )
    }

    #[test]
    fn confidence_must_be_a_unit_interval_number() {
        for c in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.01, 1.01] {
            let e = builder(c).build().unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::InvalidInput {
                        field: "confidence",
                        ..
                    }
                ),
                "{c}: {e}"
            );
        }
        for c in [0.0, 0.5, 1.0, 5e-324] {
            assert!(builder(c).build().is_ok());
        }
        let e = builder(-0.0).build().unwrap_err();
        assert!(e.to_string().contains("-0.0"), "{e}");
    }

    #[test]
    fn timestamps_outside_the_range_are_refused() {
        let ancient = chrono::DateTime::from_timestamp(-220_000_000_000, 0).unwrap();
        let e = builder(0.5).timestamp(ancient).build().unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidInput {
                    field: "timestamp",
                    ..
                }
            ),
            "{e}"
        );
        assert!(builder(0.5).timestamp(time::MAX).build().is_ok());
    }

    #[test]
    fn correctness_is_json_equality() {
        let p = builder(0.5).actual(Some(json!(1))).build().unwrap();
        assert_eq!(p.is_correct(), Some(true));
        let p = builder(0.5).actual(Some(json!(1.0))).build().unwrap();
        assert_eq!(p.is_correct(), Some(true), "numbers compare by value");
        let p = builder(0.5).actual(Some(json!("1"))).build().unwrap();
        assert_eq!(p.is_correct(), Some(false));
        assert!(labels_match(&json!({"a":1,"b":2}), &json!({"b":2,"a":1})));
        assert_eq!(builder(0.5).build().unwrap().is_correct(), None);
    }

    #[test]
    fn deserialize_validates() {
        let p = builder(0.5).build().unwrap();
        let mut v = serde_json::to_value(&p).unwrap();
        assert_eq!(serde_json::from_value::<Prediction>(v.clone()).unwrap(), p);
        v["confidence"] = json!(2.0);
        assert!(serde_json::from_value::<Prediction>(v).is_err());
    }

    #[test]
    fn accuracy_ratio() {
        assert_eq!(Accuracy::new(0, 0).unwrap().ratio(), None);
        assert_eq!(Accuracy::new(3, 4).unwrap().ratio(), Some(0.75));
        assert_eq!(
            Accuracy::new(5, 4).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn baseline_statistics() {
        let (m, v) = (ModelName::new("m").unwrap(), Version::new("1.0.0").unwrap());
        let b = ConfidenceBaseline::from_confidences(m.clone(), v.clone(), [0.2, 0.4]).unwrap();
        assert!((b.mean() - 0.3).abs() < 1e-12);
        assert!((b.std_dev() - 0.1).abs() < 1e-12);
        assert!(ConfidenceBaseline::from_confidences(m.clone(), v.clone(), []).is_err());
        assert!(ConfidenceBaseline::new(m.clone(), v.clone(), f64::NAN, 0.1, 1).is_err());
        let mut h = vec![0u64; crate::stats::HISTOGRAM_BINS];
        h[10] = 4;
        let b = ConfidenceBaseline::from_histogram(m.clone(), v.clone(), &h).unwrap();
        assert_eq!((b.sample_count(), b.mean(), b.std_dev()), (4, 0.525, 0.0));
        assert!(ConfidenceBaseline::from_histogram(m.clone(), v.clone(), &h[..5]).is_err());
        // A histogram that does not sum to its count is refused (through deserialization).
        let mut json = serde_json::to_value(&b).unwrap();
        json["sample_count"] = serde_json::json!(5);
        assert!(serde_json::from_value::<ConfidenceBaseline>(json).is_err());
    }
}
