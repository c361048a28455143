package reembed

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// insertAudit records e in tx with the corpus or run before and after, shown as auditView shows
// them, then through the caller's Show if it has one (the admin services' Show knows catalogue
// entities only, and would otherwise record a corpus as its Go struct).
func insertAudit(ctx context.Context, tx pgx.Tx, e *audit.Entry, before, after any) error {
	if e != nil {
		show := e.Show
		e.Show = func(v any) any {
			if show != nil {
				return show(auditView(v))
			}
			return auditView(v)
		}
	}
	return postgres.InsertAudit(ctx, tx, e, before, after)
}

// record records e with the entity before (nil for a creation) and as read returns it now in tx.
func record[T any](ctx context.Context, tx pgx.Tx, e *audit.Entry, before *T, read func() (*T, error)) error {
	if e == nil {
		return nil
	}
	after, err := read()
	if err != nil {
		return err
	}
	return insertAudit(ctx, tx, e, before, after)
}

// readRun reads run id in tx, for record.
func (s *Service) readRun(ctx context.Context, tx pgx.Tx, id int64) func() (*corpus.Run, error) {
	return func() (*corpus.Run, error) { return s.store.Run(ctx, tx, id) }
}

// The audit log's view of a corpus and of a run: what an operator needs to see what changed (which
// index serves, which model a run embeds with, its state), without the per-index bookkeeping.
type (
	auditIndex struct {
		ID    int64  `json:"id"`
		Model string `json:"model"`
		State string `json:"state"`
	}
	auditCorpus struct {
		Name           string       `json:"name"`
		EmbeddingModel string       `json:"embedding_model"`
		Teams          []string     `json:"teams"`
		KeepQueries    bool         `json:"keep_queries"`
		Indexes        []auditIndex `json:"indexes"`
	}
	auditRunView struct {
		ID             int64  `json:"id"`
		EmbeddingModel string `json:"embedding_model"`
		Model          string `json:"model"`
		ExpectedFrom   string `json:"expected_from"`
		State          string `json:"state"`
		StartedBy      string `json:"started_by"`
		Error          string `json:"error,omitempty"`
	}
)

func auditView(v any) any {
	switch x := v.(type) {
	case *corpus.Corpus:
		out := auditCorpus{Name: x.Name, EmbeddingModel: x.Alias, Teams: x.Teams, KeepQueries: x.KeepQueries, Indexes: []auditIndex{}}
		for _, ix := range x.Indexes {
			out.Indexes = append(out.Indexes, auditIndex{ID: ix.ID, Model: ix.Model, State: string(ix.State)})
		}
		return out
	case *corpus.Run:
		return auditRunView{ID: x.ID, EmbeddingModel: x.Alias, Model: x.Target, ExpectedFrom: x.ExpectedFrom,
			State: string(x.State), StartedBy: x.Actor, Error: x.Error}
	}
	return v
}
