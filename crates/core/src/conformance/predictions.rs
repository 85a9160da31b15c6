//! Checks of [`crate::PredictionStore`], one per documented behaviour.

use serde_json::{json, Value};
use uuid::Uuid;

use super::fixtures::{at, metadata, prediction, unique_name, version};
use crate::limits::{MAX_BATCH_LEN, MAX_JSON_BYTES, MAX_RECENT_LIMIT, MAX_WINDOW_LAST};
use crate::{ConfidenceBaseline, Error, ErrorKind, Label, ModelName, Prediction, Store, Window};

/// Registers `name` at 1.0.0 and returns the name.
async fn registered(store: &dyn Store, prefix: &str) -> ModelName {
    let name = unique_name(prefix);
    store
        .register(&metadata(&name, "1.0.0"))
        .await
        .expect("register");
    name
}

async fn all_recent(store: &dyn Store, name: &ModelName) -> Vec<Prediction> {
    store
        .recent_predictions(name, &version("1.0.0"), Window::last(MAX_RECENT_LIMIT))
        .await
        .expect("recent")
}

async fn accuracy_of(store: &dyn Store, name: &ModelName) -> (u64, u64) {
    let a = store
        .accuracy(name, &version("1.0.0"), Window::last(1000))
        .await
        .expect("accuracy");
    (a.correct(), a.total())
}

fn assert_kind(result: crate::Result<()>, kind: ErrorKind, what: &str) -> Error {
    let err = result.expect_err(what);
    assert_eq!(err.kind(), kind, "{what}: {err}");
    err
}

/// store_prediction: a stored prediction is read back by `recent_predictions`, equal.
pub async fn store_prediction_round_trips(store: &dyn Store) {
    let name = registered(store, "pred-round-trip").await;
    let p = prediction(
        &name,
        "1.0.0",
        json!({"label": "fraud", "score": [0.1, 0.9]}),
        0,
    );
    store.store_prediction(&p).await.expect("store");
    assert_eq!(all_recent(store, &name).await, vec![p]);
}

/// store_prediction: NotFound for an unregistered model version; nothing is written.
pub async fn store_prediction_for_missing_model_is_not_found(store: &dyn Store) {
    let name = registered(store, "pred-missing-model").await;
    let p = prediction(&name, "2.0.0", json!(1), 0);
    assert_kind(
        store.store_prediction(&p).await,
        ErrorKind::NotFound,
        "unknown version",
    );
    let ghost = unique_name("pred-ghost");
    let p = prediction(&ghost, "1.0.0", json!(1), 0);
    assert_kind(
        store.store_prediction(&p).await,
        ErrorKind::NotFound,
        "unknown model",
    );
    assert!(all_recent(store, &name).await.is_empty());
    // The id was not taken by the failed write.
    let ok = Prediction::builder(name.clone(), version("1.0.0"), json!(1), 0.5)
        .id(p.id())
        .build()
        .expect("valid");
    store
        .store_prediction(&ok)
        .await
        .expect("same id, registered model");
}

/// store_prediction: AlreadyExists for an id that is stored; the stored one is unchanged.
pub async fn store_prediction_duplicate_id_is_already_exists(store: &dyn Store) {
    let name = registered(store, "pred-dup").await;
    let p = prediction(&name, "1.0.0", json!("a"), 0);
    store.store_prediction(&p).await.expect("store");
    let again = p.to_builder().confidence(0.1).build().expect("valid");
    assert_kind(
        store.store_prediction(&again).await,
        ErrorKind::AlreadyExists,
        "same id",
    );
    assert_eq!(all_recent(store, &name).await, vec![p]);
}

/// store_prediction: a prediction stored with its `actual` counts in `accuracy`.
pub async fn prediction_stored_with_actual_counts_in_accuracy(store: &dyn Store) {
    let name = registered(store, "pred-actual").await;
    let right = prediction(&name, "1.0.0", json!("cat"), 0)
        .to_builder()
        .actual(Some(json!("cat")))
        .build()
        .expect("valid");
    let wrong = prediction(&name, "1.0.0", json!("cat"), 1)
        .to_builder()
        .actual(Some(json!("dog")))
        .build()
        .expect("valid");
    let unlabelled = prediction(&name, "1.0.0", json!("cat"), 2);
    for p in [&right, &wrong, &unlabelled] {
        store.store_prediction(p).await.expect("store");
    }
    assert_eq!(accuracy_of(store, &name).await, (1, 2));
}

/// store_predictions: a batch is stored whole and read back newest first.
pub async fn store_batch_round_trips(store: &dyn Store) {
    let name = registered(store, "batch").await;
    let batch: Vec<Prediction> = (0..100)
        .map(|i| prediction(&name, "1.0.0", json!(i % 3), i))
        .collect();
    store.store_predictions(&batch).await.expect("store batch");
    let mut expected = batch.clone();
    expected.reverse();
    assert_eq!(all_recent(store, &name).await, expected);
}

/// store_predictions: an empty batch does nothing and succeeds.
pub async fn store_batch_empty_is_a_no_op(store: &dyn Store) {
    let name = registered(store, "batch-empty").await;
    store.store_predictions(&[]).await.expect("empty batch");
    assert!(all_recent(store, &name).await.is_empty());
}

/// store_predictions: more than MAX_BATCH_LEN predictions is InvalidInput; nothing is written.
pub async fn store_batch_too_large_is_invalid(store: &dyn Store) {
    let name = registered(store, "batch-large").await;
    let batch: Vec<Prediction> = (0..=MAX_BATCH_LEN as i64)
        .map(|i| prediction(&name, "1.0.0", json!(1), i))
        .collect();
    let err = assert_kind(
        store.store_predictions(&batch).await,
        ErrorKind::InvalidInput,
        "oversized batch",
    );
    assert!(
        matches!(err, Error::InvalidInput { field: "batch", .. }),
        "{err}"
    );
    assert!(all_recent(store, &name).await.is_empty());
}

/// store_predictions: the same id twice in a batch is InvalidInput; nothing is written.
pub async fn store_batch_duplicate_id_is_invalid(store: &dyn Store) {
    let name = registered(store, "batch-dup").await;
    let a = prediction(&name, "1.0.0", json!(1), 0);
    let b = prediction(&name, "1.0.0", json!(2), 1)
        .to_builder()
        .id(a.id())
        .build()
        .expect("valid");
    let fresh = prediction(&name, "1.0.0", json!(3), 2);
    let err = assert_kind(
        store.store_predictions(&[fresh, a, b]).await,
        ErrorKind::InvalidInput,
        "duplicate id in batch",
    );
    assert!(
        matches!(err, Error::InvalidInput { field: "id", .. }),
        "{err}"
    );
    assert!(all_recent(store, &name).await.is_empty());
}

/// store_predictions: one unregistered model version fails the batch; nothing is written.
pub async fn store_batch_missing_model_writes_nothing(store: &dyn Store) {
    let name = registered(store, "batch-missing").await;
    let mut batch: Vec<Prediction> = (0..10)
        .map(|i| prediction(&name, "1.0.0", json!(i), i))
        .collect();
    batch.insert(5, prediction(&name, "3.0.0", json!(0), 99));
    assert_kind(
        store.store_predictions(&batch).await,
        ErrorKind::NotFound,
        "batch with an unknown version",
    );
    assert!(all_recent(store, &name).await.is_empty());
}

/// store_predictions: one id that is already stored fails the batch; nothing is written.
pub async fn store_batch_existing_id_writes_nothing(store: &dyn Store) {
    let name = registered(store, "batch-existing").await;
    let existing = prediction(&name, "1.0.0", json!("x"), 1000);
    store.store_prediction(&existing).await.expect("store");
    let mut batch: Vec<Prediction> = (0..10)
        .map(|i| prediction(&name, "1.0.0", json!(i), i))
        .collect();
    batch.push(
        existing
            .to_builder()
            .confidence(0.2)
            .build()
            .expect("valid"),
    );
    assert_kind(
        store.store_predictions(&batch).await,
        ErrorKind::AlreadyExists,
        "batch with a stored id",
    );
    assert_eq!(all_recent(store, &name).await, vec![existing]);
}

/// record_actual: the prediction then counts in `accuracy`, correct when equal as a value.
pub async fn record_actual_counts_in_accuracy(store: &dyn Store) {
    let name = registered(store, "label").await;
    let a = prediction(&name, "1.0.0", json!({"class": "spam", "p": 1}), 0);
    let b = prediction(&name, "1.0.0", json!("ham"), 1);
    let c = prediction(&name, "1.0.0", json!(1), 2);
    store
        .store_predictions(&[a.clone(), b.clone(), c.clone()])
        .await
        .expect("store");
    assert_eq!(accuracy_of(store, &name).await, (0, 0));
    // Same object, keys in another order: equal as JSON.
    let same: Value = serde_json::from_str(r#"{"p":1,"class":"spam"}"#).expect("json");
    store.record_actual(a.id(), &same).await.expect("label a");
    store
        .record_actual(b.id(), &json!("spam"))
        .await
        .expect("label b");
    // 1.0 is 1 as a number.
    store
        .record_actual(c.id(), &json!(1.0))
        .await
        .expect("label c");
    assert_eq!(accuracy_of(store, &name).await, (2, 3));
    let recent = all_recent(store, &name).await;
    assert_eq!(
        recent[2].actual(),
        Some(&same),
        "the label is stored verbatim"
    );
}

/// labels_match: numbers compare by numeric value (`3 == 3.0`, `1e2 == 100`), in either
/// direction, in single and batch labels and in predictions stored with their label; a string
/// never equals a number; every label is stored verbatim.
pub async fn labels_compare_numbers_by_value(store: &dyn Store) {
    let name = registered(store, "label-values").await;
    let parse = |t: &str| serde_json::from_str::<Value>(t).expect("json");
    // (prediction, label, correct)
    let pairs = [
        ("3", "3.0", true),
        ("3.0", "3", true),
        ("100", "1e2", true),
        ("[1, {\"x\": 2.5}]", "[1.0, {\"x\": 2.50}]", true),
        ("0.1", "0.10000000000000002", false),
        ("\"3\"", "3", false),
        ("2", "3", false),
    ];
    let preds: Vec<Prediction> = pairs
        .iter()
        .enumerate()
        .map(|(i, (p, _, _))| prediction(&name, "1.0.0", parse(p), i as i64))
        .collect();
    store.store_predictions(&preds).await.expect("store");
    let right = pairs.iter().filter(|(_, _, c)| *c).count() as u64;
    // The first three one by one, the rest in one batch.
    for (p, (_, label, _)) in preds.iter().zip(&pairs).take(3) {
        store
            .record_actual(p.id(), &parse(label))
            .await
            .expect("label");
    }
    let batch: Vec<Label> = preds
        .iter()
        .zip(&pairs)
        .skip(3)
        .map(|(p, (_, l, _))| Label::new(p.id(), parse(l)).expect("valid"))
        .collect();
    store.record_actuals(&batch).await.expect("labels");
    assert_eq!(accuracy_of(store, &name).await, (right, pairs.len() as u64));
    let stored = all_recent(store, &name).await;
    for (p, (_, l, correct)) in preds.iter().zip(&pairs) {
        let got = stored.iter().find(|q| q.id() == p.id()).expect("stored");
        assert_eq!(got.actual(), Some(&parse(l)), "stored verbatim");
        assert_eq!(got.is_correct(), Some(*correct), "{got:?}");
    }
    // Stored together with their labels.
    let other = registered(store, "label-values-inline").await;
    let inline: Vec<Prediction> = pairs
        .iter()
        .enumerate()
        .map(|(i, (p, l, _))| {
            prediction(&other, "1.0.0", parse(p), i as i64)
                .to_builder()
                .actual(Some(parse(l)))
                .build()
                .expect("valid")
        })
        .collect();
    store.store_predictions(&inline).await.expect("store");
    assert_eq!(
        accuracy_of(store, &other).await,
        (right, pairs.len() as u64)
    );
}

/// record_actual: a second label replaces the first.
pub async fn record_actual_relabel_replaces(store: &dyn Store) {
    let name = registered(store, "relabel").await;
    let p = prediction(&name, "1.0.0", json!(true), 0);
    store.store_prediction(&p).await.expect("store");
    store
        .record_actual(p.id(), &json!(false))
        .await
        .expect("label");
    assert_eq!(accuracy_of(store, &name).await, (0, 1));
    store
        .record_actual(p.id(), &json!(true))
        .await
        .expect("relabel");
    assert_eq!(accuracy_of(store, &name).await, (1, 1));
    assert_eq!(
        all_recent(store, &name).await[0].actual(),
        Some(&json!(true))
    );
}

/// record_actual: NotFound when no prediction has that id; nothing is written.
pub async fn record_actual_missing_is_not_found(store: &dyn Store) {
    let name = registered(store, "label-missing").await;
    assert_kind(
        store.record_actual(Uuid::new_v4(), &json!(1)).await,
        ErrorKind::NotFound,
        "unknown prediction id",
    );
    assert_eq!(accuracy_of(store, &name).await, (0, 0));
}

/// record_actual: an actual over MAX_JSON_BYTES is InvalidInput; nothing is written.
pub async fn record_actual_oversized_is_invalid(store: &dyn Store) {
    let name = registered(store, "label-large").await;
    let p = prediction(&name, "1.0.0", json!("x"), 0);
    store.store_prediction(&p).await.expect("store");
    let huge = json!("x".repeat(MAX_JSON_BYTES + 1));
    let err = assert_kind(
        store.record_actual(p.id(), &huge).await,
        ErrorKind::InvalidInput,
        "oversized label",
    );
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                field: "actual",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(all_recent(store, &name).await, vec![p]);
}

/// record_actuals: empty succeeds; too many, a repeated id or an unknown id fail and write nothing.
pub async fn record_actuals_batch_is_all_or_nothing(store: &dyn Store) {
    let name = registered(store, "labels").await;
    let preds: Vec<Prediction> = (0..5)
        .map(|i| prediction(&name, "1.0.0", json!(i), i))
        .collect();
    store.store_predictions(&preds).await.expect("store");
    store.record_actuals(&[]).await.expect("empty");

    let label = |p: &Prediction, v: Value| Label::new(p.id(), v).expect("valid");
    let mut with_unknown: Vec<Label> = preds.iter().map(|p| label(p, json!(0))).collect();
    with_unknown.insert(2, Label::new(Uuid::new_v4(), json!(0)).expect("valid"));
    assert_kind(
        store.record_actuals(&with_unknown).await,
        ErrorKind::NotFound,
        "unknown id in a label batch",
    );
    assert_eq!(accuracy_of(store, &name).await, (0, 0));

    let repeated = vec![label(&preds[0], json!(0)), label(&preds[0], json!(1))];
    assert_kind(
        store.record_actuals(&repeated).await,
        ErrorKind::InvalidInput,
        "same id twice",
    );
    let too_many: Vec<Label> = (0..=MAX_BATCH_LEN)
        .map(|_| Label::new(Uuid::new_v4(), json!(0)).expect("valid"))
        .collect();
    assert_kind(
        store.record_actuals(&too_many).await,
        ErrorKind::InvalidInput,
        "oversized label batch",
    );
    assert_eq!(accuracy_of(store, &name).await, (0, 0));

    let labels: Vec<Label> = preds.iter().map(|p| label(p, json!(0))).collect();
    store.record_actuals(&labels).await.expect("labels");
    assert_eq!(accuracy_of(store, &name).await, (1, 5));
}

fn invalid_field(err: &Error) -> Option<&'static str> {
    match err {
        Error::InvalidInput { field, .. } => Some(field),
        _ => None,
    }
}

/// A window whose start is not before its end, at the fixtures' time.
fn empty_range() -> Window {
    let t = at(5);
    Window::between(t, t).with_last(10)
}

/// recent_predictions: a window without a count, or a count of 0 or above MAX_RECENT_LIMIT, is
/// InvalidInput (`last`); a start not before the end is InvalidInput (`window`).
pub async fn recent_window_out_of_range_is_invalid(store: &dyn Store) {
    let name = registered(store, "recent-limit").await;
    let v = version("1.0.0");
    let cases = [
        (Window::last(0), "last"),
        (Window::last(MAX_RECENT_LIMIT + 1), "last"),
        (Window::all(), "last"),
        (empty_range(), "window"),
    ];
    for (window, field) in cases {
        let err = store
            .recent_predictions(&name, &v, window)
            .await
            .expect_err("window out of range");
        assert_eq!(invalid_field(&err), Some(field), "{window:?}: {err}");
    }
}

/// recent_predictions: NotFound for an unregistered model version.
pub async fn recent_of_missing_model_is_not_found(store: &dyn Store) {
    let name = registered(store, "recent-missing").await;
    let err = store
        .recent_predictions(&name, &version("0.0.1"), Window::last(10))
        .await
        .expect_err("unknown version");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// recent_predictions: newest first by (timestamp, id), at most `limit`, only this version.
pub async fn recent_is_newest_first_and_limited(store: &dyn Store) {
    let name = registered(store, "recent").await;
    store
        .register(&metadata(&name, "2.0.0"))
        .await
        .expect("register");
    // Out of order, with two timestamps shared by several predictions.
    let micros = [5, 1, 9, 5, 3, 9, 7, 5, 0, 2];
    let preds: Vec<Prediction> = micros
        .iter()
        .map(|m| prediction(&name, "1.0.0", json!(m), *m))
        .collect();
    store.store_predictions(&preds).await.expect("store");
    store
        .store_prediction(&prediction(&name, "2.0.0", json!("other"), 100))
        .await
        .expect("other version");
    let mut expected = preds.clone();
    expected.sort_by_key(|p| std::cmp::Reverse(p.recency_key()));
    let got = store
        .recent_predictions(&name, &version("1.0.0"), Window::last(4))
        .await
        .expect("recent");
    assert_eq!(got, expected[..4].to_vec());
    let got = all_recent(store, &name).await;
    assert_eq!(got, expected, "fewer than the limit exist: all of them");
}

/// accuracy: a count of 0 or above MAX_WINDOW_LAST is InvalidInput (`last`); a start not before
/// the end is InvalidInput (`window`).
pub async fn accuracy_window_out_of_range_is_invalid(store: &dyn Store) {
    let name = registered(store, "accuracy-window").await;
    let v = version("1.0.0");
    let cases = [
        (Window::last(0), "last"),
        (Window::last(MAX_WINDOW_LAST + 1), "last"),
        (empty_range(), "window"),
    ];
    for (window, field) in cases {
        let err = store
            .accuracy(&name, &v, window)
            .await
            .expect_err("window out of range");
        assert_eq!(invalid_field(&err), Some(field), "{window:?}: {err}");
    }
}

/// accuracy: NotFound for an unregistered model version.
pub async fn accuracy_of_missing_model_is_not_found(store: &dyn Store) {
    let name = unique_name("accuracy-missing");
    let err = store
        .accuracy(&name, &version("1.0.0"), Window::last(10))
        .await
        .expect_err("unknown model");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// accuracy: counts the newest `window` labelled predictions, skipping unlabelled ones; ratio
/// `None` when nothing is labelled.
pub async fn accuracy_counts_newest_labelled_only(store: &dyn Store) {
    let name = registered(store, "accuracy").await;
    let v = version("1.0.0");
    let empty = store
        .accuracy(&name, &v, Window::last(10))
        .await
        .expect("accuracy");
    assert_eq!((empty.total(), empty.ratio()), (0, None));
    // Oldest 4: wrong; then 4 right; with unlabelled predictions in between and newest.
    let mut preds = Vec::new();
    for i in 0..12i64 {
        let p = prediction(&name, "1.0.0", json!("yes"), i * 10);
        let actual = match i {
            0..=3 => Some(json!("no")),
            4 | 6 | 8 | 9 => Some(json!("yes")),
            _ => None,
        };
        preds.push(p.to_builder().actual(actual).build().expect("valid"));
    }
    store.store_predictions(&preds).await.expect("store");
    let a = store
        .accuracy(&name, &v, Window::last(4))
        .await
        .expect("accuracy");
    assert_eq!((a.correct(), a.total(), a.ratio()), (4, 4, Some(1.0)));
    let a = store
        .accuracy(&name, &v, Window::last(6))
        .await
        .expect("accuracy");
    assert_eq!((a.correct(), a.total()), (4, 6));
    let a = store
        .accuracy(&name, &v, Window::last(1000))
        .await
        .expect("accuracy");
    assert_eq!((a.correct(), a.total(), a.ratio()), (4, 8, Some(0.5)));
}

/// Stores predictions of `1.0.0` made at `0, 10, ..., 90` µs past the fixtures' time, labelled
/// right at even steps and wrong at odd ones; returns them newest first.
async fn ten_over_time(store: &dyn Store, name: &ModelName) -> Vec<Prediction> {
    let preds: Vec<Prediction> = (0..10i64)
        .map(|i| {
            let actual = if i % 2 == 0 {
                json!("yes")
            } else {
                json!("no")
            };
            prediction(name, "1.0.0", json!("yes"), i * 10)
                .to_builder()
                .actual(Some(actual))
                .build()
                .expect("valid")
        })
        .collect();
    store.store_predictions(&preds).await.expect("store");
    let mut newest_first = preds;
    newest_first.reverse();
    newest_first
}

/// recent_predictions: only predictions made in `[since, until)` of the window are returned.
pub async fn recent_window_keeps_to_its_time_range(store: &dyn Store) {
    let name = registered(store, "recent-range").await;
    let v = version("1.0.0");
    let newest_first = ten_over_time(store, &name).await;
    // [20, 60): 50, 40, 30, 20.
    let got = store
        .recent_predictions(&name, &v, Window::between(at(20), at(60)).with_last(100))
        .await
        .expect("recent");
    assert_eq!(got, newest_first[4..8].to_vec());
    let got = store
        .recent_predictions(&name, &v, Window::between(at(20), at(60)).with_last(2))
        .await
        .expect("recent");
    assert_eq!(
        got,
        newest_first[4..6].to_vec(),
        "the newest 2 of the range"
    );
    let got = store
        .recent_predictions(&name, &v, Window::since(at(85)).with_last(100))
        .await
        .expect("recent");
    assert_eq!(got, newest_first[..1].to_vec(), "open end");
    let got = store
        .recent_predictions(&name, &v, Window::until(at(10)).with_last(100))
        .await
        .expect("recent");
    assert_eq!(got, newest_first[9..].to_vec(), "open start");
}

/// accuracy: only predictions made in `[since, until)` of the window are counted.
pub async fn accuracy_window_keeps_to_its_time_range(store: &dyn Store) {
    let name = registered(store, "accuracy-range").await;
    let v = version("1.0.0");
    ten_over_time(store, &name).await;
    let counts = |a: crate::Accuracy| (a.correct(), a.total());
    // [20, 70): 20, 40, 60 right; 30, 50 wrong.
    let a = store
        .accuracy(&name, &v, Window::between(at(20), at(70)))
        .await
        .expect("accuracy");
    assert_eq!(counts(a), (3, 5));
    // The newest 2 of the range: 60 right, 50 wrong.
    let a = store
        .accuracy(&name, &v, Window::between(at(20), at(70)).with_last(2))
        .await
        .expect("accuracy");
    assert_eq!(counts(a), (1, 2));
    let a = store
        .accuracy(&name, &v, Window::all())
        .await
        .expect("accuracy");
    assert_eq!(counts(a), (5, 10), "no count: every labelled prediction");
    let a = store
        .accuracy(&name, &v, Window::since(at(1000)))
        .await
        .expect("accuracy");
    assert_eq!((a.total(), a.ratio()), (0, None), "an empty range");
}

/// store_baseline / baseline: stored, read back, replaced by a second write.
pub async fn baseline_upserts(store: &dyn Store) {
    let name = registered(store, "baseline").await;
    let v = version("1.0.0");
    let first = ConfidenceBaseline::with_updated_at(
        name.clone(),
        v.clone(),
        0.8,
        0.05,
        1000,
        crate::time::from_micros(1_700_000_000_000_001).expect("in range"),
    )
    .expect("valid");
    store.store_baseline(&first).await.expect("store");
    assert_eq!(store.baseline(&name, &v).await.expect("read"), Some(first));
    let second = ConfidenceBaseline::new(name.clone(), v.clone(), 0.6, 0.2, 50).expect("valid");
    store.store_baseline(&second).await.expect("replace");
    assert_eq!(store.baseline(&name, &v).await.expect("read"), Some(second));
}

/// store_baseline: NotFound for an unregistered model version; nothing is written.
pub async fn baseline_for_missing_model_is_not_found(store: &dyn Store) {
    let name = registered(store, "baseline-missing").await;
    let v = version("1.5.0");
    let b = ConfidenceBaseline::new(name.clone(), v.clone(), 0.5, 0.1, 1).expect("valid");
    assert_kind(
        store.store_baseline(&b).await,
        ErrorKind::NotFound,
        "unknown version",
    );
    assert_eq!(store.baseline(&name, &v).await.expect("read"), None);
}

/// baseline: `None` when no baseline was stored.
pub async fn baseline_absent_is_none(store: &dyn Store) {
    let name = registered(store, "baseline-none").await;
    assert_eq!(
        store
            .baseline(&name, &version("1.0.0"))
            .await
            .expect("read"),
        None
    );
    let ghost = unique_name("baseline-ghost");
    assert_eq!(
        store
            .baseline(&ghost, &version("1.0.0"))
            .await
            .expect("read"),
        None
    );
}

fn skip_all() -> crate::BatchOptions {
    crate::BatchOptions::default()
        .on_conflict(crate::OnProblem::Skip)
        .on_missing(crate::OnProblem::Skip)
}

/// store_predictions_with: with the default options, all or nothing; every prediction reported
/// stored.
pub async fn store_with_default_options_is_all_or_nothing(store: &dyn Store) {
    let name = registered(store, "with-default").await;
    let preds: Vec<Prediction> = (0..3)
        .map(|i| prediction(&name, "1.0.0", json!(i), i))
        .collect();
    let mut bad = preds.clone();
    bad.push(prediction(&name, "9.9.9", json!("ghost"), 9));
    let err = store
        .store_predictions_with(&bad, crate::BatchOptions::default())
        .await
        .expect_err("unknown version");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(all_recent(store, &name).await.is_empty(), "nothing written");
    let outcome = store
        .store_predictions_with(&preds, crate::BatchOptions::default())
        .await
        .expect("store");
    assert_eq!((outcome.stored, outcome.skipped.len()), (3, 0));
    let err = store
        .store_predictions_with(&preds[..1], crate::BatchOptions::default())
        .await
        .expect_err("stored id");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
}

/// store_predictions_with: too many predictions or a repeated id are InvalidInput whatever the
/// options; nothing is written.
pub async fn store_with_invalid_batch_is_invalid_whatever_the_options(store: &dyn Store) {
    let name = registered(store, "with-invalid").await;
    let p = prediction(&name, "1.0.0", json!(1), 0);
    let twice = [p.clone(), p.clone()];
    let err = store
        .store_predictions_with(&twice, skip_all())
        .await
        .expect_err("repeated id");
    assert_eq!(invalid_field(&err), Some("id"), "{err}");
    let too_many: Vec<Prediction> = (0..=MAX_BATCH_LEN as i64)
        .map(|i| prediction(&name, "1.0.0", json!(i), i))
        .collect();
    let err = store
        .store_predictions_with(&too_many, skip_all())
        .await
        .expect_err("too many");
    assert_eq!(invalid_field(&err), Some("batch"), "{err}");
    assert!(all_recent(store, &name).await.is_empty(), "nothing written");
}

/// store_predictions_with: `on_conflict(Skip)` skips ids already stored (which stay unchanged)
/// and stores the rest.
pub async fn store_with_skip_conflicts_stores_the_rest(store: &dyn Store) {
    let name = registered(store, "with-conflict").await;
    let first = prediction(&name, "1.0.0", json!("first"), 0);
    store.store_prediction(&first).await.expect("store");
    let again = first.to_builder().confidence(0.1).build().expect("valid");
    let fresh = prediction(&name, "1.0.0", json!("fresh"), 1);
    let options = crate::BatchOptions::default().on_conflict(crate::OnProblem::Skip);
    let outcome = store
        .store_predictions_with(&[fresh.clone(), again], options)
        .await
        .expect("store");
    assert_eq!(outcome.stored, 1);
    assert_eq!(
        outcome.skipped,
        vec![crate::Skipped {
            index: 1,
            id: first.id(),
            reason: crate::SkipReason::AlreadyExists
        }]
    );
    assert_eq!(all_recent(store, &name).await, vec![fresh, first]);
}

/// store_predictions_with: `on_missing(Skip)` skips predictions of unregistered versions and
/// stores the rest.
pub async fn store_with_skip_missing_stores_the_rest(store: &dyn Store) {
    let name = registered(store, "with-missing").await;
    let ghost = prediction(&name, "9.9.9", json!("ghost"), 0);
    let real = prediction(&name, "1.0.0", json!("real"), 1);
    let options = crate::BatchOptions::default().on_missing(crate::OnProblem::Skip);
    let outcome = store
        .store_predictions_with(&[ghost.clone(), real.clone()], options)
        .await
        .expect("store");
    assert_eq!(outcome.stored, 1);
    assert_eq!(outcome.skipped_for(crate::SkipReason::NotFound), 1);
    assert_eq!(outcome.skipped[0].id, ghost.id());
    assert_eq!(all_recent(store, &name).await, vec![real]);
}

/// record_actuals_with: with the default options, all or nothing.
pub async fn record_actuals_with_default_is_all_or_nothing(store: &dyn Store) {
    let name = registered(store, "labels-with").await;
    let p = prediction(&name, "1.0.0", json!(1), 0);
    store.store_prediction(&p).await.expect("store");
    let labels = [
        Label::new(p.id(), json!(1)).expect("valid"),
        Label::new(uuid::Uuid::new_v4(), json!(1)).expect("valid"),
    ];
    let err = store
        .record_actuals_with(&labels, crate::BatchOptions::default())
        .await
        .expect_err("unknown id");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(accuracy_of(store, &name).await, (0, 0), "nothing written");
    let outcome = store
        .record_actuals_with(&labels[..1], crate::BatchOptions::default())
        .await
        .expect("label");
    assert_eq!((outcome.stored, outcome.skipped.len()), (1, 0));
}

/// record_actuals_with: `on_missing(Skip)` skips labels of unknown predictions and records the
/// rest.
pub async fn record_actuals_with_skip_missing_records_the_rest(store: &dyn Store) {
    let name = registered(store, "labels-skip").await;
    let p = prediction(&name, "1.0.0", json!(1), 0);
    store.store_prediction(&p).await.expect("store");
    let unknown = uuid::Uuid::new_v4();
    let labels = [
        Label::new(unknown, json!(1)).expect("valid"),
        Label::new(p.id(), json!(1)).expect("valid"),
    ];
    let outcome = store
        .record_actuals_with(&labels, skip_all())
        .await
        .expect("labels");
    assert_eq!(outcome.stored, 1);
    assert_eq!(
        outcome.skipped,
        vec![crate::Skipped {
            index: 0,
            id: unknown,
            reason: crate::SkipReason::NotFound
        }]
    );
    assert_eq!(accuracy_of(store, &name).await, (1, 1));
}

/// prediction: a stored prediction is read back by id, equal; an unknown id is None.
pub async fn prediction_by_id_reads_it_or_none(store: &dyn Store) {
    let name = registered(store, "by-id").await;
    let p = prediction(&name, "1.0.0", json!({"class": "a"}), 0)
        .to_builder()
        .actual(Some(json!({"class": "b"})))
        .build()
        .expect("valid");
    store.store_prediction(&p).await.expect("store");
    assert_eq!(store.prediction(p.id()).await.expect("read"), Some(p));
    assert_eq!(
        store.prediction(uuid::Uuid::new_v4()).await.expect("read"),
        None
    );
}

/// count_predictions: a filter naming a model with no versions, or an unregistered version,
/// is NotFound; a window with a count is InvalidInput (`last`).
pub async fn count_of_unknown_model_or_version_is_not_found(store: &dyn Store) {
    let name = registered(store, "count-missing").await;
    let ghost = unique_name("count-ghost");
    for filter in [
        crate::PredictionFilter::model(ghost.clone()),
        crate::PredictionFilter::version(name.clone(), version("9.9.9")),
    ] {
        let err = store.count_predictions(&filter).await.expect_err("unknown");
        assert_eq!(err.kind(), ErrorKind::NotFound, "{filter:?}: {err}");
    }
    let err = store
        .count_predictions(&crate::PredictionFilter::model(name).within(Window::last(5)))
        .await
        .expect_err("a count in the window");
    assert_eq!(invalid_field(&err), Some("last"), "{err}");
}

/// count_predictions: counts the predictions of the model, or of the version, in the range,
/// all or only the labelled ones.
pub async fn count_keeps_to_its_filter(store: &dyn Store) {
    let name = registered(store, "count").await;
    store
        .register(&metadata(&name, "2.0.0"))
        .await
        .expect("register");
    ten_over_time(store, &name).await;
    let other: Vec<Prediction> = (0..3)
        .map(|i| prediction(&name, "2.0.0", json!(i), i))
        .collect();
    store.store_predictions(&other).await.expect("store");
    let count = |filter: crate::PredictionFilter| async move {
        store.count_predictions(&filter).await.expect("count")
    };
    let v1 = crate::PredictionFilter::version(name.clone(), version("1.0.0"));
    assert_eq!(
        count(crate::PredictionFilter::model(name.clone())).await,
        13
    );
    assert_eq!(count(v1.clone()).await, 10);
    assert_eq!(
        count(v1.clone().within(Window::between(at(20), at(60)))).await,
        4
    );
    assert_eq!(
        count(crate::PredictionFilter::version(name.clone(), version("2.0.0")).labelled_only(true))
            .await,
        0
    );
    assert_eq!(count(v1.labelled_only(true)).await, 10);
    assert!(count(crate::PredictionFilter::all()).await >= 13);
}

/// scan_predictions: NotFound for an unregistered model version; a page size out of range is
/// InvalidInput (`page_size`).
pub async fn scan_of_missing_version_is_not_found(store: &dyn Store) {
    let name = registered(store, "scan-missing").await;
    let err = store
        .scan_predictions(&name, &version("9.9.9"), crate::ScanOptions::default())
        .await
        .expect_err("unknown version");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    for size in [0, MAX_RECENT_LIMIT + 1] {
        let err = store
            .scan_predictions(
                &name,
                &version("1.0.0"),
                crate::ScanOptions::default().page_size(size),
            )
            .await
            .expect_err("page size out of range");
        assert_eq!(invalid_field(&err), Some("page_size"), "{err}");
    }
}

/// scan_predictions: following `next` visits every prediction of the range exactly once, oldest
/// first, also when many share a timestamp; only labelled ones when asked.
pub async fn scan_visits_every_prediction_once(store: &dyn Store) {
    let name = registered(store, "scan").await;
    // 25 predictions on 5 timestamps (5 each), every third one labelled.
    let preds: Vec<Prediction> = (0..25i64)
        .map(|i| {
            prediction(&name, "1.0.0", json!(i), (i % 5) * 10)
                .to_builder()
                .actual((i % 3 == 0).then(|| json!(i)))
                .build()
                .expect("valid")
        })
        .collect();
    store.store_predictions(&preds).await.expect("store");
    let name = &name;
    let scan_all = |options: crate::ScanOptions| async move {
        let mut seen = Vec::new();
        let mut from = None;
        for _ in 0..100 {
            let page = store
                .scan_predictions(name, &version("1.0.0"), options.from(from))
                .await
                .expect("scan");
            seen.extend(page.predictions);
            from = page.next;
            if from.is_none() {
                return seen;
            }
        }
        panic!("the scan did not end");
    };
    let mut expected = preds.clone();
    expected.sort_by_key(|p| p.recency_key());
    let seen = scan_all(crate::ScanOptions::default().page_size(4)).await;
    assert_eq!(seen, expected);
    let seen = scan_all(
        crate::ScanOptions::default()
            .page_size(5)
            .labelled_only(true),
    )
    .await;
    let labelled: Vec<Prediction> = expected
        .iter()
        .filter(|p| p.actual().is_some())
        .cloned()
        .collect();
    assert_eq!(seen, labelled);
    let seen = scan_all(
        crate::ScanOptions::default()
            .page_size(3)
            .within(Window::between(at(10), at(30))),
    )
    .await;
    let ranged: Vec<Prediction> = expected
        .iter()
        .filter(|p| p.timestamp() >= at(10) && p.timestamp() < at(30))
        .cloned()
        .collect();
    assert_eq!(seen, ranged);
}
