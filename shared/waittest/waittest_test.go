package waittest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure instead of ending the test.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = fmt.Sprintf(format, args...)
}

func TestEventuallyReturnsTheValueThatEndedTheWait(t *testing.T) {
	n := 0
	got := Eventually(t, time.Minute, "the third look", func() (int, bool) { n++; return n, n == 3 })
	if got != 3 || n != 3 {
		t.Fatalf("got %d after %d looks; want 3 after 3", got, n)
	}
}

func TestEventuallyFailsSayingWhatAndTheLastValue(t *testing.T) {
	r := &recorder{TB: t}
	n := 0
	start := time.Now()
	Eventually(r, 50*time.Millisecond, "the run to end", func() (string, bool) { n++; return fmt.Sprintf("state embedding, look %d", n), false })
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before its deadline", took)
	}
	want := fmt.Sprintf("waited 50ms for the run to end; last seen: state embedding, look %d", n)
	if r.failed != want {
		t.Fatalf("failure %q; want %q", r.failed, want)
	}
}

// A look that began before the deadline and answered after it is not the last: the condition gets
// one more look, made when the time was up, and holds there.
func TestEventuallyLooksOnceMoreAfterASlowLook(t *testing.T) {
	r := &recorder{TB: t}
	n := 0
	got := Eventually(r, 20*time.Millisecond, "the second look", func() (int, bool) {
		n++
		if n == 1 {
			time.Sleep(50 * time.Millisecond) // the slow look itself (a request on a loaded machine), not a wait
		}
		return n, n == 2
	})
	if r.failed != "" || got != 2 {
		t.Fatalf("got %d, failure %q; want the second look's 2 and no failure", got, r.failed)
	}
}

func TestReceive(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := Receive(t, ch, time.Minute, "a value"); got != 7 {
		t.Fatalf("got %d", got)
	}
	r := &recorder{TB: t}
	Receive(r, ch, 10*time.Millisecond, "the request to arrive")
	if !strings.Contains(r.failed, "waited 10ms for the request to arrive") {
		t.Fatalf("failure %q", r.failed)
	}
	close(ch)
	r = &recorder{TB: t}
	Receive(r, ch, time.Minute, "a value")
	if !strings.Contains(r.failed, "closed") {
		t.Fatalf("failure on a closed channel: %q", r.failed)
	}
}
