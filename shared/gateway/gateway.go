// Package gateway serves the developer API, /v1: chat completions (plain and streamed), embeddings
// and the model list, OpenAI-compatible so the official SDKs work unchanged.
//
// A request goes: key (hashed, found in the in-memory catalogue snapshot) → name (alias or pinned
// version, grants, the key's allow-list, enabled) → capability checks → the body, read whole and
// bounded, with only "model" rewritten (plus stream_options.include_usage on streamed chat) → the
// upstream → the answer, with its "model" naming the pinned version, relayed event by event when
// streamed → exactly one row in the request log. No database round trip happens on this path.
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/capacity"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// Catalog hands out the current catalogue snapshot and finds keys by hash in it (catalog.Source).
type Catalog interface {
	Get(ctx context.Context) (*catalog.Snapshot, error)
	Key(ctx context.Context, hash [32]byte) (*catalog.Key, *catalog.Snapshot, error)
}

// Upstream sends a request to a provider (upstream.Client). A 2xx answer comes back with its body
// open, and closing that body stops the call; any other answer, and any failure, comes back as an
// error carrying SPEC's *apierror.Error. hdr is shared between requests: Send must not modify it.
type Upstream interface {
	Send(ctx context.Context, p *catalog.Provider, method, route string, body []byte, hdr http.Header) (*http.Response, error)
}

// UsageLog takes the one row every request leaves (usage.Logger). Log must not block.
type UsageLog interface {
	Log(r usage.Row)
}

// Defaults for Config's limits.
const (
	DefaultMaxRequestBytes  = 8 << 20  // a long chat history or a large embeddings batch fits
	DefaultMaxResponseBytes = 64 << 20 // 2,048 inputs × 3,072 dimensions as float text fits
	DefaultMaxEventBytes    = 4 << 20  // one server-sent event
)

// Config wires a Gateway.
type Config struct {
	Catalog  Catalog
	Upstream Upstream
	Usage    UsageLog
	Log      *slog.Logger
	// MaxRequestBytes bounds a request body; larger ones answer invalid_request unread.
	MaxRequestBytes int64
	// MaxResponseBytes bounds a non-streamed upstream answer, MaxEventBytes one streamed event;
	// larger ones answer upstream_bad_response.
	MaxResponseBytes int64
	MaxEventBytes    int
	Now              func() time.Time
	// Limiter enforces the catalogue's concurrency caps and rate limits; requests that meet none
	// never reach it. Nil: a request that meets one is answered 503.
	Limiter *capacity.Limiter
	// MaxAttempts bounds the upstream attempts of one request across its candidates
	// (DefaultMaxAttempts when 0); RequestDeadline bounds all of them together, streams included
	// (DefaultRequestDeadline when 0).
	MaxAttempts     int
	RequestDeadline time.Duration
	// Health is the shared record of failing targets; nil cools nothing down.
	Health Health
}

// Gateway serves /v1. Safe for concurrent use.
type Gateway struct {
	cat         Catalog
	up          Upstream
	usage       UsageLog
	log         *slog.Logger
	maxRequest  int64
	maxResponse int64
	maxEvent    int
	now         func() time.Time
	limiter     *capacity.Limiter
	maxAttempts int
	deadline    time.Duration
	health      Health
	mux         *http.ServeMux
}

// New returns a Gateway.
func New(cfg Config) *Gateway {
	g := &Gateway{
		cat: cfg.Catalog, up: cfg.Upstream, usage: cfg.Usage, log: cfg.Log,
		maxRequest: cfg.MaxRequestBytes, maxResponse: cfg.MaxResponseBytes, maxEvent: cfg.MaxEventBytes, now: cfg.Now,
		limiter:     cfg.Limiter,
		maxAttempts: cfg.MaxAttempts, deadline: cfg.RequestDeadline, health: cfg.Health,
	}
	if g.maxAttempts <= 0 {
		g.maxAttempts = DefaultMaxAttempts
	}
	if g.deadline <= 0 {
		g.deadline = DefaultRequestDeadline
	}
	if g.health == nil {
		g.health = noHealth{}
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.maxRequest <= 0 {
		g.maxRequest = DefaultMaxRequestBytes
	}
	if g.maxResponse <= 0 {
		g.maxResponse = DefaultMaxResponseBytes
	}
	if g.maxEvent <= 0 {
		g.maxEvent = DefaultMaxEventBytes
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.usage == nil {
		g.usage = discard{}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", g.chat)
	mux.HandleFunc("POST /v1/embeddings", g.embeddings)
	mux.HandleFunc("GET /v1/models", g.listModels)
	mux.HandleFunc("GET /v1/models/{name}", g.getModel)
	mux.HandleFunc("/v1/", g.noRoute)
	g.mux = mux
	return g
}

type discard struct{}

func (discard) Log(usage.Row) {}

// ServeHTTP serves the /v1 routes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// Routes of the developer API, as the request log names them.
const (
	RouteChat       = "/v1/chat/completions"
	RouteEmbeddings = "/v1/embeddings"
	RouteModels     = "/v1/models"
)

// Outcomes the request log keeps besides "ok" and SPEC's error codes.
const (
	// OutcomeClientClosed: the caller went away before the answer ended; the upstream call was
	// cancelled. Logged with status 499, as nginx names it.
	OutcomeClientClosed = "client_closed"
	StatusClientClosed  = 499
)

// call is one request on its way through: it carries the request-log row and writes errors.
type call struct {
	g     *Gateway
	w     http.ResponseWriter
	r     *http.Request
	start time.Time
	row   usage.Row
	done  bool
	key   *catalog.Key      // the caller's key, once authenticated
	snap  *catalog.Snapshot // the snapshot the key was found in
	// reservation is the request's count against its key's and team's rate limits (nil: none).
	reservation *capacity.Reservation
	// upstreamCtx is the upstream call's context (see watch); nil before the call.
	upstreamCtx context.Context
}

func (g *Gateway) begin(w http.ResponseWriter, r *http.Request, route string) *call {
	start := g.now()
	id := reqlog.ID(r.Context())
	if id == "" {
		id = reqlog.NewID()
	}
	return &call{g: g, w: w, r: r, start: start, row: usage.Row{
		RequestID: id, ChainID: id, At: start, Route: route, Outcome: usage.OutcomeOK, Status: http.StatusOK,
	}}
}

// fail answers e and records it; detail tells causes apart in the log where e's code does not.
func (c *call) fail(e *apierror.Error, detail string) {
	c.record(e, detail)
	apierror.Write(c.w, e)
}

// record notes e as the request's outcome without writing it (the answer has begun).
func (c *call) record(e *apierror.Error, detail string) {
	c.row.Outcome = e.Code
	c.row.Status = e.Status
	c.row.Message = e.Message
	if detail != "" {
		c.row.Detail = detail
	}
}

// finish logs the request's one row; deferred by every handler.
func (c *call) finish() {
	if c.done {
		return
	}
	c.done = true
	c.row.Latency = c.g.now().Sub(c.start)
	c.g.usage.Log(c.row)
	if c.row.Outcome != usage.OutcomeOK {
		l := reqlog.Logger(c.r.Context(), c.g.log)
		l.LogAttrs(c.r.Context(), slog.LevelInfo, "developer request failed", slog.String("route", c.row.Route),
			slog.String("outcome", c.row.Outcome), slog.String("detail", c.row.Detail), slog.String("requested", c.row.Requested),
			slog.String("model", c.row.Model), slog.String("message", c.row.Message))
	}
}

var errInvalidKey = apierror.New(http.StatusUnauthorized, apierror.AuthenticationError, apierror.CodeInvalidAPIKey, "",
	"Incorrect or missing API key. Send your Switchyard key as `Authorization: Bearer sk-...`; ask your platform team for one if yours was revoked.")

// AuthenticateKey finds the developer key of r's `Authorization: Bearer ...` header in the current
// catalogue snapshot, which it returns too so a handler resolves names in the same view. A missing,
// unknown or revoked key is invalid_api_key (401). A known key never reads the database; a key the
// snapshot lacks is asked of it, within catalog.Source's bounds, so a key works as soon as its
// creation answered.
func (g *Gateway) AuthenticateKey(r *http.Request) (*catalog.Key, *catalog.Snapshot, *apierror.Error) {
	h := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return nil, nil, errInvalidKey
	}
	secret := strings.TrimSpace(h[len(scheme):])
	if secret == "" {
		return nil, nil, errInvalidKey
	}
	key, snap, err := g.cat.Key(r.Context(), catalog.HashSecret(secret))
	if err != nil {
		reqlog.Logger(r.Context(), g.log).Error("gateway: no catalogue snapshot", "err", err)
		return nil, nil, apierror.New(http.StatusServiceUnavailable, apierror.UpstreamError, apierror.CodeInternal, "",
			"Switchyard cannot read its catalogue right now; retry in a moment (request id %s)", reqlog.ID(r.Context()))
	}
	if key == nil {
		return nil, nil, errInvalidKey
	}
	return key, snap, nil
}

// authenticate is AuthenticateKey recording the key in the row.
func (c *call) authenticate() (*catalog.Key, *catalog.Snapshot, bool) {
	key, snap, e := c.g.AuthenticateKey(c.r)
	if e != nil {
		c.fail(e, "")
		return nil, nil, false
	}
	c.row.KeyID, c.row.Team = key.ID, key.Team
	c.key, c.snap = key, snap
	return key, snap, true
}

// modelNotFound is the one answer for every name a key may not call: unknown, disabled, outside
// its team's audience or its own allow-list all read the same; the log's detail tells them apart.
func modelNotFound(name string) *apierror.Error {
	return apierror.New(http.StatusNotFound, apierror.NotFoundError, apierror.CodeModelNotFound, "model",
		"The model `%s` does not exist or your API key may not use it; GET /v1/models lists the models your key can call.", name)
}

// resolve finds the pinned model and its provider for name through its route (the first
// candidate: the rule's or default plan's sticky weighted pick), recording them in the row. user is
// the body's "user" field, which rules may match.
func (c *call) resolve(snap *catalog.Snapshot, key *catalog.Key, name, user string) (*catalog.Model, *catalog.Provider, bool) {
	routing, ok := c.routed(snap, key, name, user)
	if !ok {
		return nil, nil, false
	}
	m := routing.Candidates[0].Model
	c.row.Model, c.row.Provider = m.Name, m.Provider
	p := snap.Providers[m.Provider]
	if p == nil {
		reqlog.Logger(c.r.Context(), c.g.log).Error("gateway: model without provider in the snapshot", "model", m.Name, "provider", m.Provider)
		c.fail(apierror.Internal(c.row.RequestID), "provider missing from the catalogue")
		return nil, nil, false
	}
	return m, p, true
}

// routed is where a request for name goes (Snapshot.Route), with the name recorded in the row;
// when ok is false the refusal has been answered. A name longer than any name can be is refused
// before it reaches a message or the log.
func (c *call) routed(snap *catalog.Snapshot, key *catalog.Key, name, user string) (*catalog.Routing, bool) {
	if len(name) > catalog.MaxNameLength {
		c.row.Requested = catalog.Quote(name, catalog.QuoteLimit)
		c.fail(apierror.Invalid("model", "The model name is %d bytes long; model and alias names have at most %d characters (GET /v1/models lists them).",
			len(name), catalog.MaxNameLength), "name too long")
		return nil, false
	}
	c.row.Requested = name
	routing, outcome := snap.Route(name, c.routeRequest(key, user))
	if outcome != catalog.Resolved {
		if m, _, _ := snap.Resolve(key, name); m != nil {
			c.row.Model, c.row.Provider = m.Name, m.Provider
		}
		c.fail(modelNotFound(name), string(outcome))
		return nil, false
	}
	return routing, true
}

func (g *Gateway) noRoute(w http.ResponseWriter, r *http.Request) {
	path := catalog.Quote(r.URL.Path, catalog.QuoteLimit)
	c := g.begin(w, r, path)
	defer c.finish()
	switch r.URL.Path {
	case RouteChat, RouteEmbeddings, RouteModels:
		c.fail(apierror.New(http.StatusMethodNotAllowed, apierror.InvalidRequestError, "method_not_allowed", "",
			"%s does not accept %s; see the OpenAI API reference for this route", path, catalog.Quote(r.Method, 16)), "")
		return
	}
	if strings.HasPrefix(r.URL.Path, RouteModels+"/") {
		c.fail(apierror.New(http.StatusMethodNotAllowed, apierror.InvalidRequestError, "method_not_allowed", "",
			"%s does not accept %s; use GET", path, catalog.Quote(r.Method, 16)), "")
		return
	}
	c.fail(apierror.New(http.StatusNotFound, apierror.InvalidRequestError, "unknown_route", "",
		"Invalid URL (%s %s): Switchyard serves /v1/chat/completions, /v1/embeddings, /v1/models and /v1/corpora", catalog.Quote(r.Method, 16), path), "")
}
