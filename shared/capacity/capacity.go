// Package capacity enforces what operators set in the catalogue's limits: concurrency caps on
// providers and models, and rate limits and quotas on teams and keys, across every instance.
//
// On Lambda every instance serves one request at a time, so a counter in memory protects nothing:
// the counters live in Postgres (Store, postgres.CapacityStore). Only a request that meets a cap or a
// limit pays a round trip; the settings themselves come with the catalogue snapshot.
//
//   - A cap of N is N leased slot rows. A request takes one slot of each cap it meets, in one
//     statement, holds it for its whole life (a stream included: the lease is renewed while it
//     lasts) and releases it on every way out. A killed instance's slots come back when their lease
//     runs out. At the cap a request waits up to the cap's queue time, polling with jittered backoff,
//     then is refused with a Retry-After.
//   - A rate limit is a fixed window per period (minute, day, month). A request counts one request
//     and reserves its token estimate in every window it meets, in one statement, all or nothing;
//     when it ends its true usage replaces the estimate. A burst of long streams therefore overshoots
//     a token limit by at most what one request uses beyond its reservation.
package capacity

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// WindowCheck is one window a request counts against, with its limits (catalog.NoLimit for none).
type WindowCheck struct {
	Of          catalog.Scope // whose window
	Scope       string        // Of.String(), as the store keys it
	Period      catalog.Period
	Start       time.Time // the start of the window that holds now
	MaxRequests int64
	MaxTokens   int64
}

// WindowCount is a window's count after a check.
type WindowCount struct {
	Scope    string
	Period   catalog.Period
	Start    time.Time
	Requests int64
	Tokens   int64
}

// ScopeUsage is what a limited scope uses now: requests in flight (slots held with a live lease)
// and each period's counts in its current window (zero when the window has ended).
type ScopeUsage struct {
	Scope    catalog.Scope
	Limits   *catalog.Limits
	InFlight int
	Windows  [len(catalog.Periods)]WindowCount
}

// Store keeps the shared counters (postgres.CapacityStore). Times are the caller's clock.
type Store interface {
	// AcquireSlots takes one free slot of every scope for holder, or none, and reports whether it did.
	AcquireSlots(ctx context.Context, scopes []string, holder string, now, leaseUntil time.Time) (bool, error)
	// RenewSlots moves holder's leases to leaseUntil and reports how many slots it still holds.
	RenewSlots(ctx context.Context, holder string, leaseUntil time.Time) (int, error)
	// ReleaseSlots frees holder's slots.
	ReleaseSlots(ctx context.Context, holder string) error
	// Reserve counts one request of tokens in every window of checks, or in none when one would pass
	// its limit; it reports which, with the windows' counts after the check.
	Reserve(ctx context.Context, checks []WindowCheck, tokens int64) (bool, []WindowCount, error)
	// Settle adds delta tokens to windows that have not ended since.
	Settle(ctx context.Context, windows []WindowCount, delta int64) error
}

// Defaults of Config.
const (
	DefaultLease      = 30 * time.Second
	minPoll           = 10 * time.Millisecond
	maxPoll           = 250 * time.Millisecond
	releaseTimeout    = 5 * time.Second
	DefaultRetryAfter = time.Second
)

// Config wires a Limiter.
type Config struct {
	Store Store
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Lease is how long a slot stays held without renewal (DefaultLease when 0): the longest a
	// killed instance's slot stays taken. Held slots are renewed every Lease/3.
	Lease time.Duration
	// Jitter returns a number in [0, 1) that spreads the polls of waiting requests; math/rand/v2's
	// when nil.
	Jitter func() float64
	Log    *slog.Logger
}

// Limiter enforces caps and limits. Safe for concurrent use.
type Limiter struct {
	store  Store
	now    func() time.Time
	lease  time.Duration
	jitter func() float64
	log    *slog.Logger
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	l := &Limiter{store: cfg.Store, now: cfg.Now, lease: cfg.Lease, jitter: cfg.Jitter, log: cfg.Log}
	if l.now == nil {
		l.now = time.Now
	}
	if l.lease <= 0 {
		l.lease = DefaultLease
	}
	if l.jitter == nil {
		l.jitter = mrand.Float64
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	return l
}

// Cap is a scope with its limits, as the snapshot holds them.
type Cap struct {
	Scope  catalog.Scope
	Limits *catalog.Limits
}

// ---- concurrency

// AtCapacityError is a request refused at a concurrency cap.
type AtCapacityError struct {
	Scope catalog.Scope
	Max   int           // the cap; 0 refuses everything
	Queue time.Duration // how long the request waited
}

func (e *AtCapacityError) Error() string {
	if e.Max == 0 {
		return fmt.Sprintf("%s %s takes no requests (its concurrency cap is 0)", e.Scope.Kind, e.Scope.Name)
	}
	return fmt.Sprintf("%s %s has %d requests in flight, its cap, after waiting %v", e.Scope.Kind, e.Scope.Name, e.Max, e.Queue)
}

// Held is the slots one request holds. Release frees them; it is safe to call more than once.
type Held struct {
	l      *Limiter
	holder string
	ctx    context.Context
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Acquire takes a slot of every capped scope among caps for a request that ends by deadline, waiting
// up to the longest queue time among them when one is full. It returns nil, nil when no cap applies
// (no round trip), *AtCapacityError when the request is refused, and ctx's error when the caller
// went away while waiting. The slots are held until Release, renewed meanwhile.
func (l *Limiter) Acquire(ctx context.Context, caps []Cap, deadline time.Time) (*Held, error) {
	var scopes []string
	var queue time.Duration
	var full catalog.Scope
	fullMax := 0
	for _, c := range caps {
		if !c.Limits.Capped() {
			continue
		}
		if c.Limits.MaxConcurrency == 0 {
			return nil, &AtCapacityError{Scope: c.Scope}
		}
		scopes = append(scopes, c.Scope.String())
		queue = max(queue, c.Limits.Queue)
		if fullMax == 0 {
			full, fullMax = c.Scope, c.Limits.MaxConcurrency
		}
	}
	if len(scopes) == 0 {
		return nil, nil
	}
	holder, err := newHolder()
	if err != nil {
		return nil, err
	}
	start := l.now()
	poll := minPoll
	for {
		now := l.now()
		ok, err := l.store.AcquireSlots(ctx, scopes, holder, now, l.leaseEnd(now, deadline))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if ok {
			h := &Held{l: l, holder: holder, ctx: context.WithoutCancel(ctx), stop: make(chan struct{}), done: make(chan struct{})}
			go h.renew(deadline)
			return h, nil
		}
		left := queue - now.Sub(start)
		if left <= 0 {
			return nil, &AtCapacityError{Scope: full, Max: fullMax, Queue: now.Sub(start)}
		}
		// Jittered, so that waiters polling after one release do not all arrive together.
		wait := min(time.Duration(float64(poll)*(0.5+l.jitter())), left)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		poll = min(2*poll, maxPoll)
	}
}

// leaseEnd is a lease taken or renewed at now: Lease long, but never past the request's deadline
// (plus a moment for its release), so even a renewed slot comes back once the request cannot be
// running any more.
func (l *Limiter) leaseEnd(now, deadline time.Time) time.Time {
	end := now.Add(l.lease)
	if !deadline.IsZero() && deadline.Add(time.Second).Before(end) {
		end = deadline.Add(time.Second)
	}
	return end
}

func (h *Held) renew(deadline time.Time) {
	defer close(h.done)
	t := time.NewTicker(h.l.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(h.ctx, h.l.lease/3)
		n, err := h.l.store.RenewSlots(ctx, h.holder, h.l.leaseEnd(h.l.now(), deadline))
		cancel()
		switch {
		case err != nil:
			h.l.log.Warn("capacity: renewing a held slot failed; it is freed when its lease runs out", "err", err)
		case n == 0:
			h.l.log.Warn("capacity: a held slot's lease ran out before it was renewed; the cap may be passed by one")
		}
	}
}

// Release stops renewing the slots and frees them, even when the request's context has ended.
func (h *Held) Release() {
	if h == nil {
		return
	}
	h.once.Do(func() {
		close(h.stop)
		<-h.done
		ctx, cancel := context.WithTimeout(h.ctx, releaseTimeout)
		defer cancel()
		if err := h.l.store.ReleaseSlots(ctx, h.holder); err != nil {
			h.l.log.Warn("capacity: releasing slots failed; they are freed when their lease runs out", "err", err)
		}
	})
}

// newHolder is a random UUID (version 4) naming one request's slots.
func newHolder() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("draw a slot holder id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out), nil
}

// ---- rates and quotas

// Standing is where a request stands against the tightest limit of one kind (requests or tokens).
type Standing struct {
	Period    catalog.Period
	Limit     int64
	Remaining int64
	Reset     time.Duration // until the window ends
}

// Quota is what the x-ratelimit-* headers tell: nil fields have no limit.
type Quota struct {
	Requests *Standing
	Tokens   *Standing
}

// SetHeaders writes OpenAI's x-ratelimit-* headers.
func (q *Quota) SetHeaders(h http.Header) {
	if q == nil {
		return
	}
	for _, s := range []struct {
		kind string
		st   *Standing
	}{{"requests", q.Requests}, {"tokens", q.Tokens}} {
		if s.st == nil {
			continue
		}
		h.Set("x-ratelimit-limit-"+s.kind, strconv.FormatInt(s.st.Limit, 10))
		h.Set("x-ratelimit-remaining-"+s.kind, strconv.FormatInt(s.st.Remaining, 10))
		h.Set("x-ratelimit-reset-"+s.kind, FormatReset(s.st.Reset))
	}
}

// FormatReset writes a time until reset as OpenAI does: "1s", "6m0s", "20ms".
func FormatReset(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// RateLimitedError is a request refused by a rate limit or quota of a team or key.
type RateLimitedError struct {
	Scope      catalog.Scope
	Period     catalog.Period
	Tokens     bool          // the token limit refused it (else the request limit)
	Limit      int64         // the limit that refused it
	Estimate   int64         // the request's token estimate
	TooLarge   bool          // the estimate alone is over the limit: waiting does not help
	RetryAfter time.Duration // until the refusing window ends
	Quota      *Quota
}

func (e *RateLimitedError) Error() string {
	what := "requests"
	if e.Tokens {
		what = "tokens"
	}
	return fmt.Sprintf("%s %s is over its %d %s per %s", e.Scope.Kind, e.Scope.Name, e.Limit, what, e.Period)
}

// RetryAfterSeconds is the Retry-After header's value: whole seconds, at least 1.
func RetryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// Reservation is a request's count in its windows, settled with its true usage when it ends.
type Reservation struct {
	l       *Limiter
	windows []WindowCount
	tokens  int64
	once    sync.Once
}

// Reserve counts one request and reserves tokens (the request's estimate) against the rate limits
// of subjects (its key and its team). It returns nil, nil, nil when none limits anything (no round
// trip), the quota for the answer's headers, and *RateLimitedError when a limit refuses the request
// (nothing is counted then).
func (l *Limiter) Reserve(ctx context.Context, subjects []Cap, tokens int64) (*Reservation, *Quota, error) {
	now := l.now()
	var checks []WindowCheck
	for _, s := range subjects {
		if !s.Limits.RateLimited() {
			continue
		}
		for i, p := range catalog.Periods {
			r := s.Limits.Rates[i]
			if !r.Limited() {
				continue
			}
			start, end := p.Window(now)
			if r.Tokens != catalog.NoLimit && tokens > r.Tokens {
				return nil, nil, &RateLimitedError{Scope: s.Scope, Period: p, Tokens: true, Limit: r.Tokens, Estimate: tokens,
					TooLarge: true, RetryAfter: end.Sub(now)}
			}
			checks = append(checks, WindowCheck{Of: s.Scope, Scope: s.Scope.String(), Period: p, Start: start, MaxRequests: r.Requests, MaxTokens: r.Tokens})
		}
	}
	if len(checks) == 0 {
		return nil, nil, nil
	}
	ok, counts, err := l.store.Reserve(ctx, checks, tokens)
	if err != nil {
		return nil, nil, err
	}
	q, refused := standing(now, checks, counts, tokens, ok)
	if !ok {
		refused.Quota = q
		refused.Estimate = tokens
		return nil, q, refused
	}
	return &Reservation{l: l, windows: counts, tokens: tokens}, q, nil
}

// standing computes the headers' quota from the windows' counts, and, when the request was refused,
// which window refused it (the one that resets last among those without room).
func standing(now time.Time, checks []WindowCheck, counts []WindowCount, tokens int64, ok bool) (*Quota, *RateLimitedError) {
	q := &Quota{}
	var refused *RateLimitedError
	for _, c := range checks {
		var cnt WindowCount
		for _, w := range counts {
			if w.Scope == c.Scope && w.Period == c.Period {
				cnt = w
			}
		}
		start := cnt.Start
		if start.Before(c.Start) {
			start = c.Start // the row still held an ended window: it counts nothing
			cnt.Requests, cnt.Tokens = 0, 0
		}
		_, end := c.Period.Window(start)
		reset := end.Sub(now)
		if c.MaxRequests != catalog.NoLimit {
			st := &Standing{Period: c.Period, Limit: c.MaxRequests, Remaining: max(0, c.MaxRequests-cnt.Requests), Reset: reset}
			if q.Requests == nil || st.Remaining < q.Requests.Remaining {
				q.Requests = st
			}
			if !ok && cnt.Requests+1 > c.MaxRequests && (refused == nil || reset > refused.RetryAfter) {
				refused = &RateLimitedError{Scope: c.Of, Period: c.Period, Limit: c.MaxRequests, RetryAfter: reset}
			}
		}
		if c.MaxTokens != catalog.NoLimit {
			st := &Standing{Period: c.Period, Limit: c.MaxTokens, Remaining: max(0, c.MaxTokens-cnt.Tokens), Reset: reset}
			if q.Tokens == nil || st.Remaining < q.Tokens.Remaining {
				q.Tokens = st
			}
			if !ok && cnt.Tokens+tokens > c.MaxTokens && (refused == nil || reset > refused.RetryAfter) {
				refused = &RateLimitedError{Scope: c.Of, Period: c.Period, Tokens: true, Limit: c.MaxTokens, RetryAfter: reset}
			}
		}
	}
	if !ok && refused == nil {
		// The counts moved between the check and now; say the shortest window.
		refused = &RateLimitedError{Scope: checks[0].Of, Period: checks[0].Period, RetryAfter: DefaultRetryAfter}
	}
	return q, refused
}

// Settle replaces the reservation with the request's true token usage. It is safe to call on a nil
// Reservation and more than once (only the first counts), and works after the request's context
// has ended.
func (r *Reservation) Settle(ctx context.Context, used int64) {
	if r == nil {
		return
	}
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := r.l.store.Settle(ctx, r.windows, used-r.tokens); err != nil {
			r.l.log.Warn("capacity: settling a token reservation failed; the estimate stays counted", "err", err)
		}
	})
}
