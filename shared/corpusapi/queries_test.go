package corpusapi_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
)

// TestSearchQueriesAreKeptOnlyOnOptIn: a corpus keeps no search query until an operator opts it in
// with PATCH /admin/corpora/{name} (which a viewer may not do, and which is audited); then its
// searches are kept, its newest queries only; turning it off deletes them. Another corpus that did not
// opt in keeps nothing throughout.
func TestSearchQueriesAreKeptOnlyOnOptIn(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	const keep = 5
	c, _ := serveWithAdmins(t, pool, reembed.Config{KeptQueries: postgres.QueryBounds{Max: keep, Age: time.Hour}})

	for _, name := range []string{"open", "closed"} {
		if st, body := c.do("POST", "/admin/corpora", adminToken, map[string]any{"name": name, "embedding_model": reembedtest.Alias}); st != 201 || body["keep_queries"] != false {
			t.Fatalf("create %s: %d %v; want keep_queries false by default", name, st, body)
		}
		if st, body := c.do("PUT", "/v1/corpora/"+name+"/documents", reembedtest.Key, map[string]any{"documents": []map[string]any{
			{"id": "a", "text": "annual leave"}, {"id": "b", "text": "expenses"}}}); st != 202 {
			t.Fatalf("put: %d %v", st, body)
		}
	}
	search := func(name, q string, mode string) {
		t.Helper()
		body := map[string]any{"query": q}
		if mode != "" {
			body["mode"] = mode
		}
		if st, out := c.do("POST", "/v1/corpora/"+name+"/search", reembedtest.Key, body); st != 200 {
			t.Fatalf("search %s %q: %d %v", name, q, st, out)
		}
	}
	kept := func(name string) []string {
		t.Helper()
		rows, _ := pool.Query(ctx, `SELECT q.query || '/' || q.mode FROM corpus_queries q JOIN corpora c ON c.id = q.corpus_id
			WHERE c.name = $1 ORDER BY q.asked_at, q.query`, name)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	audits := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'corpus.update'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Nobody opted in: searches keep nothing.
	search("open", "how many days of leave", "")
	search("closed", "how many days of leave", "")
	if got := kept("open"); len(got) != 0 {
		t.Fatalf("a corpus that did not opt in kept %v", got)
	}

	// A viewer may not flip the setting; a body without it is refused; neither is audited.
	if st, body := c.do("PATCH", "/admin/corpora/open", viewerToken, map[string]any{"keep_queries": true}); st != 403 {
		t.Fatalf("viewer turning keep_queries on: %d %v, want 403", st, body)
	}
	if st, body := c.do("PATCH", "/admin/corpora/open", adminToken, map[string]any{}); st != 400 {
		t.Fatalf("empty patch: %d %v, want 400", st, body)
	} else if _, param := errCode(body); param != "keep_queries" {
		t.Fatalf("empty patch names %q, want keep_queries", param)
	}
	if st, body := c.do("PATCH", "/admin/corpora/nope", adminToken, map[string]any{"keep_queries": true}); st != 404 {
		t.Fatalf("unknown corpus: %d %v, want 404", st, body)
	}
	if n := audits(); n != 0 {
		t.Fatalf("%d corpus.update audit rows after refused changes, want 0", n)
	}
	if st, body := c.do("PATCH", "/admin/corpora/open", adminToken, map[string]any{"keep_queries": true}); st != 200 || body["keep_queries"] != true {
		t.Fatalf("turning keep_queries on: %d %v", st, body)
	}
	if st, body := c.do("GET", "/admin/corpora/open", viewerToken, nil); st != 200 || body["keep_queries"] != true {
		t.Fatalf("GET after turning on: %d %v", st, body)
	}
	if n := audits(); n != 1 {
		t.Fatalf("%d corpus.update audit rows, want 1", n)
	}

	// Searches are kept, with their mode, at most `keep` of them, the newest.
	var asked []string
	for i := range keep + 3 {
		mode := []string{"vector", "keyword", "hybrid"}[i%3]
		q := fmt.Sprintf("question %d", i)
		search("open", q, mode)
		search("closed", q, mode)
		asked = append(asked, q+"/"+mode)
	}
	if got, want := kept("open"), asked[len(asked)-keep:]; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want the newest %d: %v", got, keep, want)
	}
	if got := kept("closed"); len(got) != 0 {
		t.Fatalf("a corpus that did not opt in kept %v", got)
	}

	// Turning it off deletes what was kept, and keeps nothing more.
	if st, body := c.do("PATCH", "/admin/corpora/open", adminToken, map[string]any{"keep_queries": false}); st != 200 || body["keep_queries"] != false {
		t.Fatalf("turning keep_queries off: %d %v", st, body)
	}
	if got := kept("open"); len(got) != 0 {
		t.Fatalf("after turning keep_queries off, %v are still kept", got)
	}
	search("open", "one more question", "")
	if got := kept("open"); len(got) != 0 {
		t.Fatalf("after turning keep_queries off, a search was kept: %v", got)
	}
	if n := audits(); n != 2 {
		t.Fatalf("%d corpus.update audit rows, want 2", n)
	}
	var before, after string
	if err := pool.QueryRow(ctx, `SELECT before->>'keep_queries', after->>'keep_queries' FROM audit_log WHERE action = 'corpus.update' ORDER BY id DESC LIMIT 1`).Scan(&before, &after); err != nil {
		t.Fatal(err)
	}
	if before != "true" || after != "false" {
		t.Fatalf("the audit row shows keep_queries %s → %s, want true → false", before, after)
	}
}
