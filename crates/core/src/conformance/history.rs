//! Checks of the registry history: the event log, aliases as of a time, rollbacks, alias lists
//! and paginated listings.

use chrono::Duration;

use super::fixtures::{metadata, unique_name, version};
use crate::history::acting_as;
use crate::{
    Alias, ConfidenceBaseline, ErrorKind, EventKind, EventQuery, ListFilter, ModelName, ModelQuery,
    ModelRegistryExt, Store, VersionQuery,
};

fn alias(text: &str) -> Alias {
    Alias::new(text).expect("valid alias")
}

async fn kinds_of(store: &dyn Store, name: &ModelName) -> Vec<EventKind> {
    let page = store
        .events(&EventQuery::all().model(name.clone()).limit(1000))
        .await
        .expect("events");
    page.events.iter().map(|e| e.kind).collect()
}

/// events: every change records one event, in order, with its version, alias, previous
/// target, changed fields and actor; a deletion records the removal of its aliases.
pub async fn every_change_records_one_event(store: &dyn Store) {
    let name = unique_name("events");
    let prod = alias("production");
    acting_as("alice", async {
        store
            .register(&metadata(&name, "1.0.0"))
            .await
            .expect("register");
        store
            .register(&metadata(&name, "2.0.0"))
            .await
            .expect("register");
        let changed = metadata(&name, "1.0.0")
            .to_builder()
            .model_type("changed")
            .status("archived")
            .build()
            .expect("valid");
        store.update(&changed).await.expect("update");
        store
            .set_alias(&name, &prod, &version("1.0.0"))
            .await
            .expect("set");
        store
            .set_alias(&name, &prod, &version("2.0.0"))
            .await
            .expect("move");
        store
            .set_alias(&name, &alias("canary"), &version("2.0.0"))
            .await
            .expect("set");
        store
            .remove_alias(&name, &alias("canary"))
            .await
            .expect("rm");
        let b =
            ConfidenceBaseline::new(name.clone(), version("1.0.0"), 0.5, 0.1, 3).expect("valid");
        store.store_baseline(&b).await.expect("baseline");
        store
            .delete(&name, &version("2.0.0"))
            .await
            .expect("delete");
    })
    .await;
    let page = store
        .events(&EventQuery::all().model(name.clone()))
        .await
        .expect("events");
    use EventKind::*;
    let kinds: Vec<EventKind> = page.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            VersionRegistered,
            VersionRegistered,
            VersionUpdated,
            AliasSet,
            AliasSet,
            AliasSet,
            AliasRemoved,
            BaselineWritten,
            AliasRemoved,
            VersionDeleted
        ]
    );
    let e = &page.events;
    assert!(e.windows(2).all(|w| w[0].seq < w[1].seq), "increasing seq");
    assert!(e.iter().all(|e| e.actor.as_deref() == Some("alice")));
    assert_eq!(
        e[2].fields,
        vec!["model_type".to_owned(), "status".to_owned()]
    );
    assert_eq!(
        (e[4].from_version.clone(), e[4].version.clone()),
        (Some(version("1.0.0")), Some(version("2.0.0")))
    );
    assert_eq!(
        e[8].alias,
        Some(prod.clone()),
        "the deleted version's alias"
    );
    assert_eq!(e[9].version, Some(version("2.0.0")));
    assert!(e.iter().all(|e| e.model == name));
}

/// events: a change that fails records nothing.
pub async fn a_failed_change_records_no_event(store: &dyn Store) {
    let name = unique_name("events-failed");
    store
        .register(&metadata(&name, "1.0.0"))
        .await
        .expect("register");
    let before = kinds_of(store, &name).await;
    let prod = alias("production");
    let ghost = version("9.9.9");
    let failures = [
        store.register(&metadata(&name, "1.0.0")).await.err(),
        store.update(&metadata(&name, "9.9.9")).await.err(),
        store.delete(&name, &ghost).await.err(),
        store.set_alias(&name, &prod, &ghost).await.err(),
        store.remove_alias(&name, &prod).await.err(),
        store.rollback_alias(&name, &prod).await.err(),
        store
            .store_baseline(
                &ConfidenceBaseline::new(name.clone(), ghost.clone(), 0.5, 0.1, 1).expect("valid"),
            )
            .await
            .err(),
    ];
    assert!(failures.iter().all(Option::is_some), "{failures:?}");
    assert_eq!(kinds_of(store, &name).await, before);
    // Setting an alias to where it points already is no move.
    store
        .set_alias(&name, &prod, &version("1.0.0"))
        .await
        .expect("set");
    store
        .set_alias(&name, &prod, &version("1.0.0"))
        .await
        .expect("same");
    assert_eq!(kinds_of(store, &name).await.len(), before.len() + 1);
}

/// events: filters by model, alias, kind and time; pages by sequence number in both orders
/// visit each event once; a bad query is InvalidInput.
pub async fn events_filter_and_page(store: &dyn Store) {
    let name = unique_name("events-pages");
    let started = crate::time::now();
    for i in 0..7 {
        store
            .register(&metadata(&name, &format!("1.{i}.0")))
            .await
            .expect("register");
    }
    let prod = alias("production");
    for i in [0, 3, 5] {
        store
            .set_alias(&name, &prod, &version(&format!("1.{i}.0")))
            .await
            .expect("set");
    }
    let mut seen = Vec::new();
    let mut query = EventQuery::all().model(name.clone()).limit(3);
    loop {
        let page = store.events(&query).await.expect("events");
        seen.extend(page.events.iter().map(|e| e.seq));
        match page.next {
            Some(seq) => query = query.after(seq),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    let mut back = Vec::new();
    let mut query = EventQuery::all()
        .model(name.clone())
        .newest_first(true)
        .limit(4);
    loop {
        let page = store.events(&query).await.expect("events");
        back.extend(page.events.iter().map(|e| e.seq));
        match page.next {
            Some(seq) => query = query.before(seq),
            None => break,
        }
    }
    back.reverse();
    assert_eq!(back, seen);
    let history = store.alias_history(&name, &prod).await.expect("history");
    assert_eq!(history.len(), 3);
    assert_eq!(history[2].from_version, Some(version("1.3.0")));
    let sets = store
        .events(
            &EventQuery::all()
                .model(name.clone())
                .kind(EventKind::AliasSet),
        )
        .await
        .expect("events");
    assert_eq!(sets.events.len(), 3);
    let since = store
        .events(
            &EventQuery::all()
                .model(name.clone())
                .since(started + Duration::days(1)),
        )
        .await
        .expect("events");
    assert!(since.events.is_empty());
    for bad in [
        EventQuery::all().limit(0),
        EventQuery::all().alias(prod.clone()),
    ] {
        let err = store.events(&bad).await.expect_err("bad query");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
}

/// resolve_alias_at: None before the alias existed and while removed; the target of the last
/// move at or before the time; the current target for a time in the future.
pub async fn alias_at_a_time(store: &dyn Store) {
    let name = unique_name("alias-at");
    for v in ["1.0.0", "2.0.0"] {
        store.register(&metadata(&name, v)).await.expect("register");
    }
    let prod = alias("production");
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(5));
    let before = crate::time::now();
    pause().await;
    store
        .set_alias(&name, &prod, &version("1.0.0"))
        .await
        .expect("set");
    pause().await;
    let on_one = crate::time::now();
    pause().await;
    store
        .set_alias(&name, &prod, &version("2.0.0"))
        .await
        .expect("move");
    pause().await;
    let on_two = crate::time::now();
    pause().await;
    store.remove_alias(&name, &prod).await.expect("remove");
    pause().await;
    let removed = crate::time::now();
    let at = |t| store.resolve_alias_at(&name, &prod, t);
    assert_eq!(at(before).await.expect("at"), None);
    assert_eq!(at(on_one).await.expect("at"), Some(version("1.0.0")));
    assert_eq!(at(on_two).await.expect("at"), Some(version("2.0.0")));
    assert_eq!(at(removed).await.expect("at"), None);
    store
        .set_alias(&name, &prod, &version("1.0.0"))
        .await
        .expect("set again");
    let future = crate::time::now() + Duration::days(365);
    assert_eq!(at(future).await.expect("at"), Some(version("1.0.0")));
}

/// rollback_alias: moves back one step at a time, records the move; NotFound without an
/// earlier target or when it was deleted.
pub async fn rollback_walks_back_one_step(store: &dyn Store) {
    let name = unique_name("rollback");
    for v in ["1.0.0", "2.0.0", "3.0.0"] {
        store.register(&metadata(&name, v)).await.expect("register");
    }
    let prod = alias("production");
    let err = store
        .rollback_alias(&name, &prod)
        .await
        .expect_err("no alias");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    for v in ["1.0.0", "2.0.0", "3.0.0"] {
        store
            .set_alias(&name, &prod, &version(v))
            .await
            .expect("set");
    }
    assert_eq!(
        store.rollback_alias(&name, &prod).await.expect("rollback"),
        version("2.0.0")
    );
    assert_eq!(
        store.resolve_alias(&name, &prod).await.expect("resolve"),
        Some(version("2.0.0"))
    );
    assert_eq!(
        store.rollback_alias(&name, &prod).await.expect("rollback"),
        version("1.0.0")
    );
    let err = store
        .rollback_alias(&name, &prod)
        .await
        .expect_err("nothing earlier");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        store.resolve_alias(&name, &prod).await.expect("resolve"),
        Some(version("1.0.0")),
        "a failed rollback changes nothing"
    );
    let history = store.alias_history(&name, &prod).await.expect("history");
    assert_eq!(
        history
            .iter()
            .filter(|e| e.kind == EventKind::AliasRolledBack)
            .count(),
        2
    );
    // A deleted target cannot be rolled back to.
    let canary = alias("canary");
    for v in ["2.0.0", "3.0.0"] {
        store
            .set_alias(&name, &canary, &version(v))
            .await
            .expect("set");
    }
    store
        .delete(&name, &version("2.0.0"))
        .await
        .expect("delete");
    let err = store
        .rollback_alias(&name, &canary)
        .await
        .expect_err("deleted target");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        store.resolve_alias(&name, &canary).await.expect("resolve"),
        Some(version("3.0.0"))
    );
}

/// aliases: every alias of a model with its target, by alias; empty for a model without.
pub async fn aliases_list_their_targets(store: &dyn Store) {
    let name = unique_name("alias-list");
    for v in ["1.0.0", "2.0.0"] {
        store.register(&metadata(&name, v)).await.expect("register");
    }
    store
        .set_alias(&name, &alias("production"), &version("1.0.0"))
        .await
        .expect("set");
    store
        .set_alias(&name, &alias("canary"), &version("2.0.0"))
        .await
        .expect("set");
    assert_eq!(
        store.aliases(&name).await.expect("aliases"),
        vec![
            (alias("canary"), version("2.0.0")),
            (alias("production"), version("1.0.0"))
        ]
    );
    let other = unique_name("alias-list-none");
    assert!(store.aliases(&other).await.expect("aliases").is_empty());
}

/// versions_page / models_page: pages after a cursor visit each match once, in order, also
/// with registrations in between; filters by status and tag; a bad page size is InvalidInput.
pub async fn listings_page_and_filter(store: &dyn Store) {
    let name = unique_name("pages");
    for i in [1, 3, 5, 7, 9] {
        let m = metadata(&name, &format!("1.{i}.0"))
            .to_builder()
            .status(if i == 5 { "archived" } else { "ready" })
            .tag("stage", if i < 5 { "old" } else { "new" })
            .build()
            .expect("valid");
        store.register(&m).await.expect("register");
    }
    let page = store
        .versions_page(&name, &VersionQuery::default().page_size(2))
        .await
        .expect("page");
    assert_eq!(page.versions.len(), 2);
    // A version registered before the cursor does not shift the next page.
    store
        .register(&metadata(&name, "1.0.0"))
        .await
        .expect("register");
    let mut seen: Vec<String> = page
        .versions
        .iter()
        .map(|m| m.version().to_string())
        .collect();
    let mut next = page.next;
    while let Some(cursor) = next {
        let page = store
            .versions_page(
                &name,
                &VersionQuery::default().page_size(2).after(Some(cursor)),
            )
            .await
            .expect("page");
        seen.extend(page.versions.iter().map(|m| m.version().to_string()));
        next = page.next;
    }
    assert_eq!(seen, vec!["1.1.0", "1.3.0", "1.5.0", "1.7.0", "1.9.0"]);
    let archived = store
        .versions_page(
            &name,
            &VersionQuery::default().filter(ListFilter::default().status("archived")),
        )
        .await
        .expect("page");
    assert_eq!(archived.versions.len(), 1);
    let tagged = store
        .versions_page(
            &name,
            &VersionQuery::default().filter(ListFilter::default().tag("stage", "new")),
        )
        .await
        .expect("page");
    assert_eq!(tagged.versions.len(), 3);
    let err = store
        .versions_page(&name, &VersionQuery::default().page_size(0))
        .await
        .expect_err("page size");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let models = store
        .models_page(
            &ModelQuery::default()
                .filter(ListFilter::default().tag("stage", "old"))
                .page_size(10_000),
        )
        .await
        .expect("page");
    assert!(models.names.contains(&name));
    let names = store
        .models_page(
            &ModelQuery::default()
                .after(Some(name.clone()))
                .page_size(10_000),
        )
        .await
        .expect("page");
    assert!(!names.names.contains(&name), "the cursor is exclusive");
}
