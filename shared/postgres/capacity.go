package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/capacity"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// CapacityStore holds the counters every instance shares: concurrency slots and rate windows
// (migrations/0008_capacity.sql), and the limits operators set. Every method that takes a time
// takes it from the caller, so tests move the clock; instances of one deployment share a clock
// closely enough (leases and windows are seconds long, clock skew milliseconds).
type CapacityStore struct {
	Pool *pgxpool.Pool
}

var _ capacity.Store = (*CapacityStore)(nil)

// ---- concurrency slots

// acquireSlots takes one free slot of every scope, or none: a slot is free when it has no holder
// or its lease has run out (its holder died). SKIP LOCKED makes concurrent takers pass each other
// instead of queueing on the same row, and the count check makes it all or nothing in one round
// trip (the row locks of a partial take are dropped with the statement).
const acquireSlots = `WITH got AS (
	SELECT c.scope, c.slot FROM unnest($1::text[]) AS w(scope)
	CROSS JOIN LATERAL (
		SELECT s.scope, s.slot FROM capacity_slots s
		WHERE s.scope = w.scope AND (s.holder IS NULL OR s.lease_until < $3)
		ORDER BY s.slot LIMIT 1 FOR UPDATE SKIP LOCKED
	) c
)
UPDATE capacity_slots s SET holder = $2, lease_until = $4
FROM got WHERE s.scope = got.scope AND s.slot = got.slot
	AND (SELECT count(*) FROM got) = cardinality($1::text[])
RETURNING s.scope`

// AcquireSlots takes a slot of every scope for holder, leased until leaseUntil, and reports
// whether it did; when any scope has no free slot at now, it takes none.
func (s *CapacityStore) AcquireSlots(ctx context.Context, scopes []string, holder string, now, leaseUntil time.Time) (bool, error) {
	tag, err := s.Pool.Exec(ctx, acquireSlots, scopes, holder, now, leaseUntil)
	if err != nil {
		return false, fmt.Errorf("take a concurrency slot of %v: %w", scopes, err)
	}
	return tag.RowsAffected() == int64(len(scopes)), nil
}

// RenewSlots moves the lease of holder's slots to leaseUntil and reports how many it still holds
// (0 when a lease ran out and another request took the slot).
func (s *CapacityStore) RenewSlots(ctx context.Context, holder string, leaseUntil time.Time) (int, error) {
	tag, err := s.Pool.Exec(ctx, `UPDATE capacity_slots SET lease_until = $2 WHERE holder = $1`, holder, leaseUntil)
	if err != nil {
		return 0, fmt.Errorf("renew concurrency slots: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ReleaseSlots frees every slot holder holds.
func (s *CapacityStore) ReleaseSlots(ctx context.Context, holder string) error {
	if _, err := s.Pool.Exec(ctx, `UPDATE capacity_slots SET holder = NULL, lease_until = NULL WHERE holder = $1`, holder); err != nil {
		return fmt.Errorf("release concurrency slots: %w", err)
	}
	return nil
}

// ---- rate windows

// reserveWindows counts one request and its token reservation in every window, or in none when any
// would go past its limit. Windows are locked in a fixed order (so two checks never deadlock) and
// reset when they find their start in the past.
const reserveWindows = `WITH want AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[]) AS w(scope, period, win, max_req, max_tok)
), cur AS (
	SELECT r.scope, r.period, greatest(r.window_start, w.win) AS win, w.max_req, w.max_tok,
		CASE WHEN r.window_start >= w.win THEN r.requests ELSE 0 END AS req,
		CASE WHEN r.window_start >= w.win THEN r.tokens ELSE 0 END AS tok
	FROM rate_windows r JOIN want w ON r.scope = w.scope AND r.period = w.period
	ORDER BY r.scope, r.period
	FOR UPDATE OF r
), verdict AS (
	SELECT coalesce(bool_and((max_req < 0 OR req + 1 <= max_req) AND (max_tok < 0 OR tok + $6 <= max_tok)), true) AS ok FROM cur
)
UPDATE rate_windows r SET window_start = c.win,
	requests = c.req + CASE WHEN v.ok THEN 1 ELSE 0 END,
	tokens = c.tok + CASE WHEN v.ok THEN $6::bigint ELSE 0 END
FROM cur c, verdict v
WHERE r.scope = c.scope AND r.period = c.period
RETURNING r.scope, r.period, r.window_start, r.requests, r.tokens, v.ok`

// Reserve counts one request of tokens (its estimate) in every window of checks when none would
// pass its limit, and reports whether it did, with every window's count after the check.
func (s *CapacityStore) Reserve(ctx context.Context, checks []capacity.WindowCheck, tokens int64) (bool, []capacity.WindowCount, error) {
	n := len(checks)
	scopes, periods, starts := make([]string, n), make([]string, n), make([]time.Time, n)
	maxReq, maxTok := make([]int64, n), make([]int64, n)
	for i, c := range checks {
		scopes[i], periods[i], starts[i], maxReq[i], maxTok[i] = c.Scope, string(c.Period), c.Start, c.MaxRequests, c.MaxTokens
	}
	for attempt := 0; ; attempt++ {
		rows, _ := s.Pool.Query(ctx, reserveWindows, scopes, periods, starts, maxReq, maxTok, tokens)
		ok := true
		var counts []capacity.WindowCount
		for rows.Next() {
			var c capacity.WindowCount
			if err := rows.Scan(&c.Scope, &c.Period, &c.Start, &c.Requests, &c.Tokens, &ok); err != nil {
				rows.Close()
				return false, nil, fmt.Errorf("scan a rate window: %w", err)
			}
			counts = append(counts, c)
		}
		if err := rows.Err(); err != nil {
			return false, nil, fmt.Errorf("check rate limits of %v: %w", scopes, err)
		}
		if len(counts) == n || attempt > 0 {
			return ok, counts, nil
		}
		// A window row is missing (limits set outside the admin API): create them and count again.
		if _, err := s.Pool.Exec(ctx, `INSERT INTO rate_windows (scope, period, window_start)
			SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING`, scopes, periods, starts); err != nil {
			return false, nil, fmt.Errorf("create rate windows of %v: %w", scopes, err)
		}
	}
}

// Settle corrects the tokens counted in windows (as Reserve returned them) by delta: the true usage
// minus the reservation. A window that has ended since is left alone: its count no longer limits
// anyone. A count never goes below zero.
func (s *CapacityStore) Settle(ctx context.Context, windows []capacity.WindowCount, delta int64) error {
	if delta == 0 || len(windows) == 0 {
		return nil
	}
	n := len(windows)
	scopes, periods, starts := make([]string, n), make([]string, n), make([]time.Time, n)
	for i, w := range windows {
		scopes[i], periods[i], starts[i] = w.Scope, string(w.Period), w.Start
	}
	_, err := s.Pool.Exec(ctx, `WITH l AS (
			SELECT r.scope, r.period FROM rate_windows r
			JOIN unnest($1::text[], $2::text[], $3::timestamptz[]) AS w(scope, period, win)
				ON r.scope = w.scope AND r.period = w.period AND r.window_start = w.win
			ORDER BY r.scope, r.period FOR UPDATE OF r
		)
		UPDATE rate_windows r SET tokens = greatest(r.tokens + $4, 0) FROM l
		WHERE r.scope = l.scope AND r.period = l.period`, scopes, periods, starts, delta)
	if err != nil {
		return fmt.Errorf("settle the token reservation of %v: %w", scopes, err)
	}
	return nil
}

// ---- limits (the catalogue side)

const limitColumns = `scope_kind, scope_name, max_concurrency, queue_ms, requests_per_minute, tokens_per_minute,
	requests_per_day, tokens_per_day, requests_per_month, tokens_per_month, updated_at`

func scanLimits(row pgx.Row) (catalog.Scope, *catalog.Limits, error) {
	var sc catalog.Scope
	var maxConc *int32
	var queueMS int32
	var rates [2 * len(catalog.Periods)]*int64
	l := catalog.Unlimited()
	if err := row.Scan(&sc.Kind, &sc.Name, &maxConc, &queueMS, &rates[0], &rates[1], &rates[2], &rates[3], &rates[4], &rates[5], &l.UpdatedAt); err != nil {
		return sc, nil, fmt.Errorf("scan limits: %w", err)
	}
	if maxConc != nil {
		l.MaxConcurrency = int(*maxConc)
	}
	l.Queue = time.Duration(queueMS) * time.Millisecond
	for i := range l.Rates {
		if v := rates[2*i]; v != nil {
			l.Rates[i].Requests = *v
		}
		if v := rates[2*i+1]; v != nil {
			l.Rates[i].Tokens = *v
		}
	}
	return sc, &l, nil
}

// loadLimits adds every scope's limits to the snapshot being loaded in tx.
func loadLimits(ctx context.Context, tx pgx.Tx, s *catalog.Snapshot) error {
	s.Limits = map[catalog.Scope]*catalog.Limits{}
	rows, _ := tx.Query(ctx, `SELECT `+limitColumns+` FROM limits`)
	defer rows.Close()
	for rows.Next() {
		sc, l, err := scanLimits(rows)
		if err != nil {
			return err
		}
		if l.Capped() || l.RateLimited() {
			s.Limits[sc] = l
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read limits: %w", err)
	}
	return nil
}

// Limits reads the limits of one scope; nil when it has none.
func (s *CapacityStore) Limits(ctx context.Context, sc catalog.Scope) (*catalog.Limits, error) {
	_, l, err := scanLimits(s.Pool.QueryRow(ctx, `SELECT `+limitColumns+` FROM limits WHERE scope_kind = $1 AND scope_name = $2`, sc.Kind, sc.Name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return l, err
}

// nullable turns catalog.NoLimit into NULL.
func nullable(v int64) *int64 {
	if v == catalog.NoLimit {
		return nil
	}
	return &v
}

// SetLimits replaces the limits of sc (nil removes them), with the concurrency slots and rate
// windows they need, and records e, all in one transaction. exists is checked inside it, so limits
// are never set on a scope that does not exist. The entry's before and after are the limits.
func (s *CapacityStore) SetLimits(ctx context.Context, sc catalog.Scope, l *catalog.Limits, exists func(context.Context, pgx.Tx) error, e *audit.Entry) (*catalog.Limits, error) {
	var out *catalog.Limits
	err := pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if exists != nil {
			if err := exists(ctx, tx); err != nil {
				return err
			}
		}
		_, before, err := scanLimits(tx.QueryRow(ctx, `SELECT `+limitColumns+` FROM limits WHERE scope_kind = $1 AND scope_name = $2 FOR UPDATE`, sc.Kind, sc.Name))
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		key := sc.String()
		if l == nil {
			if _, err := tx.Exec(ctx, `DELETE FROM limits WHERE scope_kind = $1 AND scope_name = $2`, sc.Kind, sc.Name); err != nil {
				return fmt.Errorf("remove the limits of %s: %w", key, err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM capacity_slots WHERE scope = $1`, key); err != nil {
				return fmt.Errorf("remove the slots of %s: %w", key, err)
			}
			return InsertAudit(ctx, tx, e, before, nil)
		}
		var maxConc *int64
		if l.MaxConcurrency != catalog.NoLimit {
			maxConc = nullable(int64(l.MaxConcurrency))
		}
		r := l.Rates
		if _, err := tx.Exec(ctx, `INSERT INTO limits (`+limitColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
			ON CONFLICT (scope_kind, scope_name) DO UPDATE SET max_concurrency = $3, queue_ms = $4,
				requests_per_minute = $5, tokens_per_minute = $6, requests_per_day = $7, tokens_per_day = $8,
				requests_per_month = $9, tokens_per_month = $10, updated_at = now()`,
			sc.Kind, sc.Name, maxConc, l.Queue.Milliseconds(),
			nullable(r[0].Requests), nullable(r[0].Tokens), nullable(r[1].Requests), nullable(r[1].Tokens),
			nullable(r[2].Requests), nullable(r[2].Tokens)); err != nil {
			return fmt.Errorf("set the limits of %s: %w", key, err)
		}
		// N slot rows for a cap of N. Slots above a lowered cap go at once, held or not: the requests
		// holding them finish, and their release finds no row.
		n := 0
		if l.MaxConcurrency > 0 {
			n = l.MaxConcurrency
		}
		if _, err := tx.Exec(ctx, `DELETE FROM capacity_slots WHERE scope = $1 AND slot >= $2`, key, n); err != nil {
			return fmt.Errorf("trim the slots of %s: %w", key, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO capacity_slots (scope, slot) SELECT $1, g FROM generate_series(0, $2 - 1) g
			ON CONFLICT DO NOTHING`, key, n); err != nil {
			return fmt.Errorf("create the slots of %s: %w", key, err)
		}
		if l.RateLimited() {
			if _, err := tx.Exec(ctx, `INSERT INTO rate_windows (scope, period, window_start)
				SELECT $1, p, 'epoch' FROM unnest($2::text[]) p ON CONFLICT DO NOTHING`, key, periodNames()); err != nil {
				return fmt.Errorf("create the rate windows of %s: %w", key, err)
			}
		}
		if _, out, err = scanLimits(tx.QueryRow(ctx, `SELECT `+limitColumns+` FROM limits WHERE scope_kind = $1 AND scope_name = $2`, sc.Kind, sc.Name)); err != nil {
			return err
		}
		return InsertAudit(ctx, tx, e, before, out)
	})
	return out, err
}

func periodNames() []string {
	names := make([]string, len(catalog.Periods))
	for i, p := range catalog.Periods {
		names[i] = string(p)
	}
	return names
}

// Usage lists every scope with limits and what it uses at now.
func (s *CapacityStore) Usage(ctx context.Context, now time.Time) ([]*capacity.ScopeUsage, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT `+limitColumns+` FROM limits ORDER BY scope_kind, scope_name`)
	var out []*capacity.ScopeUsage
	byKey := map[string]*capacity.ScopeUsage{}
	for rows.Next() {
		sc, l, err := scanLimits(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		u := &capacity.ScopeUsage{Scope: sc, Limits: l}
		for i, p := range catalog.Periods {
			start, _ := p.Window(now)
			u.Windows[i] = capacity.WindowCount{Scope: sc.String(), Period: p, Start: start}
		}
		out = append(out, u)
		byKey[sc.String()] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read limits: %w", err)
	}
	rows, _ = s.Pool.Query(ctx, `SELECT scope, count(*) FROM capacity_slots WHERE holder IS NOT NULL AND lease_until >= $1 GROUP BY scope`, now)
	for rows.Next() {
		var scope string
		var n int
		if err := rows.Scan(&scope, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan slots in use: %w", err)
		}
		if u := byKey[scope]; u != nil {
			u.InFlight = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count slots in use: %w", err)
	}
	rows, _ = s.Pool.Query(ctx, `SELECT scope, period, window_start, requests, tokens FROM rate_windows`)
	for rows.Next() {
		var w capacity.WindowCount
		if err := rows.Scan(&w.Scope, &w.Period, &w.Start, &w.Requests, &w.Tokens); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan a rate window: %w", err)
		}
		u := byKey[w.Scope]
		if u == nil {
			continue
		}
		for i, p := range catalog.Periods {
			if p == w.Period && !w.Start.Before(u.Windows[i].Start) {
				u.Windows[i] = w
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rate windows: %w", err)
	}
	return out, nil
}
