-- mlstore PostgreSQL schema, version 2: as SQLite's version 2.

-- The database's identity (mlstore_core::DatabaseId): one random id, created with the schema.
-- Caches key their shared entries by it, so two databases behind one Redis never mix.
CREATE TABLE ml_database (
    id UUID NOT NULL
);
INSERT INTO ml_database (id) VALUES (gen_random_uuid());

-- A prediction's match key (mlstore_core::json::match_key: numbers written by value) when it
-- differs from its canonical text, i.e. when it holds a float; NULL otherwise. A label is
-- correct when its match key equals coalesce(prediction_key, prediction). Rows written before
-- this migration have NULL and compare by their canonical text, as they did.
ALTER TABLE ml_predictions ADD COLUMN prediction_key TEXT;

-- A version's registration time never changes: an update writes every column of the row and
-- this keeps created_at as registered (SQLite's UPDATE says so in the statement itself).
CREATE FUNCTION ml_models_keep_created_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_at := OLD.created_at;
    RETURN NEW;
END
$$;
CREATE TRIGGER ml_models_keep_created_at BEFORE UPDATE ON ml_models
    FOR EACH ROW EXECUTE FUNCTION ml_models_keep_created_at();
