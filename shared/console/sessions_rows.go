package console

import (
	"context"
	"time"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/session"
)

// SessionRows is the table of sessions (postgres.ConsoleSessionStore). staleBefore is the last use
// before which a session has gone idle: such a session is removed (CreateSession) or not found
// (TouchSession, which otherwise marks the session used at now).
type SessionRows interface {
	CreateSession(ctx context.Context, s session.Session, staleBefore time.Time, e *audit.Entry) error
	RecordFailedSignin(ctx context.Context, e *audit.Entry) error
	TouchSession(ctx context.Context, idHash [32]byte, now, staleBefore time.Time) (*session.Session, error)
	DeleteSession(ctx context.Context, idHash [32]byte) error
}

// Sessions keeps sessions in Rows, applying the console's SessionIdle rule.
type Sessions struct {
	Rows SessionRows
}

var _ SessionStore = (*Sessions)(nil)

// CreateSession stores s and removes sessions that have expired or gone idle, so the table stays
// small, and records the sign-in e in the audit log, in one transaction.
func (c *Sessions) CreateSession(ctx context.Context, s session.Session, e *audit.Entry) error {
	return c.Rows.CreateSession(ctx, s, s.CreatedAt.Add(-SessionIdle), e)
}

// RecordFailedSignin records a sign-in with a token that is unknown or revoked.
func (c *Sessions) RecordFailedSignin(ctx context.Context, e *audit.Entry) error {
	return c.Rows.RecordFailedSignin(ctx, e)
}

// GetSession returns the session unless it is unknown, expired at now or unused since SessionIdle
// before now, and marks it used at now, in one statement.
func (c *Sessions) GetSession(ctx context.Context, idHash [32]byte, now time.Time) (*session.Session, error) {
	return c.Rows.TouchSession(ctx, idHash, now, now.Add(-SessionIdle))
}

// DeleteSession ends a session (sign-out).
func (c *Sessions) DeleteSession(ctx context.Context, idHash [32]byte) error {
	return c.Rows.DeleteSession(ctx, idHash)
}
