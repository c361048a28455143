package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

type invocation struct {
	function string
	payload  []byte
}

type recordingInvoker struct {
	mu    sync.Mutex
	calls []invocation
}

func (r *recordingInvoker) InvokeEvent(_ context.Context, function string, payload []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, invocation{function, payload})
	return 202, nil
}

// Queued work starts the worker function at once, but a burst of writes starts it once.
func TestKickerStartsTheWorkerOncePerInterval(t *testing.T) {
	t.Parallel()
	inv := &recordingInvoker{}
	now := time.Unix(1000, 0)
	k := &kicker{invoker: inv, function: "switchyard-worker", interval: 2 * time.Second,
		now: func() time.Time { return now }, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	k.kick(ctx, "reembed run 7")
	k.kick(ctx, "documents written to handbook")
	now = now.Add(2 * time.Second)
	k.kick(ctx, "documents written to handbook")
	if len(inv.calls) != 2 {
		t.Fatalf("%d invocations for 3 kicks over 2s; want 2", len(inv.calls))
	}
	first := inv.calls[0]
	if first.function != "switchyard-worker" {
		t.Errorf("invoked %s; want the worker function", first.function)
	}
	var payload map[string]string
	if err := json.Unmarshal(first.payload, &payload); err != nil || payload["reason"] != "reembed run 7" {
		t.Errorf("payload %s; want the reason", first.payload)
	}
}

// Kicks from any number of instances start no worker invocation while one takes jobs (it sees every
// job committed before the kick looked), and start one again once none does.
func TestKicksStartNoWorkerWhileAnInvocationTakesJobs(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	discard := slog.New(slog.DiscardHandler)
	inv := &recordingInvoker{}
	var instances []*kicker
	for range 3 {
		api, err := reembed.New(pool, nil, nil, reembed.Config{InsertOnly: true, Log: discard})
		if err != nil {
			t.Fatal(err)
		}
		instances = append(instances, &kicker{invoker: inv, function: "switchyard-worker", now: time.Now, log: discard, busy: api.WorkerFetching})
	}
	worker, err := reembed.New(pool, nil, nil, reembed.Config{Log: discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	// An invocation that waits a minute for work before it returns idle.
	go func() { done <- worker.RunFor(ctx, time.Now().Add(2*time.Minute), 10*time.Second, time.Minute) }()
	waittest.Eventually(t, 30*time.Second, "the worker invocation to take jobs (WorkerFetching true)", func() (bool, bool) {
		busy, err := worker.WorkerFetching(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return busy, busy
	})
	for range 5 {
		for _, k := range instances {
			k.kick(ctx, "documents written to handbook")
		}
	}
	if len(inv.calls) != 0 {
		t.Fatalf("%d worker invocations started while one takes jobs; want none", len(inv.calls))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The invocation gave the lease back before it returned; but when the cancellation cut a look for
	// work running on the lease's connection, pgx closed that connection, and Postgres frees the lock
	// when it notices the connection is gone, a moment later.
	waittest.Eventually(t, 10*time.Second, "the fetch lease to be free after the worker invocation returned", func() (string, bool) {
		busy, err := instances[0].busy(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if busy {
			return "the lease still held", false
		}
		return "the lease free", true
	})
	for _, k := range instances {
		k.kick(context.Background(), "documents written to handbook")
	}
	if len(inv.calls) != len(instances) {
		t.Fatalf("%d invocations for a kick from each of %d instances with no worker running", len(inv.calls), len(instances))
	}
}
