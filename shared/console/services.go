package console

import (
	"context"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// The console reads and writes through these interfaces, defined here where they are used. The admin
// API's service layer implements them (see Services), so a page and the API apply the same rules and
// answer the same errors: services return *apierror.Error for anything a person should read, with
// Param naming the field at fault, and the pages show that message next to the field.
//
// by is the signed-in admin: services check its role again and record it (alias history's "who").

// ProviderInput is what the provider form submits. Credential nil keeps the stored credential (an
// edit that leaves the field empty); the stored value is never sent to the browser.
type ProviderInput struct {
	Identifier  string
	DisplayName string
	BaseURL     string
	AuthMethod  catalog.AuthMethod
	AuthHeader  string
	Credential  *string
	CABundle    string
}

// Providers is the providers surface.
type Providers interface {
	ListProviders(ctx context.Context) ([]*catalog.Provider, error)
	GetProvider(ctx context.Context, identifier string) (*catalog.Provider, error)
	// CreateProvider and UpdateProvider verify the endpoint and store the result with the provider;
	// malformed input (doubled_route, ...) is refused and nothing is stored.
	CreateProvider(ctx context.Context, by *catalog.Admin, in ProviderInput) (*catalog.Provider, error)
	UpdateProvider(ctx context.Context, by *catalog.Admin, identifier string, in ProviderInput) (*catalog.Provider, error)
	VerifyProvider(ctx context.Context, by *catalog.Admin, identifier string) (*catalog.Provider, error)
}

// ModelInput is what the add-model form submits.
type ModelInput struct {
	Name          string
	Provider      string
	UpstreamName  string
	Kind          catalog.Kind
	ContextWindow int
	Dimension     int
	Capabilities  catalog.Capabilities
	Enabled       bool
	DisplayName   string
}

// Models is the models surface.
type Models interface {
	ListModels(ctx context.Context) ([]*catalog.Model, error)
	CreateModel(ctx context.Context, by *catalog.Admin, in ModelInput) (*catalog.Model, error)
	SetModelEnabled(ctx context.Context, by *catalog.Admin, name string, enabled bool) (*catalog.Model, error)
	ProbeModel(ctx context.Context, by *catalog.Admin, name string) (*catalog.Model, error)
}

// Aliases is the aliases surface. Move and Rollback of an embedding alias that a corpus follows
// answer 409 reembed_required.
type Aliases interface {
	ListAliases(ctx context.Context) ([]*catalog.Alias, error)
	// GetAlias returns the alias with its History, newest first.
	GetAlias(ctx context.Context, name string) (*catalog.Alias, error)
	CreateAlias(ctx context.Context, by *catalog.Admin, name, target string) (*catalog.Alias, error)
	MoveAlias(ctx context.Context, by *catalog.Admin, name, to, expectedFrom, reason string) (*catalog.Alias, error)
	RollbackAlias(ctx context.Context, by *catalog.Admin, name string) (*catalog.Alias, error)
}

// Access is teams, keys and audience grants.
type Access interface {
	ListTeams(ctx context.Context) ([]*catalog.Team, error)
	CreateTeam(ctx context.Context, by *catalog.Admin, name string) (*catalog.Team, error)
	// ListKeys lists a team's keys, revoked ones included (with RevokedAt).
	ListKeys(ctx context.Context, team string) ([]*catalog.Key, error)
	// CreateKey returns the key and its secret, which exists only in this answer.
	CreateKey(ctx context.Context, by *catalog.Admin, team, name string, models []string) (*catalog.Key, string, error)
	RevokeKey(ctx context.Context, by *catalog.Admin, id string) error
	// Audience lists the teams that may call name (a model or an alias).
	Audience(ctx context.Context, name string) ([]string, error)
	SetAudience(ctx context.Context, by *catalog.Admin, name string, teams []string) error
}

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

// UsageRow is one group of usage totals.
type UsageRow struct {
	Key              string // the model, provider, team or key id
	Requests         int64
	Errors           int64
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
}

// UsagePoint is one bucket of the usage chart.
type UsagePoint struct {
	At       time.Time
	Requests int64
	Errors   int64
	Tokens   int64
}

// RequestRow is one line of the request log.
type RequestRow struct {
	RequestID   string
	At          time.Time
	Route       string
	KeyID       string
	Team        string
	Requested   string
	Model       string
	Provider    string
	Outcome     string // ok or an error code
	Detail      string
	Status      int
	Stream      bool
	Latency     time.Duration
	TotalTokens int64
	Message     string
}

// Usage is the usage surface and the request log.
type Usage interface {
	// UsageBy totals requests in [from, to) grouped by model, provider, team or key.
	UsageBy(ctx context.Context, groupBy string, from, to time.Time) ([]UsageRow, error)
	// Series buckets requests in [from, to) by step, oldest first, with every bucket present.
	Series(ctx context.Context, from, to time.Time, step time.Duration) ([]UsagePoint, error)
	// Requests lists the newest requests, those with outcome only when outcome is not empty.
	Requests(ctx context.Context, outcome string, limit int) ([]RequestRow, error)
}

// Services is everything the pages call. A nil surface shows its page as not available in this
// build rather than failing.
type Services struct {
	Providers Providers
	Models    Models
	Aliases   Aliases
	Access    Access
	Corpora   Corpora
	Usage     Usage
}
