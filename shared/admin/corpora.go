package admin

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/reembed"
)

// Corpora is the operator's corpus service: corpora, re-embed runs and rollback over a
// reembed.Service. Like Service, every method checks the acting admin's role first (corpora belong
// to the catalogue area), so the console and the API cannot differ, and records the change in the
// audit log as Service does. It answers the domain types; the HTTP routes show them as the views
// below.
type Corpora struct {
	Reembed *reembed.Service
	// Catalog, when set, shows the teams of a corpus that follows its alias's audience.
	Catalog interface {
		Get(ctx context.Context) (*catalog.Snapshot, error)
	}
	// Kick, when set, is told that a run was queued, so that a worker that is not always running
	// (Lambda) starts at once instead of at its next schedule.
	Kick func(ctx context.Context, reason string)
	Now  func() time.Time // time.Now when nil
}

// CorpusInput is the body of POST /admin/corpora. Teams nil means the teams granted the alias.
type CorpusInput struct {
	Name           string    `json:"name"`
	EmbeddingModel string    `json:"embedding_model"`
	Teams          *[]string `json:"teams"`
	// Language is the text search configuration of keyword search ("" is english).
	Language string `json:"language"`
}

// CorpusPatch is the body of PATCH /admin/corpora/{name}: absent fields stay as they are.
type CorpusPatch struct {
	// KeepQueries keeps the corpus's recent search queries for the re-embed preview; false deletes
	// those kept.
	KeepQueries *bool `json:"keep_queries"`
}

// ReembedInput is the body of POST /admin/corpora/{name}/reembed.
type ReembedInput struct {
	Model string `json:"model"`
}

// CreateCorpus creates a corpus following an embedding alias, with a first, empty index on the
// alias's target, active at once.
func (c *Corpora) CreateCorpus(ctx context.Context, by *catalog.Admin, in CorpusInput) (*corpus.Corpus, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if err := catalog.ValidateIdentifier(in.Name); err != nil {
		return nil, apierror.Invalid("name", "%v", err)
	}
	if in.EmbeddingModel == "" {
		return nil, apierror.Invalid("embedding_model", "name the embedding alias the corpus follows in embedding_model")
	}
	var teams []string
	if in.Teams != nil {
		teams = *in.Teams
		if len(teams) == 0 {
			return nil, apierror.Invalid("teams", "teams is empty: no key could use the corpus; leave teams out to use the alias's audience")
		}
	}
	return c.Reembed.CreateCorpusIn(ctx, reembed.NewCorpus{Name: in.Name, Alias: in.EmbeddingModel, Teams: teams, Language: in.Language},
		newEntry(ctx, by, audit.CorpusCreate, in.Name))
}

// ListCorpora lists every corpus with its live indexes.
func (c *Corpora) ListCorpora(ctx context.Context, by *catalog.Admin) ([]*corpus.Corpus, error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	return c.Reembed.Store().Corpora(ctx)
}

// GetCorpus reads one corpus with its live indexes; an unknown one is 404 not_found.
func (c *Corpora) GetCorpus(ctx context.Context, by *catalog.Admin, name string) (*corpus.Corpus, error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	return c.Reembed.Corpus(ctx, name)
}

// UpdateCorpus changes a corpus's settings: keep_queries, whether its developers' recent search
// queries are kept for the re-embed preview (turning it off deletes them in the same transaction).
// Roles and audit as every corpus write.
func (c *Corpora) UpdateCorpus(ctx context.Context, by *catalog.Admin, name string, in CorpusPatch) (*corpus.Corpus, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if in.KeepQueries == nil {
		return nil, apierror.Invalid("keep_queries", "nothing to change: give keep_queries (true or false)")
	}
	return c.Reembed.SetKeepQueries(ctx, name, *in.KeepQueries, newEntry(ctx, by, audit.CorpusUpdate, name))
}

// StartReembed starts re-embedding every corpus following the alias of corpus name with a pinned
// model, and kicks the worker. A run in progress on the alias is 409 run_in_progress.
func (c *Corpora) StartReembed(ctx context.Context, by *catalog.Admin, name string, in ReembedInput) (*corpus.Run, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if in.Model == "" {
		return nil, apierror.Invalid("model", "name the pinned embedding model to re-embed with in model")
	}
	run, err := c.Reembed.StartRun(ctx, name, in.Model, newEntry(ctx, by, audit.ReembedStart, name))
	if err != nil {
		return nil, err
	}
	if c.Kick != nil {
		c.Kick(ctx, "reembed run "+strconv.FormatInt(run.ID, 10))
	}
	return run, nil
}

// GetReembed reads a run's progress; an id that names no run is 404 not_found.
func (c *Corpora) GetReembed(ctx context.Context, by *catalog.Admin, id string) (*corpus.Run, error) {
	n, err := authorizeRun(by, id, false)
	if err != nil {
		return nil, err
	}
	return c.Reembed.Run(ctx, n)
}

// CancelReembed stops a run in progress and drops its unfinished indexes; the active ones keep
// serving. A run that has ended is 409 run_ended.
func (c *Corpora) CancelReembed(ctx context.Context, by *catalog.Admin, id string) (*corpus.Run, error) {
	n, err := authorizeRun(by, id, true)
	if err != nil {
		return nil, err
	}
	return c.Reembed.CancelRun(ctx, n, newEntry(ctx, by, audit.ReembedCancel, strconv.FormatInt(n, 10)))
}

// RollbackCorpus swaps every corpus following name's alias back to its standby index, and the
// alias back to that index's model, in one transaction.
func (c *Corpora) RollbackCorpus(ctx context.Context, by *catalog.Admin, name string) (*corpus.Corpus, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	return c.Reembed.Rollback(ctx, name, newEntry(ctx, by, audit.CorpusRollback, name))
}

// authorizeRun checks that by may read (or, with write, change) re-embed runs, then reads the run
// id, in that order: a role that may not is refused before it learns whether the id is one.
func authorizeRun(by *catalog.Admin, id string, write bool) (int64, error) {
	if err := Authorize(by, catalog.AreaCatalog, write); err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, &catalog.NotFoundError{What: catalog.EntityRun, Name: catalog.Quote(id, catalog.QuoteLimit), Param: "id"}
	}
	return n, nil
}

func (c *Corpora) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ---- views

// IndexView is one index of a corpus.
type IndexView struct {
	ID           string     `json:"id"`
	Model        string     `json:"model"`
	Dimension    int        `json:"dimension"`
	State        string     `json:"state"`
	Table        string     `json:"table"`
	Run          *int64     `json:"run"`
	CreatedAt    time.Time  `json:"created_at"`
	ActivatedAt  *time.Time `json:"activated_at"`
	StandbyUntil *time.Time `json:"standby_until"`
	RetiredAt    *time.Time `json:"retired_at,omitempty"`
	Error        string     `json:"error,omitempty"`
}

func indexView(ix *corpus.Index) *IndexView {
	out := &IndexView{ID: strconv.FormatInt(ix.ID, 10), Model: ix.Model, Dimension: ix.Dimension, State: string(ix.State),
		Table: ix.Table, CreatedAt: ix.CreatedAt, ActivatedAt: ix.ActivatedAt, StandbyUntil: ix.StandbyUntil,
		RetiredAt: ix.RetiredAt, Error: ix.Error}
	if ix.RunID != 0 {
		out.Run = &ix.RunID
	}
	return out
}

// CorpusView is a corpus as the admin API shows it.
type CorpusView struct {
	Name           string       `json:"name"`
	EmbeddingModel string       `json:"embedding_model"`
	Teams          []string     `json:"teams"`
	TeamsFrom      string       `json:"teams_from"` // "corpus" (given at creation) or "alias" (its audience)
	Language       string       `json:"language"`
	KeepQueries    bool         `json:"keep_queries"`
	CreatedAt      time.Time    `json:"created_at"`
	Documents      int64        `json:"documents"`
	Active         *IndexView   `json:"active_index"`
	Standby        *IndexView   `json:"standby_index"`
	Indexes        []*IndexView `json:"indexes"`
}

// view shows a corpus; for one that follows its alias's audience, teams are the teams granted the
// alias now (from the catalogue), so the operator sees who may use it.
func (c *Corpora) view(ctx context.Context, co *corpus.Corpus) *CorpusView {
	out := &CorpusView{Name: co.Name, EmbeddingModel: co.Alias, Teams: co.Teams, TeamsFrom: "alias", Language: co.Language, KeepQueries: co.KeepQueries, CreatedAt: co.CreatedAt,
		Documents: co.Documents, Indexes: []*IndexView{}}
	if co.TeamsExplicit {
		out.TeamsFrom = "corpus"
	} else if c.Catalog != nil {
		if snap, err := c.Catalog.Get(ctx); err == nil {
			for team := range snap.Grants[co.Alias] {
				out.Teams = append(out.Teams, team)
			}
			slices.Sort(out.Teams)
		}
	}
	if out.Teams == nil {
		out.Teams = []string{}
	}
	for _, ix := range co.Indexes {
		j := indexView(ix)
		out.Indexes = append(out.Indexes, j)
		switch ix.State {
		case corpus.IndexActive:
			out.Active = j
		case corpus.IndexStandby:
			out.Standby = j
		}
	}
	return out
}

// RunView is a re-embed run with its progress, as the admin API shows it.
type RunView struct {
	ID           int64                `json:"id"`
	Alias        string               `json:"embedding_model"`
	Model        string               `json:"model"`
	ExpectedFrom string               `json:"expected_from"`
	State        string               `json:"state"`
	Total        int64                `json:"total"`
	Embedded     int64                `json:"embedded"`
	RatePerS     *float64             `json:"rate_per_s"`
	EtaS         *float64             `json:"eta_s"`
	Verification *corpus.Verification `json:"verification"`
	Error        *string              `json:"error"`
	Actor        string               `json:"started_by"`
	CreatedAt    time.Time            `json:"created_at"`
	StartedAt    *time.Time           `json:"started_at"`
	FinishedAt   *time.Time           `json:"finished_at"`
	Indexes      []*IndexView         `json:"indexes"`
}

// ReembedStartedView answers POST /admin/corpora/{name}/reembed.
type ReembedStartedView struct {
	Run *RunView `json:"run"`
}

// ViewRun is run as the admin API shows it (GET /admin/reembeds/{id}), its rate and time left as of now;
// the console's run page polls the same view.
func (c *Corpora) ViewRun(run *corpus.Run) *RunView {
	rate, eta := run.Progress(c.now())
	out := &RunView{ID: run.ID, Alias: run.Alias, Model: run.Target, ExpectedFrom: run.ExpectedFrom, State: string(run.State),
		Total: run.Total, Embedded: min(run.Embedded, run.Total), RatePerS: rate, EtaS: eta, Verification: run.Verification,
		Actor: run.Actor, CreatedAt: run.CreatedAt, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt, Indexes: []*IndexView{}}
	if run.Error != "" {
		out.Error = &run.Error
	}
	for _, ix := range run.Indexes {
		out.Indexes = append(out.Indexes, indexView(ix))
	}
	return out
}

// ---- routes

// ServeCorpora serves the corpus and re-embed routes over c through this handler's one gate: the
// same authentication, decoder, role checks (in c's methods) and errors as every other admin
// route. It returns h.
func (h *Handler) ServeCorpora(c *Corpora) *Handler {
	rt := corpusRoutes{c}
	h.Handle("POST", "/admin/corpora", withBody(h, rt.create, http.StatusCreated))
	h.Handle("GET", "/admin/corpora", noArgs(h, rt.list))
	h.Handle("GET", "/admin/corpora/{name}", byPath(h, "name", rt.get))
	h.Handle("PATCH", "/admin/corpora/{name}", pathBody(h, "name", rt.update, false))
	h.Handle("POST", "/admin/corpora/{name}/reembed", pathBodyStatus(h, "name", rt.reembed, false, http.StatusAccepted))
	h.Handle("POST", "/admin/corpora/{name}/reembed/estimate", pathBodyStatus(h, "name", rt.estimate, false, http.StatusOK))
	h.Handle("POST", "/admin/corpora/{name}/reembed/preview", pathBodyStatus(h, "name", rt.preview, false, http.StatusOK))
	h.Handle("POST", "/admin/corpora/{name}/rollback", byPathNoBody(h, "name", rt.rollback))
	h.Handle("GET", "/admin/reembeds/{id}", byPath(h, "id", rt.run))
	h.Handle("POST", "/admin/reembeds/{id}/cancel", byPathNoBody(h, "id", rt.cancel))
	return h
}

// corpusRoutes turns Corpora's answers into the views the routes show.
type corpusRoutes struct{ c *Corpora }

func (rt corpusRoutes) create(ctx context.Context, by *catalog.Admin, in CorpusInput) (*CorpusView, error) {
	return rt.corpus(ctx)(rt.c.CreateCorpus(ctx, by, in))
}

func (rt corpusRoutes) list(ctx context.Context, by *catalog.Admin) (*List[*CorpusView], error) {
	return listed(rt.view(ctx))(rt.c.ListCorpora(ctx, by))
}

func (rt corpusRoutes) get(ctx context.Context, by *catalog.Admin, name string) (*CorpusView, error) {
	return rt.corpus(ctx)(rt.c.GetCorpus(ctx, by, name))
}

func (rt corpusRoutes) update(ctx context.Context, by *catalog.Admin, name string, in CorpusPatch) (*CorpusView, error) {
	return rt.corpus(ctx)(rt.c.UpdateCorpus(ctx, by, name, in))
}

func (rt corpusRoutes) rollback(ctx context.Context, by *catalog.Admin, name string) (*CorpusView, error) {
	return rt.corpus(ctx)(rt.c.RollbackCorpus(ctx, by, name))
}

func (rt corpusRoutes) reembed(ctx context.Context, by *catalog.Admin, name string, in ReembedInput) (*ReembedStartedView, error) {
	run, err := rt.c.StartReembed(ctx, by, name, in)
	if err != nil {
		return nil, err
	}
	return &ReembedStartedView{Run: rt.c.ViewRun(run)}, nil
}

func (rt corpusRoutes) run(ctx context.Context, by *catalog.Admin, id string) (*RunView, error) {
	return shown(rt.c.ViewRun)(rt.c.GetReembed(ctx, by, id))
}

func (rt corpusRoutes) cancel(ctx context.Context, by *catalog.Admin, id string) (*RunView, error) {
	return shown(rt.c.ViewRun)(rt.c.CancelReembed(ctx, by, id))
}

// corpus shows a corpus the service answered, or passes its error on.
func (rt corpusRoutes) corpus(ctx context.Context) func(*corpus.Corpus, error) (*CorpusView, error) {
	return shown(rt.view(ctx))
}

// view shows corpora for the request ctx belongs to (Corpora.view).
func (rt corpusRoutes) view(ctx context.Context) func(*corpus.Corpus) *CorpusView {
	return func(co *corpus.Corpus) *CorpusView { return rt.c.view(ctx, co) }
}
