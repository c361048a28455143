package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"
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
