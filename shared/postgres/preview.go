package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/corpus"
)

// Ranked is one document of a top-k answer: its id and cosine similarity.
type Ranked struct {
	ID    string  `json:"id"`
	Score float64 `json:"score"`
}

// PreviewQuery is one query of a quality preview: its vector under the current model and under the
// candidate.
type PreviewQuery struct {
	Current, Candidate []float32
}

// ComparePreview ranks the documents ids for each query twice: in ix (the corpus's current index),
// among those ids only, and in a scratch table holding the candidate's vectors of the same documents
// (vecs[i] is ids[i]'s, of dimension dim). Both rankings are exact (no HNSW), so they differ only by
// the models. The scratch table is a temporary table of a transaction that is always rolled back:
// it is never visible to another session, and nothing of it outlives the call.
func (s *CorpusStore) ComparePreview(ctx context.Context, ix *corpus.Index, ids []string, vecs [][]float32, dim int,
	queries []PreviewQuery, k int) (current, candidate [][]Ranked, err error) {
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("begin the preview: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the rollback is the cleanup; its error changes nothing
	// An exact scan among the sampled ids: HNSW would filter after its own top 40 and lose some.
	if _, err := tx.Exec(ctx, `SET LOCAL enable_indexscan = off`); err != nil {
		return nil, nil, fmt.Errorf("set enable_indexscan: %w", err)
	}
	scratch := &corpus.Index{Table: "switchyard_preview_scratch", Dimension: dim}
	col := fmt.Sprintf("vector(%d)", dim)
	if corpus.Half(dim) {
		col = fmt.Sprintf("halfvec(%d)", dim)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE %s (doc_id text PRIMARY KEY, embedding %s NOT NULL) ON COMMIT DROP`,
		scratch.Table, col)); err != nil {
		return nil, nil, fmt.Errorf("create the preview's scratch table: %w", err)
	}
	b := &pgx.Batch{}
	for i, id := range ids {
		b.Queue(fmt.Sprintf(`INSERT INTO %s (doc_id, embedding) VALUES ($2, %s)`, scratch.Table, queryParam(scratch)), vectorValue(vecs[i], false), id)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, fmt.Errorf("write the candidate's vectors to the scratch table: %w", err)
	}
	current, candidate = make([][]Ranked, len(queries)), make([][]Ranked, len(queries))
	b = &pgx.Batch{}
	curSQL := fmt.Sprintf(`SELECT doc_id, 1 - (embedding <=> %s) FROM %s WHERE doc_id = ANY($3) ORDER BY embedding <=> %[1]s, doc_id LIMIT $2`,
		queryParam(ix), pgx.Identifier{ix.Table}.Sanitize())
	candSQL := fmt.Sprintf(`SELECT doc_id, 1 - (embedding <=> %s) FROM %s ORDER BY embedding <=> %[1]s, doc_id LIMIT $2`,
		queryParam(scratch), scratch.Table)
	collect := func(into *[]Ranked) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			var r Ranked
			_, err := pgx.ForEachRow(rows, []any{&r.ID, &r.Score}, func() error {
				*into = append(*into, r)
				return nil
			})
			return err
		}
	}
	for i, q := range queries {
		b.Queue(curSQL, vectorValue(q.Current, false), k, ids).Query(collect(&current[i]))
		b.Queue(candSQL, vectorValue(q.Candidate, false), k).Query(collect(&candidate[i]))
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		if isUndefinedTable(err) {
			return nil, nil, ErrIndexGone
		}
		return nil, nil, fmt.Errorf("rank the preview's queries in index %d and the scratch table: %w", ix.ID, err)
	}
	return current, candidate, nil
}
