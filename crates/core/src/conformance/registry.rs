//! Checks of [`crate::ModelRegistry`], one per documented behaviour.

use serde_json::json;

use super::fixtures::{metadata, prediction, unique_name, version};
use crate::{Alias, ConfidenceBaseline, ErrorKind, ModelName, Store, Window};

fn alias(text: &str) -> Alias {
    Alias::new(text).expect("valid alias")
}

async fn register_all(store: &dyn Store, name: &ModelName, versions: &[&str]) {
    for v in versions {
        store
            .register(&metadata(name, v))
            .await
            .unwrap_or_else(|e| panic!("register {name} {v}: {e}"));
    }
}

/// register: the version can be read back with `get`, equal to what was given.
pub async fn register_then_get_round_trips(store: &dyn Store) {
    let name = unique_name("register-get");
    let m = metadata(&name, "1.2.3");
    store.register(&m).await.expect("register");
    let got = store.get(&name, m.version()).await.expect("get");
    assert_eq!(got.as_ref(), Some(&m), "get returns what register stored");
}

/// register: a duplicate name + version is AlreadyExists and changes nothing.
pub async fn register_duplicate_is_already_exists(store: &dyn Store) {
    let name = unique_name("register-dup");
    let first = metadata(&name, "1.0.0");
    store.register(&first).await.expect("first register");
    let second = first
        .to_builder()
        .model_type("other")
        .description("second")
        .build()
        .expect("valid");
    let err = store
        .register(&second)
        .await
        .expect_err("duplicate register must fail");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    let got = store.get(&name, first.version()).await.expect("get");
    assert_eq!(got, Some(first), "the first registration is unchanged");
    assert_eq!(store.versions(&name).await.expect("versions").len(), 1);
}

/// register: the name appears in `list_models` and the version in `versions`.
pub async fn register_lists_name_and_version(store: &dyn Store) {
    let name = unique_name("register-list");
    register_all(store, &name, &["0.1.0"]).await;
    let names = store.list_models().await.expect("list_models");
    assert!(names.contains(&name), "{name} missing from {names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "list_models is ascending");
    let versions = store.versions(&name).await.expect("versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].version(), &version("0.1.0"));
}

/// get: `None` when the name or the version is not registered.
pub async fn get_missing_is_none(store: &dyn Store) {
    let name = unique_name("get-missing");
    assert_eq!(
        store.get(&name, &version("1.0.0")).await.expect("get"),
        None
    );
    register_all(store, &name, &["1.0.0"]).await;
    assert_eq!(
        store.get(&name, &version("1.0.1")).await.expect("get"),
        None
    );
    assert_eq!(
        store
            .get(&name, &version("1.0.0+build"))
            .await
            .expect("get"),
        None,
        "build metadata makes a different version"
    );
}

/// latest: the highest SemVer precedence, whatever the registration order.
pub async fn latest_uses_semver_precedence(store: &dyn Store) {
    let name = unique_name("latest");
    register_all(
        store,
        &name,
        &[
            "1.9.0",
            "1.10.0-rc.1",
            "1.10.0",
            "1.2.0",
            "1.10.0-alpha",
            "0.99.99",
        ],
    )
    .await;
    let latest = store.latest(&name).await.expect("latest").expect("some");
    assert_eq!(latest.version(), &version("1.10.0"), "1.10.0 > 1.9.0 > rc");

    let pre = unique_name("latest-pre");
    register_all(
        store,
        &pre,
        &[
            "1.0.0-alpha.1",
            "1.0.0-beta.11",
            "1.0.0-beta.2",
            "1.0.0-alpha",
        ],
    )
    .await;
    let latest = store.latest(&pre).await.expect("latest").expect("some");
    assert_eq!(
        latest.version(),
        &version("1.0.0-beta.11"),
        "numeric identifiers compare as numbers"
    );
}

/// latest: `None` when the name has no versions.
pub async fn latest_of_unknown_name_is_none(store: &dyn Store) {
    let name = unique_name("latest-none");
    assert_eq!(store.latest(&name).await.expect("latest"), None);
}

/// versions: every version, ascending by SemVer precedence.
pub async fn versions_ascend_by_precedence(store: &dyn Store) {
    let name = unique_name("versions");
    register_all(
        store,
        &name,
        &[
            "1.10.0",
            "1.0.0",
            "1.9.0",
            "1.0.0-rc.1",
            "2.0.0-alpha",
            "1.0.0+b2",
            "1.0.0+b1",
        ],
    )
    .await;
    let listed: Vec<String> = store
        .versions(&name)
        .await
        .expect("versions")
        .iter()
        .map(|m| m.version().to_string())
        .collect();
    assert_eq!(
        listed,
        [
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.0+b1",
            "1.0.0+b2",
            "1.9.0",
            "1.10.0",
            "2.0.0-alpha"
        ]
    );
}

/// versions: an empty list when the name is not registered.
pub async fn versions_of_unknown_name_is_empty(store: &dyn Store) {
    let name = unique_name("versions-none");
    assert!(store.versions(&name).await.expect("versions").is_empty());
}

/// list_models: a name whose last version was deleted is no longer listed.
pub async fn list_models_drops_name_without_versions(store: &dyn Store) {
    let name = unique_name("list-drop");
    register_all(store, &name, &["1.0.0", "2.0.0"]).await;
    store
        .delete(&name, &version("1.0.0"))
        .await
        .expect("delete");
    assert!(store.list_models().await.expect("list").contains(&name));
    store
        .delete(&name, &version("2.0.0"))
        .await
        .expect("delete");
    assert!(!store.list_models().await.expect("list").contains(&name));
}

/// update: replaces the metadata, keeps `created_at`.
pub async fn update_replaces_metadata_keeps_created_at(store: &dyn Store) {
    let name = unique_name("update");
    let original = metadata(&name, "1.0.0");
    store.register(&original).await.expect("register");
    let changed = original
        .to_builder()
        .model_type("lightgbm")
        .metric("auc", 0.95)
        .tag("stage", "prod")
        .no_description()
        .environment("production")
        .created_at(crate::time::from_micros(1).expect("in range"))
        .deployed_at(None)
        .build()
        .expect("valid");
    store.update(&changed).await.expect("update");
    let got = store
        .get(&name, original.version())
        .await
        .expect("get")
        .expect("some");
    let expected = changed
        .to_builder()
        .created_at(original.created_at())
        .build()
        .expect("valid");
    assert_eq!(got, expected, "every field replaced except created_at");
    let latest = store.latest(&name).await.expect("latest");
    assert_eq!(latest, Some(expected), "latest sees the update");
}

/// update: NotFound when the version is not registered; nothing is written.
pub async fn update_missing_is_not_found(store: &dyn Store) {
    let name = unique_name("update-missing");
    let err = store
        .update(&metadata(&name, "1.0.0"))
        .await
        .expect_err("update of a missing version");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(
        store.get(&name, &version("1.0.0")).await.expect("get"),
        None
    );
    assert!(!store.list_models().await.expect("list").contains(&name));
}

/// delete: removes the version with its predictions, baseline and aliases.
pub async fn delete_removes_predictions_baseline_and_aliases(store: &dyn Store) {
    let name = unique_name("delete");
    register_all(store, &name, &["1.0.0"]).await;
    let v = version("1.0.0");
    let p = prediction(&name, "1.0.0", json!("a"), 0);
    store.store_prediction(&p).await.expect("store prediction");
    let b = ConfidenceBaseline::new(name.clone(), v.clone(), 0.7, 0.1, 10).expect("valid");
    store.store_baseline(&b).await.expect("store baseline");
    store
        .set_alias(&name, &alias("production"), &v)
        .await
        .expect("set alias");

    store.delete(&name, &v).await.expect("delete");

    assert_eq!(store.get(&name, &v).await.expect("get"), None);
    assert_eq!(store.baseline(&name, &v).await.expect("baseline"), None);
    assert_eq!(
        store
            .resolve_alias(&name, &alias("production"))
            .await
            .expect("resolve"),
        None
    );
    let err = store
        .record_actual(p.id(), &json!("a"))
        .await
        .expect_err("the prediction is gone");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // Registering the version again starts empty.
    register_all(store, &name, &["1.0.0"]).await;
    assert!(store
        .recent_predictions(&name, &v, Window::last(10))
        .await
        .expect("recent")
        .is_empty());
    // The id of the deleted prediction can be used again.
    store.store_prediction(&p).await.expect("store again");
}

/// delete: NotFound when the version is not registered.
pub async fn delete_missing_is_not_found(store: &dyn Store) {
    let name = unique_name("delete-missing");
    let err = store
        .delete(&name, &version("1.0.0"))
        .await
        .expect_err("delete of a missing version");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// delete: other versions' predictions, aliases and baselines are untouched.
pub async fn delete_leaves_other_versions_untouched(store: &dyn Store) {
    let name = unique_name("delete-others");
    register_all(store, &name, &["1.0.0", "2.0.0"]).await;
    let keep = version("2.0.0");
    let p = prediction(&name, "2.0.0", json!(1), 0);
    store.store_prediction(&p).await.expect("store");
    let b = ConfidenceBaseline::new(name.clone(), keep.clone(), 0.5, 0.2, 3).expect("valid");
    store.store_baseline(&b).await.expect("baseline");
    store
        .set_alias(&name, &alias("stable"), &keep)
        .await
        .expect("alias");
    store
        .set_alias(&name, &alias("old"), &version("1.0.0"))
        .await
        .expect("alias");

    store
        .delete(&name, &version("1.0.0"))
        .await
        .expect("delete");

    assert_eq!(
        store
            .recent_predictions(&name, &keep, Window::last(10))
            .await
            .expect("recent"),
        vec![p]
    );
    assert_eq!(
        store.baseline(&name, &keep).await.expect("baseline"),
        Some(b)
    );
    assert_eq!(
        store
            .resolve_alias(&name, &alias("stable"))
            .await
            .expect("resolve"),
        Some(keep.clone())
    );
    assert_eq!(
        store
            .resolve_alias(&name, &alias("old"))
            .await
            .expect("resolve"),
        None
    );
    assert_eq!(
        store
            .latest(&name)
            .await
            .expect("latest")
            .map(|m| m.version().clone()),
        Some(keep)
    );
}

/// set_alias: creates the alias, and moves it when set again.
pub async fn set_alias_creates_and_moves(store: &dyn Store) {
    let name = unique_name("alias");
    register_all(store, &name, &["1.0.0", "1.1.0"]).await;
    let prod = alias("production");
    store
        .set_alias(&name, &prod, &version("1.0.0"))
        .await
        .expect("set");
    assert_eq!(
        store.resolve_alias(&name, &prod).await.expect("resolve"),
        Some(version("1.0.0"))
    );
    store
        .set_alias(&name, &prod, &version("1.1.0"))
        .await
        .expect("move");
    assert_eq!(
        store.resolve_alias(&name, &prod).await.expect("resolve"),
        Some(version("1.1.0"))
    );
    // The same alias text on another model is a different alias.
    let other = unique_name("alias-other");
    assert_eq!(
        store.resolve_alias(&other, &prod).await.expect("resolve"),
        None
    );
}

/// set_alias: NotFound for a missing version; an existing alias keeps its target.
pub async fn set_alias_to_missing_version_is_not_found(store: &dyn Store) {
    let name = unique_name("alias-missing");
    register_all(store, &name, &["1.0.0"]).await;
    let champ = alias("champion");
    store
        .set_alias(&name, &champ, &version("1.0.0"))
        .await
        .expect("set");
    let err = store
        .set_alias(&name, &champ, &version("9.9.9"))
        .await
        .expect_err("missing version");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(
        store.resolve_alias(&name, &champ).await.expect("resolve"),
        Some(version("1.0.0"))
    );
    let fresh = alias("fresh");
    let err = store
        .set_alias(&name, &fresh, &version("2.0.0"))
        .await
        .expect_err("missing version");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(
        store.resolve_alias(&name, &fresh).await.expect("resolve"),
        None
    );
}

/// resolve_alias: `None` when the alias does not exist.
pub async fn resolve_missing_alias_is_none(store: &dyn Store) {
    let name = unique_name("alias-none");
    register_all(store, &name, &["1.0.0"]).await;
    assert_eq!(
        store
            .resolve_alias(&name, &alias("nobody"))
            .await
            .expect("resolve"),
        None
    );
}

/// remove_alias: the alias is gone afterwards.
pub async fn remove_alias_then_resolve_is_none(store: &dyn Store) {
    let name = unique_name("alias-remove");
    register_all(store, &name, &["1.0.0"]).await;
    let a = alias("canary");
    store
        .set_alias(&name, &a, &version("1.0.0"))
        .await
        .expect("set");
    store.remove_alias(&name, &a).await.expect("remove");
    assert_eq!(store.resolve_alias(&name, &a).await.expect("resolve"), None);
    assert!(
        store
            .get(&name, &version("1.0.0"))
            .await
            .expect("get")
            .is_some(),
        "removing an alias keeps the version"
    );
}

/// remove_alias: NotFound when the alias does not exist.
pub async fn remove_missing_alias_is_not_found(store: &dyn Store) {
    let name = unique_name("alias-remove-missing");
    let err = store
        .remove_alias(&name, &alias("ghost"))
        .await
        .expect_err("missing alias");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// Names, aliases, tags and JSON holding quotes, SQL fragments, emoji and other Unicode are
/// stored and returned verbatim.
pub async fn awkward_strings_round_trip_verbatim(store: &dyn Store) {
    let awkward = [
        "'; DROP TABLE ml_models; --",
        "Robert'); DELETE FROM ml_predictions WHERE ('1'='1",
        "\"double\" and 'single' quotes",
        "emoji 🚀🔥 and ünïcödé ✓",
        "back\\slash % _ wildcards",
        "日本語のモデル",
        "right-to-left עברית",
    ];
    for (i, text) in awkward.iter().enumerate() {
        let name = ModelName::new(format!("{text} {}", unique_name("s"))).expect("valid");
        let m = metadata(&name, "1.0.0")
            .to_builder()
            .model_type(*text)
            .tag(*text, *text)
            .metric(*text, i as f64)
            .description(*text)
            .environment(*text)
            .build()
            .expect("valid");
        store.register(&m).await.expect("register");
        assert_eq!(
            store.get(&name, m.version()).await.expect("get"),
            Some(m.clone())
        );
        let a = Alias::new(*text).expect("valid alias");
        store
            .set_alias(&name, &a, m.version())
            .await
            .expect("alias");
        assert_eq!(
            store.resolve_alias(&name, &a).await.expect("resolve"),
            Some(m.version().clone())
        );
        let p = prediction(&name, "1.0.0", json!({ *text: [*text] }), 0)
            .to_builder()
            .feature(*text, json!(*text))
            .build()
            .expect("valid");
        store.store_prediction(&p).await.expect("store");
        let recent = store
            .recent_predictions(&name, m.version(), Window::last(1))
            .await
            .expect("recent");
        assert_eq!(recent, vec![p]);
    }
}
