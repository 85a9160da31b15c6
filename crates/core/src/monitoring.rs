//! Monitoring a model version: metrics over a window of its predictions, series per time
//! bucket, confidence drift against its baseline, and champion / challenger comparisons.
//!
//! Backends provide two reads ([`crate::PredictionStore::window_rows`]: the few numbers of each
//! prediction in a window, from a covering index, never the features; and
//! [`crate::PredictionStore::bucket_sums`]: per-bucket sums kept up to date as predictions and
//! labels are written); everything here is computed from them, the same way for every backend,
//! with the formulas of [`crate::stats`] (those of numpy, scipy and scikit-learn).

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, DurationRound, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::stats::{self, QUANTILE_LEVELS};
use crate::{ConfidenceBaseline, Error, Result, Timestamp, Window};

/// Most distinct classes a window's classification metrics cover; above it, metrics return
/// [`Error::InvalidInput`] (field `classes`) unless they are turned off
/// ([`MetricsOptions::classes`]).
pub const MAX_CLASSES: usize = 100;

/// Most buckets one series returns.
pub const MAX_BUCKETS: usize = 10_000;

/// What a backend reads of one prediction of a window: its confidence, and, once labelled,
/// whether it was right, how long the label took, its numeric values and its classes.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    /// Confidence.
    pub confidence: f64,
    /// Whether the label matched; `None` while unlabelled.
    pub correct: Option<bool>,
    /// Microseconds from the prediction's timestamp to when its label was written.
    pub lag_micros: Option<i64>,
    /// The prediction as a number, when it is a JSON number.
    pub prediction_number: Option<f64>,
    /// The label as a number, when it is a JSON number.
    pub actual_number: Option<f64>,
    /// For a labelled prediction: the match keys ([`crate::json::match_key`]) of the prediction
    /// and of the label, the classes of classification metrics.
    pub classes: Option<(String, String)>,
}

/// Options of [`crate::PredictionStoreExt::metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsOptions {
    window: Window,
    classes: bool,
}

impl MetricsOptions {
    /// Metrics over `window`, with classification metrics when the predictions are categorical.
    pub fn new(window: Window) -> Self {
        Self {
            window,
            classes: true,
        }
    }

    /// Whether to compute per-class metrics and the confusion matrix (default: yes).
    #[must_use]
    pub fn classes(mut self, classes: bool) -> Self {
        self.classes = classes;
        self
    }

    /// The window.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Whether class metrics are asked for.
    pub fn classes_on(&self) -> bool {
        self.classes
    }
}

/// Confidence statistics of a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ConfidenceSummary {
    /// Mean (`numpy.mean`).
    pub mean: f64,
    /// Population standard deviation (`numpy.std`, `ddof=0`).
    pub std_dev: f64,
    /// Sample standard deviation (`ddof=1`); `None` for one prediction.
    pub sample_std_dev: Option<f64>,
    /// Quantiles at [`QUANTILE_LEVELS`] (`numpy.quantile`, linear).
    pub quantiles: Quantiles,
    /// Histogram over [`stats::HISTOGRAM_BINS`] equal bins of `[0, 1]` (`numpy.histogram`).
    pub histogram: Vec<u64>,
}

/// The quantiles mlstore reports, at [`QUANTILE_LEVELS`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Quantiles {
    /// 5th percentile.
    pub p05: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 95th percentile.
    pub p95: f64,
}

impl Quantiles {
    /// The quantiles of sorted `values` (`None` when empty).
    pub fn of_sorted(values: &[f64]) -> Option<Self> {
        let q = |level| stats::quantile(values, level);
        Some(Self {
            p05: q(QUANTILE_LEVELS[0])?,
            p25: q(QUANTILE_LEVELS[1])?,
            p50: q(QUANTILE_LEVELS[2])?,
            p75: q(QUANTILE_LEVELS[3])?,
            p95: q(QUANTILE_LEVELS[4])?,
        })
    }

    /// As an array in [`QUANTILE_LEVELS`] order.
    pub fn to_array(&self) -> [f64; 5] {
        [self.p05, self.p25, self.p50, self.p75, self.p95]
    }

    /// From an array in [`QUANTILE_LEVELS`] order.
    pub fn from_array(a: [f64; 5]) -> Self {
        Self {
            p05: a[0],
            p25: a[1],
            p50: a[2],
            p75: a[3],
            p95: a[4],
        }
    }
}

/// How long labels took to arrive, over the labelled predictions whose label time is known.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LabelLag {
    /// Labels counted.
    pub count: u64,
    /// Median lag, in seconds (`numpy.quantile`, linear).
    pub p50_seconds: f64,
    /// 95th percentile, in seconds.
    pub p95_seconds: f64,
}

/// Precision, recall and F1 of one class (`sklearn.metrics.precision_recall_fscore_support`
/// with `average=None`); `None` where scikit-learn would divide by zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClassMetrics {
    /// The class (a prediction value).
    pub class: Value,
    /// Labelled predictions whose label is this class.
    pub support: u64,
    /// Of the predictions of this class, the fraction whose label is this class.
    pub precision: Option<f64>,
    /// Of the labels of this class, the fraction predicted as this class.
    pub recall: Option<f64>,
    /// Harmonic mean of precision and recall, `2·TP / (support + predicted)`.
    pub f1: Option<f64>,
}

/// Counts of (label, prediction) pairs: `counts[i][j]` is the number of labelled predictions
/// whose label is `classes[i]` and whose prediction is `classes[j]`
/// (`sklearn.metrics.confusion_matrix(y_true, y_pred)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ConfusionMatrix {
    /// The classes, sorted as scikit-learn sorts labels (numbers by value, strings by bytes).
    pub classes: Vec<Value>,
    /// Rows: labels; columns: predictions.
    pub counts: Vec<Vec<u64>>,
}

/// Errors of numeric predictions against numeric labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RegressionMetrics {
    /// Pairs counted.
    pub count: u64,
    /// Mean absolute error (`sklearn.metrics.mean_absolute_error`).
    pub mae: f64,
    /// Root mean squared error (`sqrt(mean_squared_error)`).
    pub rmse: f64,
    /// Mean of prediction minus label (bias).
    pub mean_error: f64,
}

/// Metrics of one model version over a window of its predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WindowMetrics {
    /// Predictions in the window.
    pub predictions: u64,
    /// Of them, labelled.
    pub labelled: u64,
    /// Of those, correct ([`crate::labels_match`]).
    pub correct: u64,
    /// `correct / labelled`; `None` without labels.
    pub accuracy: Option<f64>,
    /// `labelled / predictions`; `None` without predictions.
    pub label_coverage: Option<f64>,
    /// Label lag; `None` without labels of known time.
    pub label_lag: Option<LabelLag>,
    /// Confidence statistics; `None` without predictions.
    pub confidence: Option<ConfidenceSummary>,
    /// Per-class metrics, when the labelled predictions and labels are categorical (strings,
    /// integers, booleans) and classes were asked for.
    pub classes: Option<Vec<ClassMetrics>>,
    /// The confusion matrix, with the per-class metrics.
    pub confusion_matrix: Option<ConfusionMatrix>,
    /// Errors, when predictions and labels are numbers.
    pub regression: Option<RegressionMetrics>,
}

/// Whether a value is categorical: a string, an integer or a boolean.
fn is_categorical(v: &Value) -> bool {
    match v {
        Value::String(_) | Value::Bool(_) => true,
        Value::Number(n) => !n.is_f64(),
        _ => false,
    }
}

/// scikit-learn's label order: booleans, then numbers by value, then strings by bytes.
fn class_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    let rank = |v: &Value| match v {
        Value::Bool(_) => 0,
        Value::Number(_) => 1,
        _ => 2,
    };
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    })
}

impl WindowMetrics {
    /// Computes the metrics of a window from its rows (see the field docs for each formula).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `classes`) for more than [`MAX_CLASSES`] classes when
    /// `with_classes`.
    pub fn from_rows(rows: &[WindowRow], with_classes: bool) -> Result<Self> {
        let predictions = rows.len() as u64;
        let labelled = rows.iter().filter(|r| r.correct.is_some()).count() as u64;
        let correct = rows.iter().filter(|r| r.correct == Some(true)).count() as u64;
        let mut confidences: Vec<f64> = rows.iter().map(|r| r.confidence).collect();
        confidences.sort_by(f64::total_cmp);
        let confidence =
            stats::mean_and_std(&confidences).map(|(mean, std_dev, sample)| ConfidenceSummary {
                mean,
                std_dev,
                sample_std_dev: sample,
                quantiles: Quantiles::of_sorted(&confidences).expect("not empty"),
                histogram: stats::histogram(&confidences).to_vec(),
            });
        let mut lags: Vec<f64> = rows
            .iter()
            .filter(|r| r.correct.is_some())
            .filter_map(|r| r.lag_micros)
            .map(|micros| micros as f64 / 1e6)
            .collect();
        lags.sort_by(f64::total_cmp);
        let label_lag = (!lags.is_empty()).then(|| LabelLag {
            count: lags.len() as u64,
            p50_seconds: stats::quantile(&lags, 0.5).expect("not empty"),
            p95_seconds: stats::quantile(&lags, 0.95).expect("not empty"),
        });
        let errors: Vec<f64> = rows
            .iter()
            .filter(|r| r.correct.is_some())
            .filter_map(|r| Some(r.prediction_number? - r.actual_number?))
            .collect();
        let regression = (!errors.is_empty()).then(|| {
            let n = errors.len() as f64;
            RegressionMetrics {
                count: errors.len() as u64,
                mae: stats::pairwise_sum(errors.iter().map(|e| e.abs())) / n,
                rmse: (stats::pairwise_sum(errors.iter().map(|e| e * e)) / n).sqrt(),
                mean_error: stats::pairwise_sum(errors.iter().copied()) / n,
            }
        });
        let (classes, confusion_matrix) = if with_classes {
            classification(rows)?
        } else {
            (None, None)
        };
        Ok(Self {
            predictions,
            labelled,
            correct,
            accuracy: (labelled > 0).then(|| correct as f64 / labelled as f64),
            label_coverage: (predictions > 0).then(|| labelled as f64 / predictions as f64),
            label_lag,
            confidence,
            classes,
            confusion_matrix,
            regression,
        })
    }
}

type Classification = (Option<Vec<ClassMetrics>>, Option<ConfusionMatrix>);

fn classification(rows: &[WindowRow]) -> Result<Classification> {
    let mut pairs: HashMap<(&str, &str), u64> = HashMap::new();
    for (p, a) in rows.iter().filter_map(|r| r.classes.as_ref()) {
        *pairs.entry((p.as_str(), a.as_str())).or_default() += 1;
    }
    if pairs.is_empty() {
        return Ok((None, None));
    }
    let mut values: BTreeMap<&str, Value> = BTreeMap::new();
    for (p, a) in pairs.keys() {
        for key in [*p, *a] {
            if !values.contains_key(key) {
                let Ok(v) = serde_json::from_str::<Value>(key) else {
                    return Ok((None, None));
                };
                if !is_categorical(&v) {
                    return Ok((None, None));
                }
                values.insert(key, v);
            }
            if values.len() > MAX_CLASSES {
                return Err(Error::invalid(
                    "classes",
                    format!(
                        "the window holds more than {MAX_CLASSES} classes; turn class metrics \
                         off (MetricsOptions::classes(false), --no-classes) for it"
                    ),
                ));
            }
        }
    }
    let mut order: Vec<(&str, Value)> = values.into_iter().collect();
    order.sort_by(|a, b| class_order(&a.1, &b.1));
    let index: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (*k, i))
        .collect();
    let n = order.len();
    let mut counts = vec![vec![0u64; n]; n];
    for ((p, a), c) in &pairs {
        counts[index[a]][index[p]] += c;
    }
    let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
    let metrics = (0..n)
        .map(|i| {
            let tp = counts[i][i];
            let support: u64 = counts[i].iter().sum();
            let predicted: u64 = counts.iter().map(|row| row[i]).sum();
            let precision = ratio(tp, predicted);
            let recall = ratio(tp, support);
            // scikit-learn's F1: 2·TP / (support + predicted), defined whenever the class was
            // predicted or labelled.
            let f1 = ratio(2 * tp, support + predicted);
            ClassMetrics {
                class: order[i].1.clone(),
                support,
                precision,
                recall,
                f1,
            }
        })
        .collect();
    let matrix = ConfusionMatrix {
        classes: order.into_iter().map(|(_, v)| v).collect(),
        counts,
    };
    Ok((Some(metrics), Some(matrix)))
}

/// The width of a series bucket; every bucket is aligned to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// One minute (read from the predictions themselves: use it for ranges of hours or days).
    Minute,
    /// One hour.
    Hour,
    /// One day, from midnight UTC.
    Day,
    /// One week, from Monday midnight UTC (ISO weeks).
    Week,
}

impl Bucket {
    /// Parses `minute`, `hour`, `day` or `week`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `bucket`) otherwise.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "minute" => Ok(Bucket::Minute),
            "hour" => Ok(Bucket::Hour),
            "day" => Ok(Bucket::Day),
            "week" => Ok(Bucket::Week),
            other => Err(Error::invalid(
                "bucket",
                format!("{other:?}: expected minute, hour, day or week"),
            )),
        }
    }

    /// The bucket's name.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }

    /// The start of the bucket holding `t`.
    pub fn floor(self, t: Timestamp) -> Timestamp {
        match self {
            Bucket::Minute => t.duration_trunc(Duration::minutes(1)).unwrap_or(t),
            Bucket::Hour => t.duration_trunc(Duration::hours(1)).unwrap_or(t),
            Bucket::Day => t.duration_trunc(Duration::days(1)).unwrap_or(t),
            Bucket::Week => {
                let day = Bucket::Day.floor(t);
                day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
            }
        }
    }

    /// The start of the bucket after the one starting at `start`.
    pub fn next(self, start: Timestamp) -> Timestamp {
        start
            + match self {
                Bucket::Minute => Duration::minutes(1),
                Bucket::Hour => Duration::hours(1),
                Bucket::Day => Duration::days(1),
                Bucket::Week => Duration::weeks(1),
            }
    }
}

/// Options of [`crate::PredictionStoreExt::series`]: a time range (both ends required) cut
/// into buckets. The range is widened to whole buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesQuery {
    since: Timestamp,
    until: Timestamp,
    bucket: Bucket,
}

impl SeriesQuery {
    /// Buckets of `bucket` from the one holding `since` to the one holding the instant before
    /// `until`.
    pub fn new(since: Timestamp, until: Timestamp, bucket: Bucket) -> Self {
        Self {
            since,
            until,
            bucket,
        }
    }

    /// The bucket width.
    pub fn bucket(&self) -> Bucket {
        self.bucket
    }

    /// The width of the sums a store reads for this series
    /// ([`bucket_sums`](crate::PredictionStore::bucket_sums)): minutes for a minute series
    /// (read from the predictions), hours for every wider bucket (the per-hour sums kept on
    /// write).
    pub fn sums_bucket(&self) -> Bucket {
        match self.bucket {
            Bucket::Minute => Bucket::Minute,
            _ => Bucket::Hour,
        }
    }

    /// The bucket starts the series covers, and its range widened to whole buckets.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: field `window` for `since >= until` or a bound outside the
    /// supported range; `bucket` for more than [`MAX_BUCKETS`] buckets.
    pub fn buckets(&self) -> Result<(Vec<Timestamp>, Timestamp, Timestamp)> {
        Window::between(self.since, self.until).for_aggregate()?;
        let start = self.bucket.floor(self.since);
        let mut starts = Vec::new();
        let mut t = start;
        while t < self.until {
            if starts.len() == MAX_BUCKETS {
                return Err(Error::invalid(
                    "bucket",
                    format!(
                        "the range holds more than {MAX_BUCKETS} {} buckets; use a wider bucket \
                         or a shorter range",
                        self.bucket.name()
                    ),
                ));
            }
            starts.push(t);
            t = self.bucket.next(t);
        }
        Ok((starts, start, t))
    }
}

/// Sums a backend keeps per hour (or computes per minute) of a version's predictions, from
/// which every figure of a series bucket is derived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketSums {
    /// Start of the hour (or minute).
    pub start: Option<Timestamp>,
    /// Predictions.
    pub predictions: u64,
    /// Labelled predictions.
    pub labelled: u64,
    /// Correct ones.
    pub correct: u64,
    /// Sum of confidences.
    pub confidence_sum: f64,
    /// Sum of squared confidences.
    pub confidence_square_sum: f64,
    /// Labels with a known label time.
    pub lag_count: u64,
    /// Sum of their lags, in microseconds.
    pub lag_micros_sum: f64,
    /// Labelled predictions whose prediction and label are numbers.
    pub numeric_count: u64,
    /// Sum of |prediction - label|.
    pub absolute_error_sum: f64,
    /// Sum of (prediction - label)².
    pub squared_error_sum: f64,
    /// Sum of prediction - label.
    pub error_sum: f64,
}

impl BucketSums {
    /// Adds another bucket's sums to these.
    pub fn add(&mut self, other: &BucketSums) {
        self.predictions += other.predictions;
        self.labelled += other.labelled;
        self.correct += other.correct;
        self.confidence_sum += other.confidence_sum;
        self.confidence_square_sum += other.confidence_square_sum;
        self.lag_count += other.lag_count;
        self.lag_micros_sum += other.lag_micros_sum;
        self.numeric_count += other.numeric_count;
        self.absolute_error_sum += other.absolute_error_sum;
        self.squared_error_sum += other.squared_error_sum;
        self.error_sum += other.error_sum;
    }

    /// The sums one prediction contributes.
    pub fn of_row(row: &WindowRow) -> Self {
        let labelled = row.correct.is_some();
        let error = labelled
            .then(|| Some(row.prediction_number? - row.actual_number?))
            .flatten();
        let lag = row.lag_micros.filter(|_| labelled);
        Self {
            start: None,
            predictions: 1,
            labelled: u64::from(labelled),
            correct: u64::from(row.correct == Some(true)),
            confidence_sum: row.confidence,
            confidence_square_sum: row.confidence * row.confidence,
            lag_count: u64::from(lag.is_some()),
            lag_micros_sum: lag.map_or(0.0, |l| l as f64),
            numeric_count: u64::from(error.is_some()),
            absolute_error_sum: error.map_or(0.0, f64::abs),
            squared_error_sum: error.map_or(0.0, |e| e * e),
            error_sum: error.unwrap_or(0.0),
        }
    }
}

/// One bucket of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SeriesPoint {
    /// Start of the bucket (UTC).
    pub start: Timestamp,
    /// Predictions made in it.
    pub predictions: u64,
    /// Of them, labelled.
    pub labelled: u64,
    /// Of those, correct.
    pub correct: u64,
    /// `correct / labelled`.
    pub accuracy: Option<f64>,
    /// `labelled / predictions`.
    pub label_coverage: Option<f64>,
    /// Mean confidence.
    pub confidence_mean: Option<f64>,
    /// Population standard deviation of the confidence, from the sums:
    /// `sqrt(max(0, Σc²/n - (Σc/n)²))`.
    pub confidence_std_dev: Option<f64>,
    /// Mean label lag, in seconds.
    pub label_lag_mean_seconds: Option<f64>,
    /// Mean absolute error of numeric predictions.
    pub mae: Option<f64>,
    /// Root mean squared error.
    pub rmse: Option<f64>,
    /// Mean of prediction minus label.
    pub mean_error: Option<f64>,
}

impl SeriesPoint {
    /// The point for a bucket starting at `start` with sums `s`.
    pub fn from_sums(start: Timestamp, s: &BucketSums) -> Self {
        let per = |sum: f64, n: u64| (n > 0).then(|| sum / n as f64);
        let mean = per(s.confidence_sum, s.predictions);
        Self {
            start,
            predictions: s.predictions,
            labelled: s.labelled,
            correct: s.correct,
            accuracy: per(s.correct as f64, s.labelled),
            label_coverage: per(s.labelled as f64, s.predictions),
            confidence_mean: mean,
            confidence_std_dev: mean.map(|m| {
                (s.confidence_square_sum / s.predictions as f64 - m * m)
                    .max(0.0)
                    .sqrt()
            }),
            label_lag_mean_seconds: per(s.lag_micros_sum / 1e6, s.lag_count),
            mae: per(s.absolute_error_sum, s.numeric_count),
            rmse: per(s.squared_error_sum, s.numeric_count).map(f64::sqrt),
            mean_error: per(s.error_sum, s.numeric_count),
        }
    }
}

/// A series: one point per bucket of the range, empty buckets included (with zero counts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Series {
    /// The bucket width.
    pub bucket: Bucket,
    /// The points, oldest first.
    pub points: Vec<SeriesPoint>,
}

impl Series {
    /// Groups hourly (or, for minute series, per-minute) sums into the query's buckets,
    /// filling empty ones.
    pub fn from_sums(query: &SeriesQuery, starts: &[Timestamp], sums: &[BucketSums]) -> Self {
        let mut by_start: BTreeMap<Timestamp, BucketSums> = BTreeMap::new();
        for s in sums {
            if let Some(t) = s.start {
                by_start.entry(query.bucket.floor(t)).or_default().add(s);
            }
        }
        let empty = BucketSums::default();
        let points = starts
            .iter()
            .map(|t| SeriesPoint::from_sums(*t, by_start.get(t).unwrap_or(&empty)))
            .collect();
        Self {
            bucket: query.bucket,
            points,
        }
    }
}

/// Drift thresholds; the verdict is the worst of the criteria that reach a threshold.
///
/// | criterion | warn | drift |
/// |---|---|---|
/// | PSI | 0.1 | 0.25 (the common convention) |
/// | mean shift, in baseline standard deviations (absolute) | 2 | 3 |
/// | KS p-value (optional, off by default: with large windows it flags tiny changes) | - | - |
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DriftThresholds {
    psi_warn: f64,
    psi_drift: f64,
    mean_shift_warn: f64,
    mean_shift_drift: f64,
    ks_pvalue_warn: Option<f64>,
    ks_pvalue_drift: Option<f64>,
}

impl Default for DriftThresholds {
    fn default() -> Self {
        Self {
            psi_warn: 0.1,
            psi_drift: 0.25,
            mean_shift_warn: 2.0,
            mean_shift_drift: 3.0,
            ks_pvalue_warn: None,
            ks_pvalue_drift: None,
        }
    }
}

fn ordered(field: &'static str, warn: f64, drift: f64) -> Result<()> {
    if !warn.is_finite() || !drift.is_finite() || warn < 0.0 || warn > drift {
        return Err(Error::invalid(
            field,
            format!("warn {warn} and drift {drift}: expected finite 0 <= warn <= drift"),
        ));
    }
    Ok(())
}

impl DriftThresholds {
    /// The thresholds a caller gives in parts, as the command line's and the HTTP service's
    /// options do: a pair given in part keeps the default for the half not given; KS p-values
    /// count only when both are given.
    ///
    /// # Errors
    /// As [`psi`](Self::psi), [`mean_shift`](Self::mean_shift) and
    /// [`ks_pvalue`](Self::ks_pvalue); one KS threshold without the other is
    /// [`Error::InvalidInput`] (field `ks_thresholds`).
    pub fn from_parts(
        psi: [Option<f64>; 2],
        mean_shift: [Option<f64>; 2],
        ks_pvalue: [Option<f64>; 2],
    ) -> Result<Self> {
        let mut t = Self::default();
        let [warn, drift] = psi;
        if warn.is_some() || drift.is_some() {
            t = t.psi(warn.unwrap_or(t.psi_warn), drift.unwrap_or(t.psi_drift))?;
        }
        let [warn, drift] = mean_shift;
        if warn.is_some() || drift.is_some() {
            t = t.mean_shift(
                warn.unwrap_or(t.mean_shift_warn),
                drift.unwrap_or(t.mean_shift_drift),
            )?;
        }
        match ks_pvalue {
            [Some(warn), Some(drift)] => t = t.ks_pvalue(warn, drift)?,
            [None, None] => {}
            _ => {
                return Err(Error::invalid(
                    "ks_thresholds",
                    "give both the warn and the drift p-value, or neither",
                ))
            }
        }
        Ok(t)
    }

    /// The PSI thresholds: `(warn, drift)`.
    pub fn psi_levels(&self) -> (f64, f64) {
        (self.psi_warn, self.psi_drift)
    }

    /// The mean-shift thresholds, in baseline standard deviations: `(warn, drift)`.
    pub fn mean_shift_levels(&self) -> (f64, f64) {
        (self.mean_shift_warn, self.mean_shift_drift)
    }

    /// The KS p-value thresholds (a p-value below one reaches it), when set:
    /// `(warn, drift)`.
    pub fn ks_pvalue_levels(&self) -> Option<(f64, f64)> {
        self.ks_pvalue_warn.zip(self.ks_pvalue_drift)
    }

    /// Sets the PSI thresholds.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `psi_thresholds`) unless `0 <= warn <= drift`, finite.
    pub fn psi(mut self, warn: f64, drift: f64) -> Result<Self> {
        ordered("psi_thresholds", warn, drift)?;
        (self.psi_warn, self.psi_drift) = (warn, drift);
        Ok(self)
    }

    /// Sets the mean-shift thresholds (in baseline standard deviations).
    ///
    /// # Errors
    /// As [`psi`](Self::psi) (field `mean_shift_thresholds`).
    pub fn mean_shift(mut self, warn: f64, drift: f64) -> Result<Self> {
        ordered("mean_shift_thresholds", warn, drift)?;
        (self.mean_shift_warn, self.mean_shift_drift) = (warn, drift);
        Ok(self)
    }

    /// Makes low KS p-values count: warn below `warn`, drift below `drift`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `ks_thresholds`) unless `0 <= drift <= warn <= 1`.
    pub fn ks_pvalue(mut self, warn: f64, drift: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&warn) || !(0.0..=1.0).contains(&drift) || drift > warn {
            return Err(Error::invalid(
                "ks_thresholds",
                format!("warn {warn} and drift {drift}: expected 0 <= drift <= warn <= 1"),
            ));
        }
        (self.ks_pvalue_warn, self.ks_pvalue_drift) = (Some(warn), Some(drift));
        Ok(self)
    }
}

/// The drift verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No threshold reached.
    Ok,
    /// A warn threshold reached.
    Warn,
    /// A drift threshold reached.
    Drift,
}

/// A window's confidence distribution against the version's baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DriftReport {
    /// Population stability index ([`stats::psi`]).
    pub psi: f64,
    /// Two-sample KS statistic ([`stats::ks_statistic`]); against the baseline's histogram
    /// ([`stats::ks_statistic_against_histogram`]) when it keeps no samples.
    pub ks_statistic: f64,
    /// Its asymptotic p-value ([`stats::ks_pvalue`]).
    pub ks_pvalue: f64,
    /// `samples` (exact two-sample) or `histogram`.
    pub ks_method: String,
    /// `(window mean - baseline mean) / baseline std_dev`; `None` when the baseline's standard
    /// deviation is 0.
    pub mean_shift_sigma: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// Predictions in the window.
    pub window_count: u64,
    /// Predictions the baseline was computed from.
    pub baseline_count: u64,
    /// The window's confidence histogram.
    pub window_histogram: Vec<u64>,
    /// The baseline's.
    pub baseline_histogram: Vec<u64>,
    /// The thresholds used.
    pub thresholds: DriftThresholds,
}

impl DriftReport {
    /// Compares sorted window confidences with `baseline`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `window`) for a window without predictions, (field
    /// `baseline`) for a baseline without a histogram (written before histograms existed).
    pub fn compute(
        window: &[f64],
        baseline: &ConfidenceBaseline,
        thresholds: DriftThresholds,
    ) -> Result<Self> {
        if window.is_empty() {
            return Err(Error::invalid("window", "the window holds no predictions"));
        }
        let Some(expected) = baseline.histogram() else {
            return Err(Error::invalid(
                "baseline",
                "the baseline has no histogram (it predates them): compute it again with \
                 `mlstore baseline compute` or PredictionStoreExt::compute_baseline",
            ));
        };
        let actual = stats::histogram(window);
        let psi = stats::psi(expected, &actual).expect("both histograms hold values");
        let (ks_statistic, ks_method) = match baseline.samples() {
            Some(samples) => (stats::ks_statistic(window, samples), "samples"),
            None => (
                stats::ks_statistic_against_histogram(window, expected),
                "histogram",
            ),
        };
        let ks_statistic = ks_statistic.expect("both sides hold values");
        let ks_pvalue = stats::ks_pvalue(
            ks_statistic,
            window.len(),
            baseline.sample_count().max(1) as usize,
        );
        let (mean, _, _) = stats::mean_and_std(window).expect("not empty");
        let mean_shift_sigma =
            (baseline.std_dev() > 0.0).then(|| (mean - baseline.mean()) / baseline.std_dev());
        let t = thresholds;
        let mut verdict = Verdict::Ok;
        let mut reach = |level: Verdict| verdict = verdict.max(level);
        if psi >= t.psi_drift {
            reach(Verdict::Drift);
        } else if psi >= t.psi_warn {
            reach(Verdict::Warn);
        }
        if let Some(z) = mean_shift_sigma.map(f64::abs) {
            if z >= t.mean_shift_drift {
                reach(Verdict::Drift);
            } else if z >= t.mean_shift_warn {
                reach(Verdict::Warn);
            }
        }
        if let (Some(w), Some(d)) = (t.ks_pvalue_warn, t.ks_pvalue_drift) {
            if ks_pvalue < d {
                reach(Verdict::Drift);
            } else if ks_pvalue < w {
                reach(Verdict::Warn);
            }
        }
        Ok(Self {
            psi,
            ks_statistic,
            ks_pvalue,
            ks_method: ks_method.to_owned(),
            mean_shift_sigma,
            verdict,
            window_count: window.len() as u64,
            baseline_count: baseline.sample_count(),
            window_histogram: actual.to_vec(),
            baseline_histogram: expected.to_vec(),
            thresholds,
        })
    }
}

/// Two versions over the same window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Comparison {
    /// The first version's metrics (the champion).
    pub a: WindowMetrics,
    /// The second's (the challenger).
    pub b: WindowMetrics,
    /// `accuracy(b) - accuracy(a)`, when both have labels.
    pub accuracy_difference: Option<f64>,
    /// The pooled two-proportion z statistic of `a` against `b`
    /// ([`stats::two_proportion_z_test`]).
    pub z: Option<f64>,
    /// Its two-sided p-value.
    pub p_value: Option<f64>,
}

impl Comparison {
    /// Compares two versions' metrics.
    pub fn of(a: WindowMetrics, b: WindowMetrics) -> Self {
        let accuracy_difference = match (a.accuracy, b.accuracy) {
            (Some(x), Some(y)) => Some(y - x),
            _ => None,
        };
        let test = stats::two_proportion_z_test(a.correct, a.labelled, b.correct, b.labelled);
        Self {
            a,
            b,
            accuracy_difference,
            z: test.map(|t| t.0),
            p_value: test.map(|t| t.1),
        }
    }
}

/// Start of the UTC day of `t` (helper for callers building ranges).
pub fn day_start(t: Timestamp) -> Timestamp {
    Utc.from_utc_datetime(
        &t.date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_from_parts_keep_defaults_for_missing_halves() {
        let d = DriftThresholds::default();
        let none = [None, None];
        assert_eq!(DriftThresholds::from_parts(none, none, none).unwrap(), d);
        let t = DriftThresholds::from_parts([Some(0.05), None], none, none).unwrap();
        assert_eq!(t, d.psi(0.05, 0.25).unwrap());
        let t = DriftThresholds::from_parts(none, [None, Some(4.0)], none).unwrap();
        assert_eq!(t, d.mean_shift(2.0, 4.0).unwrap());
        let t = DriftThresholds::from_parts(none, none, [Some(0.05), Some(0.01)]).unwrap();
        assert_eq!(t, d.ks_pvalue(0.05, 0.01).unwrap());
        let e = DriftThresholds::from_parts(none, none, [Some(0.05), None]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidInput {
                    field: "ks_thresholds",
                    ..
                }
            ),
            "{e}"
        );
        let e = DriftThresholds::from_parts([Some(0.5), None], none, none).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidInput {
                    field: "psi_thresholds",
                    ..
                }
            ),
            "{e}"
        );
    }
    use serde_json::json;

    fn row(confidence: f64, p: Value, a: Option<Value>) -> WindowRow {
        let classes = a
            .as_ref()
            .map(|a| (crate::json::match_key(&p), crate::json::match_key(a)));
        WindowRow {
            confidence,
            correct: a.as_ref().map(|a| crate::labels_match(&p, a)),
            lag_micros: a.as_ref().map(|_| 2_000_000),
            prediction_number: p.as_f64(),
            actual_number: a.as_ref().and_then(Value::as_f64),
            classes,
        }
    }

    #[test]
    fn classification_follows_sklearn() {
        // y_true = [a, a, b, b, c], y_pred = [a, b, b, b, a]
        let rows = vec![
            row(0.9, json!("a"), Some(json!("a"))),
            row(0.8, json!("b"), Some(json!("a"))),
            row(0.7, json!("b"), Some(json!("b"))),
            row(0.6, json!("b"), Some(json!("b"))),
            row(0.5, json!("a"), Some(json!("c"))),
            row(0.4, json!("a"), None),
        ];
        let m = WindowMetrics::from_rows(&rows, true).unwrap();
        assert_eq!((m.predictions, m.labelled, m.correct), (6, 5, 3));
        let cm = m.confusion_matrix.unwrap();
        assert_eq!(cm.classes, vec![json!("a"), json!("b"), json!("c")]);
        assert_eq!(cm.counts, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]);
        let classes = m.classes.unwrap();
        assert_eq!(classes[0].precision, Some(0.5));
        assert_eq!(classes[1].precision, Some(2.0 / 3.0));
        assert_eq!(classes[2].precision, None, "c was never predicted");
        assert_eq!(classes[2].recall, Some(0.0));
        assert_eq!(m.label_lag.unwrap().p50_seconds, 2.0);
    }

    #[test]
    fn regression_and_too_many_classes() {
        let rows: Vec<WindowRow> = (0..4)
            .map(|i| row(0.5, json!(i as f64 + 0.5), Some(json!(i as f64))))
            .collect();
        let m = WindowMetrics::from_rows(&rows, true).unwrap();
        assert!(m.classes.is_none(), "floats are not classes");
        let r = m.regression.unwrap();
        assert_eq!((r.mae, r.rmse, r.mean_error), (0.5, 0.5, 0.5));
        let many: Vec<WindowRow> = (0..=MAX_CLASSES)
            .map(|i| row(0.5, json!(i), Some(json!(i))))
            .collect();
        assert!(WindowMetrics::from_rows(&many, true).is_err());
        assert!(WindowMetrics::from_rows(&many, false).is_ok());
    }

    #[test]
    fn buckets_align_to_utc() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-26T13:45:10Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            Bucket::Week.floor(t).to_rfc3339(),
            "2026-11-23T00:00:00+00:00"
        );
        assert_eq!(
            Bucket::Hour.floor(t).to_rfc3339(),
            "2026-11-26T13:00:00+00:00"
        );
        let q = SeriesQuery::new(t, t + Duration::hours(3), Bucket::Hour);
        let (starts, _, end) = q.buckets().unwrap();
        assert_eq!(starts.len(), 4);
        assert_eq!(end.to_rfc3339(), "2026-11-26T17:00:00+00:00");
        assert!(SeriesQuery::new(t, t, Bucket::Hour).buckets().is_err());
        assert!(SeriesQuery::new(t, t + Duration::days(30), Bucket::Minute)
            .buckets()
            .is_err());
        assert!(Bucket::parse("fortnight").is_err());
    }

    #[test]
    fn thresholds_must_be_ordered() {
        assert!(DriftThresholds::default().psi(0.3, 0.2).is_err());
        assert!(DriftThresholds::default().psi(f64::NAN, 0.2).is_err());
        assert!(DriftThresholds::default().ks_pvalue(0.01, 0.05).is_err());
        assert!(DriftThresholds::default().psi(0.05, 0.2).is_ok());
    }
}
