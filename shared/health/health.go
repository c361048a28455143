// Package health keeps the shared record of pinned models that keep failing, so that requests skip
// them for a while. A model whose calls fail in a way that moves a request on (no connection, a
// timeout, 429, 5xx, a capacity refusal) Policy.Failures times within Policy.Window is cooled down
// for Policy.Cooldown; when the cooldown ends, the next call is its probe: a success brings the
// model back, a failure cools it down again at once.
//
// The record lives in the store (Postgres, shared by every instance). A Tracker reads the current
// cooldowns at most once per Policy.Interval, when a request asks, so a cooldown started on one
// instance is seen by the others within the interval plus one read; failures are written in the
// background, coalesced per model, so a request never waits for the write.
package health

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Cooldown is a model's cooldown: until when, and why. A zero Until means none; an Until in the
// past means it has ended and the model's next call is its probe.
type Cooldown struct {
	Until  time.Time
	Reason string
}

// Active reports whether the cooldown is still running at now.
func (c Cooldown) Active(now time.Time) bool { return c.Until.After(now) }

// Policy is when a model is cooled down, and for how long.
type Policy struct {
	Failures int           // failures within Window that start a cooldown; 5
	Window   time.Duration // 30s
	Cooldown time.Duration // 30s
	// Interval is how often an instance reads the cooldowns again; 300ms. With the read itself it
	// keeps a cooldown started elsewhere visible within the one-second rule.
	Interval time.Duration
}

// Defaults of Policy.
const (
	DefaultFailures = 5
	DefaultWindow   = 30 * time.Second
	DefaultCooldown = 30 * time.Second
	DefaultInterval = 300 * time.Millisecond
)

func (p Policy) withDefaults() Policy {
	if p.Failures <= 0 {
		p.Failures = DefaultFailures
	}
	if p.Window <= 0 {
		p.Window = DefaultWindow
	}
	if p.Cooldown <= 0 {
		p.Cooldown = DefaultCooldown
	}
	if p.Interval <= 0 {
		p.Interval = DefaultInterval
	}
	return p
}

// Record is a model's health record as operators see it (GET /admin/models/{name}).
type Record struct {
	// State is "ok", "cooling_down" (requests skip the model while others remain) or "probing"
	// (the cooldown ended; the next call decides).
	State          string     `json:"state"`
	CooldownUntil  *time.Time `json:"cooldown_until"`
	CooldownReason string     `json:"cooldown_reason"`
	// Failures counts failures in the window that began at WindowStart.
	Failures      int        `json:"failures"`
	WindowStart   *time.Time `json:"window_start"`
	LastFailureAt *time.Time `json:"last_failure_at"`
	LastReason    string     `json:"last_reason"`
	Cooldowns     int64      `json:"cooldowns"`
	RecoveredAt   *time.Time `json:"recovered_at"`
}

// The states of a Record.
const (
	StateOK          = "ok"
	StateCoolingDown = "cooling_down"
	StateProbing     = "probing"
)

// Store keeps the record (postgres.HealthStore).
type Store interface {
	// Failed records n failures of model, the last for reason, and returns its cooldown after them.
	Failed(ctx context.Context, model string, n int, reason string, p Policy) (Cooldown, error)
	// Recovered ends model's cooldown when it has ended (its probe succeeded).
	Recovered(ctx context.Context, model string) error
	// Cooldowns lists every model with a cooldown, running or ended and awaiting its probe.
	Cooldowns(ctx context.Context) (map[string]Cooldown, error)
}

// readTimeout bounds a read of the cooldowns: a slow database delays a request by at most this,
// and the request then goes on with what was known.
const readTimeout = 500 * time.Millisecond

// Tracker is one instance's view of the record and its writer. Safe for concurrent use.
type Tracker struct {
	store Store
	p     Policy
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	view     map[string]Cooldown // never modified: replaced whole
	readAt   time.Time
	reading  bool
	pending  map[string]*pending
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	started  bool
	writeMu  sync.Mutex // one drain at a time; Flush waits on it
	stopOnce sync.Once
}

type pending struct {
	failures  int
	reason    string
	recovered bool
}

// New returns a Tracker over store; Start begins its background writer.
func New(store Store, p Policy, log *slog.Logger, now func() time.Time) *Tracker {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Tracker{store: store, p: p.withDefaults(), log: log, now: now,
		pending: map[string]*pending{}, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// Policy is the tracker's policy, defaults filled in.
func (t *Tracker) Policy() Policy { return t.p }

// Cooldowns is every model's cooldown as this instance knows it, read again from the store when
// the last read is older than Policy.Interval. The map must not be modified. It never fails: when
// the store cannot be read, the last known view stands (and the log says why).
func (t *Tracker) Cooldowns(ctx context.Context) map[string]Cooldown {
	t.mu.Lock()
	if t.reading || (t.view != nil && t.now().Sub(t.readAt) < t.p.Interval) {
		v := t.view
		t.mu.Unlock()
		return v
	}
	t.reading = true
	t.mu.Unlock()
	started := t.now()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
	v, err := t.store.Cooldowns(rctx)
	cancel()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reading = false
	if err != nil {
		t.log.WarnContext(ctx, "health: reading the cooldowns failed; the last known ones stand", "err", err)
		t.readAt = started // try again after an interval, not on every request
		return t.view
	}
	t.view, t.readAt = v, started
	return v
}

// Failed notes a failure of model that moved (or would have moved) a request on; reason is e.g.
// "upstream_unavailable:503". It never blocks: the write happens in the background.
func (t *Tracker) Failed(model, reason string) {
	t.mu.Lock()
	p := t.entry(model)
	p.failures++
	p.reason = reason
	t.mu.Unlock()
	t.wake()
}

// Succeeded notes a successful call of model: when its cooldown has ended, this was its probe, and
// the model is back. Otherwise it costs a map look-up.
func (t *Tracker) Succeeded(model string) {
	t.mu.Lock()
	cd, ok := t.view[model]
	if !ok || cd.Active(t.now()) {
		t.mu.Unlock()
		return
	}
	t.entry(model).recovered = true
	t.mu.Unlock()
	t.wake()
}

func (t *Tracker) entry(model string) *pending {
	p := t.pending[model]
	if p == nil {
		p = &pending{}
		t.pending[model] = p
	}
	return p
}

func (t *Tracker) wake() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Start runs the background writer until Close.
func (t *Tracker) Start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started {
		t.started = true
		go t.run()
	}
}

func (t *Tracker) run() {
	defer close(t.done)
	for {
		select {
		case <-t.stop:
			return
		case <-t.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := t.Flush(ctx); err != nil {
			t.log.Warn("health: recording model failures failed", "err", err)
		}
		cancel()
	}
}

// Flush writes what was noted before the call; Lambda calls it before an invocation returns. A
// write that fails is dropped (and returned): the record is advice, and the next failure writes
// again.
func (t *Tracker) Flush(ctx context.Context) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.mu.Lock()
	batch := t.pending
	if len(batch) == 0 {
		t.mu.Unlock()
		return nil
	}
	t.pending = map[string]*pending{}
	t.mu.Unlock()
	var firstErr error
	for model, p := range batch {
		if p.recovered {
			if err := t.store.Recovered(ctx, model); err != nil {
				firstErr = keep(firstErr, err)
			} else {
				t.learn(model, Cooldown{})
			}
		}
		if p.failures > 0 {
			cd, err := t.store.Failed(ctx, model, p.failures, p.reason, t.p)
			if err != nil {
				firstErr = keep(firstErr, err)
				continue
			}
			t.learn(model, cd)
		}
	}
	return firstErr
}

func keep(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// learn puts what a write returned into this instance's view at once, without waiting for the
// next read.
func (t *Tracker) learn(model string, cd Cooldown) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, had := t.view[model]
	if (!had && cd.Until.IsZero()) || (had && old == cd) {
		return
	}
	v := make(map[string]Cooldown, len(t.view)+1)
	for k, c := range t.view {
		v[k] = c
	}
	if cd.Until.IsZero() {
		delete(v, model)
	} else {
		v[model] = cd
	}
	t.view = v
}

// Close stops the writer and writes what is pending.
func (t *Tracker) Close(ctx context.Context) error {
	t.stopOnce.Do(func() {
		t.mu.Lock()
		started := t.started
		t.mu.Unlock()
		close(t.stop)
		if started {
			select {
			case <-t.done:
			case <-ctx.Done():
			}
		}
	})
	return t.Flush(ctx)
}
