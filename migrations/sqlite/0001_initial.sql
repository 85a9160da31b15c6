-- mlstore SQLite schema, version 1.
-- Times are microseconds since the Unix epoch (UTC); JSON is stored as canonical text
-- (compact, keys sorted), so equality of two JSON texts is equality as JSON.

-- One row per model version.
CREATE TABLE ml_models (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    -- Byte string whose order is SemVer precedence (mlstore_core::Version::sort_key):
    -- "latest" is the last entry of (name, version_key), one index seek.
    version_key   BLOB    NOT NULL,
    model_type    TEXT    NOT NULL,
    configuration TEXT    NOT NULL,
    metrics       TEXT    NOT NULL,
    tags          TEXT    NOT NULL,
    description   TEXT,
    environment   TEXT,
    created_at    INTEGER NOT NULL,
    deployed_at   INTEGER
);
-- The key is a bijection of the version text, so this also makes (name, version) unique and
-- serves get, latest, versions and list.
CREATE UNIQUE INDEX ml_models_name_version ON ml_models (name, version_key);

-- Aliases ("production") of a model, each pointing at one of its versions.
CREATE TABLE ml_model_aliases (
    name     TEXT    NOT NULL,
    alias    TEXT    NOT NULL,
    model_id INTEGER NOT NULL REFERENCES ml_models (id) ON DELETE CASCADE,
    PRIMARY KEY (name, alias)
) WITHOUT ROWID;
CREATE INDEX ml_model_aliases_model ON ml_model_aliases (model_id);

-- Predictions; `correct` is set when the label arrives (actual = prediction as JSON text).
CREATE TABLE ml_predictions (
    id         BLOB    NOT NULL PRIMARY KEY,
    model_id   INTEGER NOT NULL REFERENCES ml_models (id) ON DELETE CASCADE,
    prediction TEXT    NOT NULL,
    actual     TEXT,
    correct    INTEGER,
    confidence REAL    NOT NULL,
    features   TEXT    NOT NULL,
    ts         INTEGER NOT NULL
);
-- Recent N: N index entries, newest first.
CREATE INDEX ml_predictions_recent ON ml_predictions (model_id, ts DESC, id DESC);
-- Accuracy over the newest N labelled: N entries of a covering partial index.
CREATE INDEX ml_predictions_labelled ON ml_predictions (model_id, ts DESC, id DESC, correct)
    WHERE correct IS NOT NULL;

-- One confidence baseline per model version.
CREATE TABLE ml_confidence_baselines (
    model_id     INTEGER PRIMARY KEY REFERENCES ml_models (id) ON DELETE CASCADE,
    mean         REAL    NOT NULL,
    std_dev      REAL    NOT NULL,
    sample_count INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
