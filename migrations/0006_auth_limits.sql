-- Failed authentications per source (an IP address, an IPv6 /64), in a window that starts at the
-- first failure: the admin API and the console refuse a source with too many failures until its
-- window ends, on every instance. A row is written only on a failure; rows of ended windows are
-- removed by later failures.
CREATE TABLE auth_failures (
    source       text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    failures     integer NOT NULL
);
CREATE INDEX auth_failures_window_start ON auth_failures (window_start);

-- Console sessions end after an idle time as well as at their absolute expiry: a request after
-- last_seen_at + the idle timeout finds no session.
ALTER TABLE console_sessions ADD COLUMN last_seen_at timestamptz;
UPDATE console_sessions SET last_seen_at = created_at;
ALTER TABLE console_sessions ALTER COLUMN last_seen_at SET NOT NULL;
CREATE INDEX console_sessions_token_hash ON console_sessions (token_hash);
