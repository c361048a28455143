// Package waittest waits, in tests, for what happens in the background: a job worked, a row written, a
// request arrived. It replaces sleeps and hand-written polling loops with a deadline and a failure that
// says what was awaited and what was last seen.
package waittest

import (
	"testing"
	"time"
)

// Poll intervals: the first look comes soon, later ones back off so a long wait does not load a busy
// machine with queries.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 50 * time.Millisecond
)

// Eventually calls probe until it reports done and returns the value it returned then. It fails the
// test, naming what was awaited and the last value probe returned, once a look that began when within
// had passed still reports not done: a slow look (a request on a loaded machine) that began in time
// and ended late is followed by one more, so the bound is on when a look is made, not on how long it
// takes to answer. probe runs on the calling goroutine, so it may call tb.Fatal for errors that end
// the wait.
func Eventually[T any](tb testing.TB, within time.Duration, what string, probe func() (T, bool)) T {
	tb.Helper()
	deadline := time.Now().Add(within)
	wait := firstPoll
	for {
		began := time.Now()
		v, done := probe()
		if done {
			return v
		}
		if !began.Before(deadline) {
			tb.Fatalf("waited %v for %s; last seen: %+v", within, what, v)
			return v
		}
		left := time.Until(deadline)
		if left <= 0 {
			continue
		}
		t := time.NewTimer(min(wait, left))
		<-t.C
		wait = min(2*wait, maxPoll)
	}
}

// Receive waits up to within for a value on ch and returns it; it fails the test, naming what was
// awaited, when none comes or ch is closed.
func Receive[T any](tb testing.TB, ch <-chan T, within time.Duration, what string) T {
	tb.Helper()
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			tb.Fatalf("waiting for %s: the channel was closed", what)
		}
		return v
	case <-t.C:
		tb.Fatalf("waited %v for %s; it did not come", within, what)
	}
	var zero T
	return zero
}
