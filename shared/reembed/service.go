package reembed

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// Access decides whether the caller may use a corpus; a refusal is answered exactly as an unknown
// corpus, so a caller learns nothing of corpora outside its teams.
type Access func(c *corpus.Corpus) bool

// corpusNotFound says corpus name (capped) does not exist, or that the caller may not use it: the
// service gives both the same error, so no edge can tell them apart. param is the request field
// that named the corpus; each API's edge words the answer its own way.
func corpusNotFound(name, param string) *catalog.NotFoundError {
	return &catalog.NotFoundError{What: catalog.EntityCorpus, Name: catalog.Quote(name, catalog.QuoteLimit), Param: param}
}

// byName passes on err, from reading the corpus an admin call names in its field name, with
// corpus.ErrNotFound said as corpusNotFound(name, "name"). A nil err stays nil.
func byName(name string, err error) error {
	if errors.Is(err, corpus.ErrNotFound) {
		return corpusNotFound(name, "name")
	}
	return err
}

// usable passes on err, from reading corpus name (as c) for a developer call, with an unknown corpus
// and one that may refuses said alike, as corpusNotFound(name, "corpus"). A nil err and a corpus the
// caller may use give nil.
func usable(name string, c *corpus.Corpus, err error, may Access) error {
	if errors.Is(err, corpus.ErrNotFound) || (err == nil && !may(c)) {
		return corpusNotFound(name, "corpus")
	}
	return err
}

// runNotFound says there is no re-embed run id.
func runNotFound(id int64) *catalog.NotFoundError {
	return &catalog.NotFoundError{What: catalog.EntityRun, Name: strconv.FormatInt(id, 10), Param: "id"}
}

// CreateCorpus creates a corpus following an embedding alias, with a first, empty index on the alias's
// current target, active at once. teams nil means the teams granted the alias. e (nil for none) is
// recorded in the audit log in the same transaction, as are the other admin changes below.
func (s *Service) CreateCorpus(ctx context.Context, name, alias string, teams []string, e *audit.Entry) (*corpus.Corpus, error) {
	return s.CreateCorpusIn(ctx, NewCorpus{Name: name, Alias: alias, Teams: teams}, e)
}

// NewCorpus is what a corpus is created with.
type NewCorpus struct {
	Name  string
	Alias string   // the embedding alias it follows
	Teams []string // nil: the teams granted the alias
	// Language is the Postgres text search configuration for keyword search ("" is english); one
	// Postgres does not know is 400 naming language.
	Language string
}

// CreateCorpusIn is CreateCorpus with every choice of NewCorpus.
func (s *Service) CreateCorpusIn(ctx context.Context, in NewCorpus, e *audit.Entry) (*corpus.Corpus, error) {
	var c *corpus.Corpus
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if c, err = s.store.CreateCorpus(ctx, tx, in.Name, in.Alias, in.Teams, in.Language); err != nil {
			return err
		}
		return insertAudit(ctx, tx, e, nil, c)
	})
	return c, err
}

// PutDocuments upserts a batch and, in the same transaction, queues the sync of the changed documents
// into every live index; documents whose text is unchanged are not embedded again. It returns how many
// documents were accepted.
func (s *Service) PutDocuments(ctx context.Context, name string, may Access, docs []corpus.Document) (int, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.store.LockCorpusForWrite(ctx, tx, name)
		if err = usable(name, c, err, may); err != nil {
			return err
		}
		changed, err := s.store.UpsertDocuments(ctx, tx, c.ID, docs)
		if err != nil {
			return err
		}
		return s.queueSync(ctx, tx, c.ID, changed)
	})
	if err != nil {
		return 0, err
	}
	return len(docs), nil
}

// DeleteDocument removes a document and queues the removal of its vectors from every live index, in
// one transaction. A document that does not exist is a 404 not_found naming id.
func (s *Service) DeleteDocument(ctx context.Context, name string, may Access, id string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.store.LockCorpusForWrite(ctx, tx, name)
		if err = usable(name, c, err, may); err != nil {
			return err
		}
		found, err := s.store.DeleteDocument(ctx, tx, c.ID, id)
		if err != nil {
			return err
		}
		if !found {
			return &catalog.NotFoundError{What: catalog.EntityDocument, Name: id, Param: "id"}
		}
		return s.queueSync(ctx, tx, c.ID, []string{id})
	})
}

// syncChunk bounds the documents of one sync job, so a job stays short.
const syncChunk = 256

func (s *Service) queueSync(ctx context.Context, tx pgx.Tx, corpusID int64, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	live, err := s.store.LiveIndexes(ctx, tx, corpusID)
	if err != nil {
		return err
	}
	var params []river.InsertManyParams
	for _, ix := range live {
		for start := 0; start < len(ids); start += syncChunk {
			params = append(params, river.InsertManyParams{Args: SyncArgs{IndexID: ix.ID, DocIDs: ids[start:min(start+syncChunk, len(ids))]}})
		}
	}
	if len(params) == 0 {
		return nil
	}
	if _, err := s.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("queue %d sync jobs: %w", len(params), err)
	}
	return nil
}

// SearchResult is a search's answer: the hits, and the index and pinned model that produced them.
type SearchResult struct {
	Hits  []corpus.Hit
	Index *corpus.Index
	// Corpus is the corpus searched, as read with Index.
	Corpus *corpus.Corpus
}

// Search embeds query with the model of the corpus's active index (read with the index in one
// statement) and returns the k nearest documents: SearchWith a vector search without filter.
func (s *Service) Search(ctx context.Context, name string, may Access, query string, k int) (*SearchResult, error) {
	return s.SearchWith(ctx, name, may, query, k, corpus.SearchOptions{})
}

// SearchWith searches the corpus's active index (read with its model in one statement) for query as
// opts say (postgres.CorpusStore.SearchIndex): the query is embedded with the index's own model,
// except in keyword mode, which needs no vector. opts.Text and opts.Language are set here. The
// previous active index stays (as standby) after a cut-over, so a search that read it just before
// still completes on it, with its own model.
func (s *Service) SearchWith(ctx context.Context, name string, may Access, query string, k int, opts corpus.SearchOptions) (*SearchResult, error) {
	for attempt := 0; ; attempt++ {
		c, ix, err := s.store.CorpusForSearch(ctx, name)
		if err = usable(name, c, err, may); err != nil {
			return nil, err
		}
		opts.Text, opts.Language = query, c.Language
		var vec []float32
		if opts.Mode != corpus.ModeKeyword {
			if vec, err = s.embedQuery(ctx, ix, query); err != nil {
				return nil, err
			}
		}
		hits, err := s.store.SearchIndex(ctx, ix, vec, k, opts)
		if errors.Is(err, postgres.ErrIndexGone) && attempt == 0 {
			continue // retired between the two reads: read the active index again
		}
		if err != nil {
			return nil, err
		}
		return &SearchResult{Hits: hits, Index: ix, Corpus: c}, nil
	}
}

// embedQuery embeds a search's query with the model of ix.
func (s *Service) embedQuery(ctx context.Context, ix *corpus.Index, query string) ([]float32, error) {
	m, p, err := s.model(ctx, ix.Model)
	if err != nil {
		return nil, err
	}
	vecs, err := s.embed(ctx, m, p, []string{query})
	if err != nil {
		return nil, err // a *corpus.DimensionError when the model answered vectors of the wrong size
	}
	return vecs[0], nil
}

// StartRun starts re-embedding every corpus following the alias of corpus name with model, in one
// transaction with its fill jobs. A run in progress on the alias is 409 run_in_progress.
func (s *Service) StartRun(ctx context.Context, name, model string, e *audit.Entry) (*corpus.Run, error) {
	var run *corpus.Run
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		alias, err := s.store.CorpusAlias(ctx, tx, name)
		if err != nil {
			return byName(name, err)
		}
		var shards []postgres.Shard
		run, shards, err = s.store.CreateRun(ctx, tx, alias, model, e.ActorString(), s.cfg.Shards)
		if err != nil {
			return err
		}
		params := make([]river.InsertManyParams, len(shards))
		for i, sh := range shards {
			params[i] = river.InsertManyParams{Args: FillArgs{RunID: run.ID, IndexID: sh.IndexID, Shard: sh.Shard}}
		}
		if _, err := s.client.InsertManyTx(ctx, tx, params); err != nil {
			return fmt.Errorf("queue %d fill jobs: %w", len(params), err)
		}
		return record(ctx, tx, e, nil, s.readRun(ctx, tx, run.ID))
	})
	if err != nil {
		return nil, err
	}
	return s.store.Run(ctx, s.pool, run.ID)
}

// Run reads a run's progress.
func (s *Service) Run(ctx context.Context, id int64) (*corpus.Run, error) {
	r, err := s.store.Run(ctx, s.pool, id)
	if errors.Is(err, postgres.ErrRunNotFound) {
		return nil, runNotFound(id)
	}
	return r, err
}

// CancelRun stops a run in progress and drops its unfinished indexes; the active ones keep serving. A
// run that has ended is 409.
func (s *Service) CancelRun(ctx context.Context, id int64, e *audit.Entry) (*corpus.Run, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var before *corpus.Run
		if e != nil {
			// EndRun locks the run; read it first so that the log shows the state it cancelled.
			before, _ = s.store.Run(ctx, tx, id)
		}
		ids, ok, err := s.store.EndRun(ctx, tx, id, corpus.RunCancelled, "cancelled by "+e.ActorString(), nil)
		if err != nil {
			return err
		}
		if !ok {
			if _, err := s.store.Run(ctx, tx, id); errors.Is(err, postgres.ErrRunNotFound) {
				return runNotFound(id)
			}
			return &catalog.ConflictError{Code: apierror.CodeRunEnded, What: catalog.EntityRun, Name: strconv.FormatInt(id, 10),
				Message: fmt.Sprintf("re-embed run %d has already ended; there is nothing to cancel", id)}
		}
		if err := s.queueRetire(ctx, tx, ids, time.Time{}); err != nil {
			return err
		}
		return record(ctx, tx, e, before, s.readRun(ctx, tx, id))
	})
	if err != nil {
		return nil, err
	}
	return s.Run(ctx, id)
}

// Rollback swaps every corpus following name's alias back to its standby index, and the alias back to
// that index's model, in one transaction: instant, and nothing written meanwhile is lost, since the
// standby index was kept current.
func (s *Service) Rollback(ctx context.Context, name string, e *audit.Entry) (*corpus.Corpus, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		until := s.cfg.Now().Add(s.cfg.Retention)
		var before *corpus.Corpus
		if e != nil {
			before, _ = s.store.CorpusIn(ctx, tx, name)
		}
		standby, err := s.store.RollbackCorpus(ctx, tx, name, e.ActorString(), until)
		if err != nil {
			return byName(name, err)
		}
		if err := s.queueRetire(ctx, tx, standby, until); err != nil {
			return err
		}
		return record(ctx, tx, e, before, func() (*corpus.Corpus, error) { return s.store.CorpusIn(ctx, tx, name) })
	})
	if err != nil {
		return nil, err
	}
	return s.store.Corpus(ctx, name)
}

// KeyAccess is the Access of a developer key under snapshot snap: the corpus's teams, or the teams
// granted its alias.
func KeyAccess(key *catalog.Key, snap *catalog.Snapshot) Access {
	return func(c *corpus.Corpus) bool { return c.CanUse(key.Team, snap.Grants[c.Alias]) }
}
