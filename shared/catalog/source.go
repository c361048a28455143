package catalog

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Loader reads the catalogue from its store.
type Loader interface {
	// Version is the catalogue's version: any change to it changes the number.
	Version(ctx context.Context) (int64, error)
	// Load reads a whole, consistent snapshot.
	Load(ctx context.Context) (*Snapshot, error)
}

// MaxStaleness is SPEC's one-second rule: a change reaches every instance within it.
const MaxStaleness = time.Second

// Source hands out the current snapshot. It checks the catalogue's version at most once per
// Interval (a cheap read) and reloads only when it changed, so a request path never pays a round
// trip per request. A snapshot is never served when its last check is older than MaxStaleness minus
// the time a check takes; past that the caller waits for the check. Safe for concurrent use.
type Source struct {
	loader   Loader
	interval time.Duration
	now      func() time.Time

	mu        sync.Mutex
	cur       *Snapshot
	checkedAt time.Time
	checking  chan struct{} // closed when the check under way ends; nil when none is
	lastErr   error

	misses misses // look-ups of hashes the snapshot lacks (Key, Admin)
}

// NewSource returns a Source polling loader at most every interval (300ms when zero).
func NewSource(loader Loader, interval time.Duration, now func() time.Time) *Source {
	if interval <= 0 {
		interval = 300 * time.Millisecond
	}
	if now == nil {
		now = time.Now
	}
	return &Source{loader: loader, interval: interval, now: now}
}

// hardLimit is how old a check may be before callers wait for a fresh one; the margin leaves room for
// the check itself within MaxStaleness.
func (s *Source) hardLimit() time.Duration { return MaxStaleness - 300*time.Millisecond }

// Get returns a snapshot no older than SPEC allows.
func (s *Source) Get(ctx context.Context) (*Snapshot, error) {
	s.mu.Lock()
	age := s.now().Sub(s.checkedAt)
	if s.cur != nil && age < s.interval {
		cur := s.cur
		s.mu.Unlock()
		return cur, nil
	}
	if s.checking == nil {
		done := make(chan struct{})
		s.checking = done
		s.mu.Unlock()
		s.refresh(ctx, done)
		s.mu.Lock()
	} else if s.cur != nil && age < s.hardLimit() {
		// Someone is checking; the current snapshot is still within bounds.
		cur := s.cur
		s.mu.Unlock()
		return cur, nil
	}
	for s.checking != nil {
		ch := s.checking
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.mu.Lock()
	}
	cur, err := s.cur, s.lastErr
	s.mu.Unlock()
	if cur == nil || s.now().Sub(s.checkedAt) >= MaxStaleness {
		if err == nil {
			err = fmt.Errorf("no catalogue snapshot")
		}
		return nil, err
	}
	return cur, nil
}

// Refresh checks now, whatever the interval; a long-running server calls it from a ticker so
// requests never wait, and tests call it to see a change at once.
func (s *Source) Refresh(ctx context.Context) error {
	s.mu.Lock()
	if s.checking != nil {
		ch := s.checking
		s.mu.Unlock()
		<-ch
		s.mu.Lock()
		err := s.lastErr
		s.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	s.checking = done
	s.mu.Unlock()
	s.refresh(ctx, done)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Run refreshes every half interval until ctx ends: each check is then less than an interval old
// when a request reads it, so no request waits for a check (Get checks itself once the last one is an
// interval old).
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(s.interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.Refresh(ctx)
		}
	}
}

func (s *Source) refresh(ctx context.Context, done chan struct{}) {
	started := s.now()
	snap, err := s.check(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.cur = snap
		s.checkedAt = started
	}
	s.lastErr = err
	s.checking = nil
	close(done)
}

func (s *Source) check(ctx context.Context) (*Snapshot, error) {
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	if cur != nil {
		v, err := s.loader.Version(ctx)
		if err != nil {
			return nil, fmt.Errorf("read catalogue version: %w", err)
		}
		if v == cur.Version {
			return cur, nil
		}
	}
	snap, err := s.loader.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load catalogue: %w", err)
	}
	return snap, nil
}
