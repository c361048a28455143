-- The request log: one row per request, with its outcome and usage. Usage totals are computed from it.
CREATE TABLE requests (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id        text NOT NULL,
    at                timestamptz NOT NULL,
    route             text NOT NULL,
    key_id            text,
    team              text,
    requested         text NOT NULL DEFAULT '', -- the name the caller asked for
    model             text NOT NULL DEFAULT '', -- the pinned model that served it
    provider          text NOT NULL DEFAULT '',
    outcome           text NOT NULL,            -- 'ok' or an error code; the log's detail says more
    detail            text NOT NULL DEFAULT '', -- e.g. model_not_found's reason: not_granted, model_disabled
    status            integer NOT NULL,
    stream            boolean NOT NULL DEFAULT false,
    latency_us        bigint NOT NULL DEFAULT 0,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    total_tokens      bigint NOT NULL DEFAULT 0,
    message           text NOT NULL DEFAULT ''
);
CREATE INDEX requests_at ON requests (at DESC, id DESC);
CREATE INDEX requests_outcome_at ON requests (outcome, at DESC);
CREATE UNIQUE INDEX requests_request_id ON requests (request_id);
