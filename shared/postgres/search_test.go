package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
)

// searchCorpus creates a corpus and writes docs with their vectors (reembedtest.Vector of the
// index's model) straight into its active index, as the sync jobs would.
func searchCorpus(t *testing.T, docs []corpus.Document) (*postgres.CorpusStore, *corpus.Index) {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	reembedtest.Seed(t, pool)
	store := &postgres.CorpusStore{Pool: pool}
	var ix *corpus.Index
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		c, err := store.CreateCorpus(ctx, tx, "handbook", reembedtest.Alias, nil, "")
		if err != nil {
			return err
		}
		ix = c.Indexes[0]
		for start := 0; start < len(docs); start += corpus.MaxBatch {
			if _, err := store.UpsertDocuments(ctx, tx, c.ID, docs[start:min(start+corpus.MaxBatch, len(docs))]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writeVectors(t, pool, ix, docs)
	return store, ix
}

func writeVectors(t *testing.T, pool *pgxpool.Pool, ix *corpus.Index, docs []corpus.Document) {
	t.Helper()
	rows := make([][]any, len(docs))
	for i, d := range docs {
		rows[i] = []any{d.ID, corpus.ContentHash(d.Text), pgvector.NewVector(reembedtest.Vector(ix.Model, d.Text, ix.Dimension))}
	}
	if _, err := pool.CopyFrom(context.Background(), pgx.Identifier{ix.Table}, []string{"doc_id", "content_hash", "embedding"},
		pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
}

// A user writes many near-identical documents and searches each by its own text: each must come back
// first. Approximate HNSW search at pgvector's default beam lost some of them.
func TestSearchFindsEachNearDuplicateByItsOwnText(t *testing.T) {
	var docs []corpus.Document
	for i := range 200 {
		docs = append(docs, corpus.Document{ID: fmt.Sprintf("doc-%03d", i),
			Text: fmt.Sprintf("The quarterly report for the northern region, item %d, was filed on time.", i)})
	}
	store, ix := searchCorpus(t, docs)
	ctx := context.Background()
	var missed []string
	for _, d := range docs {
		hits, err := store.Search(ctx, ix, reembedtest.Vector(ix.Model, d.Text, ix.Dimension), 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 3 {
			t.Fatalf("search for %s answered %d hits; want 3", d.ID, len(hits))
		}
		if hits[0].ID != d.ID || hits[0].Score < 0.999 {
			missed = append(missed, d.ID)
		}
	}
	if len(missed) > 0 {
		t.Fatalf("%d of %d documents were not the first hit for their own text: %v", len(missed), len(docs), missed)
	}
}

// A filter admitting 15 of 1,000 documents answers k=10 with 10 of them, whichever path (exact or
// HNSW with iterative scan) the search takes.
func TestSearchFilterReturnsKMatching(t *testing.T) {
	var docs []corpus.Document
	for i := range 1000 {
		team := "red"
		if i%66 == 7 { // 15 documents: 7, 73, ..., 931
			team = "blue"
		}
		docs = append(docs, corpus.Document{ID: fmt.Sprintf("doc-%04d", i), Text: fmt.Sprintf("memo %d", i),
			Metadata: map[string]any{"team": team, "n": i}})
	}
	store, ix := searchCorpus(t, docs)
	ctx := context.Background()
	query := reembedtest.Vector(ix.Model, "memo 500", ix.Dimension)
	for _, exactLimit := range []int{0, 1} { // 0: the default (exact here); 1: always the HNSW graph
		store.ExactLimit = exactLimit
		for _, raw := range []string{`{"team": "blue"}`, `{"team": {"in": ["blue", "green"]}}`} {
			f, err := corpus.ParseFilter(json.RawMessage(raw))
			if err != nil {
				t.Fatal(err)
			}
			hits, err := store.SearchIndex(ctx, ix, query, 10, corpus.SearchOptions{Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != 10 {
				t.Fatalf("exact limit %d, filter %s: %d hits; want 10 of the 15 matching", exactLimit, raw, len(hits))
			}
			for i, h := range hits {
				if h.Metadata["team"] != "blue" {
					t.Fatalf("exact limit %d, filter %s: hit %s has metadata %v", exactLimit, raw, h.ID, h.Metadata)
				}
				if i > 0 && h.Score > hits[i-1].Score {
					t.Fatalf("exact limit %d: hits not best first: %+v", exactLimit, hits)
				}
			}
		}
		// Without a filter, the graph path answers k too.
		hits, err := store.Search(ctx, ix, query, 10)
		if err != nil || len(hits) != 10 || hits[0].ID != "doc-0500" {
			t.Fatalf("exact limit %d, no filter: %v %d hits, first %v", exactLimit, err, len(hits), hits)
		}
	}
}

// A word only one document holds finds it by keyword and hybrid search; vector search (the default)
// ranks by meaning, and the fake embedder gives that word no meaning.
func TestSearchModes(t *testing.T) {
	var docs []corpus.Document
	for i := range 30 {
		docs = append(docs, corpus.Document{ID: fmt.Sprintf("doc-%02d", i), Text: fmt.Sprintf("Notes from meeting %d about the budget.", i)})
	}
	docs[17].Text = "Notes from the offsite in Zanzibar about the budgets."
	store, ix := searchCorpus(t, docs)
	ctx := context.Background()
	query := "zanzibar"
	vec := reembedtest.Vector(ix.Model, query, ix.Dimension)
	for _, mode := range []string{corpus.ModeKeyword, corpus.ModeHybrid} {
		hits, err := store.SearchIndex(ctx, ix, vec, 3, corpus.SearchOptions{Mode: mode, Text: query})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 || hits[0].ID != "doc-17" || hits[0].Score <= 0 {
			t.Fatalf("%s search for %q: %+v; want doc-17 first", mode, query, hits)
		}
		if mode == corpus.ModeKeyword && len(hits) != 1 {
			t.Fatalf("keyword search for %q matched %d documents; only doc-17 holds the word", query, len(hits))
		}
		if mode == corpus.ModeHybrid && (len(hits) != 3 || hits[0].Score != 1.0/61+hybridVectorPart(t, store, ix, vec, "doc-17")) {
			t.Fatalf("hybrid: %+v", hits)
		}
	}
	// Stemming in the corpus's language (english): "budget" matches "budgets".
	hits, err := store.SearchIndex(ctx, ix, nil, 50, corpus.SearchOptions{Mode: corpus.ModeKeyword, Text: "budget"})
	if err != nil || len(hits) != 30 {
		t.Fatalf("keyword search for budget: %v, %d hits; want all 30", err, len(hits))
	}
}

// hybridVectorPart is doc's reciprocal-rank share from the vector ranking of a hybrid search.
func hybridVectorPart(t *testing.T, store *postgres.CorpusStore, ix *corpus.Index, vec []float32, doc string) float64 {
	hits, err := store.Search(context.Background(), ix, vec, 50)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hits {
		if h.ID == doc {
			return 1 / float64(postgres.RRFK+i+1)
		}
	}
	return 0
}

func TestCreateCorpusLanguage(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	reembedtest.Seed(t, pool)
	store := &postgres.CorpusStore{Pool: pool}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := store.CreateCorpus(ctx, tx, "handbook", reembedtest.Alias, nil, "klingon")
		return err
	})
	if err == nil || err.Error() == "" {
		t.Fatal("a language Postgres does not know was accepted")
	}
	var c *corpus.Corpus
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		c, err = store.CreateCorpus(ctx, tx, "handbuch", reembedtest.Alias, nil, "german")
		return err
	})
	if err != nil || c.Language != "german" {
		t.Fatalf("create with german: %v %+v", err, c)
	}
}
