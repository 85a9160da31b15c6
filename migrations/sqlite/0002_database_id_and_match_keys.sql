-- mlstore SQLite schema, version 2.

-- The database's identity (mlstore_core::DatabaseId): one random id, created with the schema.
-- Caches key their shared entries by it, so two databases behind one Redis never mix.
CREATE TABLE ml_database (
    id BLOB NOT NULL
);
INSERT INTO ml_database (id) VALUES (randomblob(16));

-- A prediction's match key (mlstore_core::json::match_key: numbers written by value) when it
-- differs from its canonical text, i.e. when it holds a float; NULL otherwise. A label is
-- correct when its match key equals coalesce(prediction_key, prediction). Rows written before
-- this migration have NULL and compare by their canonical text, as they did.
ALTER TABLE ml_predictions ADD COLUMN prediction_key TEXT;
