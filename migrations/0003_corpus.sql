-- Corpora, their documents, their pgvector indexes and the re-embed runs that replace them.
-- Every index's vectors live in a table of their own (corpus_indexes.table_name), created and dropped by
-- the corpus store, so that a retried run never collides with an earlier one.

-- A corpus follows an embedding alias: its active index is built by the alias's target at the time.
-- teams_explicit: the corpus is used by the teams in corpus_teams; otherwise by the teams granted its alias.
CREATE TABLE corpora (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    alias          text NOT NULL REFERENCES aliases (name),
    teams_explicit boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX corpora_alias ON corpora (alias);

CREATE TABLE corpus_teams (
    corpus_id bigint NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
    team_id   bigint NOT NULL REFERENCES teams (id),
    PRIMARY KEY (corpus_id, team_id)
);

-- content_hash is sha256 of the text: a write with the same hash is not embedded again.
CREATE TABLE documents (
    corpus_id    bigint NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
    doc_id       text NOT NULL,
    text         text NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}',
    content_hash bytea NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (corpus_id, doc_id)
);

CREATE TABLE reembed_runs (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alias                  text NOT NULL REFERENCES aliases (name),
    target_model_id        bigint NOT NULL REFERENCES models (id),
    expected_from_model_id bigint NOT NULL REFERENCES models (id),
    state                  text NOT NULL DEFAULT 'queued' CHECK (state IN
        ('queued', 'embedding', 'indexing', 'verifying', 'cutting_over', 'succeeded', 'failed', 'cancelled')),
    total                  bigint NOT NULL DEFAULT 0,
    actor                  text NOT NULL DEFAULT '',
    verification           jsonb,
    error                  text NOT NULL DEFAULT '',
    created_at             timestamptz NOT NULL DEFAULT now(),
    started_at             timestamptz,
    finished_at            timestamptz
);
-- One run at a time per alias (409 run_in_progress).
CREATE UNIQUE INDEX reembed_runs_one_per_alias ON reembed_runs (alias)
    WHERE state IN ('queued', 'embedding', 'indexing', 'verifying', 'cutting_over');

CREATE TABLE corpus_indexes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    corpus_id     bigint NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
    model_id      bigint NOT NULL REFERENCES models (id),
    dimension     integer NOT NULL CHECK (dimension BETWEEN 1 AND 4000),
    table_name    text NOT NULL UNIQUE,
    state         text NOT NULL CHECK (state IN ('building', 'verifying', 'active', 'standby', 'retired', 'failed')),
    run_id        bigint REFERENCES reembed_runs (id),
    error         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    activated_at  timestamptz,
    standby_until timestamptz,
    retired_at    timestamptz
);
-- Exactly one active index per corpus (the store creates the first one with the corpus).
CREATE UNIQUE INDEX corpus_indexes_one_active ON corpus_indexes (corpus_id) WHERE state = 'active';
CREATE INDEX corpus_indexes_live ON corpus_indexes (corpus_id)
    WHERE state IN ('building', 'verifying', 'active', 'standby');
CREATE INDEX corpus_indexes_run ON corpus_indexes (run_id);

-- A fill shard's checkpoint: the documents (lo, hi] in doc_id order, filled up to and including
-- cursor. It advances in the same transaction as the batch it covers.
CREATE TABLE reembed_shards (
    index_id bigint NOT NULL REFERENCES corpus_indexes (id) ON DELETE CASCADE,
    shard    integer NOT NULL,
    run_id   bigint NOT NULL REFERENCES reembed_runs (id),
    lo       text,          -- exclusive; NULL: from the first document
    hi       text,          -- inclusive; NULL: to the last document
    cursor   text,          -- the last document filled; NULL: none yet
    embedded bigint NOT NULL DEFAULT 0,
    done     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (index_id, shard)
);
CREATE INDEX reembed_shards_run ON reembed_shards (run_id);
