package reembed

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/corpus"
)

// SetKeepQueries turns keeping corpus name's recent search queries on or off, and records e with
// the corpus before and after, in one transaction. Turning it off deletes the queries kept so far in
// that transaction. An unknown corpus is 404 not_found.
func (s *Service) SetKeepQueries(ctx context.Context, name string, on bool, e *audit.Entry) (*corpus.Corpus, error) {
	var c *corpus.Corpus
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, err := s.store.LockCorpus(ctx, tx, name)
		if err != nil {
			return byName(name, err)
		}
		before, err := s.store.CorpusIn(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := s.store.SetKeepQueries(ctx, tx, id, on); err != nil {
			return err
		}
		return record(ctx, tx, e, before, func() (*corpus.Corpus, error) {
			c, err = s.store.CorpusIn(ctx, tx, name)
			return c, err
		})
	})
	return c, err
}

// recordTimeout bounds keeping a search's query, so that a slow or locked database delays a search
// by at most this much.
const recordTimeout = time.Second

// RecordQuery keeps a developer's search query of corpus c (as read for the search) for the
// re-embed preview, bounded by Config.KeptQueries, when c keeps queries, taking at most
// recordTimeout; for any other corpus it does nothing and asks nothing of the database. The store
// checks the setting again as it inserts, so a corpus turned off meanwhile keeps nothing.
func (s *Service) RecordQuery(ctx context.Context, c *corpus.Corpus, query, mode string) error {
	if c == nil || !c.KeepQueries {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	return s.store.RecordQuery(ctx, c.ID, query, mode, s.cfg.Now(), s.cfg.KeptQueries)
}
