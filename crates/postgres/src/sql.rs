//! Every SQL statement the PostgreSQL store runs, and the shape of every row it reads or writes,
//! in one place; public so that benchmarks run the same statements, bound the same way, on a
//! raw connection. All are parameterised.
//!
//! Model versions are addressed by `(name, version_key)`, the unique index, so every lookup is
//! one index seek; `version_key` is `mlstore_core::Version::sort_key`. Batches travel as arrays
//! in one statement (`UNNEST`), so a batch is one round trip and, being one statement, atomic.
//!
//! # Row shapes
//! Each table's columns are listed once, in a `table!` invocation naming the fields of the
//! `mlstore_core::codec` row type, which are the column names. The statements' column lists, the
//! decoders ([`read_metadata`], ...) and the binders ([`bind_metadata`], ...) are generated from
//! that list: decoders build the row with a struct literal and binders destructure it, so a
//! column added to a row type and not here fails to compile, and columns can never be read or
//! bound out of order. Placeholders (`$1`...) are written in each statement; a count that does
//! not match the columns fails when the statement is prepared, which every statement's test does.

use mlstore_core::codec::{BaselineRow, EventRow, MetadataRow, PredictionRow};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};

/// A query of the store, as the binders take and return it.
pub type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// Declares the columns of a row type, by field name; see the module docs.
macro_rules! table {
    (
        $row:ident: $columns:ident, $excluded:ident, $input:ident, $in_t:ident,
        $(#[$read_doc:meta])* $read:ident,
        $(#[$bind_doc:meta])* $bind:ident,
        $(#[$arrays_doc:meta])* $arrays:ident { $first:ident $(, $field:ident)* $(,)? }
    ) => {
        macro_rules! $columns {
            () => {
                concat!(stringify!($first) $(, ", ", stringify!($field))*)
            };
        }
        #[allow(unused_macros)]
        macro_rules! $excluded {
            () => {
                concat!("EXCLUDED.", stringify!($first) $(, ", EXCLUDED.", stringify!($field))*)
            };
        }

        #[allow(unused_macros)]
        macro_rules! $in_t {
            () => {
                concat!("t.", stringify!($first) $(, ", t.", stringify!($field))*)
            };
        }
        #[allow(unused_macros)]
        macro_rules! $input {
            () => {
                concat!("i.", stringify!($first) $(, ", i.", stringify!($field))*)
            };
        }

        $(#[$read_doc])*
        ///
        /// # Errors
        /// When a column holds another type than the row's field.
        pub fn $read(row: &PgRow, first: usize) -> Result<$row, sqlx::Error> {
            let mut next = first..;
            let mut column = || next.next().expect("unbounded range");
            Ok($row {
                $first: row.try_get(column())?,
                $($field: row.try_get(column())?,)*
            })
        }

        $(#[$bind_doc])*
        pub fn $bind<'q>(query: PgQuery<'q>, row: &'q $row) -> PgQuery<'q> {
            let $row { $first, $($field),* } = row;
            query.bind($first) $(.bind($field))*
        }

        $(#[$arrays_doc])*
        #[allow(dead_code)]
        pub fn $arrays<'q>(query: PgQuery<'q>, rows: &[$row]) -> PgQuery<'q> {
            query
                .bind(rows.iter().map(|r| r.$first.clone()).collect::<Vec<_>>())
                $(.bind(rows.iter().map(|r| r.$field.clone()).collect::<Vec<_>>()))*
        }
    };
}

table!(MetadataRow: metadata_columns, metadata_excluded, metadata_input, metadata_in_t,
    /// Reads a model version's columns, starting at column `first`.
    read_metadata,
    /// Binds a model version's columns, in the order of `metadata_columns!()`.
    bind_metadata,
    /// Binds the columns of several model versions as one array per column.
    bind_metadata_arrays {
        name, version, version_key, model_type, configuration, metrics, tags, description,
        environment, created_at, deployed_at, source, run, status,
    }
);

table!(PredictionRow: prediction_columns, prediction_excluded, prediction_input, prediction_in_t,
    /// Reads a prediction's columns, starting at column `first`.
    read_prediction,
    /// Binds a prediction's columns, in the order of `prediction_columns!()`.
    bind_prediction,
    /// Binds the columns of a batch of predictions as one array per column.
    bind_prediction_arrays {
        id, prediction, prediction_key, actual, actual_key, correct, labelled_at,
        prediction_number, actual_number, confidence, features, ts,
    }
);

table!(BaselineRow: baseline_columns, baseline_excluded, baseline_input, baseline_in_t,
    /// Reads a baseline's columns, starting at column `first`.
    read_baseline,
    /// Binds a baseline's columns, in the order of `baseline_columns!()`.
    bind_baseline,
    /// Binds the columns of several baselines as one array per column.
    bind_baseline_arrays {
        mean, std_dev, sample_count, updated_at, histogram, quantiles, computed_from, samples,
    }
);

table!(EventRow: event_columns, event_excluded, event_input, event_in_t,
    /// Reads an event's columns, starting at column `first`.
    read_event,
    /// Binds an event's columns, in the order of `event_columns!()`.
    bind_event,
    /// Binds the columns of several events as one array per column.
    bind_event_arrays {
        seq, at, kind, model, version, alias, from_version, actor, fields,
    }
);

/// The placeholders of a model version's columns.
macro_rules! metadata_values {
    () => {
        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14"
    };
}

/// Registers a model version and appends its event (`$15` when, `$16` the actor), numbered
/// from the counter, in one statement.
pub const REGISTER: &str = concat!(
    "WITH m AS (INSERT INTO ml_models (",
    metadata_columns!(),
    ") VALUES (",
    metadata_values!(),
    ") RETURNING name, version), \
    c AS (UPDATE ml_event_counter SET last = last + 1 WHERE id = 1 RETURNING last) \
    INSERT INTO ml_events (seq, at, kind, model, version, actor) \
    SELECT c.last, $15, 'version_registered', m.name, m.version, $16 FROM m, c"
);

/// Takes the event counter's lock for the transaction and returns the last sequence number.
pub const LOCK_EVENTS: &str = "SELECT last FROM ml_event_counter WHERE id = 1 FOR UPDATE";

/// Appends events (arrays of [`bind_event_arrays`]) and moves the counter to `$10`, the last
/// number they use.
pub const INSERT_EVENTS: &str = concat!(
    "WITH c AS (UPDATE ml_event_counter SET last = $10 WHERE id = 1) \
    INSERT INTO ml_events (",
    event_columns!(),
    ") SELECT * FROM UNNEST($1::int8[], $2::timestamptz[], $3::text[], $4::text[], \
    $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])"
);

/// The statement of a page of events ([`mlstore_core::EventQuery::sql_statement`]).
pub fn events_query(query: &mlstore_core::EventQuery) -> String {
    query.sql_statement(event_columns!(), |n| format!("${n}"))
}

/// The last event of an alias at or before `$3`: its kind and version.
pub const ALIAS_AT: &str = "SELECT kind, version FROM ml_events \
    WHERE model = $1 AND alias = $2 AND at <= $3 ORDER BY at DESC, seq DESC LIMIT 1";

/// Every event of an alias, oldest first.
pub const ALIAS_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM ml_events WHERE model = $1 AND alias = $2 ORDER BY seq"
);

/// The aliases of a model with their versions, by alias.
pub const ALIASES: &str = "SELECT a.alias, m.version FROM ml_model_aliases a \
    JOIN ml_models m ON m.id = a.model_id WHERE a.name = $1 ORDER BY a.alias";

/// The aliases pointing at a model version.
pub const VERSION_ALIASES: &str = "SELECT alias FROM ml_model_aliases WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = $1 AND version_key = $2) ORDER BY alias";

/// The filter of the paginated listings: `$3` status (NULL: any), `$4`/`$5` a tag key and the
/// value it must have (NULL: any).
macro_rules! listing_filter {
    () => {
        "($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR tags::jsonb ->> $4 = $5)"
    };
}

/// A page of a model's versions after the version key `$2` (empty: from the first), filtered,
/// at most `$6`.
pub const VERSIONS_PAGE: &str = concat!(
    "SELECT ",
    metadata_columns!(),
    " FROM ml_models WHERE name = $1 AND version_key > $2 AND ",
    listing_filter!(),
    " ORDER BY version_key LIMIT $6"
);

/// A page of model names after `$1` (empty: from the first) with a version that passes the
/// filter, at most `$6` (`$2` is the unused version cursor, so that the parameters are those
/// of [`VERSIONS_PAGE`]).
pub const MODELS_PAGE: &str = concat!(
    "SELECT DISTINCT name FROM ml_models WHERE name > $1 AND $2::bytea IS NULL AND ",
    listing_filter!(),
    " ORDER BY name LIMIT $6"
);

/// Reads one model version.
pub const GET: &str = concat!(
    "SELECT ",
    metadata_columns!(),
    " FROM ml_models WHERE name = $1 AND version_key = $2"
);

/// Reads one model version and locks its row until the transaction ends.
pub const GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    metadata_columns!(),
    " FROM ml_models WHERE name = $1 AND version_key = $2 FOR UPDATE"
);

/// Reads the version of a name with the greatest `version_key` (SemVer precedence).
pub const LATEST: &str = concat!(
    "SELECT ",
    metadata_columns!(),
    " FROM ml_models WHERE name = $1 ORDER BY version_key DESC LIMIT 1"
);

/// Reads every version of a name, ascending.
pub const VERSIONS: &str = concat!(
    "SELECT ",
    metadata_columns!(),
    " FROM ml_models WHERE name = $1 ORDER BY version_key"
);

/// Lists the names that have versions, by their bytes.
pub const LIST_MODELS: &str = "SELECT DISTINCT name FROM ml_models ORDER BY name";

/// Replaces the columns of a model version (bound like [`REGISTER`]); `created_at` keeps the
/// registration time (the trigger `ml_models_keep_created_at`).
pub const UPDATE: &str = concat!(
    "UPDATE ml_models SET (",
    metadata_columns!(),
    ") = (",
    metadata_values!(),
    ") WHERE name = $1 AND version_key = $3"
);

/// Predictions, the baseline and aliases go with the row (ON DELETE CASCADE).
pub const DELETE: &str = "DELETE FROM ml_models WHERE name = $1 AND version_key = $2";

/// Looks up the id of a model version.
pub const MODEL_ID: &str = "SELECT id FROM ml_models WHERE name = $1 AND version_key = $2";

/// Creates or moves an alias; inserts nothing when the version is not registered.
pub const SET_ALIAS: &str = "INSERT INTO ml_model_aliases (name, alias, model_id) \
    SELECT $1, $2, id FROM ml_models WHERE name = $1 AND version_key = $3 \
    ON CONFLICT (name, alias) DO UPDATE SET model_id = EXCLUDED.model_id";

/// Resolves an alias to its version text.
pub const RESOLVE_ALIAS: &str = "SELECT m.version FROM ml_model_aliases a \
    JOIN ml_models m ON m.id = a.model_id WHERE a.name = $1 AND a.alias = $2";

/// Removes an alias.
pub const REMOVE_ALIAS: &str = "DELETE FROM ml_model_aliases WHERE name = $1 AND alias = $2";

/// One prediction ([`bind_prediction`], then `$13` name and `$14` version key) whose model id
/// is looked up in the same statement: no row is inserted when the model version does not
/// exist.
pub const STORE_PREDICTION: &str = concat!(
    "INSERT INTO ml_predictions (",
    prediction_columns!(),
    ", model_id) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, id FROM ml_models \
    WHERE name = $13 AND version_key = $14"
);

/// The array types of [`bind_prediction_arrays`], then names and version keys, in `UNNEST`.
macro_rules! prediction_arrays {
    () => {
        "UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], \
         $7::timestamptz[], $8::float8[], $9::float8[], $10::float8[], $11::text[], \
         $12::timestamptz[], $13::text[], $14::bytea[])"
    };
}

/// A batch in one statement ([`bind_prediction_arrays`], then `$13` names, `$14` version keys,
/// `$15` the batch length): each row's model id is joined in, and rows are inserted only if every
/// row found its model version, so an unknown version inserts nothing (and is reported before a
/// duplicate id, which would fail the insert).
pub const STORE_PREDICTIONS: &str = concat!(
    "WITH input AS ( SELECT * FROM ",
    prediction_arrays!(),
    " AS t(",
    prediction_columns!(),
    ", name, version_key) \
    ), resolved AS ( \
        SELECT ",
    prediction_input!(),
    ", m.id AS model_id FROM input i \
        JOIN ml_models m ON m.name = i.name AND m.version_key = i.version_key \
    ) \
    INSERT INTO ml_predictions (",
    prediction_columns!(),
    ", model_id) SELECT * FROM resolved WHERE (SELECT count(*) FROM resolved) = $15"
);

/// A batch that reports instead of failing ([`bind_prediction_arrays`], `$13` names, `$14`
/// version keys, `$15` true to store the rest when a version is missing, false to store
/// nothing then), skipping ids already stored: returns each row that was not stored, with its
/// position (1-based) and whether its version was missing. An id stored by a concurrent
/// transaction after this statement's snapshot is a unique violation (from the id index's
/// trigger): run it again.
pub const STORE_PREDICTIONS_SKIPPING: &str = concat!(
    "WITH input AS ( SELECT * FROM ",
    prediction_arrays!(),
    " WITH ORDINALITY AS t(",
    prediction_columns!(),
    ", name, version_key, ord) \
    ), resolved AS ( \
        SELECT i.*, m.id AS model_id FROM input i \
        LEFT JOIN ml_models m ON m.name = i.name AND m.version_key = i.version_key \
    ), inserted AS ( \
        INSERT INTO ml_predictions (",
    prediction_columns!(),
    ", model_id) SELECT ",
    prediction_columns!(),
    ", model_id FROM resolved r WHERE model_id IS NOT NULL \
        AND ($15 OR NOT EXISTS (SELECT 1 FROM resolved WHERE model_id IS NULL)) \
        AND NOT EXISTS (SELECT 1 FROM ml_prediction_ids x WHERE x.id = r.id) RETURNING id \
    ) \
    SELECT r.ord, r.model_id IS NULL FROM resolved r \
    WHERE NOT EXISTS (SELECT 1 FROM inserted ins WHERE ins.id = r.id) ORDER BY r.ord"
);

/// As [`STORE_PREDICTIONS_SKIPPING`], but a stored id fails the whole statement (unique
/// violation): for batches that skip missing versions and nothing else.
pub const STORE_PREDICTIONS_SKIPPING_MISSING: &str = concat!(
    "WITH input AS ( SELECT * FROM ",
    prediction_arrays!(),
    " WITH ORDINALITY AS t(",
    prediction_columns!(),
    ", name, version_key, ord) \
    ), resolved AS ( \
        SELECT i.*, m.id AS model_id FROM input i \
        LEFT JOIN ml_models m ON m.name = i.name AND m.version_key = i.version_key \
    ), inserted AS ( \
        INSERT INTO ml_predictions (",
    prediction_columns!(),
    ", model_id) SELECT ",
    prediction_columns!(),
    ", model_id FROM resolved WHERE model_id IS NOT NULL AND $15 \
        RETURNING id \
    ) \
    SELECT r.ord, r.model_id IS NULL FROM resolved r \
    WHERE NOT EXISTS (SELECT 1 FROM inserted ins WHERE ins.id = r.id) ORDER BY r.ord"
);

/// Labels ([`mlstore_core::codec::LabelColumns`] as arrays: ids, texts, match keys, stored
/// keys, numbers; `$6` when they are written) recorded for the ids that exist; returns the
/// position (1-based) of each label whose prediction does not.
pub const RECORD_ACTUALS_SKIPPING: &str = "WITH input AS ( \
        SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[]) \
            WITH ORDINALITY AS t(id, actual, match_key, actual_key, actual_number, ord) \
    ), found AS ( \
        SELECT i.*, x.ts FROM input i JOIN ml_prediction_ids x ON x.id = i.id \
    ), updated AS ( \
        UPDATE ml_predictions p SET actual = f.actual, \
            correct = (coalesce(p.prediction_key, p.prediction) = f.match_key), \
            actual_key = f.actual_key, actual_number = f.actual_number, labelled_at = $6 \
        FROM found f WHERE p.id = f.id AND p.ts = f.ts RETURNING p.id \
    ) \
    SELECT i.ord FROM input i WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.id = i.id) \
    ORDER BY i.ord";

/// One prediction by id (`$1`), with its model name and version text first: its timestamp
/// from the id index, then one partition's key.
pub const PREDICTION_BY_ID: &str = concat!(
    "SELECT m.name, m.version, ",
    prediction_in_t!(),
    " FROM ml_predictions t JOIN ml_models m ON m.id = t.model_id WHERE t.id = $1 \
    AND t.ts = (SELECT ts FROM ml_prediction_ids WHERE id = $1)"
);

/// Counts predictions: of the model `$1` (NULL: every model), of its version key `$2` (NULL:
/// every version), in `[$3, $4)`, only labelled ones when `$5`.
pub const COUNT_PREDICTIONS: &str = "SELECT count(*) FROM ml_predictions \
    WHERE ($1::text IS NULL OR model_id IN \
        (SELECT id FROM ml_models WHERE name = $1 AND ($2::bytea IS NULL OR version_key = $2))) \
    AND ts >= $3 AND ts < $4 AND (NOT $5 OR correct IS NOT NULL)";

/// Whether a model (`$1`) has a version.
pub const MODEL_EXISTS: &str = "SELECT 1 FROM ml_models WHERE name = $1 LIMIT 1";

/// A page of a model version's predictions in `(ts, id)` order from the cursor `($5, $6)` on,
/// in `[$3, $4)`, only labelled ones when `$7`, at most `$8`.
pub const SCAN_PREDICTIONS: &str = concat!(
    "SELECT ",
    prediction_columns!(),
    " FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = $1 AND version_key = $2) \
    AND ts >= $3 AND ts < $4 AND (ts, id) >= ($5, $6) AND (NOT $7 OR correct IS NOT NULL) \
    ORDER BY ts, id LIMIT $8"
);

/// The first (name, version_key) pair of the arrays that is not registered.
pub const FIRST_UNKNOWN_VERSION: &str = "SELECT t.name, t.version_key \
    FROM UNNEST($1::text[], $2::bytea[]) AS t(name, version_key) \
    WHERE NOT EXISTS (SELECT 1 FROM ml_models m \
        WHERE m.name = t.name AND m.version_key = t.version_key) LIMIT 1";

/// Records a label ([`mlstore_core::codec::LabelColumns`]: `$2` its canonical text, `$3` its
/// match key, `$4` the key when it differs from the text, `$5` its number, `$6` when it is
/// written): correct when the match keys are equal. The migration's `ml_record_actual` reads
/// the timestamp from the id index and updates one partition's row; returns the rows changed.
pub const RECORD_ACTUAL: &str = "SELECT ml_record_actual($1, $2, $3, $4, $5, $6)";

/// Labels in one statement (as [`RECORD_ACTUALS_SKIPPING`]), applied only if every id exists
/// (`$7` is the batch length).
pub const RECORD_ACTUALS: &str = "WITH input AS ( \
        SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[]) \
            AS t(id, actual, match_key, actual_key, actual_number) \
    ), found AS ( \
        SELECT i.*, x.ts FROM input i JOIN ml_prediction_ids x ON x.id = i.id \
    ), present AS ( \
        SELECT count(*) AS n FROM found f JOIN ml_predictions p ON p.id = f.id AND p.ts = f.ts \
    ) \
    UPDATE ml_predictions p SET actual = f.actual, \
        correct = (coalesce(p.prediction_key, p.prediction) = f.match_key), \
        actual_key = f.actual_key, actual_number = f.actual_number, labelled_at = $6 \
    FROM found f WHERE p.id = f.id AND p.ts = f.ts AND (SELECT n FROM present) = $7";

/// The monitoring numbers of each prediction of a window (`$3` start, `$4` end, `$5` limit),
/// newest first: confidence, correct, label lag (µs), numbers, and for labelled ones their
/// classes.
pub const WINDOW_ROWS: &str = "SELECT confidence, correct, \
    (extract(epoch FROM labelled_at - ts) * 1000000)::int8, prediction_number, actual_number, \
    CASE WHEN correct IS NOT NULL THEN coalesce(prediction_key, prediction) END, \
    CASE WHEN correct IS NOT NULL THEN coalesce(actual_key, actual) END \
    FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = $1 AND version_key = $2) \
    AND ts >= $3 AND ts < $4 ORDER BY ts DESC, id DESC LIMIT $5";

/// The confidences of a window: an index-only scan of `ml_predictions_recent`.
pub const WINDOW_CONFIDENCES: &str = "SELECT confidence FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = $1 AND version_key = $2) \
    AND ts >= $3 AND ts < $4 ORDER BY ts DESC, id DESC LIMIT $5";

/// The columns of a bucket's sums, in `mlstore_core::monitoring::BucketSums` order after the
/// bucket start.
macro_rules! sums_columns {
    () => {
        "predictions, labelled, correct, confidence_sum, confidence_square_sum, lag_count, \
         lag_micros_sum, numeric_count, absolute_error_sum, squared_error_sum, error_sum"
    };
}

/// The hourly sums of a model version with an hour in `[$3, $4)`.
pub const HOUR_SUMS: &str = concat!(
    "SELECT hour, ",
    sums_columns!(),
    " FROM ml_prediction_hours WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = $1 AND version_key = $2) \
    AND hour >= $3 AND hour < $4 ORDER BY hour"
);

/// Per-minute sums of a model version's predictions made in `[$3, $4)`, computed from the
/// predictions (each contributing as in the hourly trigger).
pub const MINUTE_SUMS: &str = "SELECT date_trunc('minute', ts, 'UTC') AS minute, \
    count(*), count(correct), count(*) FILTER (WHERE correct), sum(confidence), \
    sum(ml_square(confidence)), \
    count(*) FILTER (WHERE correct IS NOT NULL AND labelled_at IS NOT NULL), \
    coalesce(sum(extract(epoch FROM labelled_at - ts)::float8 * 1000000) \
        FILTER (WHERE correct IS NOT NULL), 0), \
    count(*) FILTER (WHERE correct IS NOT NULL AND prediction_number IS NOT NULL \
        AND actual_number IS NOT NULL), \
    coalesce(sum(abs(prediction_number - actual_number)) FILTER (WHERE correct IS NOT NULL), 0), \
    coalesce(sum(ml_square(prediction_number - actual_number)) FILTER (WHERE correct IS NOT NULL), 0), \
    coalesce(sum(prediction_number - actual_number) FILTER (WHERE correct IS NOT NULL), 0) \
    FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = $1 AND version_key = $2) \
    AND ts >= $3 AND ts < $4 GROUP BY minute ORDER BY minute";

/// The first id of the array with no prediction.
pub const FIRST_UNKNOWN_PREDICTION: &str = "SELECT t.id FROM UNNEST($1::uuid[]) AS t(id) \
    WHERE NOT EXISTS (SELECT 1 FROM ml_prediction_ids x JOIN ml_predictions p \
        ON p.id = x.id AND p.ts = x.ts WHERE x.id = t.id) LIMIT 1";

/// Reads the newest predictions of a model version in a window (`$3` start, `$4` end, `$5`
/// limit or NULL), newest first.
pub const RECENT: &str = concat!(
    "SELECT ",
    prediction_columns!(),
    " FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = $1 AND version_key = $2) \
    AND ts >= $3 AND ts < $4 ORDER BY ts DESC, id DESC LIMIT $5"
);

/// The model id (NULL when the version is not registered) and the counts over at most `$5`
/// entries of the covering partial index `ml_predictions_labelled` in a window (`$3` start,
/// `$4` end), in one round trip.
pub const ACCURACY: &str = "WITH m AS ( \
        SELECT id FROM ml_models WHERE name = $1 AND version_key = $2 \
    ) \
    SELECT (SELECT id FROM m), count(*), count(*) FILTER (WHERE correct) FROM ( \
        SELECT correct FROM ml_predictions WHERE model_id = (SELECT id FROM m) \
        AND correct IS NOT NULL AND ts >= $3 AND ts < $4 ORDER BY ts DESC, id DESC LIMIT $5 \
    ) newest";

/// Creates the monthly partition holding `$1` unless it exists; true when it was created.
pub const PARTITION: &str = "SELECT ml_prediction_partition($1)";

/// The SQLSTATE of an insert into `ml_predictions` whose timestamp has no partition yet
/// (check_violation: the table has no CHECK constraint, so nothing else raises it there).
/// Matched by code alone, since the message is translated on servers with other
/// `lc_messages`.
pub const NO_PARTITION: &str = "23514";

/// The ids of every model version.
pub const ALL_MODEL_IDS: &str = "SELECT id FROM ml_models ORDER BY id";

/// The ids of the versions of model `$1`.
pub const MODEL_IDS: &str = "SELECT id FROM ml_models WHERE name = $1 ORDER BY id";

/// The predictions of the model versions `$2` made before `$1`.
pub const COUNT_BEFORE: &str =
    "SELECT count(*) FROM ml_predictions WHERE model_id = ANY($2) AND ts < $1";

/// Detaches the partitions that lie entirely before `$1` (see the migration's
/// `ml_detach_partitions`); returns how many.
pub const DETACH_PARTITIONS: &str = "SELECT ml_detach_partitions($1)";

/// Removes the ids of the detached partition `$1` and drops it; returns how many predictions
/// it held.
pub const FINISH_PRUNED: &str = "SELECT ml_finish_pruned($1)";

/// Detached partitions whose id index entries are not yet removed (a prune stopped
/// half-way), named `ml_pruned_...`.
pub const PRUNED_TABLES: &str = "SELECT c.relname::text FROM pg_class c \
    WHERE c.relkind = 'r' AND c.relname LIKE 'ml\\_pruned\\_%' \
    AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'ml_predictions'::regclass) \
    ORDER BY c.relname";

/// Deletes at most `$3` predictions of model version `$1` made before `$2` (the delete
/// trigger removes their ids); both sides say `ts < $2`, so only the partitions before the
/// cut-off are planned.
pub const PRUNE_BATCH: &str = "DELETE FROM ml_predictions WHERE ts < $2 AND (id, ts) IN ( \
        SELECT id, ts FROM ml_predictions WHERE model_id = $1 AND ts < $2 LIMIT $3)";

/// Deletes at most `$2` predictions of any model made before `$1`: after whole partitions are
/// dropped, the rows of the partition that holds the cut-off (found by `ml_predictions_ts`).
pub const PRUNE_ALL_BATCH: &str = "DELETE FROM ml_predictions WHERE ts < $1 AND (id, ts) IN ( \
        SELECT id, ts FROM ml_predictions WHERE ts < $1 LIMIT $2)";

/// Stores the retention (`$2` seconds) of model `$1` if it has a version.
pub const SET_RETENTION: &str = "INSERT INTO ml_retention (name, keep_seconds) \
    SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM ml_models WHERE name = $1) \
    ON CONFLICT (name) DO UPDATE SET keep_seconds = EXCLUDED.keep_seconds";

/// Removes the retention of model `$1`.
pub const REMOVE_RETENTION: &str = "DELETE FROM ml_retention WHERE name = $1";

/// Every retention policy, by name.
pub const RETENTION_POLICIES: &str = "SELECT name, keep_seconds FROM ml_retention ORDER BY name";

/// Writes (or replaces) the baseline of a model version ([`bind_baseline`], then `$9` name and
/// `$10` version key); nothing when it is not registered.
pub const STORE_BASELINE: &str = concat!(
    "INSERT INTO ml_confidence_baselines (",
    baseline_columns!(),
    ", model_id) SELECT $1, $2, $3, $4, $5, $6, $7, $8, id FROM ml_models \
    WHERE name = $9 AND version_key = $10 \
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
    (SELECT id FROM ml_models WHERE name = $1 AND version_key = $2)"
);

/// The database's identity.
pub const DATABASE_ID: &str = "SELECT id FROM ml_database";

/// The last migration applied.
pub const SCHEMA_VERSION: &str =
    "SELECT coalesce(max(version), 0) FROM _sqlx_migrations WHERE success";

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    /// With sequential scans and sorts priced out, every read still has a plan without them:
    /// an index serves it.
    #[tokio::test]
    async fn reads_are_index_seeks() {
        let url = mlstore_testkit::fresh_postgres_url().await;
        crate::PostgresStore::connect_url(&url)
            .await
            .unwrap()
            .close();
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        for setting in ["SET enable_seqscan = off", "SET enable_sort = off"] {
            sqlx::query(setting).execute(&mut conn).await.unwrap();
        }
        let key = vec![0u8; 25];
        let name_key = [
            ("get", super::GET),
            ("model id", super::MODEL_ID),
            ("baseline", super::BASELINE),
        ];
        let name_only = [("latest", super::LATEST), ("versions", super::VERSIONS)];
        let name_key_window = [("recent", super::RECENT), ("accuracy", super::ACCURACY)];
        let mut plans = Vec::new();
        for (what, sql) in name_key {
            let q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")));
            plans.push((
                what,
                q.bind("m").bind(&key).fetch_all(&mut conn).await.unwrap(),
            ));
        }
        for (what, sql) in name_only {
            let q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")));
            plans.push((what, q.bind("m").fetch_all(&mut conn).await.unwrap()));
        }
        let (start, end) = (mlstore_core::time::MIN, mlstore_core::time::end_of_range());
        for (what, sql) in name_key_window {
            let q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")));
            let q = q.bind("m").bind(&key).bind(start).bind(end).bind(100i64);
            plans.push((what, q.fetch_all(&mut conn).await.unwrap()));
        }
        let q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "EXPLAIN {}",
            super::SCAN_PREDICTIONS
        )));
        let q = q
            .bind("m")
            .bind(&key)
            .bind(start)
            .bind(end)
            .bind(start)
            .bind(uuid::Uuid::nil())
            .bind(false)
            .bind(100i64);
        plans.push(("scan", q.fetch_all(&mut conn).await.unwrap()));
        let q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "EXPLAIN {}",
            super::RESOLVE_ALIAS
        )));
        plans.push((
            "alias",
            q.bind("m").bind("a").fetch_all(&mut conn).await.unwrap(),
        ));
        let q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "EXPLAIN {}",
            super::ALIAS_AT
        )));
        let q = q.bind("m").bind("a").bind(end);
        plans.push(("alias at", q.fetch_all(&mut conn).await.unwrap()));
        let q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "EXPLAIN {}",
            super::LIST_MODELS
        )));
        plans.push(("list", q.fetch_all(&mut conn).await.unwrap()));
        for (what, plan) in plans {
            let plan = plan.join("\n");
            assert!(plan.contains("Index"), "{what}: {plan}");
            assert!(!plan.contains("Seq Scan"), "{what}: {plan}");
            assert!(!plan.contains("Sort"), "{what}: {plan}");
            // Monthly partitions' indexes are named after their columns: the partitions of
            // ml_predictions_labelled end in ..._model_id_ts_id_correct_idx, those of
            // ml_predictions_recent in ..._model_id_ts_id_confidence_idx.
            if what == "accuracy" {
                assert!(
                    plan.contains("Index Only Scan using ml_predictions_")
                        && plan.contains("_model_id_ts_id_correct_idx"),
                    "{plan}"
                );
            }
            if what == "recent" || what == "scan" {
                assert!(plan.contains("_model_id_ts_id_confidence_idx"), "{plan}");
            }
        }
    }

    /// A label (and a read by id) finds the prediction's timestamp in the id index, then
    /// touches one partition: run-time pruning leaves every other partition unexecuted.
    #[tokio::test]
    async fn a_lookup_by_id_touches_one_partition() {
        use mlstore_core::{ModelMetadata, ModelName, ModelRegistry, Prediction, PredictionStore};
        let url = mlstore_testkit::fresh_postgres_url().await;
        let store = crate::PostgresStore::connect_url(&url).await.unwrap();
        let name = ModelName::new("plans").unwrap();
        let version = mlstore_core::Version::new("1.0.0").unwrap();
        let m = ModelMetadata::builder(name.clone(), version.clone(), "t")
            .build()
            .unwrap();
        store.register(&m).await.unwrap();
        // Six months of predictions, 20 per month.
        let mut predictions = Vec::new();
        for month in 1..=6u32 {
            for day in 1..=20u32 {
                let ts = chrono::NaiveDate::from_ymd_opt(2025, month, day)
                    .unwrap()
                    .and_hms_opt(12, 0, 0)
                    .unwrap()
                    .and_utc();
                predictions.push(
                    Prediction::builder(name.clone(), version.clone(), serde_json::json!(1), 0.5)
                        .timestamp(ts)
                        .build()
                        .unwrap(),
                );
            }
        }
        store.store_predictions(&predictions).await.unwrap();
        store.close();
        let target = &predictions[70]; // April
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        // Tables this small are read whole; price that out, as a large one would.
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut conn)
            .await
            .unwrap();
        let explain = |sql: &str| {
            sqlx::AssertSqlSafe(format!(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"
            ))
        };
        let read = sqlx::query_scalar::<_, String>(explain(super::PREDICTION_BY_ID))
            .bind(target.id())
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .join("\n");
        // The label: in one transaction, the statistics of what it scanned.
        let mut tx = conn.begin().await.unwrap();
        let changed: i64 = sqlx::query_scalar(super::RECORD_ACTUAL)
            .bind(target.id())
            .bind("1")
            .bind("1")
            .bind(None::<String>)
            .bind(Some(1.0f64))
            .bind(mlstore_core::time::now())
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(changed, 1);
        let touched: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT relname::text, seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables \
             WHERE relname LIKE 'ml\\_predictions\\_%' AND seq_scan + coalesce(idx_scan, 0) > 0",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let only: Vec<&str> = touched.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(
            only,
            ["ml_predictions_2025_04"],
            "record_actual: {touched:?}"
        );
        assert!(
            touched[0].1 == 0 && touched[0].2 >= 1,
            "record_actual reads one partition by index only: {touched:?}"
        );
        // The read by id: executed on one partition of the six.
        let plan = read;
        assert!(
            plan.contains("Index Scan using ml_prediction_ids_pkey"),
            "{plan}"
        );
        let scans: Vec<&str> = plan
            .lines()
            .filter(|l| l.contains("Scan") && l.contains("ml_predictions_2025_"))
            .collect();
        let executed: Vec<&&str> = scans
            .iter()
            .filter(|l| !l.contains("never executed"))
            .collect();
        assert!(scans.len() >= 6, "every partition is planned: {plan}");
        assert_eq!(executed.len(), 1, "one partition executed: {plan}");
        assert!(
            executed[0].contains("ml_predictions_2025_04_pkey"),
            "{plan}"
        );
    }
}
