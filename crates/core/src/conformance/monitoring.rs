//! Checks of the monitoring reads ([`crate::PredictionStore::window_rows`],
//! [`crate::PredictionStore::window_confidences`], [`crate::PredictionStore::bucket_sums`]) and
//! of what [`crate::PredictionStoreExt`] computes from them.

use chrono::Duration;
use serde_json::json;

use super::fixtures::{at, metadata, prediction, unique_name, version};
use crate::monitoring::{Bucket, SeriesQuery, Verdict};
use crate::{
    ConfidenceBaseline, DriftThresholds, ErrorKind, Label, MetricsOptions, ModelName, Prediction,
    PredictionStoreExt, Store, Window,
};

async fn registered(store: &dyn Store, prefix: &str) -> ModelName {
    let name = unique_name(prefix);
    store
        .register(&metadata(&name, "1.0.0"))
        .await
        .expect("register");
    name
}

fn hour() -> i64 {
    3_600_000_000
}

/// Six predictions over two hours: classes "a"/"b" with two right, one wrong, one unlabelled
/// in the first hour; two numeric ones (2.5 predicted for 2, 4 for 5) in the second.
async fn six(store: &dyn Store, name: &ModelName) -> Vec<Prediction> {
    let specs = [
        (json!("a"), Some(json!("a")), 0.9, 10),
        (json!("b"), Some(json!("b")), 0.8, 20),
        (json!("a"), Some(json!("b")), 0.6, 30),
        (json!("b"), None, 0.4, 40),
        (json!(2.5), Some(json!(2)), 0.7, hour() + 10),
        (json!(4), Some(json!(5)), 0.3, hour() + 20),
    ];
    let preds: Vec<Prediction> = specs
        .iter()
        .map(|(p, a, c, t)| {
            prediction(name, "1.0.0", p.clone(), *t)
                .to_builder()
                .actual(a.clone())
                .confidence(*c)
                .build()
                .expect("valid")
        })
        .collect();
    store.store_predictions(&preds).await.expect("store");
    preds
}

/// window_rows: NotFound for an unregistered version; a bad window is InvalidInput.
pub async fn window_reads_of_missing_version_are_not_found(store: &dyn Store) {
    let name = registered(store, "window-missing").await;
    let v = version("9.9.9");
    let err = store
        .window_rows(&name, &v, Window::last(10))
        .await
        .expect_err("unknown");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = store
        .window_confidences(&name, &v, Window::all())
        .await
        .expect_err("unknown");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let q = SeriesQuery::new(at(0), at(hour()), Bucket::Hour);
    let err = store.bucket_sums(&name, &v, &q).await.expect_err("unknown");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = store
        .window_rows(&name, &version("1.0.0"), Window::last(0))
        .await
        .expect_err("bad window");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let bad = SeriesQuery::new(at(10), at(10), Bucket::Hour);
    let err = store
        .bucket_sums(&name, &version("1.0.0"), &bad)
        .await
        .expect_err("bad range");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

/// window_rows / window_confidences: one row per prediction of the window, newest first, with
/// the label's correctness, numbers and classes; the confidences of the same predictions,
/// ascending.
pub async fn window_rows_carry_what_monitoring_needs(store: &dyn Store) {
    let name = registered(store, "window-rows").await;
    let v = version("1.0.0");
    six(store, &name).await;
    let rows = store
        .window_rows(&name, &v, Window::all())
        .await
        .expect("rows");
    let confidences: Vec<f64> = rows.iter().map(|r| r.confidence).collect();
    assert_eq!(
        confidences,
        vec![0.3, 0.7, 0.4, 0.6, 0.8, 0.9],
        "newest first"
    );
    assert_eq!(rows[0].correct, Some(false));
    assert_eq!(
        (rows[0].prediction_number, rows[0].actual_number),
        (Some(4.0), Some(5.0))
    );
    assert_eq!(rows[2].correct, None);
    assert_eq!(rows[2].classes, None);
    assert_eq!(
        rows[3].classes,
        Some(("\"a\"".to_owned(), "\"b\"".to_owned()))
    );
    assert!(rows
        .iter()
        .filter(|r| r.correct.is_some())
        .all(|r| r.lag_micros.is_some()));
    let newest = store
        .window_rows(&name, &v, Window::last(2))
        .await
        .expect("rows");
    assert_eq!(newest, rows[..2].to_vec());
    let sorted = store
        .window_confidences(&name, &v, Window::last(4))
        .await
        .expect("confidences");
    assert_eq!(sorted, vec![0.3, 0.4, 0.6, 0.7]);
}

/// bucket_sums: one entry per hour holding predictions, with their sums; a label written later
/// (and a relabel) moves them; minute buckets sum minutes.
pub async fn bucket_sums_follow_predictions_and_labels(store: &dyn Store) {
    let name = registered(store, "buckets").await;
    let v = version("1.0.0");
    let preds = six(store, &name).await;
    let q = SeriesQuery::new(at(0), at(3 * hour()), Bucket::Hour);
    let sums = store.bucket_sums(&name, &v, &q).await.expect("sums");
    assert_eq!(sums.len(), 2, "{sums:?}");
    let first = &sums[0];
    assert_eq!(
        (first.predictions, first.labelled, first.correct),
        (4, 3, 2)
    );
    assert!((first.confidence_sum - 2.7).abs() < 1e-12);
    let second = &sums[1];
    assert_eq!((second.numeric_count, second.correct), (2, 0));
    assert!((second.absolute_error_sum - 1.5).abs() < 1e-12);
    assert!((second.error_sum + 0.5).abs() < 1e-12);
    // Label the unlabelled one (right), then relabel a right one as wrong.
    store
        .record_actual(preds[3].id(), &json!("b"))
        .await
        .expect("label");
    store
        .record_actuals(&[Label::new(preds[0].id(), json!("z")).expect("valid")])
        .await
        .expect("relabel");
    let sums = store.bucket_sums(&name, &v, &q).await.expect("sums");
    assert_eq!(
        (sums[0].predictions, sums[0].labelled, sums[0].correct),
        (4, 4, 2)
    );
    assert_eq!(sums[0].lag_count, 4);
    let minutes = SeriesQuery::new(at(0), at(2 * hour()), Bucket::Minute);
    let sums = store.bucket_sums(&name, &v, &minutes).await.expect("sums");
    assert_eq!(sums.iter().map(|s| s.predictions).sum::<u64>(), 6);
}

/// metrics: counts, accuracy, coverage, confidence statistics, classes and regression over a
/// window, the same on every backend.
pub async fn metrics_over_a_window(store: &dyn Store) {
    let name = registered(store, "metrics").await;
    let v = version("1.0.0");
    six(store, &name).await;
    let m = store
        .metrics(&name, &v, MetricsOptions::new(Window::all()))
        .await
        .expect("metrics");
    assert_eq!((m.predictions, m.labelled, m.correct), (6, 5, 2));
    assert_eq!(m.accuracy, Some(0.4));
    let c = m.confidence.expect("confidences");
    assert!(
        (c.mean - 0.616_666_666_666_666_7).abs() < 1e-12,
        "{}",
        c.mean
    );
    assert!((c.quantiles.p50 - 0.65).abs() < 1e-12);
    assert_eq!(c.histogram.iter().sum::<u64>(), 6);
    // Classes: the numeric predictions make the labelled set mixed, so no class metrics.
    assert!(m.classes.is_none());
    let r = m.regression.expect("numeric pairs");
    assert_eq!(r.count, 2);
    assert!((r.mae - 0.75).abs() < 1e-12);
    let first_hour = store
        .metrics(&name, &v, MetricsOptions::new(Window::until(at(hour()))))
        .await
        .expect("metrics");
    let classes = first_hour.classes.expect("categorical");
    assert_eq!(classes.len(), 2);
    assert_eq!(classes[0].precision, Some(0.5));
    let empty = store
        .metrics(
            &name,
            &v,
            MetricsOptions::new(Window::since(at(10 * hour()))),
        )
        .await
        .expect("metrics");
    assert_eq!(
        (empty.predictions, empty.accuracy, empty.confidence),
        (0, None, None)
    );
}

/// series: one point per bucket of the range, empty buckets with zero counts.
pub async fn series_fill_every_bucket(store: &dyn Store) {
    let name = registered(store, "series").await;
    let v = version("1.0.0");
    six(store, &name).await;
    let q = SeriesQuery::new(at(0), at(0) + Duration::hours(4), Bucket::Hour);
    let s = store.series(&name, &v, &q).await.expect("series");
    assert_eq!(s.points.len(), 4);
    assert_eq!(
        s.points.iter().map(|p| p.predictions).collect::<Vec<_>>(),
        vec![4, 2, 0, 0]
    );
    assert_eq!(s.points[0].accuracy, Some(2.0 / 3.0));
    assert_eq!(s.points[3].accuracy, None);
    let days = SeriesQuery::new(at(0), at(0) + Duration::days(2), Bucket::Day);
    let s = store.series(&name, &v, &days).await.expect("series");
    assert_eq!(s.points.iter().map(|p| p.predictions).sum::<u64>(), 6);
}

/// drift: NotFound without a baseline; against a baseline of the same distribution, PSI 0 and
/// verdict ok; against a shifted one, drift.
pub async fn drift_against_the_baseline(store: &dyn Store) {
    let name = registered(store, "drift").await;
    let v = version("1.0.0");
    let preds: Vec<Prediction> = (0..200i64)
        .map(|i| {
            prediction(&name, "1.0.0", json!(1), i)
                .to_builder()
                .confidence(0.5 + (i % 40) as f64 / 100.0)
                .build()
                .expect("valid")
        })
        .collect();
    store.store_predictions(&preds).await.expect("store");
    let err = store
        .drift(&name, &v, Window::last(200), DriftThresholds::default())
        .await
        .expect_err("no baseline");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("baseline compute"), "{err}");
    let b = store
        .compute_baseline(&name, &v, Window::last(200))
        .await
        .expect("baseline");
    assert_eq!(
        store.baseline(&name, &v).await.expect("read"),
        Some(b.clone())
    );
    let same = store
        .drift(&name, &v, Window::last(200), DriftThresholds::default())
        .await
        .expect("drift");
    assert_eq!(
        (same.psi, same.ks_statistic, same.verdict),
        (0.0, 0.0, Verdict::Ok)
    );
    assert_eq!(same.ks_method, "samples");
    let shifted: Vec<Prediction> = (0..200i64)
        .map(|i| {
            prediction(&name, "1.0.0", json!(1), 1000 + i)
                .to_builder()
                .confidence(0.1 + (i % 20) as f64 / 100.0)
                .build()
                .expect("valid")
        })
        .collect();
    store.store_predictions(&shifted).await.expect("store");
    let moved = store
        .drift(&name, &v, Window::last(200), DriftThresholds::default())
        .await
        .expect("drift");
    assert_eq!(moved.verdict, Verdict::Drift);
    assert!(moved.psi > 0.25 && moved.ks_statistic == 1.0, "{moved:?}");
    let histogram_only =
        ConfidenceBaseline::from_histogram(name.clone(), v.clone(), b.histogram().expect("h"))
            .expect("valid");
    store.store_baseline(&histogram_only).await.expect("store");
    let by_histogram = store
        .drift(&name, &v, Window::last(200), DriftThresholds::default())
        .await
        .expect("drift");
    assert_eq!(by_histogram.ks_method, "histogram");
}

/// compare: both versions' metrics over one window, the accuracy difference and the z-test.
pub async fn compare_two_versions(store: &dyn Store) {
    let name = registered(store, "compare").await;
    store
        .register(&metadata(&name, "2.0.0"))
        .await
        .expect("register");
    for (v, right) in [("1.0.0", 45), ("2.0.0", 55)] {
        let preds: Vec<Prediction> = (0..100i64)
            .map(|i| {
                let actual = if i < right { json!(1) } else { json!(0) };
                prediction(&name, v, json!(1), i)
                    .to_builder()
                    .actual(Some(actual))
                    .build()
                    .expect("valid")
            })
            .collect();
        store.store_predictions(&preds).await.expect("store");
    }
    let c = store
        .compare(
            &name,
            &version("1.0.0"),
            &version("2.0.0"),
            MetricsOptions::new(Window::all()),
        )
        .await
        .expect("compare");
    assert!((c.accuracy_difference.expect("both labelled") - 0.1).abs() < 1e-12);
    assert!((c.p_value.expect("defined") - 0.157_299_207_050_285).abs() < 1e-9);
}
