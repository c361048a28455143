package reembed

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// Three session-level advisory locks, in three key spaces of their own (pg_advisory_lock(int4, int4)).
// Postgres releases a session lock the moment the session ends, so a lock held means a live process
// behind it, and a free one means none, with no timeout or clock involved.
const (
	// lockWorker, key 0, is the fetch lease: held by the one bounded worker invocation (RunFor)
	// that takes jobs, from before it starts River until it stops fetching.
	lockWorker int32 = 0x53590001
	// lockBuilder, keyed by job id (mod 2^31), is held by the connection that works an HNSW build
	// or a verification, for as long as that job runs.
	lockBuilder int32 = 0x53590002
	// lockProcess, keyed by the River client's id (processKey), is held by every working Service
	// from Start to Stop: River records that id in a job's attempted_by, so the lock tells at once
	// whether the process that took a job still lives.
	lockProcess int32 = 0x53590003
)

// processKey is the SQL for the lockProcess key of a River client id.
const processKey = `(hashtext(%s) & 2147483647)`

// builderGrace is how long a build step snoozes when another session holds its builder lock (River
// gave the job out again while its last worker still works it).
const builderGrace = 5 * time.Second

// rescueEvery is how often a worker looks for dead builders.
const rescueEvery = time.Second

// heldLock is a session advisory lock on a connection taken out of the pool for as long as it is held.
type heldLock struct {
	conn *pgxpool.Conn
	key  [2]int32
}

// tryLock takes the advisory lock (space, key) on a connection of its own; ok is false when another
// session holds it.
func tryLock(ctx context.Context, pool *pgxpool.Pool, space, key int32) (l *heldLock, ok bool, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("acquire a connection for lock %d/%d: %w", space, key, err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, space, key).Scan(&ok); err != nil || !ok {
		conn.Release()
		if err != nil {
			return nil, false, fmt.Errorf("take lock %d/%d: %w", space, key, err)
		}
		return nil, false, nil
	}
	return &heldLock{conn: conn, key: [2]int32{space, key}}, true, nil
}

// release frees the lock and gives the connection back; a connection whose unlock failed is closed,
// which frees the lock as well.
func (l *heldLock) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, l.key[0], l.key[1]); err != nil {
		_ = l.conn.Conn().Close(ctx) // the pool drops a closed connection on Release
	}
	l.conn.Release()
}

// lockHeld is the SQL condition "some session of this database holds advisory lock ($space, key)".
const lockHeld = `EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
	AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND l.classid = %s::bigint::oid AND l.objid = (%s)::bigint::oid AND l.objsubid = 2)`

// WorkerFetching reports whether a bounded worker invocation is taking jobs now (it holds the fetch
// lease): a job committed before this call returned true will be seen by that invocation before it
// stops, so there is no need to start another one. A long-lived worker (Start) does not take the lease.
func (s *Service) WorkerFetching(ctx context.Context) (bool, error) {
	var held bool
	err := s.pool.QueryRow(ctx, `SELECT `+fmt.Sprintf(lockHeld, "$1", "0"), lockWorker).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("look for a worker taking jobs: %w", err)
	}
	return held, nil
}

// builderKinds are the jobs that hold the builder lock while they run.
var builderKinds = []string{BuildArgs{}.Kind(), VerifyArgs{}.Kind()}

// rescueDeadBuilders puts back at once every HNSW build or verification that River records as running
// but whose builder lock is free while the process that took it is gone (its process lock is free):
// its process or connection died. A free builder lock alone is not enough: between River handing the
// job out and the step taking its lock, a live but loaded process may take seconds, and a rescue then
// would start the build twice. The attempt is given back as a snooze gives it back, so a dead builder
// costs the job no attempt.
func (s *Service) rescueDeadBuilders(ctx context.Context, q postgres.Querier) error {
	rows, err := q.Query(ctx, `UPDATE river_job j SET state = 'available', scheduled_at = now(),
			attempt = greatest(j.attempt - 1, 0),
			errors = array_append(j.errors, jsonb_build_object('at', now(), 'attempt', j.attempt, 'trace', '',
				'error', 'the builder''s database session ended (its process died): put back at once'))
		WHERE j.state = 'running' AND j.kind = ANY($1)
			AND NOT `+fmt.Sprintf(lockHeld, "$2", "j.id % 2147483648")+`
			AND NOT coalesce(`+fmt.Sprintf(lockHeld, "$3", fmt.Sprintf(processKey, "j.attempted_by[cardinality(j.attempted_by)]"))+`, false)
		RETURNING j.id, j.kind`, builderKinds, lockBuilder, lockProcess)
	if err != nil {
		return fmt.Errorf("rescue dead builders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var kind string
		if err := rows.Scan(&id, &kind); err != nil {
			return fmt.Errorf("rescue dead builders: %w", err)
		}
		s.cfg.Log.WarnContext(ctx, "a build step's worker died; the step is put back and starts again", "job", id, "kind", kind)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rescue dead builders: %w", err)
	}
	return nil
}

// rescueLoop runs rescueDeadBuilders every rescueEvery until ctx ends.
func (s *Service) rescueLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(rescueEvery)
	defer t.Stop()
	for {
		if err := s.rescueDeadBuilders(ctx, s.pool); err != nil && ctx.Err() == nil {
			s.cfg.Log.WarnContext(ctx, "look for dead builders", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// idleHorizon is how far ahead a scheduled or retryable job counts as work for a bounded invocation:
// River's scheduler makes such a job available within 5 s of its time, and a job further out is left
// to a later invocation (the schedule runs one a minute).
const idleHorizon = 10 * time.Second

// hasWork reports whether this bounded invocation has work: a job of its queues that is
//   - available;
//   - scheduled or retryable (a failed attempt waiting, a long snooze) and due within idleHorizon;
//   - running in this process (its follow-up step may be queued when it ends);
//   - running in another process for longer than River lets a job run before rescuing it (its
//     worker died: River's rescuer will put it back), or an HNSW build or verification whose builder
//     lock is free (rescueDeadBuilders puts it back).
//
// A job running in another live process is that process's work, and a retire job scheduled for the
// end of a standby index's retention is not due: neither keeps an invocation alive.
func (s *Service) hasWork(ctx context.Context, q postgres.Querier) (bool, error) {
	if err := s.rescueDeadBuilders(ctx, q); err != nil {
		return false, err
	}
	var work bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_job WHERE queue = ANY($1) AND (
			state = 'available'
			OR (state IN ('scheduled', 'retryable') AND scheduled_at <= now() + make_interval(secs => $2::float8))
			OR (state = 'running' AND (attempted_by[array_upper(attempted_by, 1)] = $3
				OR attempted_at <= now() - make_interval(secs => CASE WHEN kind = ANY($4) THEN $5::float8 ELSE $6::float8 END)))))`,
		[]string{QueueCorpus, QueueReembed}, idleHorizon.Seconds(), s.client.ID(), builderKinds,
		max(s.cfg.RescueStuckJobsAfter, s.cfg.BuildTimeout).Seconds(),
		max(s.cfg.RescueStuckJobsAfter, s.cfg.JobTimeout).Seconds()).Scan(&work)
	if err != nil {
		return false, fmt.Errorf("look for queued work: %w", err)
	}
	return work, nil
}

// holdProcessLock takes this Service's process lock (lockProcess, keyed by its River client id) on a
// connection of its own, held until the lock is released or the process dies.
func (s *Service) holdProcessLock(ctx context.Context) (*heldLock, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire a connection for the process lock: %w", err)
	}
	var key int32
	if err := conn.QueryRow(ctx, `SELECT `+fmt.Sprintf(processKey, "$1")+`::int4`, s.clientID).Scan(&key); err != nil {
		conn.Release()
		return nil, fmt.Errorf("compute the process lock's key: %w", err)
	}
	// A session lock is re-entrant, so a Service restarted on the same session holds it once more;
	// release undoes one hold.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockProcess, key); err != nil {
		conn.Release()
		return nil, fmt.Errorf("take the process lock: %w", err)
	}
	return &heldLock{conn: conn, key: [2]int32{lockProcess, key}}, nil
}
