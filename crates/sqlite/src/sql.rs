//! Every SQL statement the SQLite store runs, in one place, public so that benchmarks can run the
//! same statements on a raw connection. All are parameterised; `?1`... are
//! bound by the store.
//!
//! Model versions are addressed by `(name, version_key)`, the unique index, so every lookup is
//! one index seek. `version_key` is `mlstore_core::Version::sort_key`.

/// A model row's columns, in the order `store::metadata_from_row` decodes them.
macro_rules! model_select {
    ($tail:literal) => {
        concat!(
            "SELECT name, version, model_type, configuration, metrics, tags, description, ",
            "environment, created_at, deployed_at FROM ml_models ",
            $tail
        )
    };
}

/// Registers a model version.
pub const REGISTER: &str = "INSERT INTO ml_models (name, version, version_key, model_type, \
    configuration, metrics, tags, description, environment, created_at, deployed_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// Reads one model version.
pub const GET: &str = model_select!("WHERE name = ?1 AND version_key = ?2");

/// Reads the version of a name with the greatest `version_key` (SemVer precedence).
pub const LATEST: &str = model_select!("WHERE name = ?1 ORDER BY version_key DESC LIMIT 1");

/// Reads every version of a name, ascending.
pub const VERSIONS: &str = model_select!("WHERE name = ?1 ORDER BY version_key");

/// Lists the names that have versions, by their bytes.
pub const LIST_MODELS: &str = "SELECT DISTINCT name FROM ml_models ORDER BY name";

/// Replaces the mutable columns of a model version.
pub const UPDATE: &str = "UPDATE ml_models SET model_type = ?3, configuration = ?4, \
    metrics = ?5, tags = ?6, description = ?7, environment = ?8, deployed_at = ?9 \
    WHERE name = ?1 AND version_key = ?2";

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

/// One prediction whose model id is looked up in the same statement: no row is inserted when the
/// model version does not exist.
pub const STORE_PREDICTION: &str = "INSERT INTO ml_predictions \
    (id, model_id, prediction, actual, correct, confidence, features, ts) \
    SELECT ?1, id, ?4, ?5, ?6, ?7, ?8, ?9 FROM ml_models WHERE name = ?2 AND version_key = ?3";

/// One prediction of a batch, with the model id already resolved.
pub const INSERT_PREDICTION: &str = "INSERT INTO ml_predictions \
    (id, model_id, prediction, actual, correct, confidence, features, ts) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// `correct` compares canonical JSON texts: equal texts are equal JSON.
pub const RECORD_ACTUAL: &str =
    "UPDATE ml_predictions SET actual = ?2, correct = (prediction = ?2) WHERE id = ?1";

/// Reads the newest predictions of a model version, newest first.
pub const RECENT: &str = "SELECT id, prediction, actual, confidence, features, ts \
    FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2) \
    ORDER BY ts DESC, id DESC LIMIT ?3";

/// Reads `?3` entries of the covering partial index `ml_predictions_labelled`.
pub const ACCURACY: &str = "SELECT count(*), coalesce(sum(correct), 0) FROM \
    (SELECT correct FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = ?1 AND version_key = ?2) \
    AND correct IS NOT NULL ORDER BY ts DESC, id DESC LIMIT ?3)";

/// Writes (or replaces) the baseline of a model version; nothing when it is not registered.
pub const STORE_BASELINE: &str = "INSERT INTO ml_confidence_baselines \
    (model_id, mean, std_dev, sample_count, updated_at) \
    SELECT id, ?3, ?4, ?5, ?6 FROM ml_models WHERE name = ?1 AND version_key = ?2 \
    ON CONFLICT (model_id) DO UPDATE SET mean = excluded.mean, std_dev = excluded.std_dev, \
    sample_count = excluded.sample_count, updated_at = excluded.updated_at";

/// Reads the baseline of a model version.
pub const BASELINE: &str = "SELECT b.mean, b.std_dev, b.sample_count, b.updated_at \
    FROM ml_models m JOIN ml_confidence_baselines b ON b.model_id = m.id \
    WHERE m.name = ?1 AND m.version_key = ?2";

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

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
            ("recent", super::RECENT, 3),
            ("accuracy", super::ACCURACY, 3),
            ("baseline", super::BASELINE, 2),
            ("list models", super::LIST_MODELS, 0),
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
            if what == "recent" {
                assert!(text.contains("ml_predictions_recent"), "{text}");
            }
        }
    }
}
