-- The catalogue: providers, models, aliases, teams, keys, audience grants, admins.
-- Every change bumps catalog_version (one row) and notifies 'switchyard_catalog', so that instances
-- refresh their snapshot within SPEC's one second.

CREATE TABLE catalog_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO catalog_version (version) VALUES (1);

CREATE FUNCTION bump_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_version SET version = version + 1, changed_at = now();
    PERFORM pg_notify('switchyard_catalog', '');
    RETURN NULL;
END $$;

CREATE TABLE providers (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    identifier        text NOT NULL UNIQUE,
    display_name      text NOT NULL DEFAULT '',
    base_url          text NOT NULL,
    auth_method       text NOT NULL CHECK (auth_method IN ('bearer', 'api_key', 'none')),
    auth_header       text NOT NULL DEFAULT '',
    credential_sealed bytea,
    credential_hint   text NOT NULL DEFAULT '',
    ca_bundle         text NOT NULL DEFAULT '',
    connect_ms        integer NOT NULL DEFAULT 0 CHECK (connect_ms >= 0),
    first_byte_ms     integer NOT NULL DEFAULT 0 CHECK (first_byte_ms >= 0),
    idle_ms           integer NOT NULL DEFAULT 0 CHECK (idle_ms >= 0),
    total_ms          integer NOT NULL DEFAULT 0 CHECK (total_ms >= 0),
    verification      jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Models and aliases share one namespace: every name is claimed here first.
CREATE TABLE catalog_names (
    name text PRIMARY KEY,
    what text NOT NULL CHECK (what IN ('model', 'alias'))
);

CREATE TABLE models (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL UNIQUE REFERENCES catalog_names (name),
    provider_id    bigint NOT NULL REFERENCES providers (id),
    upstream_name  text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('chat', 'embedding')),
    context_window integer NOT NULL DEFAULT 0 CHECK (context_window >= 0),
    dimension      integer NOT NULL DEFAULT 0,
    cap_streaming  boolean NOT NULL DEFAULT false,
    cap_tools      boolean NOT NULL DEFAULT false,
    enabled        boolean NOT NULL DEFAULT false,
    display_name   text NOT NULL DEFAULT '',
    description    text NOT NULL DEFAULT '',
    probe          jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'embedding' AND dimension BETWEEN 1 AND 4000) OR (kind = 'chat' AND dimension = 0))
);
CREATE INDEX models_provider_id ON models (provider_id);

CREATE TABLE aliases (
    name       text PRIMARY KEY REFERENCES catalog_names (name),
    kind       text NOT NULL CHECK (kind IN ('chat', 'embedding')),
    model_id   bigint NOT NULL REFERENCES models (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alias_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alias         text NOT NULL REFERENCES aliases (name) ON DELETE CASCADE,
    from_model_id bigint REFERENCES models (id),
    to_model_id   bigint NOT NULL REFERENCES models (id),
    actor         text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alias_history_alias_at ON alias_history (alias, at DESC, id DESC);

CREATE TABLE teams (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    team_id    bigint NOT NULL REFERENCES teams (id),
    name       text NOT NULL DEFAULT '',
    key_hash   bytea NOT NULL UNIQUE,
    prefix     text NOT NULL,
    models     text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_team_id ON api_keys (team_id);

-- An audience grant: team may call name (a model or an alias).
CREATE TABLE grants (
    name       text NOT NULL REFERENCES catalog_names (name),
    team_id    bigint NOT NULL REFERENCES teams (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, team_id)
);

CREATE TABLE admins (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('super_admin', 'provider_admin', 'viewer')),
    token_hash bytea NOT NULL UNIQUE,
    bootstrap  boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
-- At most one bootstrap admin; a restart with another SWITCHYARD_ADMIN_TOKEN replaces its hash.
CREATE UNIQUE INDEX admins_one_bootstrap ON admins (bootstrap) WHERE bootstrap;

CREATE TRIGGER providers_version AFTER INSERT OR UPDATE OR DELETE ON providers FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER models_version AFTER INSERT OR UPDATE OR DELETE ON models FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER aliases_version AFTER INSERT OR UPDATE OR DELETE ON aliases FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER teams_version AFTER INSERT OR UPDATE OR DELETE ON teams FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER api_keys_version AFTER INSERT OR UPDATE OR DELETE ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER grants_version AFTER INSERT OR UPDATE OR DELETE ON grants FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER admins_version AFTER INSERT OR UPDATE OR DELETE ON admins FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
