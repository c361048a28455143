-- Routes: an alias's rules and default plan (issue 15). An alias without a row here routes as it
-- always did: one tier, its model, weight 100. rules and plan are the catalogue's JSON shape
-- (catalog.Rule, catalog.Plan); base_model_id is the alias's model when the version was written, so
-- that a later alias move (move, rollback, re-embed cut-over) takes the default plan with it.
CREATE TABLE routes (
    alias         text PRIMARY KEY REFERENCES aliases (name) ON DELETE CASCADE,
    version       bigint NOT NULL CHECK (version > 0),
    rules         jsonb NOT NULL DEFAULT '[]',
    plan          jsonb NOT NULL,
    base_model_id bigint NOT NULL REFERENCES models (id),
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Every version of every route, version 0 being the alias's route before its first change.
CREATE TABLE route_versions (
    alias   text NOT NULL REFERENCES aliases (name) ON DELETE CASCADE,
    version bigint NOT NULL,
    rules   jsonb NOT NULL,
    plan    jsonb NOT NULL,
    actor   text NOT NULL,
    reason  text NOT NULL DEFAULT '',
    at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alias, version)
);

CREATE TRIGGER routes_version AFTER INSERT OR UPDATE OR DELETE ON routes FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();

-- The console's live split: requests of one name in the last hour, by the model that served them.
CREATE INDEX IF NOT EXISTS requests_requested_at ON requests (requested, at);
