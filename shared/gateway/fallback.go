package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/health"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
	"github.com/switchyard-ai/switchyard/shared/upstream"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// ErrAtCapacity is the refusal of Switchyard's own limiter: the target has no free slot or its
// quota is spent. An attempt that fails with an error for which errors.Is(err, ErrAtCapacity)
// holds moves the request to the next candidate, like a 429 from the upstream, and counts as a
// failure of the target for its cooldown. When it is the request's last attempt, the answer is the
// *apierror.Error the error carries (errors.As), or 503 capacity_exceeded when it carries none.
var ErrAtCapacity = errors.New("the model is at capacity")

// Defaults of the fallback bounds (Config.MaxAttempts, Config.RequestDeadline).
const (
	DefaultMaxAttempts     = 3
	DefaultRequestDeadline = 10 * time.Minute
)

// Response headers of chat and embeddings answers that reached an upstream.
const (
	// HeaderModel names the pinned model whose answer this is (the last one tried); it is
	// ModelHeader, which routing sets.
	HeaderModel = ModelHeader
	// HeaderAttempts is the number of upstream attempts the request made.
	HeaderAttempts = "X-Switchyard-Attempts"
	// HeaderFallbackReason lists, comma-separated, why each earlier attempt moved on, e.g.
	// "upstream_unavailable:503, rate_limited:429"; absent when the first attempt answered.
	HeaderFallbackReason = "X-Switchyard-Fallback-Reason"
)

// Health is the shared record of targets that keep failing (health.Tracker).
type Health interface {
	Cooldowns(ctx context.Context) map[string]health.Cooldown
	Failed(model, reason string)
	Succeeded(model string)
}

// noHealth cools nothing down.
type noHealth struct{}

func (noHealth) Cooldowns(context.Context) map[string]health.Cooldown { return nil }
func (noHealth) Failed(string, string)                                {}
func (noHealth) Succeeded(string)                                     {}

// target is one pinned model a request may be sent to, with its provider.
type target struct {
	m *catalog.Model
	p *catalog.Provider
}

// failure is an attempt that ended before its answer began: nothing has been written to the client.
type failure struct {
	api    *apierror.Error // the answer, should this be the request's last attempt
	detail string
	// reason is why the request may move on, e.g. "upstream_unavailable:503"; empty when it must
	// not (the request's own fault, the catalogue's, or the caller's leaving).
	reason string
	closed bool // the client went away
}

// attemptFunc makes one upstream attempt on t under ctx. It returns nil once the answer has begun
// (a success, or an error the request will not move on from), else the failure, having written nothing.
type attemptFunc func(ctx context.Context, t target) *failure

// route is the ordered list of targets for the name the request asked for (routed: the sticky
// weighted pick of the first tier, the tier's others, the next tiers). A candidate whose provider
// is missing from the snapshot is left out, and logged.
func (c *call) route(snap *catalog.Snapshot, key *catalog.Key, name, user string) ([]target, bool) {
	routing, ok := c.routed(snap, key, name, user)
	if !ok {
		return nil, false
	}
	ts := make([]target, 0, len(routing.Candidates))
	for _, cd := range routing.Candidates {
		if cd.Provider == nil {
			reqlog.Logger(c.r.Context(), c.g.log).Error("gateway: model without provider in the snapshot", "model", cd.Model.Name, "provider", cd.Model.Provider)
			continue
		}
		ts = append(ts, target{cd.Model, cd.Provider})
	}
	if len(ts) == 0 {
		c.fail(apierror.Internal(c.row.RequestID), "provider missing from the catalogue")
		return nil, false
	}
	c.row.Model, c.row.Provider = ts[0].m.Name, ts[0].m.Provider
	return ts, true
}

// eligible keeps the targets that can serve the request (check returns nil); when none can, it
// returns the first target's refusal, which is what the name the caller asked for means.
func eligible(ts []target, check func(*catalog.Model) (*apierror.Error, string)) ([]target, *apierror.Error, string) {
	first, why := check(ts[0].m)
	if first == nil && len(ts) == 1 {
		return ts, nil, ""
	}
	out := make([]target, 0, len(ts))
	for _, t := range ts {
		if e, _ := check(t.m); e == nil {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, first, why
	}
	return out, nil, ""
}

// ordered puts the targets that are cooling down after the others, each group in its order: they
// are skipped while others remain, and still tried when nothing else is left.
func ordered(ts []target, cooling map[string]health.Cooldown, now time.Time) []target {
	if len(cooling) == 0 {
		return ts
	}
	var hot []target
	out := make([]target, 0, len(ts))
	for _, t := range ts {
		if cd, ok := cooling[t.m.Name]; ok && cd.Active(now) {
			hot = append(hot, t)
			continue
		}
		out = append(out, t)
	}
	return append(out, hot...)
}

// forward sends the request to its targets in order until one answers: at most maxAttempts
// attempts, all within the request's deadline. A failure of a fallback class (no connection, a
// timeout, 429, 5xx but 501, capacity, a stream that ended before its first event) moves on; any
// other answer is the answer. Each attempt that moves on leaves its own request-log row.
func (c *call) forward(ts []target, try attemptFunc) {
	ts = ordered(ts, c.g.health.Cooldowns(c.r.Context()), c.g.now())
	ctx, cancel := context.WithDeadline(c.r.Context(), c.start.Add(c.g.deadline))
	defer cancel()
	n := min(len(ts), c.g.maxAttempts)
	var reasons []string
	for i := 0; i < n; i++ {
		t := ts[i]
		c.beginAttempt(i+1, t, reasons)
		f := c.attempt(ctx, t, try)
		if f == nil {
			if c.row.Outcome == usage.OutcomeOK {
				c.g.health.Succeeded(t.m.Name)
			}
			return
		}
		if f.reason != "" {
			c.g.health.Failed(t.m.Name, f.reason)
		}
		switch {
		case f.closed:
			c.clientClosed(f.api.Message)
			return
		case ctx.Err() != nil && c.r.Context().Err() == nil:
			c.fail(deadlinePassed(c.g.deadline, i+1), joinDetail("request deadline passed", f.detail))
			return
		case f.reason == "" || i == n-1:
			c.fail(f.api, f.detail)
			return
		}
		c.movedOn(f, ts[i+1].m.Name)
		reasons = append(reasons, f.reason)
	}
}

// attempt is one attempt: the upstream call under the key's watch (see watch).
func (c *call) attempt(ctx context.Context, t target, try attemptFunc) *failure {
	actx, release := c.watch(ctx, c.key, c.row.Requested)
	defer release()
	return try(actx, t)
}

// beginAttempt makes the row and the answer's headers those of attempt k on t.
func (c *call) beginAttempt(k int, t target, reasons []string) {
	c.row.Attempt = k
	c.row.Model, c.row.Provider = t.m.Name, t.m.Provider
	h := c.w.Header()
	h.Set(HeaderModel, t.m.Name)
	h.Set(HeaderAttempts, strconv.Itoa(k))
	if len(reasons) > 0 {
		h.Set(HeaderFallbackReason, strings.Join(reasons, ", "))
	}
}

// movedOn logs the row of an attempt that failed and was followed by another (on next), and makes
// c.row ready for that one. The rows share the chain id; the answering attempt keeps the request
// id the caller was told, the earlier ones carry it with "/<attempt>" appended.
func (c *call) movedOn(f *failure, next string) {
	r := c.row
	r.RequestID = c.row.ChainID + "/" + strconv.Itoa(r.Attempt)
	r.Outcome, r.Status, r.Message = f.api.Code, f.api.Status, f.api.Message
	r.Detail = joinDetail(f.detail, "fell back to "+next+" ("+f.reason+")")
	r.Latency = c.g.now().Sub(c.start)
	c.g.usage.Log(r)
	c.row.PromptTokens, c.row.CompletionTokens, c.row.TotalTokens = 0, 0, 0
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func deadlinePassed(d time.Duration, attempts int) *apierror.Error {
	return apierror.New(http.StatusGatewayTimeout, apierror.UpstreamError, apierror.CodeUpstreamUnavailable, "",
		"No model answered within the request's deadline of %s (%d attempts); retry later", d, attempts)
}

// failed is the failure of an upstream call that ended with err before anything was written:
// the caller's leaving or lost access ends the request; otherwise reason (or, when empty, err's
// class) says whether it moves on.
func (c *call) failed(err error, reason string) *failure {
	if e, detail := c.withdrawn(); e != nil {
		return &failure{api: e, detail: detail}
	}
	if c.r.Context().Err() != nil {
		return &failure{api: &apierror.Error{Message: "the client went away before the answer"}, closed: true}
	}
	if errors.Is(err, ErrAtCapacity) {
		e, ok := apierror.As(err)
		if !ok {
			e = apierror.New(http.StatusServiceUnavailable, apierror.RateLimitError, "capacity_exceeded", "",
				"`%s` is serving as many requests as it can take at once; retry in a moment", c.row.Requested)
		}
		return &failure{api: e, detail: err.Error(), reason: "at_capacity"}
	}
	if reason == "" {
		reason = fallbackReason(err)
	}
	return &failure{api: upstream.APIError(err), detail: upstream.Detail(err), reason: reason}
}

// fallbackReason names err's fallback class ("" for none): a failure that would not fail the same
// on another model. 400, 413 and 422 (the request's fault), 401 and 403 (the provider's
// credential), 404, 405 and 501 (the catalogue's: an unknown model or an operation the endpoint does
// not serve) and malformed answers never move on.
func fallbackReason(err error) string {
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		return ""
	}
	switch s := ue.Status; {
	case s == 0: // no answer: no connection, a timeout, a reset
		if errors.Is(err, context.Canceled) {
			return ""
		}
		if ue.API.Status == http.StatusGatewayTimeout {
			return ue.API.Code + ":timeout"
		}
		return ue.API.Code + ":connect"
	case s == http.StatusTooManyRequests, s == http.StatusRequestTimeout, s >= 500 && s != http.StatusNotImplemented:
		return ue.API.Code + ":" + strconv.Itoa(s)
	}
	return ""
}
