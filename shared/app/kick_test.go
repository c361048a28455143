package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

type recordingInvoker struct {
	mu    sync.Mutex
	calls []*lambda.InvokeInput
}

func (r *recordingInvoker) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, in)
	return &lambda.InvokeOutput{StatusCode: 202}, nil
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
	if *first.FunctionName != "switchyard-worker" || first.InvocationType != "Event" {
		t.Errorf("invoke %s as %s; want the worker function, asynchronously", *first.FunctionName, first.InvocationType)
	}
	var payload map[string]string
	if err := json.Unmarshal(first.Payload, &payload); err != nil || payload["reason"] != "reembed run 7" {
		t.Errorf("payload %s; want the reason", first.Payload)
	}
}
