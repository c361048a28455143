package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/corpus"
)

// Every corpus index's HNSW graph is built with the setting measured to reach recall@10 0.99 at
// 100,000 documents (docs/benchmarks.md, "Search recall"), not pgvector's sparser defaults (m 16,
// ef_construction 64): the first, empty index a corpus is created with, and a re-embed run's index
// built after its fill.
func TestHNSWIndexBuildSetting(t *testing.T) {
	store, ix := searchCorpus(t, []corpus.Document{{ID: "a", Text: "alpha"}, {ID: "b", Text: "beta"}})
	ctx := context.Background()
	want := []string{"m=32", "ef_construction=128"}
	options := func() []string {
		t.Helper()
		var opts []string
		if err := store.Pool.QueryRow(ctx, `SELECT reloptions FROM pg_class WHERE relname = $1`, ix.Table+"_hnsw").Scan(&opts); err != nil {
			t.Fatal(err)
		}
		return opts
	}
	if got := options(); !slices.Equal(got, want) {
		t.Fatalf("the first index's HNSW options are %q, want %q", got, want)
	}
	if _, err := store.Pool.Exec(ctx, `DROP INDEX `+ix.Table+`_hnsw`); err != nil {
		t.Fatal(err)
	}
	if err := store.BuildHNSW(ctx, store.Pool, ix, 64, 0); err != nil {
		t.Fatal(err)
	}
	if got := options(); !slices.Equal(got, want) {
		t.Fatalf("a run's HNSW build has options %q, want %q", got, want)
	}
}
