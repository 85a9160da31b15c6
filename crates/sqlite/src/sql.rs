//! Every SQL statement the SQLite store runs, and the shape of every row it reads or writes, in
//! one place; public so that benchmarks run the same statements, bound the same way, on a raw
//! connection. All statements are parameterised.
//!
//! Model versions are addressed by `(name, version_key)`, the unique index, so every lookup is
//! one index seek. `version_key` is `mlstore_core::Version::sort_key`.
//!
//! # Row shapes
//! Each table's columns are listed once, in a `table!` invocation naming the fields of the
//! `mlstore_core::codec` row type, which are the column names. The statements' column lists and
//! placeholders, the decoder ([`read_metadata`], ...) and the parameters ([`metadata_params`],
//! ...) are generated from that list: the decoder builds the row with a struct literal and the
//! binder destructures it, so a column added to a row type and not here fails to compile, and
//! columns can never be read or bound out of order.

use mlstore_core::codec::{BaselineRow, EventRow, MetadataRow, PredictionRow};
use mlstore_core::time::{from_micros, to_micros};
use mlstore_core::Timestamp;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::Row;
use uuid::Uuid;

/// How a field of a row type is stored in a SQLite column.
pub trait Column: Sized {
    /// The value to bind.
    fn to_sql(&self) -> ToSqlOutput<'_>;
    /// The value of column `i` of `row`.
    ///
    /// # Errors
    /// When the column holds another type (the database was changed by another program).
    fn from_row(row: &Row<'_>, i: usize) -> rusqlite::Result<Self>;
}

impl Column for String {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Text(self.as_bytes()))
    }
    fn from_row(row: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
}

impl Column for Vec<u8> {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Blob(self))
    }
    fn from_row(row: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
}

impl Column for f64 {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Real(*self))
    }
    fn from_row(row: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
}

impl Column for i64 {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Integer(*self))
    }
    fn from_row(row: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
}

impl Column for bool {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Integer(i64::from(*self)))
    }
    fn from_row(row: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
}

/// Microseconds since the Unix epoch, an `INTEGER`.
impl Column for Timestamp {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Integer(to_micros(self)))
    }
    fn from_row(row: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        let micros: i64 = row.get(i)?;
        from_micros(micros).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Integer, e.into())
        })
    }
}

/// The 16 bytes of the UUID, a `BLOB`.
impl Column for Uuid {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Blob(self.as_bytes()))
    }
    fn from_row(row: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get::<_, [u8; 16]>(i).map(Uuid::from_bytes)
    }
}

impl<T: Column> Column for Option<T> {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        match self {
            Some(value) => value.to_sql(),
            None => ToSqlOutput::Owned(Value::Null),
        }
    }
    fn from_row(row: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        match row.get_ref(i)? {
            ValueRef::Null => Ok(None),
            _ => T::from_row(row, i).map(Some),
        }
    }
}

/// Replaces one token by an expression (to repeat a placeholder once per column).
macro_rules! each {
    ($_column:tt, $text:expr) => {
        $text
    };
}

/// Declares the columns of a row type, by field name; see the module docs.
macro_rules! table {
    (
        $row:ident: $columns:ident, $placeholders:ident, $excluded:ident, $qualified:ident,
        $(#[$read_doc:meta])* $read:ident,
        $(#[$params_doc:meta])* $params:ident { $first:ident $(, $field:ident)* $(,)? }
    ) => {
        macro_rules! $columns {
            () => {
                concat!(stringify!($first) $(, ", ", stringify!($field))*)
            };
        }
        macro_rules! $placeholders {
            () => {
                concat!("?" $(, each!($field, ", ?"))*)
            };
        }
        #[allow(unused_macros)]
        macro_rules! $qualified {
            () => {
                concat!("t.", stringify!($first) $(, ", t.", stringify!($field))*)
            };
        }
        #[allow(unused_macros)]
        macro_rules! $excluded {
            () => {
                concat!("excluded.", stringify!($first) $(, ", excluded.", stringify!($field))*)
            };
        }

        $(#[$read_doc])*
        ///
        /// # Errors
        /// When a column holds another type than the row's field.
        pub fn $read(row: &Row<'_>, first: usize) -> rusqlite::Result<$row> {
            let mut next = first..;
            let mut column = || next.next().expect("unbounded range");
            Ok($row {
                $first: Column::from_row(row, column())?,
                $($field: Column::from_row(row, column())?,)*
            })
        }

        $(#[$params_doc])*
        pub fn $params(row: &$row) -> Vec<ToSqlOutput<'_>> {
            let $row { $first, $($field),* } = row;
            vec![$first.to_sql() $(, $field.to_sql())*]
        }
    };
}

table!(MetadataRow: metadata_columns, metadata_placeholders, metadata_excluded, metadata_in_t,
    /// Reads a model version's columns, starting at column `first`.
    read_metadata,
    /// A model version's columns, in the order of `metadata_columns!()`.
    metadata_params {
        name, version, version_key, model_type, configuration, metrics, tags, description,
        environment, created_at, deployed_at, source, run, status,
    }
);

table!(PredictionRow: prediction_columns, prediction_placeholders, prediction_excluded, prediction_in_t,
    /// Reads a prediction's columns, starting at column `first`.
    read_prediction,
    /// A prediction's columns, in the order of `prediction_columns!()`.
    prediction_params {
        id, prediction, prediction_key, actual, actual_key, correct, labelled_at,
        prediction_number, actual_number, confidence, features, ts,
    }
);

table!(BaselineRow: baseline_columns, baseline_placeholders, baseline_excluded, baseline_in_t,
    /// Reads a baseline's columns, starting at column `first`.
    read_baseline,
    /// A baseline's columns, in the order of `baseline_columns!()`.
    baseline_params {
        mean, std_dev, sample_count, updated_at, histogram, quantiles, computed_from, samples,
    }
);

table!(EventRow: event_columns, event_placeholders, event_excluded, event_in_t,
    /// Reads an event's columns, starting at column `first`.
    read_event,
    /// An event's columns, in the order of `event_columns!()`.
    event_params {
        seq, at, kind, model, version, alias, from_version, actor, fields,
    }
);

/// The bounds of a [`mlstore_core::Window`] as bound by the window statements: start and end in
/// microseconds, and the limit (`-1`: none, SQLite's "no limit").
pub fn window_params(bounds: &mlstore_core::Bounds) -> [i64; 3] {
    [
        to_micros(&bounds.start),
        to_micros(&bounds.end),
        bounds.sql_limit().unwrap_or(-1),
    ]
}

/// Registers a model version.
pub const REGISTER: &str = concat!(
    "INSERT INTO ml_models (",
    metadata_columns!(),
    ") VALUES (",
    metadata_placeholders!(),
    ")"
);

/// Reads one model version.
pub const GET: &str = concat!(
    "SELECT ",
    metadata_columns!(),
    " FROM ml_models WHERE name = ?1 AND version_key = ?2"
);

/// Reads the version of a name with the greatest `version_key` (SemVer precedence).
pub const LATEST: &str = concat!(
    "SELECT ",
    metadata_columns!(),
    " FROM ml_models WHERE name = ?1 ORDER BY version_key DESC LIMIT 1"
);

/// Reads every version of a name, ascending.
pub const VERSIONS: &str = concat!(
    "SELECT ",
    metadata_columns!(),
    " FROM ml_models WHERE name = ?1 ORDER BY version_key"
);

/// Lists the names that have versions, by their bytes.
pub const LIST_MODELS: &str = "SELECT DISTINCT name FROM ml_models ORDER BY name";

/// Replaces the columns of a model version (bound like [`REGISTER`]) except `created_at`,
/// which keeps the registration time: of two assignments to one column, SQLite applies the
/// rightmost.
pub const UPDATE: &str = concat!(
    "UPDATE ml_models SET (",
    metadata_columns!(),
    ") = (",
    metadata_placeholders!(),
    "), created_at = created_at WHERE name = ?1 AND version_key = ?3"
);

/// Predictions, the baseline and aliases go with the row (ON DELETE CASCADE).
pub const DELETE: &str = "DELETE FROM ml_models WHERE name = ?1 AND version_key = ?2";

/// Looks up the id of a model version.
pub const MODEL_ID: &str = "SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2";

/// Creates or moves an alias; inserts nothing when the version is not registered.
pub const SET_ALIAS: &str = "INSERT INTO ml_model_aliases (name, alias, model_id) \
    SELECT ?1, ?2, id FROM ml_models WHERE name = ?1 AND version_key = ?3 \
    ON CONFLICT (name, alias) DO UPDATE SET model_id = excluded.model_id";

/// Resolves an alias to its version text.
pub const RESOLVE_ALIAS: &str = "SELECT m.version FROM ml_model_aliases a \
    JOIN ml_models m ON m.id = a.model_id WHERE a.name = ?1 AND a.alias = ?2";

/// Removes an alias.
pub const REMOVE_ALIAS: &str = "DELETE FROM ml_model_aliases WHERE name = ?1 AND alias = ?2";

/// One prediction of a batch ([`prediction_params`], then the model id already resolved).
pub const INSERT_PREDICTION: &str = concat!(
    "INSERT INTO ml_predictions (",
    prediction_columns!(),
    ", model_id) VALUES (",
    prediction_placeholders!(),
    ", ?)"
);

/// One prediction of a batch that skips ids already stored: inserts nothing (and changes no
/// row) when the id exists.
pub const INSERT_PREDICTION_IF_NEW: &str = concat!(
    "INSERT INTO ml_predictions (",
    prediction_columns!(),
    ", model_id) VALUES (",
    prediction_placeholders!(),
    ", ?) ON CONFLICT (id) DO NOTHING"
);

/// One prediction by id (`?1`), with its model name and version text first.
pub const PREDICTION_BY_ID: &str = concat!(
    "SELECT m.name, m.version, ",
    prediction_in_t!(),
    " FROM ml_predictions t JOIN ml_models m ON m.id = t.model_id WHERE t.id = ?1"
);

/// Counts predictions: of the model `?1` (NULL: every model), of its version key `?2` (NULL:
/// every version), in `[?3, ?4)`, only labelled ones when `?5` is 1.
pub const COUNT_PREDICTIONS: &str = "SELECT count(*) FROM ml_predictions \
    WHERE (?1 IS NULL OR model_id IN \
        (SELECT id FROM ml_models WHERE name = ?1 AND (?2 IS NULL OR version_key = ?2))) \
    AND ts >= ?3 AND ts < ?4 AND (?5 = 0 OR correct IS NOT NULL)";

/// Whether a model (`?1`) has a version.
pub const MODEL_EXISTS: &str = "SELECT 1 FROM ml_models WHERE name = ?1 LIMIT 1";

/// The ids of every model version.
pub const ALL_MODEL_IDS: &str = "SELECT id FROM ml_models ORDER BY id";

/// The ids of the versions of model `?1`.
pub const MODEL_IDS: &str = "SELECT id FROM ml_models WHERE name = ?1 ORDER BY id";

/// The predictions of model version `?1` made before `?2` (µs): a range of
/// `ml_predictions_recent`.
pub const COUNT_BEFORE: &str =
    "SELECT count(*) FROM ml_predictions WHERE model_id = ?1 AND ts < ?2";

/// Whether model version `?1` has a prediction made before `?2`.
pub const ANY_BEFORE: &str = "SELECT 1 FROM ml_predictions WHERE model_id = ?1 AND ts < ?2 LIMIT 1";

/// Deletes at most `?3` predictions of model version `?1` made before `?2`, found by a range of
/// `ml_predictions_recent`. The hourly sums have no delete trigger: they keep what was pruned.
pub const PRUNE_BATCH: &str = "DELETE FROM ml_predictions WHERE rowid IN \
    (SELECT rowid FROM ml_predictions WHERE model_id = ?1 AND ts < ?2 LIMIT ?3)";

/// Stores the retention (`?2` seconds) of model `?1` if it has a version.
pub const SET_RETENTION: &str = "INSERT INTO ml_retention (name, keep_seconds) \
    SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM ml_models WHERE name = ?1) \
    ON CONFLICT (name) DO UPDATE SET keep_seconds = excluded.keep_seconds";

/// Removes the retention of model `?1`.
pub const REMOVE_RETENTION: &str = "DELETE FROM ml_retention WHERE name = ?1";

/// Every retention policy, by name.
pub const RETENTION_POLICIES: &str = "SELECT name, keep_seconds FROM ml_retention ORDER BY name";

/// A page of a model version's predictions in `(ts, id)` order from the cursor `(?5, ?6)` on,
/// in `[?3, ?4)`, only labelled ones when `?7` is 1, at most `?8`.
pub const SCAN_PREDICTIONS: &str = concat!(
    "SELECT ",
    prediction_columns!(),
    " FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2) \
    AND ts >= ?3 AND ts < ?4 AND (ts, id) >= (?5, ?6) AND (?7 = 0 OR correct IS NOT NULL) \
    ORDER BY ts, id LIMIT ?8"
);

/// Records a label ([`mlstore_core::codec::LabelColumns`]: `?2` its canonical text, `?3` its
/// match key, `?4` the key when it differs from the text, `?5` its number, `?6` when it is
/// written): correct when the match keys are equal.
pub const RECORD_ACTUAL: &str = "UPDATE ml_predictions SET actual = ?2, \
    correct = (coalesce(prediction_key, prediction) = ?3), actual_key = ?4, \
    actual_number = ?5, labelled_at = ?6 WHERE id = ?1";

/// The monitoring numbers of each prediction of a window (`?3` start, `?4` end, `?5` limit),
/// newest first: confidence, correct, label lag, numbers, and for labelled ones their classes.
pub const WINDOW_ROWS: &str = "SELECT confidence, correct, labelled_at - ts, \
    prediction_number, actual_number, \
    CASE WHEN correct IS NOT NULL THEN coalesce(prediction_key, prediction) END, \
    CASE WHEN correct IS NOT NULL THEN coalesce(actual_key, actual) END \
    FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2) \
    AND ts >= ?3 AND ts < ?4 ORDER BY ts DESC, id DESC LIMIT ?5";

/// The confidences of a window, from the covering index `ml_predictions_recent` alone.
pub const WINDOW_CONFIDENCES: &str = "SELECT confidence FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2) \
    AND ts >= ?3 AND ts < ?4 ORDER BY ts DESC, id DESC LIMIT ?5";

/// The columns of a bucket's sums, in `mlstore_core::monitoring::BucketSums` order after the
/// bucket start.
macro_rules! sums_columns {
    () => {
        "predictions, labelled, correct, confidence_sum, confidence_square_sum, lag_count, \
         lag_micros_sum, numeric_count, absolute_error_sum, squared_error_sum, error_sum"
    };
}

/// Adds sums to an hour of a model version (`?1` model id, `?2` hour, then the sums in
/// `BucketSums` order).
pub const ADD_HOUR_SUMS: &str = concat!(
    "INSERT INTO ml_prediction_hours (model_id, hour, ",
    sums_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
    ON CONFLICT (model_id, hour) DO UPDATE SET \
    predictions = predictions + excluded.predictions, \
    labelled = labelled + excluded.labelled, correct = correct + excluded.correct, \
    confidence_sum = confidence_sum + excluded.confidence_sum, \
    confidence_square_sum = confidence_square_sum + excluded.confidence_square_sum, \
    lag_count = lag_count + excluded.lag_count, \
    lag_micros_sum = lag_micros_sum + excluded.lag_micros_sum, \
    numeric_count = numeric_count + excluded.numeric_count, \
    absolute_error_sum = absolute_error_sum + excluded.absolute_error_sum, \
    squared_error_sum = squared_error_sum + excluded.squared_error_sum, \
    error_sum = error_sum + excluded.error_sum"
);

/// The hourly sums of a model version with an hour in `[?3, ?4)`.
pub const HOUR_SUMS: &str = concat!(
    "SELECT hour, ",
    sums_columns!(),
    " FROM ml_prediction_hours WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2) \
    AND hour >= ?3 AND hour < ?4 ORDER BY hour"
);

/// Per-minute sums of a model version's predictions made in `[?3, ?4)`, computed from the
/// predictions (the contribution of each is that of the hourly trigger).
pub const MINUTE_SUMS: &str = "SELECT ts - (((ts % 60000000) + 60000000) % 60000000) AS minute, \
    count(*), count(correct), coalesce(sum(correct), 0), sum(confidence), \
    sum(confidence * confidence), \
    count(CASE WHEN correct IS NOT NULL AND labelled_at IS NOT NULL THEN 1 END), \
    coalesce(sum(CASE WHEN correct IS NOT NULL THEN labelled_at - ts END), 0), \
    count(CASE WHEN correct IS NOT NULL AND prediction_number IS NOT NULL \
        AND actual_number IS NOT NULL THEN 1 END), \
    coalesce(sum(CASE WHEN correct IS NOT NULL \
        THEN abs(prediction_number - actual_number) END), 0), \
    coalesce(sum(CASE WHEN correct IS NOT NULL \
        THEN (prediction_number - actual_number) * (prediction_number - actual_number) END), 0), \
    coalesce(sum(CASE WHEN correct IS NOT NULL THEN prediction_number - actual_number END), 0) \
    FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2) \
    AND ts >= ?3 AND ts < ?4 GROUP BY minute ORDER BY minute";

/// Reads the newest predictions of a model version in a window (`?3` start, `?4` end, `?5` limit:
/// [`window_params`]), newest first.
pub const RECENT: &str = concat!(
    "SELECT ",
    prediction_columns!(),
    " FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2) \
    AND ts >= ?3 AND ts < ?4 ORDER BY ts DESC, id DESC LIMIT ?5"
);

/// Reads at most `?5` entries of the covering partial index `ml_predictions_labelled` in a
/// window ([`window_params`]).
pub const ACCURACY: &str = "SELECT count(*), coalesce(sum(correct), 0) FROM \
    (SELECT correct FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2) \
    AND correct IS NOT NULL AND ts >= ?3 AND ts < ?4 ORDER BY ts DESC, id DESC LIMIT ?5)";

/// Writes (or replaces) the baseline of a model version ([`baseline_params`], then name and
/// version key); nothing when it is not registered.
pub const STORE_BASELINE: &str = concat!(
    "INSERT INTO ml_confidence_baselines (",
    baseline_columns!(),
    ", model_id) SELECT ",
    baseline_placeholders!(),
    ", id FROM ml_models WHERE name = ? AND version_key = ? \
    ON CONFLICT (model_id) DO UPDATE SET (",
    baseline_columns!(),
    ") = (",
    baseline_excluded!(),
    ")"
);

/// Reads the baseline of a model version.
pub const BASELINE: &str = concat!(
    "SELECT ",
    baseline_columns!(),
    " FROM ml_confidence_baselines WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2)"
);

/// Appends an event (`seq` NULL: SQLite numbers it).
pub const INSERT_EVENT: &str = concat!(
    "INSERT INTO ml_events (",
    event_columns!(),
    ") VALUES (",
    event_placeholders!(),
    ")"
);

/// The statement of a page of events ([`mlstore_core::EventQuery::sql_statement`]).
pub fn events_query(query: &mlstore_core::EventQuery) -> String {
    query.sql_statement(event_columns!(), |n| format!("?{n}"))
}

/// The last event of an alias at or before `?3`: its kind and version.
pub const ALIAS_AT: &str = "SELECT kind, version FROM ml_events \
    WHERE model = ?1 AND alias = ?2 AND at <= ?3 ORDER BY at DESC, seq DESC LIMIT 1";

/// Every event of an alias, oldest first.
pub const ALIAS_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM ml_events WHERE model = ?1 AND alias = ?2 ORDER BY seq"
);

/// The aliases of a model with their versions, by alias.
pub const ALIASES: &str = "SELECT a.alias, m.version FROM ml_model_aliases a \
    JOIN ml_models m ON m.id = a.model_id WHERE a.name = ?1 ORDER BY a.alias";

/// The aliases pointing at a model version.
pub const VERSION_ALIASES: &str = "SELECT alias FROM ml_model_aliases WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2) ORDER BY alias";

/// The filter of the paginated listings: `?3` status (NULL: any), `?4`/`?5` a tag key and the
/// value it must have (NULL: any).
macro_rules! listing_filter {
    () => {
        "(?3 IS NULL OR status = ?3) AND (?4 IS NULL OR EXISTS \
         (SELECT 1 FROM json_each(tags) WHERE key = ?4 AND value = ?5))"
    };
}

/// A page of a model's versions after the version key `?2` (an empty key: from the first),
/// filtered by status and tag (the `listing_filter!` macro), at most `?6`.
pub const VERSIONS_PAGE: &str = concat!(
    "SELECT ",
    metadata_columns!(),
    " FROM ml_models WHERE name = ?1 AND version_key > ?2 AND ",
    listing_filter!(),
    " ORDER BY version_key LIMIT ?6"
);

/// A page of model names after `?1` (an empty text: from the first) with a version that passes
/// the filter, at most `?6` (`?2` is not used: the parameters are those of [`VERSIONS_PAGE`]).
pub const MODELS_PAGE: &str = concat!(
    "SELECT DISTINCT name FROM ml_models WHERE name > ?1 AND ",
    listing_filter!(),
    " ORDER BY name LIMIT ?6"
);

/// The database's identity.
pub const DATABASE_ID: &str = "SELECT id FROM ml_database";

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    #[test]
    fn statements_prepare() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrate::run(&mut conn).unwrap();
        for sql in [
            super::REGISTER,
            super::UPDATE,
            super::ADD_HOUR_SUMS,
            super::INSERT_PREDICTION,
            super::STORE_BASELINE,
            super::RECENT,
            super::INSERT_EVENT,
            super::VERSIONS_PAGE,
            super::MODELS_PAGE,
            super::ALIASES,
            super::VERSION_ALIASES,
            &super::events_query(
                &mlstore_core::EventQuery::all()
                    .model(mlstore_core::ModelName::new("m").unwrap())
                    .alias(mlstore_core::Alias::new("a").unwrap())
                    .kind(mlstore_core::EventKind::AliasSet)
                    .since(mlstore_core::time::MIN)
                    .after(1)
                    .before(9),
            ),
        ] {
            conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// The plan of every read: index seeks only, never a scan of a table, never a sort.
    #[test]
    fn reads_are_index_seeks() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrate::run(&mut conn).unwrap();
        let reads = [
            ("get", super::GET, 2),
            ("latest", super::LATEST, 1),
            ("versions", super::VERSIONS, 1),
            ("model id", super::MODEL_ID, 2),
            ("resolve alias", super::RESOLVE_ALIAS, 2),
            ("recent", super::RECENT, 5),
            ("scan", super::SCAN_PREDICTIONS, 8),
            ("prediction by id", super::PREDICTION_BY_ID, 1),
            ("accuracy", super::ACCURACY, 5),
            ("baseline", super::BASELINE, 2),
            ("list models", super::LIST_MODELS, 0),
            ("alias at", super::ALIAS_AT, 3),
            ("alias events", super::ALIAS_EVENTS, 2),
        ];
        for (what, sql, params) in reads {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let args: Vec<i64> = vec![1; params];
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let text = plan.join(" | ");
            println!("{what}: {text}");
            assert!(!text.contains("TEMP B-TREE"), "{what} sorts: {text}");
            for step in &plan {
                let seeks = step.starts_with("SEARCH")
                    || step.starts_with("SCALAR SUBQUERY")
                    || step.starts_with("CO-ROUTINE");
                // Listing names reads the (name, version_key) index once, in order.
                let ordered_index_scan = what == "list models" && step.contains("COVERING INDEX");
                let subquery_wrapper = step.starts_with("SCAN") && step.contains("(subquery");
                assert!(
                    seeks || ordered_index_scan || subquery_wrapper,
                    "{what}: {text}"
                );
            }
            if what == "accuracy" {
                assert!(
                    text.contains("COVERING INDEX ml_predictions_labelled"),
                    "{text}"
                );
            }
            if what == "alias at" {
                assert!(text.contains("ml_events_alias"), "{text}");
            }
            if what == "recent" || what == "scan" {
                assert!(text.contains("ml_predictions_recent"), "{text}");
            }
        }
    }
}
