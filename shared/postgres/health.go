package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/health"
)

// HealthStore keeps the model_health table: which pinned models are cooled down, shared by every
// instance (health.Store).
type HealthStore struct {
	Pool *pgxpool.Pool
}

// Failed records n failures of model in one round trip (the function model_health_failed) and
// returns its cooldown after them.
func (s *HealthStore) Failed(ctx context.Context, model string, n int, reason string, p health.Policy) (health.Cooldown, error) {
	var until *time.Time
	var why string
	err := s.Pool.QueryRow(ctx, `SELECT out_until, out_reason FROM model_health_failed($1, $2, $3, $4,
			$5::bigint * interval '1 microsecond', $6::bigint * interval '1 microsecond')`,
		model, n, reason, p.Failures, p.Window.Microseconds(), p.Cooldown.Microseconds()).Scan(&until, &why)
	if err != nil {
		return health.Cooldown{}, fmt.Errorf("record %d failures of model %s: %w", n, model, err)
	}
	if until == nil {
		return health.Cooldown{}, nil
	}
	return health.Cooldown{Until: *until, Reason: why}, nil
}

// Recovered ends model's cooldown if it has ended: its probe succeeded.
func (s *HealthStore) Recovered(ctx context.Context, model string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE model_health SET cooldown_until = NULL, cooldown_reason = '', failures = 0,
			window_start = clock_timestamp(), recovered_at = clock_timestamp(), updated_at = clock_timestamp()
		WHERE model = $1 AND cooldown_until <= clock_timestamp()`, model)
	if err != nil {
		return fmt.Errorf("end the cooldown of model %s: %w", model, err)
	}
	return nil
}

// Cooldowns lists every model with a cooldown, running or ended (awaiting its probe). It reads the
// partial index on cooldown_until, so it costs what a version check does while no model fails.
func (s *HealthStore) Cooldowns(ctx context.Context) (map[string]health.Cooldown, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT model, cooldown_until, cooldown_reason FROM model_health WHERE cooldown_until IS NOT NULL`)
	out := map[string]health.Cooldown{}
	var (
		model, why string
		until      time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&model, &until, &why}, func() error {
		out[model] = health.Cooldown{Until: until, Reason: why}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read model cooldowns: %w", err)
	}
	return out, nil
}

// Model reads one model's record; a model that never failed is {"state": "ok"}.
func (s *HealthStore) Model(ctx context.Context, model string) (*health.Record, error) {
	h := &health.Record{State: health.StateOK}
	var cooling bool
	err := s.Pool.QueryRow(ctx, `SELECT cooldown_until, coalesce(cooldown_until > clock_timestamp(), false), cooldown_reason, failures, window_start,
			last_failure_at, last_reason, cooldowns, recovered_at FROM model_health WHERE model = $1`, model).
		Scan(&h.CooldownUntil, &cooling, &h.CooldownReason, &h.Failures, &h.WindowStart, &h.LastFailureAt, &h.LastReason, &h.Cooldowns, &h.RecoveredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the health of model %s: %w", model, err)
	}
	switch {
	case h.CooldownUntil == nil:
	case cooling:
		h.State = health.StateCoolingDown
	default:
		h.State = health.StateProbing
	}
	return h, nil
}
