package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Three session-level advisory locks of the re-embed worker, in three key spaces of their own
// (pg_advisory_lock(int4, int4)). Postgres releases a session lock the moment the session ends, so a
// lock held means a live process behind it, and a free one means none, with no timeout or clock
// involved.
const (
	// lockWorker, key 0, is the fetch lease: held by the one bounded worker invocation that takes
	// jobs, from before it starts River until it stops fetching.
	lockWorker int32 = 0x53590001
	// lockBuilder, keyed by job id (mod 2^31), is held by the connection that works an HNSW build
	// or a verification, for as long as that job runs.
	lockBuilder int32 = 0x53590002
	// lockProcess, keyed by the River client's id (processKey), is held by every working service
	// from Start to Stop: River records that id in a job's attempted_by, so the lock tells at once
	// whether the process that took a job still lives.
	lockProcess int32 = 0x53590003
)

// processKey is the SQL for the lockProcess key of a River client id.
const processKey = `(hashtext(%s) & 2147483647)`

// lockHeld is the SQL condition "some session of this database holds advisory lock ($space, key)".
const lockHeld = `EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
	AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND l.classid = %s::bigint::oid AND l.objid = (%s)::bigint::oid AND l.objsubid = 2)`

// WorkerLocks takes and reads the re-embed worker's advisory locks: the fetch lease, the builder
// locks and the process locks.
type WorkerLocks struct {
	Pool *pgxpool.Pool
}

// AdvisoryLock is a session advisory lock held on a connection taken out of the pool for as long as
// it is held.
type AdvisoryLock struct {
	conn *pgxpool.Conn
	key  [2]int32
}

// Conn is the connection holding the lock; statements on it run in the lock's session.
func (l *AdvisoryLock) Conn() *pgxpool.Conn { return l.conn }

// Release frees the lock and gives the connection back; a connection whose unlock failed is closed,
// which frees the lock as well.
func (l *AdvisoryLock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, l.key[0], l.key[1]); err != nil {
		_ = l.conn.Conn().Close(ctx) // the pool drops a closed connection on Release
	}
	l.conn.Release()
}

// WatchClient makes the lock's session check every second that its client is still there
// (client_connection_check_interval), so a statement of a dead process stops, and frees the lock, at
// once instead of running to its end. UnwatchClient undoes it before the connection goes back.
func (l *AdvisoryLock) WatchClient(ctx context.Context) error {
	if _, err := l.conn.Exec(ctx, `SET client_connection_check_interval = '1s'`); err != nil {
		return fmt.Errorf("watch the builder's connection: %w", err)
	}
	return nil
}

// UnwatchClient resets what WatchClient set; a failure is ignored, since Release closes a broken
// connection.
func (l *AdvisoryLock) UnwatchClient(ctx context.Context) {
	_, _ = l.conn.Exec(ctx, `RESET client_connection_check_interval`)
}

// tryLock takes the advisory lock (space, key) on a connection of its own; ok is false when another
// session holds it.
func (w *WorkerLocks) tryLock(ctx context.Context, space, key int32) (l *AdvisoryLock, ok bool, err error) {
	conn, err := w.Pool.Acquire(ctx)
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
	return &AdvisoryLock{conn: conn, key: [2]int32{space, key}}, true, nil
}

// TryFetchLease takes the fetch lease; ok is false when another invocation holds it.
func (w *WorkerLocks) TryFetchLease(ctx context.Context) (*AdvisoryLock, bool, error) {
	return w.tryLock(ctx, lockWorker, 0)
}

// TryBuilderLock takes the builder lock of job id; ok is false when another session holds it.
func (w *WorkerLocks) TryBuilderLock(ctx context.Context, jobID int64) (*AdvisoryLock, bool, error) {
	return w.tryLock(ctx, lockBuilder, builderKey(jobID))
}

func builderKey(jobID int64) int32 { return int32(jobID % (1 << 31)) }

// FetchLeaseHeld reports whether some session holds the fetch lease.
func (w *WorkerLocks) FetchLeaseHeld(ctx context.Context) (bool, error) {
	return w.held(ctx, lockWorker, 0, "look for a worker taking jobs")
}

// BuilderLockHeld reports whether some session holds the builder lock of job id: a live process
// works that build or verification now.
func (w *WorkerLocks) BuilderLockHeld(ctx context.Context, jobID int64) (bool, error) {
	return w.held(ctx, lockBuilder, builderKey(jobID), fmt.Sprintf("look for the builder of job %d", jobID))
}

func (w *WorkerLocks) held(ctx context.Context, space, key int32, what string) (bool, error) {
	var held bool
	if err := w.Pool.QueryRow(ctx, `SELECT `+fmt.Sprintf(lockHeld, "$1", "$2::int4"), space, key).Scan(&held); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return held, nil
}

// HoldProcessLock takes the process lock of River client clientID on a connection of its own, held
// until the lock is released or the process dies. It waits while another session holds it.
func (w *WorkerLocks) HoldProcessLock(ctx context.Context, clientID string) (*AdvisoryLock, error) {
	conn, err := w.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire a connection for the process lock: %w", err)
	}
	var key int32
	if err := conn.QueryRow(ctx, `SELECT `+fmt.Sprintf(processKey, "$1")+`::int4`, clientID).Scan(&key); err != nil {
		conn.Release()
		return nil, fmt.Errorf("compute the process lock's key: %w", err)
	}
	// A session lock is re-entrant, so a service restarted on the same session holds it once more;
	// Release undoes one hold.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockProcess, key); err != nil {
		conn.Release()
		return nil, fmt.Errorf("take the process lock: %w", err)
	}
	return &AdvisoryLock{conn: conn, key: [2]int32{lockProcess, key}}, nil
}

// RescuedJob is a River job RescueDeadJobs put back.
type RescuedJob struct {
	ID      int64
	Kind    string
	Attempt int // the attempt that died
}

// RescueDeadJobs puts back at once every job of queues that River records as running while the
// process that took it is gone (its process lock is free), instead of after River's rescue of a job
// past its timeout (minutes). A job of builderKinds (an HNSW build or a verification) must also have
// its builder lock free, and gets its attempt back as a snooze does: a dead builder costs it nothing.
// Any other job keeps the attempt that died, so a job that kills its process every time still runs
// out of attempts; one on its last attempt is left to River's rescuer, which discards it.
func RescueDeadJobs(ctx context.Context, q Querier, queues, builderKinds []string) ([]RescuedJob, error) {
	rows, err := q.Query(ctx, `UPDATE river_job j SET state = 'available', scheduled_at = now(),
			attempt = CASE WHEN j.kind = ANY($2) THEN greatest(j.attempt - 1, 0) ELSE j.attempt END,
			errors = array_append(j.errors, jsonb_build_object('at', now(), 'attempt', j.attempt, 'trace', '',
				'error', 'the worker''s database session ended (its process died): put back at once'))
		WHERE j.state = 'running' AND j.queue = ANY($1)
			AND CASE WHEN j.kind = ANY($2) THEN NOT `+fmt.Sprintf(lockHeld, "$3", "j.id % 2147483648")+`
				ELSE j.attempt < j.max_attempts END
			AND NOT coalesce(`+fmt.Sprintf(lockHeld, "$4", fmt.Sprintf(processKey, "j.attempted_by[cardinality(j.attempted_by)]"))+`, false)
		RETURNING j.id, j.kind, j.attempt`, queues, builderKinds, lockBuilder, lockProcess)
	if err != nil {
		return nil, fmt.Errorf("rescue jobs of dead workers: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RescuedJob])
	if err != nil {
		return out, fmt.Errorf("rescue jobs of dead workers: %w", err)
	}
	return out, nil
}

// QueuedWork is what QueueHasWork looks for.
type QueuedWork struct {
	Queues []string
	// Horizon: a scheduled or retryable job due within it counts.
	Horizon time.Duration
	// ClientID is this process's River client: a job running in it counts.
	ClientID string
	// A job of BuilderKinds running longer than BuilderStuckAfter, or of another kind longer than
	// StuckAfter, counts (its worker died; River's rescuer will put it back).
	BuilderKinds                  []string
	BuilderStuckAfter, StuckAfter time.Duration
}

// QueueHasWork reports whether a job of w.Queues is available, scheduled or retryable and due within
// w.Horizon, running in w.ClientID, or running past its stuck time.
func QueueHasWork(ctx context.Context, q Querier, w QueuedWork) (bool, error) {
	var work bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_job WHERE queue = ANY($1) AND (
			state = 'available'
			OR (state IN ('scheduled', 'retryable') AND scheduled_at <= now() + make_interval(secs => $2::float8))
			OR (state = 'running' AND (attempted_by[array_upper(attempted_by, 1)] = $3
				OR attempted_at <= now() - make_interval(secs => CASE WHEN kind = ANY($4) THEN $5::float8 ELSE $6::float8 END)))))`,
		w.Queues, w.Horizon.Seconds(), w.ClientID, w.BuilderKinds,
		w.BuilderStuckAfter.Seconds(), w.StuckAfter.Seconds()).Scan(&work)
	if err != nil {
		return false, fmt.Errorf("look for queued work: %w", err)
	}
	return work, nil
}
