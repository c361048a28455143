package workerlambda

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestWindowFor(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name                    string
		budget                  time.Duration
		wantFetching, wantUntil time.Duration // offsets from now: stop fetching, hand back
	}{
		{"15 minute worker: 20% and 5% margins", 15 * time.Minute, 12 * time.Minute, 855 * time.Second},
		{"2 minutes: the 30 s and 10 s floors", 2 * time.Minute, 90 * time.Second, 110 * time.Second},
		{"40 seconds left", 40 * time.Second, 10 * time.Second, 30 * time.Second},
		{"less than 30 s: take no work", 20 * time.Second, 0, 10 * time.Second},
		{"5 s: hand back at once", 5 * time.Second, 0, 0},
		{"deadline passed", -time.Second, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := WindowFor(now, now.Add(tt.budget))
			if got := w.StopFetching.Sub(now); got != tt.wantFetching {
				t.Errorf("stop fetching after %v, want %v", got, tt.wantFetching)
			}
			if got := w.HandBack.Sub(now); got != tt.wantUntil {
				t.Errorf("hand back after %v, want %v", got, tt.wantUntil)
			}
			if w.HandBack.Before(w.StopFetching) {
				t.Error("hand back before stop fetching")
			}
		})
	}
}

func TestWindowFromContext(t *testing.T) {
	if _, ok := WindowFromContext(context.Background()); ok {
		t.Error("a context without deadline has a window")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	w, ok := WindowFromContext(ctx)
	if !ok {
		t.Fatal("no window for a context with a deadline")
	}
	if left := time.Until(w.StopFetching); left < 11*time.Minute || left > 12*time.Minute {
		t.Errorf("stop fetching in %v, want about 12 minutes", left)
	}
}

type fakeInvoker struct {
	function string
	payload  []byte
	status   int
	err      error
}

func (f *fakeInvoker) InvokeEvent(_ context.Context, function string, payload []byte) (int, error) {
	f.function, f.payload = function, payload
	if f.err != nil {
		return 0, f.err
	}
	return f.status, nil
}

func TestKickWorker(t *testing.T) {
	t.Run("asynchronous invoke with a kick payload", func(t *testing.T) {
		f := &fakeInvoker{status: 202}
		if err := KickWorker(context.Background(), f, "switchyard-worker", "reembed run r1"); err != nil {
			t.Fatal(err)
		}
		if f.function != "switchyard-worker" {
			t.Errorf("invoked %q", f.function)
		}
		var k Kick
		if err := json.Unmarshal(f.payload, &k); err != nil || k.Source != KickSource || k.Reason != "reembed run r1" {
			t.Errorf("payload %s: %+v, %v", f.payload, k, err)
		}
	})
	tests := []struct {
		name string
		fn   string
		f    *fakeInvoker
		want error
	}{
		{"no function configured", "", &fakeInvoker{status: 202}, ErrNoWorkerFunction},
		{"Lambda refuses", "w", &fakeInvoker{err: errors.New("AccessDeniedException")}, nil},
		{"unexpected status", "w", &fakeInvoker{status: 200}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := KickWorker(context.Background(), tt.f, tt.fn, "")
			if err == nil {
				t.Fatal("KickWorker succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// A kicked invocation waits for work at least as long as kicks from one instance are apart; a
// scheduled one returns at its first look at an empty queue.
func TestLinger(t *testing.T) {
	if got := Linger(Kick{Source: KickSource}); got < KickInterval {
		t.Errorf("a kicked invocation lingers %v, less than the kick interval %v", got, KickInterval)
	}
	if got := Linger(Kick{Source: "switchyard.schedule"}); got != 0 {
		t.Errorf("a scheduled invocation lingers %v", got)
	}
}
