package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/corpus"
)

// Tuning of search; see docs/benchmarks.md for the measurements behind them.
const (
	// DefaultExactLimit: a vector search over at most this many candidate documents (the whole index, or
	// those a filter admits) compares the query with every one of them instead of walking the HNSW
	// graph. Below it an exact scan is as fast as the graph on this hardware, and it is never wrong.
	DefaultExactLimit = 1000
	// RRFK is the k of reciprocal rank fusion: a document's hybrid score is the sum, over the
	// vector and keyword rankings it appears in, of 1/(RRFK + rank), rank counted from 1.
	RRFK = 60
	// maxEFSearch caps hnsw.ef_search: a wider beam costs time linearly for little recall.
	maxEFSearch = 1000
)

// efSearch is the HNSW beam width for k results: thirty candidates per result, at least 300. On the
// graph the product builds (HNSWM, HNSWEFConstruction), recall@10 was 0.995–0.996 at 100,000 real-text
// documents and 0.992 at 20,000, where 200 gave 0.9925 and 0.987–0.991 (docs/benchmarks.md).
func efSearch(k int) int { return min(max(300, 30*k), maxEFSearch) }

// Search returns the k documents nearest to vec in ix by cosine distance, highest similarity first:
// SearchIndex without options.
func (s *CorpusStore) Search(ctx context.Context, ix *corpus.Index, vec []float32, k int) ([]corpus.Hit, error) {
	return s.SearchIndex(ctx, ix, vec, k, corpus.SearchOptions{})
}

// SearchIndex returns up to k documents of ix's corpus that satisfy opts.Filter, best first, ties in
// id order. It returns fewer than k only when fewer than k such documents are in the index.
//
// Vector mode (vec, of ix's model): the k nearest by cosine distance, score the cosine similarity. The
// search is exact (every candidate compared) when the index or the filter leaves at most the store's ExactLimit (DefaultExactLimit)
// candidates, else HNSW with a beam of efSearch(k) and pgvector's iterative scan; should the graph
// still give fewer than k, the search is done exactly. A document's own text therefore finds it.
//
// Keyword mode (opts.Text; vec unused, may be nil): documents matching websearch_to_tsquery(language,
// text), ranked by ts_rank_cd normalised to [0, 1). Only documents present in ix are returned.
//
// Hybrid mode: the two rankings above, each to max(50, 2k), fused by reciprocal rank (RRFK).
//
// Documents deleted but not yet removed from the index are left out. ErrIndexGone is returned when
// ix's table was dropped meanwhile.
func (s *CorpusStore) SearchIndex(ctx context.Context, ix *corpus.Index, vec []float32, k int, opts corpus.SearchOptions) ([]corpus.Hit, error) {
	var hits []corpus.Hit
	err := pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		switch opts.Mode {
		case corpus.ModeKeyword:
			hits, err = keywordSearch(ctx, tx, ix, k, opts)
		case corpus.ModeHybrid:
			n := max(50, 2*k)
			var byVector, byWords []corpus.Hit
			if byVector, err = vectorSearch(ctx, tx, ix, vec, n, opts.Filter, s.exactLimit()); err != nil {
				return err
			}
			if byWords, err = keywordSearch(ctx, tx, ix, n, opts); err != nil {
				return err
			}
			hits = fuse(k, byVector, byWords)
		case corpus.ModeVector, "":
			hits, err = vectorSearch(ctx, tx, ix, vec, k, opts.Filter, s.exactLimit())
		default:
			err = fmt.Errorf("unknown search mode %q", opts.Mode)
		}
		return err
	})
	if isUndefinedTable(err) {
		return nil, ErrIndexGone
	}
	if err != nil {
		return nil, fmt.Errorf("search index %d: %w", ix.ID, err)
	}
	return hits, nil
}

func (s *CorpusStore) exactLimit() int {
	if s.ExactLimit > 0 {
		return s.ExactLimit
	}
	return DefaultExactLimit
}

// filterSQL is f as SQL conditions on documents d, each " AND d.metadata @> ANY(array)" (which the
// GIN index on metadata serves), with their arguments numbered from $next.
func filterSQL(f corpus.Filter, next int) (string, []any) {
	var b strings.Builder
	args := make([]any, len(f))
	for i, c := range f {
		fmt.Fprintf(&b, " AND d.metadata @> ANY($%d::text[]::jsonb[])", next+i)
		args[i] = c.Containments()
	}
	return b.String(), args
}

// vectorSearch is SearchIndex's vector mode, inside tx.
func vectorSearch(ctx context.Context, tx pgx.Tx, ix *corpus.Index, vec []float32, k int, f corpus.Filter, exactLimit int) ([]corpus.Hit, error) {
	table := pgx.Identifier{ix.Table}.Sanitize()
	where, fargs := filterSQL(f, 4)
	args := append([]any{vectorValue(vec, false), k, ix.CorpusID}, fargs...)

	// How many candidates: the table's size as Postgres last estimated it (ANALYZE, VACUUM, CREATE
	// INDEX) when that is well above the limit, else counted up to exactLimit+1, which reads at most
	// that many rows. A filter's candidates are always counted (through the GIN index).
	var n int
	if len(f) == 0 {
		var est float64
		if err := tx.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, ix.Table).Scan(&est); err != nil {
			return nil, fmt.Errorf("estimate the index's size: %w", err)
		}
		if est > 2*float64(exactLimit) {
			n = int(min(est, math.MaxInt32))
		}
	}
	if n == 0 {
		countSQL := fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM %s LIMIT %d) s`, table, exactLimit+1)
		var countArgs []any
		if len(f) > 0 {
			var w string
			w, countArgs = filterSQL(f, 2)
			countSQL = fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM documents d WHERE d.corpus_id = $1%s LIMIT %d) s`, w, exactLimit+1)
			countArgs = append([]any{ix.CorpusID}, countArgs...)
		}
		if err := tx.QueryRow(ctx, countSQL, countArgs...).Scan(&n); err != nil {
			return nil, fmt.Errorf("count candidates: %w", err)
		}
	}

	// The exact queries order by an expression HNSW cannot serve (the similarity, or the distance
	// plus zero), so every candidate's vector is compared with the query.
	exact := fmt.Sprintf(`SELECT d.doc_id, 1 - v.dist, d.text, d.metadata
		FROM (SELECT doc_id, embedding <=> %[1]s AS dist FROM %[2]s ORDER BY (embedding <=> %[1]s) + 0 LIMIT $2) v
		JOIN documents d ON d.corpus_id = $3 AND d.doc_id = v.doc_id ORDER BY v.dist, d.doc_id`, queryParam(ix), table)
	if len(f) > 0 {
		exact = fmt.Sprintf(`SELECT d.doc_id, 1 - (v.embedding <=> %s), d.text, d.metadata
			FROM documents d JOIN %s v ON v.doc_id = d.doc_id
			WHERE d.corpus_id = $3%s ORDER BY 2 DESC, d.doc_id LIMIT $2`, queryParam(ix), table, where)
	}
	if n <= exactLimit {
		return collectHits(tx.Query(ctx, exact, args...))
	}
	// Iterative scan: when deleted documents or the filter drop candidates, the graph walk goes on
	// instead of answering short. relaxed_order may return the k slightly out of order: sorted after.
	// The plan is pinned to walking the graph and looking each candidate's document up by key: on a
	// table not yet analysed the planner would otherwise hash-join every vector with its document,
	// an exact search at many times the cost.
	if _, err := tx.Exec(ctx, `SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true),
		set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`,
		strconv.Itoa(efSearch(k))); err != nil {
		return nil, fmt.Errorf("set the HNSW search's settings: %w", err)
	}
	hits, err := collectHits(tx.Query(ctx, fmt.Sprintf(`WITH r AS MATERIALIZED (
			SELECT d.doc_id, v.embedding <=> %s AS dist, d.text, d.metadata
			FROM %s v JOIN documents d ON d.corpus_id = $3 AND d.doc_id = v.doc_id
			WHERE true%s ORDER BY dist LIMIT $2)
		SELECT doc_id, 1 - dist, text, metadata FROM r ORDER BY dist, doc_id`, queryParam(ix), table, where), args...))
	if err != nil || len(hits) >= k {
		return hits, err
	}
	// The walk gave up (hnsw.max_scan_tuples) before finding k: compare every candidate.
	if _, err := tx.Exec(ctx, `SELECT set_config('enable_seqscan', 'on', true), set_config('enable_hashjoin', 'on', true),
		set_config('enable_mergejoin', 'on', true)`); err != nil {
		return nil, fmt.Errorf("reset the planner's settings: %w", err)
	}
	return collectHits(tx.Query(ctx, exact, args...))
}

// keywordSearch is SearchIndex's keyword mode, inside tx.
func keywordSearch(ctx context.Context, tx pgx.Tx, ix *corpus.Index, k int, opts corpus.SearchOptions) ([]corpus.Hit, error) {
	lang := opts.Language
	if lang == "" {
		lang = corpus.DefaultLanguage
	}
	where, fargs := filterSQL(opts.Filter, 5)
	args := append([]any{opts.Text, lang, k, ix.CorpusID}, fargs...)
	// ts_rank_cd's normalisation 32 is rank/(rank+1): a score in [0, 1).
	return collectHits(tx.Query(ctx, fmt.Sprintf(`SELECT d.doc_id, ts_rank_cd(d.tsv, q, 32), d.text, d.metadata
		FROM documents d, websearch_to_tsquery($2::regconfig, $1) q
		WHERE d.corpus_id = $4 AND d.tsv @@ q%s AND EXISTS (SELECT 1 FROM %s v WHERE v.doc_id = d.doc_id)
		ORDER BY 2 DESC, d.doc_id LIMIT $3`, where, pgx.Identifier{ix.Table}.Sanitize()), args...))
}

// fuse ranks the documents of several rankings by reciprocal rank fusion: score = Σ 1/(RRFK + rank).
func fuse(k int, rankings ...[]corpus.Hit) []corpus.Hit {
	byID := map[string]*corpus.Hit{}
	var out []*corpus.Hit
	for _, ranking := range rankings {
		for rank, h := range ranking {
			f := byID[h.ID]
			if f == nil {
				f = &corpus.Hit{ID: h.ID, Text: h.Text, Metadata: h.Metadata}
				byID[h.ID] = f
				out = append(out, f)
			}
			f.Score += 1 / float64(RRFK+rank+1)
		}
	}
	slices.SortFunc(out, func(a, b *corpus.Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	hits := make([]corpus.Hit, 0, min(k, len(out)))
	for _, h := range out[:min(k, len(out))] {
		hits = append(hits, *h)
	}
	return hits
}

func collectHits(rows pgx.Rows, err error) ([]corpus.Hit, error) {
	if err != nil {
		return nil, err
	}
	var hits []corpus.Hit
	var h corpus.Hit
	_, err = pgx.ForEachRow(rows, []any{&h.ID, &h.Score, &h.Text, &h.Metadata}, func() error {
		hits = append(hits, h)
		h = corpus.Hit{}
		return nil
	})
	return hits, err
}
