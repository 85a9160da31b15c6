-- mlstore SQLite schema, version 3: monitoring.

-- What a label write records besides the label: its match key (when it differs from the
-- canonical text), its numeric value, and when it was written (label lag); and the
-- prediction's numeric value (errors of numeric predictions).
ALTER TABLE ml_predictions ADD COLUMN actual_key TEXT;
ALTER TABLE ml_predictions ADD COLUMN labelled_at INTEGER;
ALTER TABLE ml_predictions ADD COLUMN prediction_number REAL;
ALTER TABLE ml_predictions ADD COLUMN actual_number REAL;

-- Recent N and windows over the newest N read N entries of this index; it carries the
-- confidence, so confidence windows (baselines, drift) never touch the table.
DROP INDEX ml_predictions_recent;
CREATE INDEX ml_predictions_recent ON ml_predictions (model_id, ts DESC, id DESC, confidence);

-- Per-hour sums of each version's predictions (hour: microseconds of the hour's start, UTC),
-- kept as predictions (by the store) and labels (by the trigger below) are written, so that a
-- series costs the number of hours, not of predictions; they stay when predictions are pruned.
CREATE TABLE ml_prediction_hours (
    model_id              INTEGER NOT NULL REFERENCES ml_models (id) ON DELETE CASCADE,
    hour                  INTEGER NOT NULL,
    predictions           INTEGER NOT NULL,
    labelled              INTEGER NOT NULL,
    correct               INTEGER NOT NULL,
    confidence_sum        REAL    NOT NULL,
    confidence_square_sum REAL    NOT NULL,
    lag_count             INTEGER NOT NULL,
    lag_micros_sum        REAL    NOT NULL,
    numeric_count         INTEGER NOT NULL,
    absolute_error_sum    REAL    NOT NULL,
    squared_error_sum     REAL    NOT NULL,
    error_sum             REAL    NOT NULL,
    PRIMARY KEY (model_id, hour)
) WITHOUT ROWID;

-- Predictions stored before this version: counts, correctness and confidences (their label
-- times and numbers were not recorded).
INSERT INTO ml_prediction_hours
SELECT model_id, ts - (((ts % 3600000000) + 3600000000) % 3600000000), count(*),
       count(correct), coalesce(sum(correct), 0), sum(confidence), sum(confidence * confidence),
       0, 0, 0, 0, 0, 0
FROM ml_predictions GROUP BY 1, 2;

-- New predictions add to their hours from the store, one upsert per hour of a batch
-- (mlstore_core::monitoring::BucketSums::of_row, summed): a per-row trigger would cost an
-- upsert per prediction.

-- A label (or a new label) replaces the prediction's labelled contribution: new minus old.
CREATE TRIGGER ml_predictions_hours_label AFTER UPDATE OF actual ON ml_predictions
BEGIN
    INSERT INTO ml_prediction_hours VALUES (
        NEW.model_id,
        NEW.ts - (((NEW.ts % 3600000000) + 3600000000) % 3600000000),
        0,
        (NEW.correct IS NOT NULL) - (OLD.correct IS NOT NULL),
        coalesce(NEW.correct, 0) - coalesce(OLD.correct, 0),
        0,
        0,
        (NEW.correct IS NOT NULL AND NEW.labelled_at IS NOT NULL)
            - (OLD.correct IS NOT NULL AND OLD.labelled_at IS NOT NULL),
        CASE WHEN NEW.correct IS NOT NULL THEN coalesce(NEW.labelled_at - NEW.ts, 0) ELSE 0 END
            - CASE WHEN OLD.correct IS NOT NULL
                THEN coalesce(OLD.labelled_at - OLD.ts, 0) ELSE 0 END,
        (NEW.correct IS NOT NULL AND NEW.prediction_number IS NOT NULL
            AND NEW.actual_number IS NOT NULL)
            - (OLD.correct IS NOT NULL AND OLD.prediction_number IS NOT NULL
                AND OLD.actual_number IS NOT NULL),
        CASE WHEN NEW.correct IS NOT NULL
            THEN coalesce(abs(NEW.prediction_number - NEW.actual_number), 0) ELSE 0 END
            - CASE WHEN OLD.correct IS NOT NULL
                THEN coalesce(abs(OLD.prediction_number - OLD.actual_number), 0) ELSE 0 END,
        CASE WHEN NEW.correct IS NOT NULL
            THEN coalesce((NEW.prediction_number - NEW.actual_number)
                        * (NEW.prediction_number - NEW.actual_number), 0) ELSE 0 END
            - CASE WHEN OLD.correct IS NOT NULL
                THEN coalesce((OLD.prediction_number - OLD.actual_number)
                            * (OLD.prediction_number - OLD.actual_number), 0) ELSE 0 END,
        CASE WHEN NEW.correct IS NOT NULL
            THEN coalesce(NEW.prediction_number - NEW.actual_number, 0) ELSE 0 END
            - CASE WHEN OLD.correct IS NOT NULL
                THEN coalesce(OLD.prediction_number - OLD.actual_number, 0) ELSE 0 END
    )
    ON CONFLICT (model_id, hour) DO UPDATE SET
        labelled = labelled + excluded.labelled,
        correct = correct + excluded.correct,
        lag_count = lag_count + excluded.lag_count,
        lag_micros_sum = lag_micros_sum + excluded.lag_micros_sum,
        numeric_count = numeric_count + excluded.numeric_count,
        absolute_error_sum = absolute_error_sum + excluded.absolute_error_sum,
        squared_error_sum = squared_error_sum + excluded.squared_error_sum,
        error_sum = error_sum + excluded.error_sum;
END;

-- Baselines: histogram, quantiles, the window they were computed from, and their sample.
ALTER TABLE ml_confidence_baselines ADD COLUMN histogram TEXT;
ALTER TABLE ml_confidence_baselines ADD COLUMN quantiles TEXT;
ALTER TABLE ml_confidence_baselines ADD COLUMN computed_from TEXT;
ALTER TABLE ml_confidence_baselines ADD COLUMN samples BLOB;
