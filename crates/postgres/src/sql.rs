//! Every SQL statement the PostgreSQL store runs, in one place, public so that benchmarks can run
//! the same statements on a raw connection. All are parameterised.
//!
//! Model versions are addressed by `(name, version_key)`, the unique index, so every lookup is
//! one index seek; `version_key` is `mlstore_core::Version::sort_key`. Batches travel as arrays
//! in one statement (`UNNEST`), so a batch is one round trip and, being one statement, atomic.

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
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Reads one model version.
pub const GET: &str = model_select!("WHERE name = $1 AND version_key = $2");

/// Reads the version of a name with the greatest `version_key` (SemVer precedence).
pub const LATEST: &str = model_select!("WHERE name = $1 ORDER BY version_key DESC LIMIT 1");

/// Reads every version of a name, ascending.
pub const VERSIONS: &str = model_select!("WHERE name = $1 ORDER BY version_key");

/// Lists the names that have versions, by their bytes.
pub const LIST_MODELS: &str = "SELECT DISTINCT name FROM ml_models ORDER BY name";

/// Replaces the mutable columns of a model version.
pub const UPDATE: &str = "UPDATE ml_models SET model_type = $3, configuration = $4, \
    metrics = $5, tags = $6, description = $7, environment = $8, deployed_at = $9 \
    WHERE name = $1 AND version_key = $2";

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

/// One prediction whose model id is looked up in the same statement: no row is inserted when the
/// model version does not exist.
pub const STORE_PREDICTION: &str = "INSERT INTO ml_predictions \
    (id, model_id, prediction, actual, correct, confidence, features, ts) \
    SELECT $1, id, $4, $5, $6, $7, $8, $9 FROM ml_models WHERE name = $2 AND version_key = $3";

/// A batch in one statement: each row's model id is joined in, and rows are inserted only if
/// every row found its model version (`$10` is the batch length), so an unknown version inserts
/// nothing (and is reported before a duplicate id, which would fail the insert).
pub const STORE_PREDICTIONS: &str = "WITH input AS ( \
        SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::text[], \
            $6::bool[], $7::float8[], $8::text[], $9::timestamptz[]) \
        AS t(id, name, version_key, prediction, actual, correct, confidence, features, ts) \
    ), resolved AS ( \
        SELECT i.id, m.id AS model_id, i.prediction, i.actual, i.correct, i.confidence, \
            i.features, i.ts \
        FROM input i JOIN ml_models m ON m.name = i.name AND m.version_key = i.version_key \
    ) \
    INSERT INTO ml_predictions (id, model_id, prediction, actual, correct, confidence, features, ts) \
    SELECT * FROM resolved WHERE (SELECT count(*) FROM resolved) = $10";

/// The first (name, version_key) pair of the arrays that is not registered.
pub const FIRST_UNKNOWN_VERSION: &str = "SELECT t.name, t.version_key \
    FROM UNNEST($1::text[], $2::bytea[]) AS t(name, version_key) \
    WHERE NOT EXISTS (SELECT 1 FROM ml_models m \
        WHERE m.name = t.name AND m.version_key = t.version_key) LIMIT 1";

/// `correct` compares canonical JSON texts: equal texts are equal JSON.
pub const RECORD_ACTUAL: &str =
    "UPDATE ml_predictions SET actual = $2, correct = (prediction = $2) WHERE id = $1";

/// Labels in one statement, applied only if every id exists (`$3` is the batch length).
pub const RECORD_ACTUALS: &str = "WITH input AS ( \
        SELECT * FROM UNNEST($1::uuid[], $2::text[]) AS t(id, actual) \
    ), found AS ( \
        SELECT count(*) AS n FROM ml_predictions p JOIN input i ON p.id = i.id \
    ) \
    UPDATE ml_predictions p SET actual = i.actual, correct = (p.prediction = i.actual) \
    FROM input i WHERE p.id = i.id AND (SELECT n FROM found) = $3";

/// The first id of the array with no prediction.
pub const FIRST_UNKNOWN_PREDICTION: &str = "SELECT t.id FROM UNNEST($1::uuid[]) AS t(id) \
    WHERE NOT EXISTS (SELECT 1 FROM ml_predictions p WHERE p.id = t.id) LIMIT 1";

/// Reads the newest predictions of a model version, newest first.
pub const RECENT: &str = "SELECT id, prediction, actual, confidence, features, ts \
    FROM ml_predictions WHERE model_id = \
    (SELECT id FROM ml_models WHERE name = $1 AND version_key = $2) \
    ORDER BY ts DESC, id DESC LIMIT $3";

/// The model id (NULL when the version is not registered) and the counts over the newest `$3`
/// entries of the covering partial index `ml_predictions_labelled`, in one round trip.
pub const ACCURACY: &str = "WITH m AS ( \
        SELECT id FROM ml_models WHERE name = $1 AND version_key = $2 \
    ) \
    SELECT (SELECT id FROM m), count(*), count(*) FILTER (WHERE correct) FROM ( \
        SELECT correct FROM ml_predictions WHERE model_id = (SELECT id FROM m) \
        AND correct IS NOT NULL ORDER BY ts DESC, id DESC LIMIT $3 \
    ) newest";

/// Writes (or replaces) the baseline of a model version; nothing when it is not registered.
pub const STORE_BASELINE: &str = "INSERT INTO ml_confidence_baselines \
    (model_id, mean, std_dev, sample_count, updated_at) \
    SELECT id, $3, $4, $5, $6 FROM ml_models WHERE name = $1 AND version_key = $2 \
    ON CONFLICT (model_id) DO UPDATE SET mean = EXCLUDED.mean, std_dev = EXCLUDED.std_dev, \
    sample_count = EXCLUDED.sample_count, updated_at = EXCLUDED.updated_at";

/// Reads the baseline of a model version.
pub const BASELINE: &str = "SELECT b.mean, b.std_dev, b.sample_count, b.updated_at \
    FROM ml_models m JOIN ml_confidence_baselines b ON b.model_id = m.id \
    WHERE m.name = $1 AND m.version_key = $2";

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
        let name_key_limit = [("recent", super::RECENT), ("accuracy", super::ACCURACY)];
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
        for (what, sql) in name_key_limit {
            let q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")));
            let q = q.bind("m").bind(&key).bind(100i64);
            plans.push((what, q.fetch_all(&mut conn).await.unwrap()));
        }
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
            super::LIST_MODELS
        )));
        plans.push(("list", q.fetch_all(&mut conn).await.unwrap()));
        for (what, plan) in plans {
            let plan = plan.join("\n");
            assert!(plan.contains("Index"), "{what}: {plan}");
            assert!(!plan.contains("Seq Scan"), "{what}: {plan}");
            assert!(!plan.contains("Sort"), "{what}: {plan}");
            if what == "accuracy" {
                assert!(
                    plan.contains("Index Only Scan using ml_predictions_labelled"),
                    "{plan}"
                );
            }
            if what == "recent" {
                assert!(plan.contains("ml_predictions_recent"), "{plan}");
            }
        }
    }
}
