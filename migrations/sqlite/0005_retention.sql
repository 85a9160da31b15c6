-- mlstore SQLite schema, version 5: retention policies (mlstore_core::retention).

-- How long each model's predictions are kept; `mlstore maintain` applies it.
CREATE TABLE ml_retention (
    name         TEXT    NOT NULL PRIMARY KEY,
    keep_seconds INTEGER NOT NULL CHECK (keep_seconds > 0)
);
