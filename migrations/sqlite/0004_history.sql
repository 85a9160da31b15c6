-- mlstore SQLite schema, version 4: registry history and the fields MLflow users expect.

-- Where a version's artifact lives, its training run, and its status.
ALTER TABLE ml_models ADD COLUMN source TEXT;
ALTER TABLE ml_models ADD COLUMN run TEXT;
ALTER TABLE ml_models ADD COLUMN status TEXT NOT NULL DEFAULT 'ready';

-- The append-only log of registry changes (mlstore_core::history::Event), written in the
-- transaction of the change it records. seq increases in commit order: SQLite has one writer.
CREATE TABLE ml_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    model        TEXT    NOT NULL,
    version      TEXT,
    alias        TEXT,
    from_version TEXT,
    actor        TEXT,
    fields       TEXT
);
-- A model's history, newest first: one index range.
CREATE INDEX ml_events_model ON ml_events (model, seq);
-- An alias at a time: one seek to the last event at or before it.
CREATE INDEX ml_events_alias ON ml_events (model, alias, at, seq) WHERE alias IS NOT NULL;
