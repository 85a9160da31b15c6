-- mlstore PostgreSQL schema, version 3: monitoring (as SQLite's version 3).

ALTER TABLE ml_predictions ADD COLUMN actual_key TEXT;
ALTER TABLE ml_predictions ADD COLUMN labelled_at TIMESTAMPTZ;
ALTER TABLE ml_predictions ADD COLUMN prediction_number DOUBLE PRECISION;
ALTER TABLE ml_predictions ADD COLUMN actual_number DOUBLE PRECISION;

-- x² without PostgreSQL's underflow error: a square below 1e-300 counts as 0 (SQLite and
-- the other stores compute it exactly; sums differ by less than 1e-300).
CREATE FUNCTION ml_square(x DOUBLE PRECISION) RETURNS DOUBLE PRECISION
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN abs(x) < 1e-150 THEN 0 ELSE x * x END $$;

-- Recent N and windows over the newest N read N entries of this index; it carries the
-- confidence, so confidence windows (baselines, drift) are index-only scans.
DROP INDEX ml_predictions_recent;
CREATE INDEX ml_predictions_recent ON ml_predictions (model_id, ts DESC, id DESC)
    INCLUDE (confidence);

-- Per-hour sums of each version's predictions (hour: start of the hour, UTC), kept by the
-- statement triggers below, so that a series costs the number of hours, not of predictions;
-- they stay when predictions are pruned.
CREATE TABLE ml_prediction_hours (
    model_id              BIGINT           NOT NULL REFERENCES ml_models (id) ON DELETE CASCADE,
    hour                  TIMESTAMPTZ      NOT NULL,
    predictions           BIGINT           NOT NULL,
    labelled              BIGINT           NOT NULL,
    correct               BIGINT           NOT NULL,
    confidence_sum        DOUBLE PRECISION NOT NULL,
    confidence_square_sum DOUBLE PRECISION NOT NULL,
    lag_count             BIGINT           NOT NULL,
    lag_micros_sum        DOUBLE PRECISION NOT NULL,
    numeric_count         BIGINT           NOT NULL,
    absolute_error_sum    DOUBLE PRECISION NOT NULL,
    squared_error_sum     DOUBLE PRECISION NOT NULL,
    error_sum             DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (model_id, hour)
);

-- Predictions stored before this version: counts, correctness and confidences.
INSERT INTO ml_prediction_hours
SELECT model_id, date_trunc('hour', ts, 'UTC'), count(*), count(correct),
       count(*) FILTER (WHERE correct), sum(confidence), sum(ml_square(confidence)),
       0, 0, 0, 0, 0, 0
FROM ml_predictions GROUP BY 1, 2;

-- A batch's contribution to its hours (mlstore_core::monitoring::BucketSums::of_row per row).
CREATE FUNCTION ml_prediction_hours_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ml_prediction_hours
    SELECT model_id, date_trunc('hour', ts, 'UTC'), count(*),
           count(*) FILTER (WHERE correct IS NOT NULL), count(*) FILTER (WHERE correct),
           sum(confidence), sum(ml_square(confidence)),
           count(*) FILTER (WHERE correct IS NOT NULL AND labelled_at IS NOT NULL),
           coalesce(sum(extract(epoch FROM labelled_at - ts)::float8 * 1000000)
               FILTER (WHERE correct IS NOT NULL), 0),
           count(*) FILTER (WHERE correct IS NOT NULL AND prediction_number IS NOT NULL
               AND actual_number IS NOT NULL),
           coalesce(sum(abs(prediction_number - actual_number))
               FILTER (WHERE correct IS NOT NULL), 0),
           coalesce(sum(ml_square(prediction_number - actual_number))
               FILTER (WHERE correct IS NOT NULL), 0),
           coalesce(sum(prediction_number - actual_number)
               FILTER (WHERE correct IS NOT NULL), 0)
    FROM new_rows GROUP BY 1, 2
    ON CONFLICT (model_id, hour) DO UPDATE SET
        predictions = ml_prediction_hours.predictions + EXCLUDED.predictions,
        labelled = ml_prediction_hours.labelled + EXCLUDED.labelled,
        correct = ml_prediction_hours.correct + EXCLUDED.correct,
        confidence_sum = ml_prediction_hours.confidence_sum + EXCLUDED.confidence_sum,
        confidence_square_sum =
            ml_prediction_hours.confidence_square_sum + EXCLUDED.confidence_square_sum,
        lag_count = ml_prediction_hours.lag_count + EXCLUDED.lag_count,
        lag_micros_sum = ml_prediction_hours.lag_micros_sum + EXCLUDED.lag_micros_sum,
        numeric_count = ml_prediction_hours.numeric_count + EXCLUDED.numeric_count,
        absolute_error_sum = ml_prediction_hours.absolute_error_sum + EXCLUDED.absolute_error_sum,
        squared_error_sum = ml_prediction_hours.squared_error_sum + EXCLUDED.squared_error_sum,
        error_sum = ml_prediction_hours.error_sum + EXCLUDED.error_sum;
    RETURN NULL;
END
$$;
CREATE TRIGGER ml_prediction_hours_insert AFTER INSERT ON ml_predictions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ml_prediction_hours_insert();

-- A label (or a new label) replaces the labelled contribution: new minus old, per hour.
CREATE FUNCTION ml_prediction_hours_label() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ml_prediction_hours
    SELECT n.model_id, date_trunc('hour', n.ts, 'UTC'), 0,
           sum((n.correct IS NOT NULL)::int - (o.correct IS NOT NULL)::int),
           sum((n.correct IS TRUE)::int - (o.correct IS TRUE)::int),
           0, 0,
           sum((n.correct IS NOT NULL AND n.labelled_at IS NOT NULL)::int
               - (o.correct IS NOT NULL AND o.labelled_at IS NOT NULL)::int),
           sum(CASE WHEN n.correct IS NOT NULL
                   THEN coalesce(extract(epoch FROM n.labelled_at - n.ts)::float8 * 1000000, 0)
                   ELSE 0 END
               - CASE WHEN o.correct IS NOT NULL
                   THEN coalesce(extract(epoch FROM o.labelled_at - o.ts)::float8 * 1000000, 0)
                   ELSE 0 END),
           sum((n.correct IS NOT NULL AND n.prediction_number IS NOT NULL
                   AND n.actual_number IS NOT NULL)::int
               - (o.correct IS NOT NULL AND o.prediction_number IS NOT NULL
                   AND o.actual_number IS NOT NULL)::int),
           sum(CASE WHEN n.correct IS NOT NULL
                   THEN coalesce(abs(n.prediction_number - n.actual_number), 0) ELSE 0 END
               - CASE WHEN o.correct IS NOT NULL
                   THEN coalesce(abs(o.prediction_number - o.actual_number), 0) ELSE 0 END),
           sum(CASE WHEN n.correct IS NOT NULL
                   THEN coalesce(ml_square(n.prediction_number - n.actual_number), 0) ELSE 0 END
               - CASE WHEN o.correct IS NOT NULL
                   THEN coalesce(ml_square(o.prediction_number - o.actual_number), 0) ELSE 0 END),
           sum(CASE WHEN n.correct IS NOT NULL
                   THEN coalesce(n.prediction_number - n.actual_number, 0) ELSE 0 END
               - CASE WHEN o.correct IS NOT NULL
                   THEN coalesce(o.prediction_number - o.actual_number, 0) ELSE 0 END)
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    GROUP BY 1, 2
    ON CONFLICT (model_id, hour) DO UPDATE SET
        labelled = ml_prediction_hours.labelled + EXCLUDED.labelled,
        correct = ml_prediction_hours.correct + EXCLUDED.correct,
        lag_count = ml_prediction_hours.lag_count + EXCLUDED.lag_count,
        lag_micros_sum = ml_prediction_hours.lag_micros_sum + EXCLUDED.lag_micros_sum,
        numeric_count = ml_prediction_hours.numeric_count + EXCLUDED.numeric_count,
        absolute_error_sum = ml_prediction_hours.absolute_error_sum + EXCLUDED.absolute_error_sum,
        squared_error_sum = ml_prediction_hours.squared_error_sum + EXCLUDED.squared_error_sum,
        error_sum = ml_prediction_hours.error_sum + EXCLUDED.error_sum;
    RETURN NULL;
END
$$;
CREATE TRIGGER ml_prediction_hours_label AFTER UPDATE ON ml_predictions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ml_prediction_hours_label();

-- Baselines: histogram, quantiles, the window they were computed from, and their sample.
ALTER TABLE ml_confidence_baselines ADD COLUMN histogram TEXT;
ALTER TABLE ml_confidence_baselines ADD COLUMN quantiles TEXT;
ALTER TABLE ml_confidence_baselines ADD COLUMN computed_from TEXT;
ALTER TABLE ml_confidence_baselines ADD COLUMN samples BYTEA;
