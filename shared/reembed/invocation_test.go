package reembed

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// invocationEnv is an env whose service only inserts, and a worker service on the same database that
// a test runs as bounded invocations (RunFor).
func invocationEnv(t *testing.T, cfg Config) (*env, *Service) {
	t.Helper()
	e := newEnvOn(t, pgtestURL(t), Config{InsertOnly: true})
	w, err := New(e.pool, reembedtest.Catalog{Pool: e.pool}, e.emb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, w
}

// invoke runs one bounded invocation of window (stop fetching margin before its end) and returns how
// long it took.
func invoke(t *testing.T, w *Service, window, margin, linger time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := w.RunFor(context.Background(), start.Add(window), margin, linger); err != nil {
		t.Fatalf("invocation: %v", err)
	}
	return time.Since(start)
}

// An invocation with nothing to do returns at once rather than at its stop margin, and one with work
// returns once the work is done: documents synced, and a whole re-embed run, whose standby index's
// retirement (due after the retention) does not keep it alive.
func TestInvocationReturnsWhenTheQueueIsEmpty(t *testing.T) {
	e, w := invocationEnv(t, testConfig())
	e.createCorpus("handbook")
	const window, margin = time.Minute, 10 * time.Second // it would stop fetching after 50 s
	if took := invoke(t, w, window, margin, 0); took > 15*time.Second {
		t.Fatalf("an invocation with an empty queue took %v; want it to return at once, not near its stop margin", took)
	}

	e.put("handbook", 0, 300, 1)
	if took := invoke(t, w, window, margin, 0); took > 40*time.Second {
		t.Fatalf("an invocation with 300 documents to sync took %v", took)
	}
	e.waitSynced() // fails unless the invocation synced them all before it returned
	e.checkIndexExact(e.activeIndex("handbook"))

	run := e.startRun(reembedtest.ModelV2)
	if took := invoke(t, w, window, margin, 0); took > 40*time.Second {
		t.Fatalf("an invocation with a run to do took %v", took)
	}
	if r, err := e.svc.Run(e.ctx, run.ID); err != nil || r.State != corpus.RunSucceeded {
		t.Fatalf("run after the invocation returned: %+v %v; want it succeeded within the one invocation", r, err)
	}
	e.checkIndexExact(e.activeIndex("handbook"))
}

// Only one invocation takes jobs at a time: a second one, while the first holds the fetch lease,
// returns at once, and WorkerFetching (what a kick asks before starting a worker) says so. Jobs queued
// meanwhile are the first one's.
func TestOneInvocationTakesJobsAtATime(t *testing.T) {
	e, first := invocationEnv(t, testConfig())
	second, err := New(e.pool, reembedtest.Catalog{Pool: e.pool}, e.emb, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	e.createCorpus("handbook")
	if busy, err := e.svc.WorkerFetching(e.ctx); err != nil || busy {
		t.Fatalf("WorkerFetching before any invocation: %v %v", busy, err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	firstDone := make(chan error, 1)
	// The first invocation's window and linger are far longer than the test: it ends when the test
	// cancels it, not because a loaded machine let its idle minute or its stop margin pass before the
	// documents were put (the sync would then have no worker).
	go func() { firstDone <- first.RunFor(ctx, time.Now().Add(15*time.Minute), 10*time.Second, 15*time.Minute) }()
	waittest.Eventually(t, 30*time.Second, "the first invocation to take the fetch lease (WorkerFetching true)", func() (bool, bool) {
		busy, err := e.svc.WorkerFetching(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return busy, busy
	})
	if took := invoke(t, second, time.Minute, 10*time.Second, time.Minute); took > 15*time.Second {
		t.Fatalf("a second invocation took %v while the first takes jobs; want it to return at once", took)
	}
	e.put("handbook", 0, 100, 1)
	e.waitSynced() // by the first invocation, the only worker left
	cancel()
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	if busy, err := e.svc.WorkerFetching(e.ctx); err != nil || busy {
		t.Fatalf("WorkerFetching after the invocation returned: %v %v", busy, err)
	}
}

// An HNSW build that cannot finish within one invocation is cut by the invocation's end, more times
// than the build's attempts, without the run failing: a cut costs no attempt (River gives back the
// attempt of a job that returns its cancelled context while the client stops; asBuilder snoozes any
// other error of a cut step), and the build completes in the first invocation long enough for it.
// The invocations that cut it last a second each, so the test does not wait on builds that sleep.
func TestBuildCutByTheInvocationsEndIsNotAnAttempt(t *testing.T) {
	const cutsWanted = 7 // BuildArgs allows 5 attempts
	cfg := testConfig()
	var builds atomic.Int64
	cfg.beforeBuild = func(ctx context.Context, conn *pgxpool.Conn) error {
		if builds.Add(1) > cutsWanted {
			return nil
		}
		_, err := conn.Exec(ctx, `SELECT pg_sleep(600)`) // a statement longer than any invocation
		return err
	}
	e, w := invocationEnv(t, cfg)
	e.createCorpus("handbook")
	e.put("handbook", 0, 200, 1)
	invoke(t, w, time.Minute, 10*time.Second, 0)
	run := e.startRun(reembedtest.ModelV2)
	var r *corpus.Run
	for i := 0; i < 3*cutsWanted; i++ {
		if builds.Load() < cutsWanted {
			invoke(t, w, 2*time.Second, time.Second, 0) // takes jobs for 1 s, then cancels what runs
		} else {
			invoke(t, w, time.Minute, 10*time.Second, 0) // long enough for the build; returns when the run is done
		}
		var err error
		if r, err = e.svc.Run(e.ctx, run.ID); err != nil {
			t.Fatal(err)
		}
		if r.State.Terminal() {
			break
		}
	}
	if r.State != corpus.RunSucceeded {
		t.Fatalf("run after %d builds, %d of them cut: %s %q", builds.Load(), min(builds.Load(), cutsWanted), r.State, r.Error)
	}
	if builds.Load() <= cutsWanted {
		t.Fatalf("the build ran %d times; the test wants it cut %d times", builds.Load(), cutsWanted)
	}
	e.checkIndexExact(e.activeIndex("handbook"))
}
