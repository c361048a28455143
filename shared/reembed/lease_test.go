package reembed

import (
	"context"
	"log/slog"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
)

// A job River records as running is put back at once only when the process that took it is gone: a
// live process keeps its jobs, even a build step that has not taken its builder lock yet (River
// handed it out moments ago, on a loaded machine), so nothing runs twice. A dead builder costs its
// job no attempt; any other job keeps the attempt that died, and one on its last attempt is left to
// River's rescuer, which discards it, so a job that kills its worker every time cannot loop forever.
func TestRescuePutsBackOnlyTheJobsOfDeadProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s, err := New(pool, nil, nil, Config{InsertOnly: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		kind         string
		attempt, max int
		wantState    string // once the process is gone
		wantAttempt  int
	}{
		{"build step", BuildArgs{}.Kind(), 1, 5, "available", 0},
		{"fill job", FillArgs{}.Kind(), 2, 5, "available", 2},
		{"fill job on its last attempt", FillArgs{}.Kind(), 5, 5, "running", 5},
	}
	// Each job as River leaves it once it handed it to this service's client: running, attempted by
	// its id, long enough ago that no grace period could explain a missing builder lock.
	ids := make([]int64, len(cases))
	for i, c := range cases {
		if err := pool.QueryRow(ctx, `INSERT INTO river_job (kind, args, queue, state, attempt, max_attempts, attempted_at, attempted_by, priority)
			VALUES ($1, '{"run_id": 1}', $2, 'running', $3, $4, now() - interval '1 minute', ARRAY[$5], 1) RETURNING id`,
			c.kind, QueueReembed, c.attempt, c.max, s.clientID).Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	job := func(id int64) (state string, attempt int) {
		if err := pool.QueryRow(ctx, `SELECT state, attempt FROM river_job WHERE id = $1`, id).Scan(&state, &attempt); err != nil {
			t.Fatal(err)
		}
		return state, attempt
	}

	pl, err := s.holdProcessLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.rescueDeadJobs(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if st, _ := job(ids[i]); st != "running" {
			t.Errorf("%s of a live process was put back (state %s); want it left running", c.name, st)
		}
	}

	pl.Release() // the process is gone
	if err := s.rescueDeadJobs(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if st, at := job(ids[i]); st != c.wantState || at != c.wantAttempt {
			t.Errorf("%s of a dead process: %s at attempt %d; want %s at attempt %d", c.name, st, at, c.wantState, c.wantAttempt)
		}
	}
}
