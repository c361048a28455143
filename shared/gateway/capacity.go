package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/capacity"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
)

// Outcomes and codes of Switchyard's own capacity refusals.
const (
	// CodeCapacityExceeded answers a request refused at a concurrency cap: 503, rate_limit_error.
	CodeCapacityExceeded = "capacity_exceeded"
	// OutcomeRateLimitedLocal is the request log's outcome of Switchyard's own 429 rate_limited
	// (a team's or a key's limit), told apart from an upstream's rate_limited.
	OutcomeRateLimitedLocal = "rate_limited_local"
)

// DefaultCompletionReserve is the completion tokens a chat request reserves against a token limit
// when it names no max_tokens (bounded by the model's context window when that is known).
const DefaultCompletionReserve = 4096

// atCapacity is a refusal at a cap: errors.Is(err, ErrAtCapacity) holds, so the request moves on to
// its next candidate, and errors.As finds the answer written for it (capacityError), which is the
// request's answer when no candidate is left.
type atCapacity struct {
	*capacity.AtCapacityError
	api *apierror.Error
}

func (e atCapacity) Is(target error) bool { return target == ErrAtCapacity }
func (e atCapacity) Unwrap() error        { return e.AtCapacityError }
func (e atCapacity) As(target any) bool {
	if p, ok := target.(**apierror.Error); ok {
		*p = e.api
		return true
	}
	return false
}

// acquire takes a slot of each concurrency cap the attempt meets (model, provider) for its whole
// life; release it with c.release. With no cap it returns at once, with no round trip. A refusal at
// a cap is an error that errors.Is ErrAtCapacity and carries its answer (see atCapacity).
func (c *call) acquire(m *catalog.Model, p *catalog.Provider) (*capacity.Held, error) {
	if c.snap == nil || len(c.snap.Limits) == 0 {
		return nil, nil
	}
	ml, pl := c.snap.LimitsOf(catalog.ScopeModel, m.Name), c.snap.LimitsOf(catalog.ScopeProvider, p.Identifier)
	if !ml.Capped() && !pl.Capped() {
		return nil, nil
	}
	if c.g.limiter == nil {
		return nil, errors.New("a concurrency cap applies but the gateway has no limiter")
	}
	caps := []capacity.Cap{{Scope: catalog.Scope{Kind: catalog.ScopeModel, Name: m.Name}, Limits: ml},
		{Scope: catalog.Scope{Kind: catalog.ScopeProvider, Name: p.Identifier}, Limits: pl}}
	queue := max(limitQueue(ml), limitQueue(pl))
	deadline := c.g.now().Add(queue + p.Timeouts.WithDefaults().Total)
	h, err := c.g.limiter.Acquire(c.r.Context(), caps, deadline)
	var at *capacity.AtCapacityError
	if errors.As(err, &at) {
		return nil, atCapacity{at, c.capacityError(at)}
	}
	return h, err
}

func limitQueue(l *catalog.Limits) time.Duration {
	if !l.Capped() {
		return 0
	}
	return l.Queue
}

// release frees the attempt's slots once its answer is out: what is written is flushed first, so the
// caller never waits on the round trip.
func (c *call) release(h *capacity.Held) {
	if h == nil {
		return
	}
	c.flushAnswer()
	h.Release()
}

func (c *call) flushAnswer() {
	if f, ok := c.w.(http.Flusher); ok && c.r.Context().Err() == nil {
		f.Flush()
	}
}

// capacityError is the answer to a refusal at a cap: 503 capacity_exceeded, with Retry-After unless
// the cap is 0 (waiting does not help).
func (c *call) capacityError(at *capacity.AtCapacityError) *apierror.Error {
	what := fmt.Sprintf("The model `%s`", c.row.Requested)
	if at.Scope.Kind == catalog.ScopeProvider {
		what = fmt.Sprintf("The endpoint serving `%s`", c.row.Requested)
	}
	if at.Max == 0 {
		return apierror.New(http.StatusServiceUnavailable, apierror.RateLimitError, CodeCapacityExceeded, "",
			"%s takes no requests: its operator set its concurrency limit to 0. Ask your platform team, or pick another model (GET /v1/models).", what)
	}
	e := apierror.New(http.StatusServiceUnavailable, apierror.RateLimitError, CodeCapacityExceeded, "",
		"%s is serving as many requests as it can take at once (%d); retry after %s seconds.", what, at.Max, capacity.RetryAfterSeconds(capacity.DefaultRetryAfter))
	e.RetryAfter = capacity.RetryAfterSeconds(capacity.DefaultRetryAfter)
	return e
}

// capacityFailed answers a request whose rate-limit check failed.
func (c *call) capacityFailed(err error) {
	var at *capacity.AtCapacityError
	switch {
	case errors.As(err, &at):
		detail := fmt.Sprintf("at the cap of %d on %s after waiting %v", at.Max, at.Scope, at.Queue.Round(time.Millisecond))
		if at.Max == 0 {
			detail = "cap of 0 on " + at.Scope.String()
		}
		c.fail(c.capacityError(at), detail)
	case errors.Is(err, context.Canceled) || c.r.Context().Err() != nil:
		c.clientClosed("the client went away while waiting for capacity")
	default:
		reqlog.Logger(c.r.Context(), c.g.log).Error("gateway: capacity check failed", "err", err)
		c.fail(apierror.New(http.StatusServiceUnavailable, apierror.UpstreamError, apierror.CodeInternal, "",
			"Switchyard cannot check this model's capacity right now; retry in a moment (request id %s)", c.row.RequestID), "capacity check: "+err.Error())
	}
}

// reserve checks the rate limits and quotas of the caller's key and team, counting this request and
// reserving its token estimate; settle it with c.settle. Without limits it returns true at once,
// with no round trip. false means the answer has been written.
func (c *call) reserve(m *catalog.Model, bodyLen int, maxTokens int64, chat bool) bool {
	if c.snap == nil || len(c.snap.Limits) == 0 {
		return true
	}
	tl, kl := c.snap.LimitsOf(catalog.ScopeTeam, c.key.Team), c.snap.LimitsOf(catalog.ScopeKey, c.key.ID)
	if !tl.RateLimited() && !kl.RateLimited() {
		return true
	}
	if c.g.limiter == nil {
		c.capacityFailed(errors.New("a rate limit applies but the gateway has no limiter"))
		return false
	}
	est := estimateTokens(m, bodyLen, maxTokens, chat)
	subjects := []capacity.Cap{{Scope: catalog.Scope{Kind: catalog.ScopeKey, Name: c.key.ID}, Limits: kl},
		{Scope: catalog.Scope{Kind: catalog.ScopeTeam, Name: c.key.Team}, Limits: tl}}
	res, q, err := c.g.limiter.Reserve(c.r.Context(), subjects, est)
	q.SetHeaders(c.w.Header())
	var rl *capacity.RateLimitedError
	switch {
	case err == nil:
		c.reservation = res
		return true
	case errors.As(err, &rl):
		c.rateLimited(rl)
	default:
		c.capacityFailed(err)
	}
	return false
}

// rateLimited answers 429 rate_limited for Switchyard's own limit, with Retry-After when waiting helps.
func (c *call) rateLimited(rl *capacity.RateLimitedError) {
	who := fmt.Sprintf("your team `%s`", rl.Scope.Name)
	if rl.Scope.Kind == catalog.ScopeKey {
		who = "your API key"
	}
	what := "requests"
	if rl.Tokens {
		what = "tokens"
	}
	var e *apierror.Error
	if rl.TooLarge {
		e = apierror.New(http.StatusTooManyRequests, apierror.RateLimitError, apierror.CodeRateLimited, "",
			"This request may use up to %d tokens (its prompt and max_tokens), more than the %d tokens per %s %s may use; lower max_tokens or shorten the prompt.",
			rl.Estimate, rl.Limit, rl.Period, who)
	} else {
		e = apierror.New(http.StatusTooManyRequests, apierror.RateLimitError, apierror.CodeRateLimited, "",
			"Rate limit reached: %s may use %d %s per %s. Retry after %s seconds (the Retry-After header), or ask your platform team for a higher limit.",
			who, rl.Limit, what, rl.Period, capacity.RetryAfterSeconds(rl.RetryAfter))
		e.RetryAfter = capacity.RetryAfterSeconds(rl.RetryAfter)
	}
	c.fail(e, fmt.Sprintf("%s: %d %s per %s (estimate %d tokens)", rl.Scope, rl.Limit, what, rl.Period, rl.Estimate))
	c.row.Outcome = OutcomeRateLimitedLocal
}

// settle replaces the request's token reservation with what it used: the upstream's usage when it
// reported one; nothing when no answer began; the estimate when an answer began without a usage.
func (c *call) settle() {
	if c.reservation == nil {
		return
	}
	used := c.row.TotalTokens
	if used == 0 {
		used = c.row.PromptTokens + c.row.CompletionTokens
	}
	if used == 0 && c.row.Status == http.StatusOK && c.row.Outcome != OutcomeClientClosed {
		return // an answer without usage: the estimate stays counted
	}
	c.flushAnswer()
	c.reservation.Settle(c.r.Context(), used)
}

// estimateTokens is what a request may use at most, reserved up front: its body's bytes / 4 (a
// token is about four bytes of English; the JSON around the text makes this an overestimate) plus,
// for chat, maxTokens (the larger of max_tokens and max_completion_tokens; -1 when neither is given),
// or DefaultCompletionReserve bounded by the model's context window.
func estimateTokens(m *catalog.Model, bodyLen int, maxTokens int64, chat bool) int64 {
	est := int64(bodyLen+3) / 4
	if !chat {
		return est
	}
	completion := maxTokens
	if completion < 0 {
		completion = DefaultCompletionReserve
		if m.ContextWindow > 0 {
			completion = min(completion, int64(m.ContextWindow))
		}
	}
	return est + completion
}
