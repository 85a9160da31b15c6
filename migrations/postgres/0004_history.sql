-- mlstore PostgreSQL schema, version 4: registry history (as SQLite's version 4).

ALTER TABLE ml_models ADD COLUMN source TEXT;
ALTER TABLE ml_models ADD COLUMN run TEXT;
ALTER TABLE ml_models ADD COLUMN status TEXT NOT NULL DEFAULT 'ready';

-- The append-only log of registry changes (mlstore_core::history::Event), written in the
-- transaction of the change it records.
CREATE TABLE ml_events (
    seq          BIGINT PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    kind         TEXT        NOT NULL,
    model        TEXT COLLATE "C" NOT NULL,
    version      TEXT,
    alias        TEXT COLLATE "C",
    from_version TEXT,
    actor        TEXT,
    fields       TEXT
);
CREATE INDEX ml_events_model ON ml_events (model, seq);
CREATE INDEX ml_events_alias ON ml_events (model, alias, at, seq) WHERE alias IS NOT NULL;

-- The last sequence number. Every registry change takes this row's lock first and numbers
-- its events from it, so registry writes commit in sequence order and a reader paging by
-- sequence number never misses an event committed later with a lower number.
CREATE TABLE ml_event_counter (
    id   INT    PRIMARY KEY CHECK (id = 1),
    last BIGINT NOT NULL
);
INSERT INTO ml_event_counter VALUES (1, 0);
