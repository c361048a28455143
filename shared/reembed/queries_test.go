package reembed

import (
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// TestQueryKeptWhileTurningOffIsNotLeftBehind: a search query recorded while keep_queries is being
// turned off waits for that change, and is then not kept: turning it off leaves no query behind.
func TestQueryKeptWhileTurningOffIsNotLeftBehind(t *testing.T) {
	e := newEnv(t, testConfig())
	e.createCorpus("kb")
	if _, err := e.svc.SetKeepQueries(e.ctx, "kb", true, nil); err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.store.Corpus(e.ctx, "kb") // as a search reads it: keeping queries
	if err != nil {
		t.Fatal(err)
	}
	tx, err := e.pool.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(e.ctx) //nolint:errcheck // committed below; the rollback is the cleanup
	id, err := e.svc.store.LockCorpus(e.ctx, tx, "kb")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.store.SetKeepQueries(e.ctx, tx, id, false); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.svc.RecordQuery(e.ctx, c, "a question asked meanwhile", "vector") }()
	waittest.Eventually(t, 30*time.Second, "the query's insert to wait for the corpus row", func() (int, bool) {
		var n int
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO corpus_queries%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n, n == 1
	})
	if err := tx.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var kept int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM corpus_queries`).Scan(&kept); err != nil || kept != 0 {
		t.Fatalf("%d queries kept after keep_queries was turned off (%v), want none", kept, err)
	}
}
