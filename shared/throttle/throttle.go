// Package throttle slows down guessing of admin tokens: failed authentications are counted per
// source address in Postgres, so every instance (every Lambda instance serves one request at a
// time) sees the same count, and a source with too many failures in its window is refused, even
// with a correct token, until the window ends.
package throttle

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
)

// Defaults: ten failures in a minute, then refused for the rest of that minute.
const (
	DefaultMax    = 10
	DefaultWindow = time.Minute
)

// knownCap bounds the per-instance memory of refused sources.
const knownCap = 4096

// Options tune a Guard; zero values take the defaults.
type Options struct {
	Max    int           // failures a source may have in a window; the next attempt is refused
	Window time.Duration // a window starts at a source's first failure
	Now    func() time.Time
	Log    *slog.Logger // hears when a source starts being refused (nil: discarded)
}

// Guard counts failed authentications per source (table auth_failures). A nil *Guard throttles
// nothing. Safe for concurrent use.
type Guard struct {
	store  Store
	max    int
	window time.Duration
	now    func() time.Time
	log    *slog.Logger

	mu    sync.Mutex
	known map[string]time.Time // sources this instance saw refused, until when: no query for them
}

// Store keeps the failure counts (postgres.AuthFailureStore in every process, so that all instances
// share them): Failures reads a source's window,
// CountFailure adds one failure at now, starting a new window when the last began at or before ended.
type Store interface {
	Failures(ctx context.Context, src string) (start time.Time, failures int, found bool, err error)
	CountFailure(ctx context.Context, src string, now, ended time.Time) (start time.Time, failures int, err error)
}

// New returns a Guard counting in store.
func New(store Store, o Options) *Guard {
	g := &Guard{store: store, max: o.Max, window: o.Window, now: o.Now, log: o.Log, known: map[string]time.Time{}}
	if g.max <= 0 {
		g.max = DefaultMax
	}
	if g.window <= 0 {
		g.window = DefaultWindow
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	return g
}

// Source is what failures are counted against: the caller's IP address (in Lambda the adapter puts
// API Gateway's requestContext.identity.sourceIp in RemoteAddr; headers such as X-Forwarded-For are
// not trusted, as any client can send them). An IPv6 address counts as its /64, which one client
// usually holds whole.
func Source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}

// Check is called once r's credential was found valid: it answers the 429 when r's source is
// refused, so that guessing on during a refusal learns nothing from a right guess. It costs one
// read by primary key (none when this instance already knows the source is refused).
func (g *Guard) Check(ctx context.Context, r *http.Request) error {
	if g == nil {
		return nil
	}
	src, now := Source(r), g.now()
	if e := g.knownRefused(src, now); e != nil {
		return e
	}
	start, failures, found, err := g.store.Failures(ctx, src)
	if err != nil || !found {
		return err
	}
	if failures >= g.max && now.Before(start.Add(g.window)) {
		return g.refuse(src, start, now)
	}
	return nil
}

// Fail records a failed authentication from r's source, one upsert, and answers the 429 when the
// source has used up its failures (nil otherwise: the caller answers its own 401).
func (g *Guard) Fail(ctx context.Context, r *http.Request) error {
	if g == nil {
		return nil
	}
	src, now := Source(r), g.now()
	if e := g.knownRefused(src, now); e != nil {
		return e
	}
	start, failures, err := g.store.CountFailure(ctx, src, now, now.Add(-g.window))
	if err != nil {
		return err
	}
	if failures > g.max {
		if failures == g.max+1 {
			g.log.WarnContext(ctx, "too many failed authentications: refusing the source until its window ends",
				"source", src, "failures", g.max, "until", start.Add(g.window))
		}
		return g.refuse(src, start, now)
	}
	return nil
}

func (g *Guard) knownRefused(src string, now time.Time) error {
	g.mu.Lock()
	until, ok := g.known[src]
	g.mu.Unlock()
	if !ok || !now.Before(until) {
		return nil
	}
	return refusal(until.Sub(now))
}

// refuse remembers that src is refused until its window ends and returns the 429.
func (g *Guard) refuse(src string, start, now time.Time) error {
	until := start.Add(g.window)
	g.mu.Lock()
	if len(g.known) >= knownCap {
		for s, u := range g.known {
			if !now.Before(u) {
				delete(g.known, s)
			}
		}
	}
	if len(g.known) < knownCap {
		g.known[src] = until
	}
	g.mu.Unlock()
	return refusal(until.Sub(now))
}

// refusal is SPEC's 429 rate_limited with Retry-After in whole seconds.
func refusal(wait time.Duration) *apierror.Error {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	e := apierror.New(http.StatusTooManyRequests, apierror.RateLimitError, apierror.CodeRateLimited, "",
		"too many failed authentications from your address; every attempt from it is refused for %d more seconds, then try again with a valid token", secs)
	e.RetryAfter = fmt.Sprint(secs)
	return e
}
