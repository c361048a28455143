package admin

import (
	"context"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reembed"
)

// SampleInput is the body of POST /admin/corpora/{name}/reembed/estimate and …/preview: the
// candidate pinned model and how many documents to sample (0 or absent: 200).
type SampleInput struct {
	Model  string `json:"model"`
	Sample int    `json:"sample"`
}

// EstimateReembed measures what re-embedding corpus name with a candidate model would take, on a
// sample, writing nothing to any index. It takes the roles that may start a re-embed (it calls the
// upstream at the operator's expense) and records nothing in the audit log: it changes nothing.
func (c *Corpora) EstimateReembed(ctx context.Context, by *catalog.Admin, name string, in SampleInput) (*reembed.Estimate, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	return c.Reembed.EstimateRun(ctx, name, in.Model, in.Sample)
}

// PreviewReembed compares a candidate model with corpus name's active index on a sample, in a
// scratch table no search sees and nothing keeps. Roles and audit as EstimateReembed.
func (c *Corpora) PreviewReembed(ctx context.Context, by *catalog.Admin, name string, in SampleInput) (*reembed.Preview, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	return c.Reembed.PreviewRun(ctx, name, in.Model, in.Sample)
}

// EstimateView answers POST /admin/corpora/{name}/reembed/estimate.
type EstimateView struct {
	Corpus      string                 `json:"corpus"`
	Model       string                 `json:"model"`
	Documents   int64                  `json:"documents"`
	Sampled     int                    `json:"sampled"`
	Tokens      *reembed.TokenEstimate `json:"tokens"`
	RatePerS    *float64               `json:"rate_per_s"`
	EtaS        *float64               `json:"eta_s"`
	RateLimited bool                   `json:"rate_limited"`
	Throttled   int                    `json:"throttled"`
	Cost        *reembed.Cost          `json:"cost"`
}

// PreviewView answers POST /admin/corpora/{name}/reembed/preview.
type PreviewView struct {
	Corpus      string                 `json:"corpus"`
	Current     string                 `json:"current_model"`
	Candidate   string                 `json:"model"`
	Documents   int64                  `json:"documents"`
	Sampled     int                    `json:"sampled"`
	Queries     int                    `json:"queries"`
	SelfQ       int                    `json:"self_queries"`
	RecentQ     int                    `json:"recent_queries"`
	QuerySource string                 `json:"query_source"`
	CurrentQ    reembed.Quality        `json:"current"`
	CandidateQ  reembed.Quality        `json:"candidate"`
	Agreement   float64                `json:"agreement_at_10"`
	Changed     []reembed.ChangedQuery `json:"changed"`
	RateLimited bool                   `json:"rate_limited"`
}

// EstimateViewOf shows an estimate as the API answers it.
func EstimateViewOf(e *reembed.Estimate) *EstimateView {
	return &EstimateView{Corpus: e.Corpus, Model: e.Model, Documents: e.Documents, Sampled: e.Sampled, Tokens: e.Tokens,
		RatePerS: e.RatePerS, EtaS: e.EtaS, RateLimited: e.RateLimited, Throttled: e.Throttled, Cost: e.Cost}
}

// PreviewViewOf shows a preview as the API answers it.
func PreviewViewOf(p *reembed.Preview) *PreviewView {
	return &PreviewView{Corpus: p.Corpus, Current: p.Current, Candidate: p.Candidate, Documents: p.Documents, Sampled: p.Sampled,
		Queries: p.Queries, SelfQ: p.SelfQueries, RecentQ: p.RecentQueries, QuerySource: p.QuerySource, CurrentQ: p.CurrentQuality, CandidateQ: p.CandidateQuality,
		Agreement: p.Agreement, Changed: p.Changed, RateLimited: p.RateLimited}
}

func (rt corpusRoutes) estimate(ctx context.Context, by *catalog.Admin, name string, in SampleInput) (*EstimateView, error) {
	return shown(EstimateViewOf)(rt.c.EstimateReembed(ctx, by, name, in))
}

func (rt corpusRoutes) preview(ctx context.Context, by *catalog.Admin, name string, in SampleInput) (*PreviewView, error) {
	return shown(PreviewViewOf)(rt.c.PreviewReembed(ctx, by, name, in))
}
