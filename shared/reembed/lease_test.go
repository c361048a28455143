package reembed

import (
	"context"
	"log/slog"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
)

// A build step whose builder lock is free is put back only when the process that took it is gone: a
// live process that has not taken the lock yet (River handed the job out moments ago, on a loaded
// machine) keeps it, so the build never runs twice.
func TestRescueTellsASlowBuilderFromADeadOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s, err := New(pool, nil, nil, Config{InsertOnly: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// The job as River leaves it once it handed it to this service's client: running, attempted by
	// its id, long enough ago that no grace period could explain a missing builder lock.
	var id int64
	if err := pool.QueryRow(ctx, `INSERT INTO river_job (kind, args, queue, state, attempt, max_attempts, attempted_at, attempted_by, priority)
		VALUES ($1, '{"run_id": 1}', $2, 'running', 1, 5, now() - interval '1 minute', ARRAY[$3], 1) RETURNING id`,
		BuildArgs{}.Kind(), QueueReembed, s.clientID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		var st string
		if err := pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, id).Scan(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}

	pl, err := s.holdProcessLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.rescueDeadBuilders(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != "running" {
		t.Fatalf("a build step of a live process was put back (state %s); want it left running", got)
	}

	pl.Release() // the process is gone
	if err := s.rescueDeadBuilders(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != "available" {
		t.Fatalf("a build step of a dead process is %s; want it put back (available)", got)
	}
}
