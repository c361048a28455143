package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/switchyard-ai/switchyard/shared/corpus"
)

// QueryBounds bounds the search queries kept for a corpus that opted in: at most Max, the newest,
// and none asked more than Age ago.
type QueryBounds struct {
	Max int
	Age time.Duration
}

// DefaultQueryBounds keeps a corpus's newest 1,000 queries of the last 30 days: far more than a
// preview asks (PreviewRecent in package reembed), and a month of user data at most.
var DefaultQueryBounds = QueryBounds{Max: 1000, Age: 30 * 24 * time.Hour}

// RecordQuery keeps a search's query text (asked at at, in mode) for corpus corpusID if, and only
// if, the corpus keeps queries at the moment of the insert, and trims the corpus's kept queries to
// b in the same statement.
//
// The insert takes a key-share lock on the corpus row (what its foreign key takes anyway), which
// LockCorpus's FOR UPDATE waits for: a query recorded while the setting is being turned off is
// either deleted by that transaction or never inserted, never left behind. The trim reads at most
// b.Max entries of the (corpus_id, asked_at) index and usually deletes one row.
func (s *CorpusStore) RecordQuery(ctx context.Context, corpusID int64, query, mode string, at time.Time, b QueryBounds) error {
	// The statement's snapshot does not see the row it inserts, so keeping the newest Max-1 of
	// those before leaves Max with it.
	_, err := s.Pool.Exec(ctx, `
		WITH kept AS (
			INSERT INTO corpus_queries (corpus_id, query, mode, asked_at)
			SELECT id, $2, $3, $4 FROM corpora WHERE id = $1 AND keep_queries FOR KEY SHARE
			RETURNING corpus_id
		)
		DELETE FROM corpus_queries q USING kept
		WHERE q.corpus_id = kept.corpus_id AND q.asked_at <= greatest($5::timestamptz,
			(SELECT asked_at FROM corpus_queries WHERE corpus_id = $1 ORDER BY asked_at DESC OFFSET $6 LIMIT 1))`,
		corpusID, query, mode, at, at.Add(-b.Age), max(b.Max-1, 0))
	if err != nil {
		return fmt.Errorf("keep a search query of corpus %d: %w", corpusID, err)
	}
	return nil
}

// LockCorpus locks corpus name's row in tx against every change and against RecordQuery's inserts,
// and returns its id; corpus.ErrNotFound when there is none.
func (s *CorpusStore) LockCorpus(ctx context.Context, tx pgx.Tx, name string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM corpora WHERE name = $1 FOR UPDATE`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, corpus.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("lock corpus %s: %w", name, err)
	}
	return id, nil
}

// SetKeepQueries turns keeping corpus corpusID's search queries on or off in tx, which holds
// LockCorpus. Turning it off deletes every kept query of the corpus in tx.
func (s *CorpusStore) SetKeepQueries(ctx context.Context, tx pgx.Tx, corpusID int64, on bool) error {
	if _, err := tx.Exec(ctx, `UPDATE corpora SET keep_queries = $2 WHERE id = $1`, corpusID, on); err != nil {
		return fmt.Errorf("set keep_queries of corpus %d: %w", corpusID, err)
	}
	if on {
		return nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM corpus_queries WHERE corpus_id = $1`, corpusID); err != nil {
		return fmt.Errorf("delete the kept queries of corpus %d: %w", corpusID, err)
	}
	return nil
}

// RecentQueries returns up to n distinct queries kept for corpus corpusID and asked since since,
// the most recently asked first.
func (s *CorpusStore) RecentQueries(ctx context.Context, corpusID int64, since time.Time, n int) ([]string, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT query FROM corpus_queries WHERE corpus_id = $1 AND asked_at >= $2
		GROUP BY query ORDER BY max(asked_at) DESC, query LIMIT $3`, corpusID, since, n)
	qs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the recent queries of corpus %d: %w", corpusID, err)
	}
	return qs, nil
}
