package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// RecheckInterval is how often a call in flight checks its key again against the current catalogue
// snapshot (an in-memory look-up). With the snapshot's own staleness (catalog.MaxStaleness), a call
// whose key is revoked, or whose key may no longer call the name, ends at most about two seconds
// after the change: a stream with a final error event, any other call with the error itself.
const RecheckInterval = time.Second

// accessWithdrawn is the cause a watched call's context ends with.
type accessWithdrawn struct{ outcome catalog.Outcome }

func (a *accessWithdrawn) Error() string {
	return "access withdrawn during the call: " + string(a.outcome)
}

// watch returns the context, within parent, for the upstream call of a request made with key for name, and the
// function that releases it. The context ends, with *accessWithdrawn as its cause, once a recheck
// finds the key revoked or no longer allowed the name (grant withdrawn, allow-list changed). A call
// shorter than RecheckInterval costs one timer and no check.
func (c *call) watch(parent context.Context, key *catalog.Key, name string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	c.upstreamCtx = ctx
	var (
		mu      sync.Mutex
		t       *time.Timer
		stopped bool
	)
	check := func() {
		snap, err := c.g.cat.Get(ctx)
		if err == nil {
			switch o := snap.Recheck(key, name); o {
			case catalog.KeyRevoked, catalog.NotGranted, catalog.NotInAllowList:
				cancel(&accessWithdrawn{o})
				return
			}
		}
		// No snapshot (the catalogue is unreachable): the call goes on, as it began, and the next
		// check tries again.
		mu.Lock()
		if !stopped {
			t.Reset(RecheckInterval)
		}
		mu.Unlock()
	}
	mu.Lock()
	t = time.AfterFunc(RecheckInterval, check)
	mu.Unlock()
	return ctx, func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
		cancel(nil)
	}
}

// withdrawn is the error to answer when the upstream call ended because the key lost its access
// (nil otherwise): invalid_api_key for a revoked key, model_not_found for a withdrawn name.
func (c *call) withdrawn() (*apierror.Error, string) {
	if c.upstreamCtx == nil {
		return nil, ""
	}
	var aw *accessWithdrawn
	if !errors.As(context.Cause(c.upstreamCtx), &aw) {
		return nil, ""
	}
	if aw.outcome == catalog.KeyRevoked {
		return errKeyRevoked, "key revoked during the call"
	}
	return modelNotFound(c.row.Requested), "access withdrawn during the call: " + string(aw.outcome)
}

var errKeyRevoked = apierror.New(http.StatusUnauthorized, apierror.AuthenticationError, apierror.CodeInvalidAPIKey, "",
	"Your API key was revoked while this request was running, so it was stopped; ask your platform team for a new key.")
