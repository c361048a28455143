-- Console sessions: the cookie holds a random id; this row holds its hash, the hash of the admin
-- token that signed in (looked up in the catalogue snapshot on every request, so revoking the admin
-- ends the session within one second), the session's CSRF token and its expiry.
CREATE TABLE console_sessions (
    id_hash    bytea PRIMARY KEY,
    token_hash bytea NOT NULL,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
