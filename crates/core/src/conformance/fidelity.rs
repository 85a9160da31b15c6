//! Data comes back exactly as it was given: JSON at the nesting limit, timestamps at both ends of
//! the supported range, and (in [`crate::conformance::properties::floats_round_trip`]) every
//! finite double bit for bit.

use serde_json::{json, Value};

use super::fixtures::{metadata, prediction, unique_name, version};
use crate::json::JsonObject;
use crate::limits::MAX_JSON_DEPTH;
use crate::{time, Error, Label, ModelMetadata, ModelName, Prediction, Store, Timestamp, Window};

/// A value nesting arrays `levels` deep around a number: `[[1.5]]` is 2 deep.
pub fn nested_array(levels: usize) -> Value {
    let mut value = json!(1.5);
    for _ in 0..levels {
        value = json!([value]);
    }
    value
}

/// An object nesting `levels` deep: `{"k": [..]}`, the object itself one level.
pub fn nested_object(levels: usize) -> JsonObject {
    let mut object = JsonObject::new();
    object.insert("k".into(), nested_array(levels - 1));
    object
}

fn invalid_field<T: std::fmt::Debug>(result: crate::Result<T>) -> &'static str {
    match result {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

/// Every JSON field holds a value at [`MAX_JSON_DEPTH`] and reads back equal through every read
/// (get, latest, versions, recent); one level more is refused when the value is built, with
/// InvalidInput naming the field.
pub async fn json_at_the_depth_limit_round_trips(store: &dyn Store) {
    let name = unique_name("depth");
    let deep = nested_array(MAX_JSON_DEPTH);
    let m = metadata(&name, "1.0.0")
        .to_builder()
        .configuration(nested_object(MAX_JSON_DEPTH))
        .build()
        .expect("configuration at the limit");
    store.register(&m).await.expect("register");
    let v = version("1.0.0");
    assert_eq!(store.get(&name, &v).await.expect("get"), Some(m.clone()));
    assert_eq!(store.latest(&name).await.expect("latest"), Some(m.clone()));
    assert_eq!(
        store.versions(&name).await.expect("versions"),
        vec![m.clone()]
    );

    let p = prediction(&name, "1.0.0", deep.clone(), 0)
        .to_builder()
        .actual(Some(deep.clone()))
        .features(nested_object(MAX_JSON_DEPTH))
        .build()
        .expect("prediction at the limit");
    store.store_prediction(&p).await.expect("store");
    let q = prediction(&name, "1.0.0", json!(1), 1);
    store.store_prediction(&q).await.expect("store");
    store
        .record_actual(q.id(), &deep)
        .await
        .expect("label at the limit");
    let labelled = q
        .to_builder()
        .actual(Some(deep.clone()))
        .build()
        .expect("valid");
    let recent = store
        .recent_predictions(&name, &v, Window::last(10))
        .await
        .expect("recent");
    assert_eq!(recent, vec![labelled, p.clone()]);

    let past = nested_array(MAX_JSON_DEPTH + 1);
    let builder = || prediction(&name, "1.0.0", json!(1), 2).to_builder();
    let refused = [
        (
            invalid_field(Prediction::builder(name.clone(), v.clone(), past.clone(), 0.5).build()),
            "prediction",
        ),
        (
            invalid_field(builder().actual(Some(past.clone())).build()),
            "actual",
        ),
        (
            invalid_field(
                builder()
                    .features(nested_object(MAX_JSON_DEPTH + 1))
                    .build(),
            ),
            "features",
        ),
        (
            invalid_field(
                m.to_builder()
                    .configuration(nested_object(MAX_JSON_DEPTH + 1))
                    .build(),
            ),
            "configuration",
        ),
        (invalid_field(Label::new(p.id(), past.clone())), "actual"),
        (
            invalid_field(store.record_actual(p.id(), &past).await),
            "actual",
        ),
    ];
    for (got, want) in refused {
        assert_eq!(got, want);
    }
    let again = store
        .recent_predictions(&name, &v, Window::last(10))
        .await
        .expect("recent");
    assert_eq!(again, recent, "nothing was written");
}

fn year(y: i32) -> Timestamp {
    chrono::NaiveDate::from_ymd_opt(y, 1, 1)
        .expect("valid date")
        .and_hms_opt(0, 0, 0)
        .expect("valid time")
        .and_utc()
}

/// Timestamps at both ends of the supported range ([`time::MIN`], [`time::MAX`]) are stored and
/// read back equal (a prediction's, `created_at`, `deployed_at`), and found by windows; a
/// timestamp outside it is refused when the value is built.
pub async fn timestamps_at_the_range_ends_round_trip(store: &dyn Store) {
    let name = unique_name("time-range");
    let m = metadata(&name, "1.0.0")
        .to_builder()
        .created_at(time::MIN)
        .deployed_at(Some(time::MAX))
        .build()
        .expect("valid");
    store.register(&m).await.expect("register");
    assert_eq!(
        store.get(&name, m.version()).await.expect("get"),
        Some(m.clone())
    );
    let at = |t: Timestamp, i: i64| {
        prediction(&name, "1.0.0", json!(i), 0)
            .to_builder()
            .timestamp(t)
            .build()
            .expect("valid")
    };
    let (first, last) = (at(time::MIN, 1), at(time::MAX, 2));
    store
        .store_predictions(&[first.clone(), last.clone()])
        .await
        .expect("store");
    let v = version("1.0.0");
    let recent = store
        .recent_predictions(&name, &v, Window::last(10))
        .await
        .expect("recent");
    assert_eq!(recent, vec![last.clone(), first.clone()]);
    let oldest = store
        .recent_predictions(&name, &v, Window::until(year(2)).with_last(10))
        .await
        .expect("recent");
    assert_eq!(oldest, vec![first]);
    let newest = store
        .recent_predictions(&name, &v, Window::since(year(9999)).with_last(10))
        .await
        .expect("recent");
    assert_eq!(newest, vec![last]);

    let outside = [
        year(-5000),
        time::MIN - chrono::Duration::microseconds(1),
        year(10_000),
    ];
    for t in outside {
        let field = |r: crate::Result<ModelMetadata>| invalid_field(r);
        assert_eq!(invalid_field(at_checked(&name, t)), "timestamp", "{t}");
        assert_eq!(field(m.to_builder().created_at(t).build()), "created_at");
        assert_eq!(
            field(m.to_builder().deployed_at(Some(t)).build()),
            "deployed_at"
        );
    }
}

fn at_checked(name: &ModelName, t: Timestamp) -> crate::Result<Prediction> {
    prediction(name, "1.0.0", json!(0), 0)
        .to_builder()
        .timestamp(t)
        .build()
}
