-- The audit log: one row per admin change (and console sign-in), written in the same transaction as
-- the change. before and after are the entity as the admin API shows it: never a credential, a key,
-- a token or their hashes. actor_* are NULL for a failed sign-in. Rows are never updated or deleted
-- by Switchyard. json, not jsonb: an entry keeps its fields in the order the API shows them.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id   text,
    actor_name text,
    role       text,
    action     text NOT NULL,
    target     text NOT NULL DEFAULT '',
    before     json,
    after      json,
    source_ip  text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT ''
);
-- Newest first, keyset paging on (at, id); the filters narrow by actor, action or target.
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at DESC, id DESC);
CREATE INDEX audit_log_action ON audit_log (action, at DESC, id DESC);
CREATE INDEX audit_log_target ON audit_log (target, at DESC, id DESC);
