package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// AuthFailureStore counts failed authentications per source (table auth_failures) for the
// throttle: one window per source, starting at its first failure.
type AuthFailureStore struct {
	Pool *pgxpool.Pool
}

// Failures returns the start of src's window and its failures in it; found is false when src has
// no failures recorded.
func (s *AuthFailureStore) Failures(ctx context.Context, src string) (start time.Time, failures int, found bool, err error) {
	err = s.Pool.QueryRow(ctx, `SELECT window_start, failures FROM auth_failures WHERE source = $1`, src).Scan(&start, &failures)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, 0, false, nil
	}
	if err != nil {
		return time.Time{}, 0, false, fmt.Errorf("read failed authentications of %s: %w", src, err)
	}
	return start, failures, true, nil
}

// CountFailure records one failure of src at now, in one upsert: a window that started at or before
// ended is replaced by a new one starting now. It returns the window's start and failures after the
// count.
func (s *AuthFailureStore) CountFailure(ctx context.Context, src string, now, ended time.Time) (start time.Time, failures int, err error) {
	// The same statement removes a few rows of ended windows (other sources'), so the table holds
	// about the sources that failed within one window; SKIP LOCKED keeps concurrent failures from
	// waiting on each other.
	err = s.Pool.QueryRow(ctx, `WITH gone AS (
			DELETE FROM auth_failures WHERE source IN (
				SELECT source FROM auth_failures WHERE window_start <= $3 AND source <> $1
				LIMIT 10 FOR UPDATE SKIP LOCKED))
		INSERT INTO auth_failures AS f (source, window_start, failures) VALUES ($1, $2, 1)
		ON CONFLICT (source) DO UPDATE SET
			window_start = CASE WHEN f.window_start <= $3 THEN EXCLUDED.window_start ELSE f.window_start END,
			failures = CASE WHEN f.window_start <= $3 THEN 1 ELSE f.failures + 1 END
		RETURNING window_start, failures`, src, now, ended).Scan(&start, &failures)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("count a failed authentication of %s: %w", src, err)
	}
	return start, failures, nil
}
