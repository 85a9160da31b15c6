-- mlstore PostgreSQL schema, version 1: the same tables and index-seek rules as the SQLite schema.
-- JSON is stored as canonical text (compact, keys sorted: mlstore_core::json::canonical), so
-- equality of two JSON texts is equality as JSON; cast to jsonb to query it.

-- One row per model version.
CREATE TABLE ml_models (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- "C" collation: names sort by their bytes, as in every other backend.
    name          TEXT COLLATE "C" NOT NULL,
    version       TEXT        NOT NULL,
    -- Byte string whose order is SemVer precedence (mlstore_core::Version::sort_key):
    -- "latest" is the last entry of (name, version_key), one index seek.
    version_key   BYTEA       NOT NULL,
    model_type    TEXT        NOT NULL,
    configuration TEXT        NOT NULL,
    metrics       TEXT        NOT NULL,
    tags          TEXT        NOT NULL,
    description   TEXT,
    environment   TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    deployed_at   TIMESTAMPTZ
);
-- The key is a bijection of the version text: this also makes (name, version) unique.
CREATE UNIQUE INDEX ml_models_name_version ON ml_models (name, version_key);

-- Aliases ("production") of a model, each pointing at one of its versions.
CREATE TABLE ml_model_aliases (
    name     TEXT COLLATE "C" NOT NULL,
    alias    TEXT COLLATE "C" NOT NULL,
    model_id BIGINT NOT NULL REFERENCES ml_models (id) ON DELETE CASCADE,
    PRIMARY KEY (name, alias)
);
CREATE INDEX ml_model_aliases_model ON ml_model_aliases (model_id);

-- Predictions; `correct` is set when the label arrives (actual = prediction as JSON text).
CREATE TABLE ml_predictions (
    id         UUID             PRIMARY KEY,
    model_id   BIGINT           NOT NULL REFERENCES ml_models (id) ON DELETE CASCADE,
    prediction TEXT             NOT NULL,
    actual     TEXT,
    correct    BOOLEAN,
    confidence DOUBLE PRECISION NOT NULL,
    features   TEXT             NOT NULL,
    ts         TIMESTAMPTZ      NOT NULL
);
-- Recent N: N index entries, newest first.
CREATE INDEX ml_predictions_recent ON ml_predictions (model_id, ts DESC, id DESC);
-- Accuracy over the newest N labelled: N entries of a covering partial index.
CREATE INDEX ml_predictions_labelled ON ml_predictions (model_id, ts DESC, id DESC)
    INCLUDE (correct) WHERE correct IS NOT NULL;

-- One confidence baseline per model version.
CREATE TABLE ml_confidence_baselines (
    model_id     BIGINT PRIMARY KEY REFERENCES ml_models (id) ON DELETE CASCADE,
    mean         DOUBLE PRECISION NOT NULL,
    std_dev      DOUBLE PRECISION NOT NULL,
    sample_count BIGINT           NOT NULL,
    updated_at   TIMESTAMPTZ      NOT NULL
);
