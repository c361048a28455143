package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/shared/workerlambda"
)

// kicker starts the worker function at once when jobs were queued, at most once per interval per
// instance: one invocation works every queued job, so more kicks would only add invocations.
type kicker struct {
	invoker  workerlambda.Invoker
	function string
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu   sync.Mutex
	last time.Time
}

// kick invokes the worker (asynchronously on Lambda's side: it returns once Lambda accepted the
// event). A failure is logged, never answered: the scheduled invocation picks the jobs up anyway.
func (k *kicker) kick(ctx context.Context, reason string) {
	k.mu.Lock()
	now := k.now()
	if !k.last.IsZero() && now.Sub(k.last) < k.interval {
		k.mu.Unlock()
		return
	}
	k.last = now
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := workerlambda.KickWorker(ctx, k.invoker, k.function, reason); err != nil {
		k.log.WarnContext(ctx, "kick the worker function; the schedule will run the jobs", "function", k.function, "err", err)
	}
}
