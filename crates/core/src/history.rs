//! Registry history: every change is an [`Event`] in an append-only log, written in the same
//! transaction as the change; aliases can be resolved as of a time and rolled back one step.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_RECENT_LIMIT, MAX_SHORT_TEXT_BYTES};
use crate::{Alias, Error, ModelName, Result, Timestamp, Version};

tokio::task_local! {
    static ACTOR: Option<String>;
}

/// Runs `f` with `actor` recorded as the actor of every registry change it makes (the command
/// line's `--actor`, the HTTP service's token name). The actor is free-form text, at most 255
/// bytes; events written outside such a scope have none.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use mlstore_core::history::{acting_as, current_actor};
/// let seen = acting_as("alice", async { current_actor() }).await;
/// assert_eq!(seen.as_deref(), Some("alice"));
/// assert_eq!(current_actor(), None);
/// # });
/// ```
pub async fn acting_as<F: Future>(actor: impl Into<String>, f: F) -> F::Output {
    let mut actor: String = actor.into();
    if actor.len() > MAX_SHORT_TEXT_BYTES {
        let mut end = MAX_SHORT_TEXT_BYTES;
        while !actor.is_char_boundary(end) {
            end -= 1;
        }
        actor.truncate(end);
    }
    let actor = actor.replace('\0', "");
    ACTOR.scope(Some(actor), f).await
}

/// The actor of the current [`acting_as`] scope, if any.
pub fn current_actor() -> Option<String> {
    ACTOR.try_with(Clone::clone).ok().flatten()
}

/// What a registry change was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A version was registered.
    VersionRegistered,
    /// A version's metadata was updated (`fields` lists what changed).
    VersionUpdated,
    /// A version was deleted (with its predictions, baseline and aliases).
    VersionDeleted,
    /// An alias was created or moved (`from_version` to `version`).
    AliasSet,
    /// An alias was removed (also when its version was deleted).
    AliasRemoved,
    /// An alias was moved back one step by a rollback.
    AliasRolledBack,
    /// A confidence baseline was written.
    BaselineWritten,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 7] = [
        EventKind::VersionRegistered,
        EventKind::VersionUpdated,
        EventKind::VersionDeleted,
        EventKind::AliasSet,
        EventKind::AliasRemoved,
        EventKind::AliasRolledBack,
        EventKind::BaselineWritten,
    ];

    /// The stored name, e.g. `alias_set`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::VersionRegistered => "version_registered",
            EventKind::VersionUpdated => "version_updated",
            EventKind::VersionDeleted => "version_deleted",
            EventKind::AliasSet => "alias_set",
            EventKind::AliasRemoved => "alias_removed",
            EventKind::AliasRolledBack => "alias_rolled_back",
            EventKind::BaselineWritten => "baseline_written",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `kind`) for an unknown name.
    pub fn parse(text: &str) -> Result<Self> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                Error::invalid(
                    "kind",
                    format!("{text:?}: expected one of {}", names.join(", ")),
                )
            })
    }

    /// Whether the event moves or removes an alias.
    pub fn is_alias(self) -> bool {
        matches!(
            self,
            EventKind::AliasSet | EventKind::AliasRemoved | EventKind::AliasRolledBack
        )
    }
}

/// One registry change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Event {
    /// Position in the log: increases with every event of the database, in commit order.
    pub seq: u64,
    /// When the change was made.
    pub at: Timestamp,
    /// What it was.
    pub kind: EventKind,
    /// The model.
    pub model: ModelName,
    /// The version it concerns (for alias events: the version the alias points at after it,
    /// none after a removal).
    pub version: Option<Version>,
    /// The alias, for alias events.
    pub alias: Option<Alias>,
    /// For alias events: the version the alias pointed at before.
    pub from_version: Option<Version>,
    /// Who made it ([`acting_as`]).
    pub actor: Option<String>,
    /// For updates: the fields that changed.
    pub fields: Vec<String>,
}

/// An event as a backend writes it (the database assigns `seq`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: EventKind,
    /// The model.
    pub model: ModelName,
    /// The version.
    pub version: Option<Version>,
    /// The alias.
    pub alias: Option<Alias>,
    /// The alias's previous target.
    pub from_version: Option<Version>,
    /// Who.
    pub actor: Option<String>,
    /// Changed fields (updates).
    pub fields: Vec<String>,
}

impl NewEvent {
    /// An event of `kind` on `model` now, by the current actor.
    pub fn now(kind: EventKind, model: &ModelName) -> Self {
        Self {
            at: crate::time::now(),
            kind,
            model: model.clone(),
            version: None,
            alias: None,
            from_version: None,
            actor: current_actor(),
            fields: Vec::new(),
        }
    }

    /// With the version.
    #[must_use]
    pub fn version(mut self, version: &Version) -> Self {
        self.version = Some(version.clone());
        self
    }

    /// With the alias and its previous target.
    #[must_use]
    pub fn alias(mut self, alias: &Alias, from: Option<Version>) -> Self {
        self.alias = Some(alias.clone());
        self.from_version = from;
        self
    }

    /// With the changed fields.
    #[must_use]
    pub fn fields(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }

    /// The fields as stored: a JSON array of names, or `None` when empty.
    pub fn fields_text(&self) -> Option<String> {
        (!self.fields.is_empty())
            .then(|| serde_json::to_string(&self.fields).expect("names serialize"))
    }
}

/// Options of [`crate::ModelRegistry::events`]: filters, a page size and a cursor on `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventQuery {
    model: Option<ModelName>,
    alias: Option<Alias>,
    kind: Option<EventKind>,
    since: Option<Timestamp>,
    after: Option<u64>,
    before: Option<u64>,
    newest_first: bool,
    limit: usize,
}

impl Default for EventQuery {
    fn default() -> Self {
        Self {
            model: None,
            alias: None,
            kind: None,
            since: None,
            after: None,
            before: None,
            newest_first: false,
            limit: 100,
        }
    }
}

impl EventQuery {
    /// Every event, oldest first, 100 a page.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only events of `model`.
    #[must_use]
    pub fn model(mut self, model: ModelName) -> Self {
        self.model = Some(model);
        self
    }

    /// Only events of `alias` (of the model).
    #[must_use]
    pub fn alias(mut self, alias: Alias) -> Self {
        self.alias = Some(alias);
        self
    }

    /// Only events of `kind`.
    #[must_use]
    pub fn kind(mut self, kind: EventKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Only events made at `since` or later.
    #[must_use]
    pub fn since(mut self, since: Timestamp) -> Self {
        self.since = Some(since);
        self
    }

    /// Only events after sequence number `seq` (the cursor of an oldest-first page).
    #[must_use]
    pub fn after(mut self, seq: u64) -> Self {
        self.after = Some(seq);
        self
    }

    /// Only events before sequence number `seq` (the cursor of a newest-first page).
    #[must_use]
    pub fn before(mut self, seq: u64) -> Self {
        self.before = Some(seq);
        self
    }

    /// Newest first (default: oldest first).
    #[must_use]
    pub fn newest_first(mut self, newest_first: bool) -> Self {
        self.newest_first = newest_first;
        self
    }

    /// At most `limit` events a page (default 100; 1 to [`MAX_RECENT_LIMIT`]).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The model filter.
    pub fn model_name(&self) -> Option<&ModelName> {
        self.model.as_ref()
    }
    /// The alias filter.
    pub fn alias_name(&self) -> Option<&Alias> {
        self.alias.as_ref()
    }
    /// The kind filter.
    pub fn kind_filter(&self) -> Option<EventKind> {
        self.kind
    }
    /// The time filter.
    pub fn since_time(&self) -> Option<Timestamp> {
        self.since
    }
    /// The exclusive lower cursor.
    pub fn after_seq(&self) -> Option<u64> {
        self.after
    }
    /// The exclusive upper cursor.
    pub fn before_seq(&self) -> Option<u64> {
        self.before
    }
    /// Whether newest first.
    pub fn is_newest_first(&self) -> bool {
        self.newest_first
    }

    /// Checks the query; returns the page size.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: `limit` out of range; `alias` without a model; `since` outside
    /// the supported range.
    pub fn check(&self) -> Result<usize> {
        if self.limit == 0 || self.limit > MAX_RECENT_LIMIT {
            return Err(Error::invalid(
                "limit",
                format!("is {}, it must be from 1 to {MAX_RECENT_LIMIT}", self.limit),
            ));
        }
        if self.alias.is_some() && self.model.is_none() {
            return Err(Error::invalid("alias", "an alias filter needs a model"));
        }
        if let Some(t) = &self.since {
            crate::time::check("since", t)?;
        }
        Ok(self.limit)
    }

    /// Whether `e` passes the filters and cursors (for stores that filter in memory).
    pub fn matches(&self, e: &Event) -> bool {
        self.model.as_ref().is_none_or(|m| &e.model == m)
            && self
                .alias
                .as_ref()
                .is_none_or(|a| e.alias.as_ref() == Some(a))
            && self.kind.is_none_or(|k| e.kind == k)
            && self.since.is_none_or(|t| e.at >= t)
            && self.after.is_none_or(|s| e.seq > s)
            && self.before.is_none_or(|s| e.seq < s)
    }
}

/// A value an [`EventQuery`] filter compares a column with (see [`EventQuery::sql_filters`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum FilterValue<'a> {
    /// Text: a model name, an alias, an event kind.
    Text(&'a str),
    /// A time.
    Time(Timestamp),
    /// A sequence number.
    Seq(i64),
}

impl EventQuery {
    /// The filters that are set, for SQL backends, in the order their parameters are bound:
    /// each a condition on a column of the events table, to be followed by a placeholder
    /// (`"model ="`, `"at >="`, `"seq >"`, ...), and the value to bind.
    pub fn sql_filters(&self) -> Vec<(&'static str, FilterValue<'_>)> {
        let mut filters = Vec::new();
        if let Some(m) = &self.model {
            filters.push(("model =", FilterValue::Text(m.as_str())));
        }
        if let Some(a) = &self.alias {
            filters.push(("alias =", FilterValue::Text(a.as_str())));
        }
        if let Some(k) = self.kind {
            filters.push(("kind =", FilterValue::Text(k.as_str())));
        }
        if let Some(t) = self.since {
            filters.push(("at >=", FilterValue::Time(t)));
        }
        let seq = |s: u64| FilterValue::Seq(i64::try_from(s).unwrap_or(i64::MAX));
        if let Some(s) = self.after {
            filters.push(("seq >", seq(s)));
        }
        if let Some(s) = self.before {
            filters.push(("seq <", seq(s)));
        }
        filters
    }

    /// The statement of a page of events for SQL backends: `columns` of the events table with
    /// the [`EventQuery::sql_filters`] conditions, ordered by sequence number, the limit as the
    /// last parameter; `placeholder(n)` writes parameter `n` (from 1) in the backend's dialect.
    /// Each combination of filters is its own statement, so that the planner picks the index
    /// that serves it.
    pub fn sql_statement(&self, columns: &str, placeholder: impl Fn(usize) -> String) -> String {
        let filters = self.sql_filters();
        let mut sql = format!("SELECT {columns} FROM ml_events WHERE 1 = 1");
        for (n, (condition, _)) in filters.iter().enumerate() {
            sql.push_str(&format!(" AND {condition} {}", placeholder(n + 1)));
        }
        sql.push_str(&format!(
            " ORDER BY seq {} LIMIT {}",
            if self.newest_first { "DESC" } else { "ASC" },
            placeholder(filters.len() + 1)
        ));
        sql
    }
}

/// A page of events and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EventPage {
    /// The events, in the query's order.
    pub events: Vec<Event>,
    /// The `seq` to pass to `after` (oldest first) or `before` (newest first) for the next
    /// page; `None` when this page was not full.
    pub next: Option<u64>,
}

impl EventPage {
    /// The page of `events` read with page size `limit`.
    pub fn new(events: Vec<Event>, limit: usize) -> Self {
        let next = (events.len() == limit)
            .then(|| events.last().map(|e| e.seq))
            .flatten();
        Self { events, next }
    }
}

/// The version an alias's history says a rollback moves it to: replaying its events oldest
/// first, each set pushes its version on a stack, each rollback pops the top, a removal empties
/// it; the target is the entry below the top. `None` when there is no earlier target.
pub fn rollback_target(alias_events: &[Event]) -> Option<Version> {
    let mut stack: Vec<&Version> = Vec::new();
    for e in alias_events {
        match e.kind {
            EventKind::AliasSet => {
                if let Some(v) = &e.version {
                    stack.push(v);
                }
            }
            EventKind::AliasRolledBack => {
                stack.pop();
            }
            EventKind::AliasRemoved => stack.clear(),
            _ => {}
        }
    }
    let n = stack.len();
    (n >= 2).then(|| stack[n - 2].clone())
}

/// What an alias pointed at, at the time of the last of `events` made at or before that time:
/// its version after a set or a rollback, nothing after a removal or before any event.
pub fn alias_target_at(last: Option<&Event>) -> Option<Version> {
    match last {
        Some(e) if matches!(e.kind, EventKind::AliasSet | EventKind::AliasRolledBack) => {
            e.version.clone()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, version: Option<&str>) -> Event {
        Event {
            seq: 0,
            at: crate::time::now(),
            kind,
            model: ModelName::new("m").unwrap(),
            version: version.map(|v| Version::new(v).unwrap()),
            alias: Some(Alias::new("production").unwrap()),
            from_version: None,
            actor: None,
            fields: Vec::new(),
        }
    }

    #[test]
    fn rollback_walks_back_the_sets() {
        use EventKind::*;
        let v = |s: &str| Some(Version::new(s).unwrap());
        let mut log = vec![event(AliasSet, Some("1.0.0"))];
        assert_eq!(rollback_target(&log), None);
        log.push(event(AliasSet, Some("2.0.0")));
        log.push(event(AliasSet, Some("3.0.0")));
        assert_eq!(rollback_target(&log), v("2.0.0"));
        log.push(event(AliasRolledBack, Some("2.0.0")));
        assert_eq!(rollback_target(&log), v("1.0.0"));
        log.push(event(AliasRemoved, None));
        log.push(event(AliasSet, Some("4.0.0")));
        assert_eq!(rollback_target(&log), None, "a removal ends the history");
        assert_eq!(alias_target_at(log.last()), v("4.0.0"));
        assert_eq!(alias_target_at(Some(&event(AliasRemoved, None))), None);
    }

    #[tokio::test]
    async fn actors_are_scoped_and_bounded() {
        assert_eq!(current_actor(), None);
        let long = "é".repeat(200);
        let seen = acting_as(long, async { current_actor() }).await.unwrap();
        assert!(seen.len() <= MAX_SHORT_TEXT_BYTES);
        assert!(EventKind::parse("alias_set").is_ok());
        assert!(EventKind::parse("alias_moved").is_err());
    }
}
