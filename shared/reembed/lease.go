package reembed

import (
	"context"
	"time"

	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// The worker's three session-level advisory locks (postgres.WorkerLocks): the fetch lease, held by
// the one bounded worker invocation (RunFor) that takes jobs; a builder lock per HNSW build or
// verification, held by the connection that works it; and a process lock per working Service, keyed
// by its River client id, from Start to Stop. Postgres releases a session lock the moment the session
// ends, so a lock held means a live process behind it, and a free one means none.

// builderGrace is how long a build step snoozes when another session holds its builder lock (River
// gave the job out again while its last worker still works it).
const builderGrace = 5 * time.Second

// rescueEvery is how often a worker looks for jobs of dead workers.
const rescueEvery = time.Second

// WorkerFetching reports whether a bounded worker invocation is taking jobs now (it holds the fetch
// lease): a job committed before this call returned true will be seen by that invocation before it
// stops, so there is no need to start another one. A long-lived worker (Start) does not take the lease.
func (s *Service) WorkerFetching(ctx context.Context) (bool, error) {
	return s.locks.FetchLeaseHeld(ctx)
}

// builderKinds are the jobs that hold the builder lock while they run.
var builderKinds = []string{BuildArgs{}.Kind(), VerifyArgs{}.Kind()}

// rescueDeadJobs puts back at once every job of this service's queues whose process died
// (postgres.RescueDeadJobs): a fill, sync or retire job as soon as the process that took it is gone;
// an HNSW build or verification when its builder lock is free too. A free builder lock alone is not
// enough: between River handing the job out and the step taking its lock, a live but loaded process
// may take seconds, and a rescue then would start the build twice.
func (s *Service) rescueDeadJobs(ctx context.Context, q postgres.Querier) error {
	rescued, err := postgres.RescueDeadJobs(ctx, q, []string{QueueCorpus, QueueReembed}, builderKinds)
	for _, j := range rescued {
		s.cfg.Log.WarnContext(ctx, "a job's worker died; the job is put back and starts again", "job", j.ID, "kind", j.Kind, "attempt", j.Attempt)
	}
	return err
}

// rescueLoop runs rescueDeadJobs every rescueEvery until ctx ends.
func (s *Service) rescueLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(rescueEvery)
	defer t.Stop()
	for {
		if err := s.rescueDeadJobs(ctx, s.pool); err != nil && ctx.Err() == nil {
			s.cfg.Log.WarnContext(ctx, "look for jobs of dead workers", "err", err)
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
//     worker died and rescueDeadJobs could not put it back: River's rescuer will).
//
// Jobs of dead processes are put back first (rescueDeadJobs), so they count as available.
//
// A job running in another live process is that process's work, and a retire job scheduled for the
// end of a standby index's retention is not due: neither keeps an invocation alive.
func (s *Service) hasWork(ctx context.Context, q postgres.Querier) (bool, error) {
	if err := s.rescueDeadJobs(ctx, q); err != nil {
		return false, err
	}
	return postgres.QueueHasWork(ctx, q, postgres.QueuedWork{
		Queues: []string{QueueCorpus, QueueReembed}, Horizon: idleHorizon, ClientID: s.client.ID(),
		BuilderKinds:      builderKinds,
		BuilderStuckAfter: max(s.cfg.RescueStuckJobsAfter, s.cfg.BuildTimeout),
		StuckAfter:        max(s.cfg.RescueStuckJobsAfter, s.cfg.JobTimeout),
	})
}

// holdProcessLock takes this Service's process lock (keyed by its River client id) on a connection of
// its own, held until the lock is released or the process dies.
func (s *Service) holdProcessLock(ctx context.Context) (*postgres.AdvisoryLock, error) {
	return s.locks.HoldProcessLock(ctx, s.clientID)
}
