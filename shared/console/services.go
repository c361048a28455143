package console

import (
	"context"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// The pages call the admin API's own services (*admin.Service) directly, not its HTTP, so a page and
// the API apply the same rules, check the same roles and answer the same errors: *apierror.Error with
// Param naming the field at fault, which the pages show next to that field. Surfaces that live in
// other packages are reached through the small interfaces below, defined here where they are used.

// Corpus is a corpus as its page shows it.
type Corpus struct {
	Name      string
	Alias     string // the embedding alias it follows
	Teams     []string
	Documents int64
	Indexes   []CorpusIndex // active first
	CreatedAt time.Time
}

// CorpusIndex is one of a corpus's indexes.
type CorpusIndex struct {
	ID        string
	Model     string
	Dimension int
	State     string // building, verifying, active, standby, retired, failed
	Vectors   int64
	CreatedAt time.Time
}

// Active returns the corpus's active index, or nil.
func (c *Corpus) Active() *CorpusIndex {
	for i := range c.Indexes {
		if c.Indexes[i].State == "active" {
			return &c.Indexes[i]
		}
	}
	return nil
}

// Run is a re-embed run's progress, as GET /admin/reembeds/{id} answers it.
type Run struct {
	ID           string
	Alias        string
	Model        string // the pinned model it embeds with
	Corpora      []string
	State        string // queued, embedding, indexing, verifying, cutting_over, succeeded, failed, cancelled
	Total        int64
	Embedded     int64
	RatePerS     float64
	EtaS         float64
	Verification *RunVerification
	Error        string
	StartedAt    time.Time
	FinishedAt   *time.Time
}

// Finished reports whether the run reached a final state.
func (r *Run) Finished() bool {
	return r.State == "succeeded" || r.State == "failed" || r.State == "cancelled"
}

// RunVerification is the report a run's verify step writes.
type RunVerification struct {
	Documents      int64   `json:"documents"`
	Vectors        int64   `json:"vectors"`
	Missing        int64   `json:"missing"`
	Duplicates     int64   `json:"duplicates"`
	WrongDimension int64   `json:"wrong_dimension"`
	SelfRecall     float64 `json:"self_recall"`
	Threshold      float64 `json:"threshold"`
	Passed         bool    `json:"passed"`
}

// Corpora is the corpora and re-embeds surface.
type Corpora interface {
	ListCorpora(ctx context.Context) ([]*Corpus, error)
	GetCorpus(ctx context.Context, name string) (*Corpus, error)
	// RunsFor lists the runs of a corpus's alias, newest first.
	RunsFor(ctx context.Context, corpus string) ([]*Run, error)
	StartReembed(ctx context.Context, by *catalog.Admin, corpus, model string) (*Run, error)
	GetRun(ctx context.Context, id string) (*Run, error)
	CancelRun(ctx context.Context, by *catalog.Admin, id string) (*Run, error)
	RollbackCorpus(ctx context.Context, by *catalog.Admin, corpus string) error
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
