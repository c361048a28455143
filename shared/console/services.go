package console

import (
	"context"
	"errors"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reembed"
)

// The pages call the admin API's own services (*admin.Service) directly, not its HTTP, so a page and
// the API apply the same rules, check the same roles and answer the same errors: *apierror.Error with
// Param naming the field at fault, which the pages show next to that field. Surfaces that live in
// other packages are reached through the small interfaces below, defined here where they are used.

// Corpora is the corpora and re-embeds surface (package reembed's Service and its store; see
// ReembedCorpora). It checks no roles: the pages do, as the admin routes of corpusapi do.
type Corpora interface {
	Corpora(ctx context.Context) ([]*corpus.Corpus, error)
	Corpus(ctx context.Context, name string) (*corpus.Corpus, error)
	StartRun(ctx context.Context, name, model string, e *audit.Entry) (*corpus.Run, error)
	Run(ctx context.Context, id int64) (*corpus.Run, error)
	CancelRun(ctx context.Context, id int64, e *audit.Entry) (*corpus.Run, error)
	Rollback(ctx context.Context, name string, e *audit.Entry) (*corpus.Corpus, error)
}

// ReembedCorpora serves Corpora from a reembed.Service. Kick, when set, is told that a run was
// queued, so a worker that sleeps between invocations starts at once (as corpusapi does).
type ReembedCorpora struct {
	*reembed.Service
	Kick func(ctx context.Context, reason string)
}

// StartRun starts a re-embed run and kicks the worker.
func (r ReembedCorpora) StartRun(ctx context.Context, name, model string, e *audit.Entry) (*corpus.Run, error) {
	run, err := r.Service.StartRun(ctx, name, model, e)
	if err == nil && r.Kick != nil {
		r.Kick(ctx, "re-embed run started")
	}
	return run, err
}

// Corpora lists every corpus with its live indexes.
func (r ReembedCorpora) Corpora(ctx context.Context) ([]*corpus.Corpus, error) {
	return r.Store().Corpora(ctx)
}

// Corpus reads one corpus with its live indexes; an unknown one is 404 not_found.
func (r ReembedCorpora) Corpus(ctx context.Context, name string) (*corpus.Corpus, error) {
	c, err := r.Store().Corpus(ctx, name)
	if errors.Is(err, postgres.ErrCorpusNotFound) {
		return nil, apierror.NotFound("name", "there is no corpus %q", name)
	}
	return c, err
}

// UsagePoint is one bucket of the usage chart.
type UsagePoint = postgres.UsagePoint

// UsageSeries buckets the request log over time for the usage chart.
type UsageSeries interface {
	// Series buckets requests in [from, to) by step, oldest first, every bucket present.
	Series(ctx context.Context, from, to time.Time, step time.Duration) ([]UsagePoint, error)
}

// Services is everything the pages call. A nil Corpora shows its pages as not available in this
// build rather than failing.
type Services struct {
	Admin   *admin.Service
	Corpora Corpora
	Series  UsageSeries
}
