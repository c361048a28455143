package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/session"
)

// ConsoleSessionStore keeps console sessions (table console_sessions). How long a session lives is
// the console's rule: its methods take the instants that rule yields.
type ConsoleSessionStore struct {
	Pool *pgxpool.Pool
}

// CreateSession stores s, removes sessions that expired before s.CreatedAt or were last used before
// staleBefore (so the table stays small), and records the sign-in e in the audit log, in one
// transaction.
func (c *ConsoleSessionStore) CreateSession(ctx context.Context, s session.Session, staleBefore time.Time, e *audit.Entry) error {
	return pgx.BeginFunc(ctx, c.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at < $1 OR last_seen_at < $2`,
			s.CreatedAt, staleBefore); err != nil {
			return fmt.Errorf("remove expired console sessions: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO console_sessions (id_hash, token_hash, csrf, created_at, expires_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, s.IDHash[:], s.TokenHash[:], s.CSRF, s.CreatedAt, s.ExpiresAt, s.LastSeen)
		if err != nil {
			return fmt.Errorf("store console session: %w", err)
		}
		return InsertAudit(ctx, tx, e, nil, nil)
	})
}

// RecordFailedSignin records a sign-in with a token that is unknown or revoked.
func (c *ConsoleSessionStore) RecordFailedSignin(ctx context.Context, e *audit.Entry) error {
	return InsertAudit(ctx, c.Pool, e, nil, nil)
}

// TouchSession returns the session unless it is unknown, expired at now or last used before
// staleBefore ((nil, nil) then), and marks it used at now, in one statement.
func (c *ConsoleSessionStore) TouchSession(ctx context.Context, idHash [32]byte, now, staleBefore time.Time) (*session.Session, error) {
	var (
		s         session.Session
		tokenHash []byte
	)
	err := c.Pool.QueryRow(ctx, `UPDATE console_sessions SET last_seen_at = greatest(last_seen_at, $2)
		WHERE id_hash = $1 AND expires_at > $2 AND last_seen_at > $3
		RETURNING token_hash, csrf, created_at, expires_at, last_seen_at`, idHash[:], now, staleBefore).
		Scan(&tokenHash, &s.CSRF, &s.CreatedAt, &s.ExpiresAt, &s.LastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read console session: %w", err)
	}
	s.IDHash = idHash
	copy(s.TokenHash[:], tokenHash)
	return &s, nil
}

// DeleteSession ends a session (sign-out).
func (c *ConsoleSessionStore) DeleteSession(ctx context.Context, idHash [32]byte) error {
	if _, err := c.Pool.Exec(ctx, `DELETE FROM console_sessions WHERE id_hash = $1`, idHash[:]); err != nil {
		return fmt.Errorf("delete console session: %w", err)
	}
	return nil
}
