package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/shared/workerlambda"
)

// kicker starts the worker function at once when jobs were queued, unless one need not: while a
// worker invocation is taking jobs (busy: it holds the fetch lease, and it sees every job committed
// before that was checked), and at most once per interval per instance (the invocation a kick starts
// looks for work for at least interval, so it sees the jobs of the kicks skipped meanwhile). So however
// many instances write, at most one worker invocation takes jobs at a time.
type kicker struct {
	invoker  workerlambda.Invoker
	function string
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
	// busy reports whether a worker invocation is taking jobs (reembed.Service.WorkerFetching).
	busy func(ctx context.Context) (bool, error)

	mu   sync.Mutex
	last time.Time
}

// kick invokes the worker (asynchronously on Lambda's side: it returns once Lambda accepted the
// event). A failure is logged, never answered: the scheduled invocation picks the jobs up anyway.
func (k *kicker) kick(ctx context.Context, reason string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if k.busy != nil {
		busy, err := k.busy(ctx)
		if err == nil && busy {
			return
		}
		if err != nil {
			k.log.WarnContext(ctx, "look for a worker taking jobs; kicking one", "err", err)
		}
	}
	k.mu.Lock()
	now := k.now()
	if !k.last.IsZero() && now.Sub(k.last) < k.interval {
		k.mu.Unlock()
		return
	}
	k.last = now
	k.mu.Unlock()
	if err := workerlambda.KickWorker(ctx, k.invoker, k.function, reason); err != nil {
		k.log.WarnContext(ctx, "kick the worker function; the schedule will run the jobs", "function", k.function, "err", err)
	}
}
