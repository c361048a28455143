package console

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// PGSessions keeps sessions in Postgres (postgres.ConsoleSessionStore), applying the console's
// SessionIdle rule.
type PGSessions struct {
	Pool *pgxpool.Pool
}

var _ SessionStore = (*PGSessions)(nil)

func (c *PGSessions) store() *postgres.ConsoleSessionStore {
	return &postgres.ConsoleSessionStore{Pool: c.Pool}
}

// CreateSession stores s and removes sessions that have expired or gone idle, so the table stays
// small, and records the sign-in e in the audit log, in one transaction.
func (c *PGSessions) CreateSession(ctx context.Context, s Session, e *audit.Entry) error {
	return c.store().CreateSession(ctx, s, s.CreatedAt.Add(-SessionIdle), e)
}

// RecordFailedSignin records a sign-in with a token that is unknown or revoked.
func (c *PGSessions) RecordFailedSignin(ctx context.Context, e *audit.Entry) error {
	return c.store().RecordFailedSignin(ctx, e)
}

// GetSession returns the session unless it is unknown, expired at now or unused since SessionIdle
// before now, and marks it used at now, in one statement.
func (c *PGSessions) GetSession(ctx context.Context, idHash [32]byte, now time.Time) (*Session, error) {
	return c.store().TouchSession(ctx, idHash, now, now.Add(-SessionIdle))
}

// DeleteSession ends a session (sign-out).
func (c *PGSessions) DeleteSession(ctx context.Context, idHash [32]byte) error {
	return c.store().DeleteSession(ctx, idHash)
}
