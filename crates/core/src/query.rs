//! Options and results of the operations that may grow: batches that skip what cannot be
//! stored, counting and scanning predictions. Each options type has a `Default` and setters, so a
//! new option never breaks a caller.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::MAX_RECENT_LIMIT;
use crate::time::{self, Timestamp};
use crate::{Bounds, Error, ModelName, Result, Version, Window};

/// What a batch write does with an item that cannot be stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OnProblem {
    /// The whole batch fails and nothing is written (the plain batch operations' behaviour).
    #[default]
    Fail,
    /// The item is skipped and reported in [`BatchOutcome::skipped`]; the rest is stored.
    Skip,
}

/// Options of [`crate::PredictionStore::store_predictions_with`] and
/// [`crate::PredictionStore::record_actuals_with`].
///
/// ```
/// use mlstore_core::{BatchOptions, OnProblem};
/// let re_runnable = BatchOptions::default().on_conflict(OnProblem::Skip);
/// assert_eq!(re_runnable.conflict(), OnProblem::Skip);
/// assert_eq!(re_runnable.missing(), OnProblem::Fail);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BatchOptions {
    #[serde(default)]
    on_conflict: OnProblem,
    #[serde(default)]
    on_missing: OnProblem,
}

impl BatchOptions {
    /// What to do with a prediction whose id is already stored (default: fail).
    #[must_use]
    pub fn on_conflict(mut self, what: OnProblem) -> Self {
        self.on_conflict = what;
        self
    }

    /// What to do with a prediction whose model version is not registered, or a label whose
    /// prediction does not exist (default: fail).
    #[must_use]
    pub fn on_missing(mut self, what: OnProblem) -> Self {
        self.on_missing = what;
        self
    }

    /// See [`on_conflict`](Self::on_conflict).
    pub fn conflict(&self) -> OnProblem {
        self.on_conflict
    }

    /// See [`on_missing`](Self::on_missing).
    pub fn missing(&self) -> OnProblem {
        self.on_missing
    }
}

/// Why an item of a batch was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A prediction with its id is already stored.
    AlreadyExists,
    /// Its model version is not registered (a prediction), or no prediction has its id (a
    /// label).
    NotFound,
}

/// One item of a batch that was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Skipped {
    /// Its position in the batch.
    pub index: usize,
    /// Its (prediction) id.
    pub id: Uuid,
    /// Why.
    pub reason: SkipReason,
}

/// What a batch write did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BatchOutcome {
    /// How many items were stored.
    pub stored: usize,
    /// The items that were not, in batch order.
    pub skipped: Vec<Skipped>,
}

impl BatchOutcome {
    /// How many items were skipped for `reason`.
    pub fn skipped_for(&self, reason: SkipReason) -> usize {
        self.skipped.iter().filter(|s| s.reason == reason).count()
    }
}

/// Which predictions [`crate::PredictionStore::count_predictions`] counts: of every model, of
/// one model, or of one model version; in a time range; all or only the labelled ones.
///
/// ```
/// use mlstore_core::{ModelName, PredictionFilter};
/// let all = PredictionFilter::all();
/// let fraud = PredictionFilter::model(ModelName::new("fraud").unwrap()).labelled_only(true);
/// assert!(all.model_name().is_none());
/// assert!(fraud.is_labelled_only());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<ModelName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<Version>,
    #[serde(default)]
    window: Window,
    #[serde(default)]
    labelled_only: bool,
}

impl PredictionFilter {
    /// Every prediction of every model.
    pub fn all() -> Self {
        Self::default()
    }

    /// Every prediction of `model`, all versions.
    pub fn model(model: ModelName) -> Self {
        Self {
            model: Some(model),
            ..Self::default()
        }
    }

    /// Every prediction of `model` at `version`.
    pub fn version(model: ModelName, version: Version) -> Self {
        Self {
            model: Some(model),
            version: Some(version),
            ..Self::default()
        }
    }

    /// Only predictions made in the window's range (a window count is refused).
    #[must_use]
    pub fn within(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// Only labelled predictions.
    #[must_use]
    pub fn labelled_only(mut self, labelled_only: bool) -> Self {
        self.labelled_only = labelled_only;
        self
    }

    /// The model, if the filter names one.
    pub fn model_name(&self) -> Option<&ModelName> {
        self.model.as_ref()
    }

    /// The version, if the filter names one.
    pub fn model_version(&self) -> Option<&Version> {
        self.version.as_ref()
    }

    /// Whether only labelled predictions count.
    pub fn is_labelled_only(&self) -> bool {
        self.labelled_only
    }

    /// Checks the filter and resolves its time range.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: field `last` when the window has a count (counting the newest N
    /// is N), `window` for a bad range.
    pub fn bounds(&self) -> Result<Bounds> {
        if self.window.count().is_some() {
            return Err(Error::invalid(
                "last",
                "counting takes a time range, not a count of the newest predictions",
            ));
        }
        self.window.for_aggregate()
    }
}

/// A position in the `(timestamp, id)` order of predictions: a scan continues at the first
/// prediction at or after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cursor {
    /// Timestamp.
    pub ts: Timestamp,
    /// Id.
    pub id: Uuid,
}

impl Cursor {
    /// The position right after `(ts, id)`.
    pub fn after(ts: Timestamp, id: Uuid) -> Self {
        match id.as_u128().checked_add(1) {
            Some(next) => Self {
                ts,
                id: Uuid::from_u128(next),
            },
            None => Self {
                ts: ts + chrono::Duration::microseconds(1),
                id: Uuid::nil(),
            },
        }
    }
}

/// Options of [`crate::PredictionStore::scan_predictions`]: a page of a model version's
/// predictions in `(timestamp, id)` order, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanOptions {
    window: Window,
    from: Option<Cursor>,
    labelled_only: bool,
    page_size: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            window: Window::all(),
            from: None,
            labelled_only: false,
            page_size: 1000,
        }
    }
}

impl ScanOptions {
    /// Only predictions made in the window's range (a window count is refused).
    #[must_use]
    pub fn within(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// Continues at `cursor` (from [`ScanPage::next`]).
    #[must_use]
    pub fn from(mut self, cursor: Option<Cursor>) -> Self {
        self.from = cursor;
        self
    }

    /// Only labelled predictions.
    #[must_use]
    pub fn labelled_only(mut self, labelled_only: bool) -> Self {
        self.labelled_only = labelled_only;
        self
    }

    /// At most this many predictions per page (default 1,000; 1 to
    /// [`MAX_RECENT_LIMIT`]).
    #[must_use]
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    /// Whether only labelled predictions are scanned.
    pub fn is_labelled_only(&self) -> bool {
        self.labelled_only
    }

    /// Checks the options; returns the range, the starting cursor and the page size.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: `last` for a window with a count, `window` for a bad range,
    /// `page_size` out of range.
    pub fn resolve(&self) -> Result<(Bounds, Cursor, usize)> {
        if self.window.count().is_some() {
            return Err(Error::invalid(
                "last",
                "a scan takes a time range, not a count of the newest predictions",
            ));
        }
        if self.page_size == 0 || self.page_size > MAX_RECENT_LIMIT {
            return Err(Error::invalid(
                "page_size",
                format!(
                    "is {}, it must be from 1 to {MAX_RECENT_LIMIT}",
                    self.page_size
                ),
            ));
        }
        let bounds = self.window.for_aggregate()?;
        let start = Cursor {
            ts: bounds.start,
            id: Uuid::nil(),
        };
        let from = self.from.map_or(start, |c| c.max(start));
        if from.ts > time::end_of_range() {
            return Err(Error::invalid("window", "the cursor lies past the range"));
        }
        Ok((bounds, from, self.page_size))
    }
}

/// A page of [`crate::PredictionStore::scan_predictions`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScanPage {
    /// The predictions, oldest first.
    pub predictions: Vec<crate::Prediction>,
    /// Where the next page starts; `None` when this page ended the scan.
    pub next: Option<Cursor>,
}

impl ScanPage {
    /// The page for `predictions` read with page size `page_size`: a full page has a next one.
    pub fn new(predictions: Vec<crate::Prediction>, page_size: usize) -> Self {
        let next = (predictions.len() == page_size)
            .then(|| {
                predictions
                    .last()
                    .map(|p| Cursor::after(p.timestamp(), p.id()))
            })
            .flatten();
        Self { predictions, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_options() {
        let t = time::now();
        let c = Cursor::after(t, Uuid::from_u128(5));
        assert_eq!((c.ts, c.id), (t, Uuid::from_u128(6)));
        let c = Cursor::after(t, Uuid::max());
        assert_eq!(c.id, Uuid::nil());
        assert!(c.ts > t);
        assert!(ScanOptions::default().page_size(0).resolve().is_err());
        assert!(ScanOptions::default()
            .within(Window::last(3))
            .resolve()
            .is_err());
        let (bounds, from, size) = ScanOptions::default().resolve().unwrap();
        assert_eq!((from.ts, from.id, size), (bounds.start, Uuid::nil(), 1000));
        assert!(PredictionFilter::all()
            .within(Window::last(2))
            .bounds()
            .is_err());
    }
}

/// Filters of the paginated registry listings: a status, and a tag that must equal a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tag: Option<(String, String)>,
}

impl ListFilter {
    /// Only versions with this status.
    #[must_use]
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Only versions whose tag `key` equals `value`.
    #[must_use]
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tag = Some((key.into(), value.into()));
        self
    }

    /// The status filter.
    pub fn status_filter(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// The tag filter.
    pub fn tag_filter(&self) -> Option<(&str, &str)> {
        self.tag.as_ref().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether `m` passes the filter (for stores that filter in memory).
    pub fn matches(&self, m: &crate::ModelMetadata) -> bool {
        self.status.as_deref().is_none_or(|s| m.status() == s)
            && self
                .tag
                .as_ref()
                .is_none_or(|(k, v)| m.tags().get(k) == Some(v))
    }
}

fn check_page_size(page_size: usize) -> Result<usize> {
    if page_size == 0 || page_size > MAX_RECENT_LIMIT {
        return Err(Error::invalid(
            "page_size",
            format!("is {page_size}, it must be from 1 to {MAX_RECENT_LIMIT}"),
        ));
    }
    Ok(page_size)
}

/// Options of [`crate::ModelRegistry::versions_page`]: a page of a model's versions by SemVer
/// precedence after a cursor, filtered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionQuery {
    filter: ListFilter,
    after: Option<Version>,
    page_size: usize,
}

impl Default for VersionQuery {
    fn default() -> Self {
        Self {
            filter: ListFilter::default(),
            after: None,
            page_size: 100,
        }
    }
}

impl VersionQuery {
    /// Only versions that pass `filter`.
    #[must_use]
    pub fn filter(mut self, filter: ListFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Versions after `version` (the cursor of the previous page).
    #[must_use]
    pub fn after(mut self, version: Option<Version>) -> Self {
        self.after = version;
        self
    }

    /// At most `n` a page (default 100; 1 to [`MAX_RECENT_LIMIT`]).
    #[must_use]
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }

    /// The filter.
    pub fn list_filter(&self) -> &ListFilter {
        &self.filter
    }

    /// The cursor.
    pub fn cursor(&self) -> Option<&Version> {
        self.after.as_ref()
    }

    /// Checks the page size and returns it.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `page_size`) out of range.
    pub fn checked_page_size(&self) -> Result<usize> {
        check_page_size(self.page_size)
    }
}

/// A page of versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VersionPage {
    /// The versions, ascending by precedence.
    pub versions: Vec<crate::ModelMetadata>,
    /// The cursor of the next page; `None` when this page was not full.
    pub next: Option<Version>,
}

impl VersionPage {
    /// The page of `versions` read with page size `page_size`.
    pub fn new(versions: Vec<crate::ModelMetadata>, page_size: usize) -> Self {
        let next = (versions.len() == page_size)
            .then(|| versions.last().map(|m| m.version().clone()))
            .flatten();
        Self { versions, next }
    }
}

/// Options of [`crate::ModelRegistry::models_page`]: a page of model names (by their bytes)
/// after a cursor, of models with a version that passes the filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelQuery {
    filter: ListFilter,
    after: Option<ModelName>,
    page_size: usize,
}

impl Default for ModelQuery {
    fn default() -> Self {
        Self {
            filter: ListFilter::default(),
            after: None,
            page_size: 100,
        }
    }
}

impl ModelQuery {
    /// Only models with a version that passes `filter`.
    #[must_use]
    pub fn filter(mut self, filter: ListFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Names after `name` (the cursor of the previous page).
    #[must_use]
    pub fn after(mut self, name: Option<ModelName>) -> Self {
        self.after = name;
        self
    }

    /// At most `n` a page (default 100; 1 to [`MAX_RECENT_LIMIT`]).
    #[must_use]
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }

    /// The filter.
    pub fn list_filter(&self) -> &ListFilter {
        &self.filter
    }

    /// The cursor.
    pub fn cursor(&self) -> Option<&ModelName> {
        self.after.as_ref()
    }

    /// Checks the page size and returns it.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `page_size`) out of range.
    pub fn checked_page_size(&self) -> Result<usize> {
        check_page_size(self.page_size)
    }
}

/// A page of model names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ModelPage {
    /// The names, ascending by their bytes.
    pub names: Vec<ModelName>,
    /// The cursor of the next page; `None` when this page was not full.
    pub next: Option<ModelName>,
}

impl ModelPage {
    /// The page of `names` read with page size `page_size`.
    pub fn new(names: Vec<ModelName>, page_size: usize) -> Self {
        let next = (names.len() == page_size)
            .then(|| names.last().cloned())
            .flatten();
        Self { names, next }
    }
}
