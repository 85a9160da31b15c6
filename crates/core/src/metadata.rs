//! [`ModelMetadata`]: one registered model version and what is known about it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::json::{checked_object, JsonObject};
use crate::limits::{MAX_DESCRIPTION_BYTES, MAX_MAP_ENTRIES, MAX_SHORT_TEXT_BYTES};
use crate::name::{check_label, check_no_nul};
use crate::time::{self, Timestamp};
use crate::{Error, ModelName, Result, Version};

/// The metadata of one model version: what the registry stores. Cloning is cheap (the fields
/// are shared behind an `Arc`), so caches hand out copies without copying the maps.
///
/// Built with [`ModelMetadata::builder`], which validates every field, so a value of this type is
/// always valid. Change a stored version with [`ModelMetadata::to_builder`] and
/// [`crate::ModelRegistry::update`].
///
/// ```
/// use mlstore_core::{ModelMetadata, ModelName, Version};
/// let m = ModelMetadata::builder(
///     ModelName::new("fraud-detector").unwrap(),
///     Version::new("1.2.0").unwrap(),
///     "xgboost",
/// )
/// .metric("auc", 0.93)
/// .tag("team", "risk")
/// .environment("production")
/// .build()
/// .unwrap();
/// assert_eq!(m.metrics()["auc"], 0.93);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetadata(Arc<Fields>);

/// The fields of [`ModelMetadata`]; private so that only validated values are ever built, and the
/// serde form of [`ModelMetadata`] (deserializing validates too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
struct Fields {
    name: ModelName,
    version: Version,
    model_type: String,
    configuration: JsonObject,
    metrics: BTreeMap<String, f64>,
    tags: BTreeMap<String, String>,
    description: Option<String>,
    environment: Option<String>,
    created_at: Timestamp,
    deployed_at: Option<Timestamp>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    run: Option<String>,
    #[serde(default = "default_status")]
    status: String,
}

/// The status of a version that nobody set: `ready`.
pub const DEFAULT_STATUS: &str = "ready";

fn default_status() -> String {
    DEFAULT_STATUS.to_owned()
}

impl ModelMetadata {
    /// Starts building the metadata of `name` at `version`; `model_type` is the kind of model
    /// (`"xgboost"`, `"transformer"`), 1 to 255 bytes.
    pub fn builder(
        name: ModelName,
        version: Version,
        model_type: impl Into<String>,
    ) -> ModelMetadataBuilder {
        ModelMetadataBuilder {
            inner: Fields {
                name,
                version,
                model_type: model_type.into(),
                configuration: JsonObject::new(),
                metrics: BTreeMap::new(),
                tags: BTreeMap::new(),
                description: None,
                environment: None,
                created_at: time::now(),
                deployed_at: None,
                source: None,
                run: None,
                status: default_status(),
            },
        }
    }

    /// A builder holding a copy of this metadata, to change some fields.
    pub fn to_builder(&self) -> ModelMetadataBuilder {
        ModelMetadataBuilder {
            inner: (*self.0).clone(),
        }
    }

    /// The model name.
    pub fn name(&self) -> &ModelName {
        &self.0.name
    }
    /// The version.
    pub fn version(&self) -> &Version {
        &self.0.version
    }
    /// The kind of model.
    pub fn model_type(&self) -> &str {
        &self.0.model_type
    }
    /// The configuration (thresholds, hyperparameters) as a JSON object.
    pub fn configuration(&self) -> &JsonObject {
        &self.0.configuration
    }
    /// Performance metrics, name to value.
    pub fn metrics(&self) -> &BTreeMap<String, f64> {
        &self.0.metrics
    }
    /// Free-form tags.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.0.tags
    }
    /// Description, if any.
    pub fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Environment (`"staging"`, `"production"`), if any.
    pub fn environment(&self) -> Option<&str> {
        self.0.environment.as_deref()
    }
    /// When the version was registered (microsecond precision).
    pub fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
    /// When the version was deployed, if it was.
    pub fn deployed_at(&self) -> Option<Timestamp> {
        self.0.deployed_at
    }
    /// Where the model's artifact lives (`s3://bucket/model.pkl`), if known.
    pub fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }
    /// A link to the training run that produced it, if known.
    pub fn run(&self) -> Option<&str> {
        self.0.run.as_deref()
    }
    /// The version's status (`ready` unless set: `archived`, `failed`, ...).
    pub fn status(&self) -> &str {
        &self.0.status
    }
}

impl ModelMetadata {
    /// The names of the fields whose values differ between `self` and `other` (the fields
    /// [`crate::ModelRegistry::update`] replaces: every field but name, version and
    /// `created_at`), as an update event records them.
    pub fn changed_fields(&self, other: &ModelMetadata) -> Vec<String> {
        let (a, b) = (&*self.0, &*other.0);
        let mut changed = Vec::new();
        let mut check = |name: &str, differs: bool| {
            if differs {
                changed.push(name.to_owned());
            }
        };
        check("model_type", a.model_type != b.model_type);
        check("configuration", a.configuration != b.configuration);
        check("metrics", a.metrics != b.metrics);
        check("tags", a.tags != b.tags);
        check("description", a.description != b.description);
        check("environment", a.environment != b.environment);
        check("deployed_at", a.deployed_at != b.deployed_at);
        check("source", a.source != b.source);
        check("run", a.run != b.run);
        check("status", a.status != b.status);
        changed
    }
}

impl Fields {
    fn validate(&self) -> Result<()> {
        checked_object("configuration", &self.configuration)?;
        self.validate_except_configuration()
    }

    fn validate_except_configuration(&self) -> Result<()> {
        check_label("model type", &self.model_type, MAX_SHORT_TEXT_BYTES)?;
        time::check("created_at", &self.created_at)?;
        if let Some(deployed_at) = &self.deployed_at {
            time::check("deployed_at", deployed_at)?;
        }
        check_label("status", &self.status, MAX_SHORT_TEXT_BYTES)?;
        for (field, uri) in [("source", &self.source), ("run", &self.run)] {
            if let Some(uri) = uri {
                check_label(field, uri, crate::limits::MAX_URI_BYTES)?;
            }
        }
        if self.metrics.len() > MAX_MAP_ENTRIES {
            return Err(Error::invalid(
                "metrics",
                format!(
                    "{} entries, the limit is {MAX_MAP_ENTRIES}",
                    self.metrics.len()
                ),
            ));
        }
        for (name, value) in &self.metrics {
            check_label("metric name", name, MAX_SHORT_TEXT_BYTES)?;
            if !value.is_finite() {
                return Err(Error::invalid(
                    "metrics",
                    format!("metric {name:?} is {value}, it must be a finite number"),
                ));
            }
        }
        if self.tags.len() > MAX_MAP_ENTRIES {
            return Err(Error::invalid(
                "tags",
                format!(
                    "{} entries, the limit is {MAX_MAP_ENTRIES}",
                    self.tags.len()
                ),
            ));
        }
        for (key, value) in &self.tags {
            check_label("tag key", key, MAX_SHORT_TEXT_BYTES)?;
            check_no_nul("tag value", value)?;
            if value.len() > MAX_SHORT_TEXT_BYTES {
                return Err(Error::invalid(
                    "tag value",
                    format!(
                        "tag {key:?} is {} bytes, the limit is {MAX_SHORT_TEXT_BYTES}",
                        value.len()
                    ),
                ));
            }
        }
        if let Some(d) = &self.description {
            check_no_nul("description", d)?;
            if d.len() > MAX_DESCRIPTION_BYTES {
                return Err(Error::invalid(
                    "description",
                    format!("is {} bytes, the limit is {MAX_DESCRIPTION_BYTES}", d.len()),
                ));
            }
        }
        if let Some(e) = &self.environment {
            check_label("environment", e, MAX_SHORT_TEXT_BYTES)?;
        }
        Ok(())
    }
}

/// Builder of [`ModelMetadata`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
#[must_use]
pub struct ModelMetadataBuilder {
    inner: Fields,
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for ModelMetadata {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ModelMetadata".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Fields::json_schema(generator)
    }
}

impl Serialize for ModelMetadata {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ModelMetadata {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let fields = Fields::deserialize(deserializer)?;
        fields.validate().map_err(serde::de::Error::custom)?;
        Ok(Self(Arc::new(fields)))
    }
}

impl ModelMetadataBuilder {
    /// Sets the model type.
    pub fn model_type(mut self, model_type: impl Into<String>) -> Self {
        self.inner.model_type = model_type.into();
        self
    }
    /// Sets the configuration object.
    pub fn configuration(mut self, configuration: JsonObject) -> Self {
        self.inner.configuration = configuration;
        self
    }
    /// Adds (or replaces) one performance metric.
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.inner.metrics.insert(name.into(), value);
        self
    }
    /// Replaces all performance metrics.
    pub fn metrics(mut self, metrics: BTreeMap<String, f64>) -> Self {
        self.inner.metrics = metrics;
        self
    }
    /// Adds (or replaces) one tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner.tags.insert(key.into(), value.into());
        self
    }
    /// Replaces all tags.
    pub fn tags(mut self, tags: BTreeMap<String, String>) -> Self {
        self.inner.tags = tags;
        self
    }
    /// Sets the description (at most 4096 bytes).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.inner.description = Some(description.into());
        self
    }
    /// Clears the description.
    pub fn no_description(mut self) -> Self {
        self.inner.description = None;
        self
    }
    /// Sets the environment.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.inner.environment = Some(environment.into());
        self
    }
    /// Clears the environment.
    pub fn no_environment(mut self) -> Self {
        self.inner.environment = None;
        self
    }
    /// Sets the registration time (default: now). Truncated to microseconds.
    pub fn created_at(mut self, at: Timestamp) -> Self {
        self.inner.created_at = time::truncate(at);
        self
    }
    /// Sets (or, with `None`, clears) the deployment time. Truncated to microseconds.
    pub fn deployed_at(mut self, at: Option<Timestamp>) -> Self {
        self.inner.deployed_at = at.map(time::truncate);
        self
    }
    /// Sets (or clears) where the artifact lives (at most 2048 bytes).
    pub fn source(mut self, source: Option<String>) -> Self {
        self.inner.source = source;
        self
    }
    /// Sets (or clears) the link to the training run (at most 2048 bytes).
    pub fn run(mut self, run: Option<String>) -> Self {
        self.inner.run = run;
        self
    }
    /// Sets the status (a short label: `ready`, `archived`, ...).
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.inner.status = status.into();
        self
    }

    /// Validates every field and returns the metadata.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field: an empty or over-long model type, environment,
    /// metric name or tag; a configuration over [`crate::limits::MAX_JSON_BYTES`]; a metric that is
    /// NaN or infinite; more than [`MAX_MAP_ENTRIES`] metrics or tags; a description over
    /// [`MAX_DESCRIPTION_BYTES`]; a configuration nested deeper than
    /// [`crate::limits::MAX_JSON_DEPTH`]; `created_at` or `deployed_at` outside
    /// [`crate::time::MIN`]..=[`crate::time::MAX`].
    pub fn build(self) -> Result<ModelMetadata> {
        self.inner.validate()?;
        Ok(ModelMetadata(Arc::new(self.inner)))
    }

    /// [`build`](Self::build) for [`crate::codec`]: the configuration was parsed from a stored
    /// canonical text of `configuration_len` bytes, which passed the checks when it was written,
    /// so it is not serialized again to measure it.
    pub(crate) fn build_stored(self, configuration_len: usize) -> Result<ModelMetadata> {
        crate::json::check_len("configuration", configuration_len)?;
        self.inner.validate_except_configuration()?;
        Ok(ModelMetadata(Arc::new(self.inner)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    struct DateTimeExt;
    impl DateTimeExt {
        fn year(y: i32) -> Timestamp {
            chrono::NaiveDate::from_ymd_opt(y, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
        }
    }

    fn base() -> ModelMetadataBuilder {
        ModelMetadata::builder(
            ModelName::new("m").unwrap(),
            Version::new("1.0.0").unwrap(),
            "linear",
        )
    }

    #[test]
    fn builds_and_round_trips_through_serde() {
        let m = base()
            .metric("f1", 0.5)
            .tag("k", "v")
            .description("d")
            .build()
            .unwrap();
        let text = serde_json::to_string(&m).unwrap();
        let back: ModelMetadata = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn rejects_bad_fields() {
        let cases = [
            base().model_type(""),
            base().metric("nan", f64::NAN),
            base().metric("", 1.0),
            base().tag("k", "x".repeat(300)),
            base().description("x".repeat(5000)),
            base().environment(" prod"),
            base().description("nul \0 inside"),
            base().tag("k", "nul \0"),
            base().created_at(DateTimeExt::year(-5000)),
            base().deployed_at(Some(DateTimeExt::year(10_000))),
        ];
        for b in cases {
            assert_eq!(b.build().unwrap_err().kind(), ErrorKind::InvalidInput);
        }
    }
}
