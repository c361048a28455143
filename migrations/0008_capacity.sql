-- Capacity: concurrency caps on providers and models, rate limits and quotas on teams and keys.
-- The settings are catalogue rows (they bump catalog_version, so every instance's snapshot carries
-- them within a second and an uncapped request never asks the database); the counters are shared by
-- every instance, because a Lambda instance serves one request at a time and an in-memory limiter
-- would protect nothing.

-- One row per capped or limited scope. NULL means "no limit"; 0 means "none at all".
CREATE TABLE limits (
    scope_kind         text NOT NULL CHECK (scope_kind IN ('provider', 'model', 'team', 'key')),
    scope_name         text NOT NULL,
    max_concurrency    integer CHECK (max_concurrency BETWEEN 0 AND 10000),
    queue_ms           integer NOT NULL DEFAULT 0 CHECK (queue_ms BETWEEN 0 AND 60000),
    requests_per_minute bigint CHECK (requests_per_minute >= 0),
    tokens_per_minute   bigint CHECK (tokens_per_minute >= 0),
    requests_per_day    bigint CHECK (requests_per_day >= 0),
    tokens_per_day      bigint CHECK (tokens_per_day >= 0),
    requests_per_month  bigint CHECK (requests_per_month >= 0),
    tokens_per_month    bigint CHECK (tokens_per_month >= 0),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope_kind, scope_name),
    -- Caps belong to what serves requests, rates to who sends them.
    CHECK (scope_kind IN ('provider', 'model') OR (max_concurrency IS NULL AND queue_ms = 0)),
    CHECK (scope_kind IN ('team', 'key') OR (requests_per_minute IS NULL AND tokens_per_minute IS NULL
        AND requests_per_day IS NULL AND tokens_per_day IS NULL AND requests_per_month IS NULL AND tokens_per_month IS NULL))
);
CREATE TRIGGER limits_version AFTER INSERT OR UPDATE OR DELETE ON limits FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();

-- A concurrency cap of N is N slot rows of its scope ('model:<name>', 'provider:<identifier>'). A
-- request holds one slot per capped scope for its whole life: holder is its id, and the slot is free
-- again when released or when lease_until has passed (a killed instance never releases; its
-- leases run out). Held slots are renewed while a long stream lasts.
CREATE TABLE capacity_slots (
    scope       text NOT NULL,
    slot        integer NOT NULL,
    holder      uuid,
    lease_until timestamptz,
    PRIMARY KEY (scope, slot)
);
CREATE INDEX capacity_slots_holder ON capacity_slots (holder) WHERE holder IS NOT NULL;

-- Fixed windows of a limited scope ('team:<name>', 'key:<id>'): one row per period (minute, day,
-- month), reset when a check finds its window_start in the past. tokens counts reservations made
-- up front from each request's estimate, corrected by the request's true usage when it ends.
CREATE TABLE rate_windows (
    scope        text NOT NULL,
    period       text NOT NULL CHECK (period IN ('minute', 'day', 'month')),
    window_start timestamptz NOT NULL,
    requests     bigint NOT NULL DEFAULT 0,
    tokens       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, period)
);
