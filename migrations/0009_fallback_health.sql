-- Fallback: a request may be tried on several pinned models in turn. Each attempt is one row of the
-- request log; the rows of one request share chain_id (the request's id, as X-Request-Id tells the
-- caller) and are numbered by attempt from 1. Rows written before this migration are attempt 1 of a
-- chain of their own (an empty chain_id reads as the row's request_id).
ALTER TABLE requests ADD COLUMN attempt integer NOT NULL DEFAULT 1;
ALTER TABLE requests ADD COLUMN chain_id text NOT NULL DEFAULT '';
CREATE INDEX requests_chain_id ON requests (chain_id) WHERE chain_id <> '';

-- Health of pinned models, shared by every instance. A row is written only when a call to the model
-- fails in a way that moves a request on (connection, timeout, 429, 5xx, capacity), and when the
-- first success after a cooldown ends it. It is not a catalogue table: a cooldown does not bump
-- catalog_version (instances read cooldowns with a poll of their own, see shared/health).
CREATE TABLE model_health (
    model           text PRIMARY KEY,             -- the pinned model's name (never changes)
    window_start    timestamptz NOT NULL,         -- the failure window started here
    failures        integer NOT NULL DEFAULT 0,   -- failures within the window
    last_failure_at timestamptz,
    last_reason     text NOT NULL DEFAULT '',     -- e.g. upstream_unavailable:503
    cooldown_until  timestamptz,                  -- null: none; in the past: ended, the next call is the probe
    cooldown_reason text NOT NULL DEFAULT '',
    cooldowns       bigint NOT NULL DEFAULT 0,    -- cooldowns started so far
    recovered_at    timestamptz,                  -- when a probe last succeeded
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_health_cooldown ON model_health (cooldown_until) WHERE cooldown_until IS NOT NULL;

-- model_health_failed records n failures of a model in one round trip and returns its cooldown
-- after them. Within one window of p_window, p_threshold failures start a cooldown of p_cooldown;
-- a failure after a cooldown ended (the probe) starts the next one at once; failures during a
-- cooldown (a request's last resort) leave it as it is.
CREATE FUNCTION model_health_failed(p_model text, p_n integer, p_reason text, p_threshold integer,
                                    p_window interval, p_cooldown interval)
RETURNS TABLE (out_until timestamptz, out_reason text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    h model_health%ROWTYPE;
    t timestamptz := clock_timestamp();
BEGIN
    INSERT INTO model_health (model, window_start) VALUES (p_model, t) ON CONFLICT (model) DO NOTHING;
    SELECT * INTO h FROM model_health WHERE model = p_model FOR UPDATE;
    h.last_failure_at := t;
    h.last_reason := p_reason;
    IF h.cooldown_until > t THEN
        NULL;
    ELSIF h.cooldown_until IS NOT NULL THEN
        h.cooldown_until := t + p_cooldown;
        h.cooldown_reason := 'the first call after the last cooldown failed: ' || p_reason;
        h.cooldowns := h.cooldowns + 1;
        h.failures := 0;
        h.window_start := t;
    ELSE
        IF h.window_start <= t - p_window THEN
            h.window_start := t;
            h.failures := 0;
        END IF;
        h.failures := h.failures + p_n;
        IF h.failures >= p_threshold THEN
            h.cooldown_until := t + p_cooldown;
            h.cooldown_reason := format('%s failures within %s s; the last: %s', h.failures,
                                        extract(epoch FROM p_window)::bigint, p_reason);
            h.cooldowns := h.cooldowns + 1;
            h.failures := 0;
            h.window_start := t;
        END IF;
    END IF;
    UPDATE model_health SET window_start = h.window_start, failures = h.failures, last_failure_at = h.last_failure_at,
        last_reason = h.last_reason, cooldown_until = h.cooldown_until, cooldown_reason = h.cooldown_reason,
        cooldowns = h.cooldowns, updated_at = t
    WHERE model = p_model;
    RETURN QUERY SELECT h.cooldown_until, h.cooldown_reason;
END
$$;
