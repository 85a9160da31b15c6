-- mlstore PostgreSQL schema, version 5: predictions partitioned by month of their timestamp
-- (UTC), a global index of prediction ids, retention policies (mlstore_core::retention).
--
-- A partitioned table's unique keys must include the partition key, so ml_predictions' key is
-- (id, ts) and the uniqueness of an id across partitions is kept by ml_prediction_ids, one row
-- per prediction (id, ts), written and removed by the statement triggers below. A lookup by
-- id reads its ts there first, so it touches one partition (run-time pruning).

-- The existing table is copied into the partitioned one, then dropped.
ALTER TABLE ml_predictions RENAME TO ml_predictions_unpartitioned;
ALTER TABLE ml_predictions_unpartitioned
    RENAME CONSTRAINT ml_predictions_pkey TO ml_predictions_unpartitioned_pkey;
ALTER TABLE ml_predictions_unpartitioned
    RENAME CONSTRAINT ml_predictions_model_id_fkey TO ml_predictions_unpartitioned_model_id_fkey;
DROP TRIGGER ml_prediction_hours_insert ON ml_predictions_unpartitioned;
DROP TRIGGER ml_prediction_hours_label ON ml_predictions_unpartitioned;
ALTER INDEX ml_predictions_recent RENAME TO ml_predictions_unpartitioned_recent;
ALTER INDEX ml_predictions_labelled RENAME TO ml_predictions_unpartitioned_labelled;

CREATE TABLE ml_predictions (
    id                UUID             NOT NULL,
    model_id          BIGINT           NOT NULL REFERENCES ml_models (id) ON DELETE CASCADE,
    prediction        TEXT             NOT NULL,
    actual            TEXT,
    correct           BOOLEAN,
    confidence        DOUBLE PRECISION NOT NULL,
    features          TEXT             NOT NULL,
    ts                TIMESTAMPTZ      NOT NULL,
    prediction_key    TEXT,
    actual_key        TEXT,
    labelled_at       TIMESTAMPTZ,
    prediction_number DOUBLE PRECISION,
    actual_number     DOUBLE PRECISION,
    PRIMARY KEY (id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX ml_predictions_recent ON ml_predictions (model_id, ts DESC, id DESC)
    INCLUDE (confidence);
CREATE INDEX ml_predictions_labelled ON ml_predictions (model_id, ts DESC, id DESC)
    INCLUDE (correct) WHERE correct IS NOT NULL;
-- Block ranges by time (a few pages per partition, next to nothing per insert): the rows
-- before a prune's cut-off in the partition that holds it, without reading the whole month.
CREATE INDEX ml_predictions_ts ON ml_predictions USING brin (ts);

-- Every prediction's id and timestamp: the global unique index of ids.
CREATE TABLE ml_prediction_ids (
    id UUID        PRIMARY KEY,
    ts TIMESTAMPTZ NOT NULL
);

-- Creates the partition of the month (UTC) holding `at`, named ml_predictions_YYYY_MM, unless
-- it exists; true when it was created. Serialized by an advisory lock, so concurrent callers
-- never race on the catalog. mlstore calls it for the coming months (prepare_storage, on
-- connect and by `mlstore maintain`) and when a write finds no partition for its timestamp.
CREATE FUNCTION ml_prediction_partition(at TIMESTAMPTZ) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    first TIMESTAMP := date_trunc('month', at AT TIME ZONE 'UTC');
    name TEXT := 'ml_predictions_' || to_char(first, 'YYYY_MM');
BEGIN
    PERFORM pg_advisory_xact_lock(7215630514);
    IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'ml_predictions'::regclass AND c.relname = name) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF ml_predictions FOR VALUES FROM (%L) TO (%L)',
        name, to_char(first, 'YYYY-MM-DD"T"HH24:MI:SS"+00"'),
        to_char(first + interval '1 month', 'YYYY-MM-DD"T"HH24:MI:SS"+00"'));
    RETURN true;
END
$$;

-- A partition for every month that holds predictions.
SELECT count(*) FILTER (WHERE ml_prediction_partition(m))
FROM (SELECT DISTINCT date_trunc('month', ts, 'UTC') AS m FROM ml_predictions_unpartitioned) months;

INSERT INTO ml_predictions (id, model_id, prediction, actual, correct, confidence, features, ts,
    prediction_key, actual_key, labelled_at, prediction_number, actual_number)
SELECT id, model_id, prediction, actual, correct, confidence, features, ts,
    prediction_key, actual_key, labelled_at, prediction_number, actual_number
FROM ml_predictions_unpartitioned;
INSERT INTO ml_prediction_ids (id, ts) SELECT id, ts FROM ml_predictions_unpartitioned;
DROP TABLE ml_predictions_unpartitioned;

-- New predictions' ids; an id already stored (in any partition) is a unique violation.
CREATE FUNCTION ml_prediction_ids_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ml_prediction_ids (id, ts) SELECT id, ts FROM new_rows;
    RETURN NULL;
END
$$;
CREATE TRIGGER ml_prediction_ids_insert AFTER INSERT ON ml_predictions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ml_prediction_ids_insert();
-- Deleted predictions' ids (also deletes cascaded from ml_models). Partitions dropped by a
-- prune fire no trigger: the prune removes their ids itself.
CREATE FUNCTION ml_prediction_ids_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ml_prediction_ids i USING old_rows o WHERE i.id = o.id AND i.ts = o.ts;
    RETURN NULL;
END
$$;
CREATE TRIGGER ml_prediction_ids_delete AFTER DELETE ON ml_predictions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ml_prediction_ids_delete();
-- The hourly sums' triggers of version 3, on the new table (they have no delete trigger: the
-- sums outlive pruned predictions).
CREATE TRIGGER ml_prediction_hours_insert AFTER INSERT ON ml_predictions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ml_prediction_hours_insert();
CREATE TRIGGER ml_prediction_hours_label AFTER UPDATE ON ml_predictions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ml_prediction_hours_label();

-- How long each model's predictions are kept; `mlstore maintain` applies it.
CREATE TABLE ml_retention (
    name         TEXT COLLATE "C" PRIMARY KEY,
    keep_seconds BIGINT NOT NULL CHECK (keep_seconds > 0)
);

-- Records a label: the prediction's timestamp from the id index, then an update of its row
-- by (id, ts), which plans and locks one partition (a lookup and an update in one statement
-- would plan, and lock at start-up, every partition). Returns the rows changed (0 or 1).
CREATE FUNCTION ml_record_actual(p_id UUID, p_actual TEXT, p_match_key TEXT, p_actual_key TEXT,
    p_actual_number DOUBLE PRECISION, p_labelled_at TIMESTAMPTZ) RETURNS BIGINT
    LANGUAGE plpgsql AS $$
DECLARE
    p_ts TIMESTAMPTZ;
    changed BIGINT;
BEGIN
    SELECT ts INTO p_ts FROM ml_prediction_ids WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    UPDATE ml_predictions SET actual = p_actual,
        correct = (coalesce(prediction_key, prediction) = p_match_key),
        actual_key = p_actual_key, actual_number = p_actual_number, labelled_at = p_labelled_at
    WHERE id = p_id AND ts = p_ts;
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END
$$;

-- Detaches every partition that lies entirely before `cutoff` (its upper bound at or before
-- it) and renames it ml_pruned_YYYY_MM: its rows are gone from ml_predictions when the
-- calling transaction commits, at a cost that does not depend on their number. The detach
-- takes an exclusive lock on ml_predictions for that short step; it waits at most 2 s for
-- running queries (then fails with lock_not_available, which mlstore reports as retryable).
-- The detached table loses its foreign key, so that deleting a model version cannot remove
-- its rows without their ids. The prune then removes their ids and drops the table
-- (ml_finish_pruned). Returns how many were detached.
CREATE FUNCTION ml_detach_partitions(cutoff TIMESTAMPTZ) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    part TEXT;
    pruned TEXT;
    fk TEXT;
    detached BIGINT := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7215630515);
    SET LOCAL lock_timeout = '2s';
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'ml_predictions'::regclass
        AND substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
            <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER TABLE ml_predictions DETACH PARTITION %I', part);
        pruned := 'ml_pruned_' ||
            CASE WHEN part LIKE 'ml\_predictions\_%' THEN substr(part, 16) ELSE part END;
        IF to_regclass(quote_ident(pruned)) IS NOT NULL THEN
            pruned := pruned || '_' || txid_current();
        END IF;
        EXECUTE format('ALTER TABLE %I RENAME TO %I', part, pruned);
        FOR fk IN SELECT conname FROM pg_constraint
            WHERE conrelid = to_regclass(quote_ident(pruned)) AND contype = 'f'
        LOOP
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', pruned, fk);
        END LOOP;
        detached := detached + 1;
    END LOOP;
    RETURN detached;
END
$$;

-- Finishes a detached partition: removes its rows' ids from ml_prediction_ids, then drops it.
-- Returns how many predictions it held (0 when another prune finished it first).
CREATE FUNCTION ml_finish_pruned(pruned TEXT) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    removed BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(7215630515);
    IF to_regclass(quote_ident(pruned)) IS NULL THEN
        RETURN 0;
    END IF;
    EXECUTE format('DELETE FROM ml_prediction_ids x USING %I p WHERE x.id = p.id AND x.ts = p.ts',
        pruned);
    GET DIAGNOSTICS removed = ROW_COUNT;
    EXECUTE format('DROP TABLE %I', pruned);
    RETURN removed;
END
$$;
