package corpusapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/corpusapi"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// startService starts a re-embed service with a worker on pool, stopped when the test ends.
func startService(t *testing.T, pool *pgxpool.Pool, cat reembedtest.Catalog) *reembed.Service {
	t.Helper()
	return startServiceOn(t, pool, cat, reembed.Config{}, &reembedtest.Embedder{})
}

// startServiceOn is startService with cfg, whose batch size, job slice, fetch timings and log are
// the tests' short ones, embedding with emb.
func startServiceOn(t *testing.T, pool *pgxpool.Pool, cat reembedtest.Catalog, cfg reembed.Config, emb *reembedtest.Embedder) *reembed.Service {
	t.Helper()
	cfg.BatchSize, cfg.JobSlice, cfg.FetchCooldown, cfg.FetchPollInterval = 50, 200*time.Millisecond, 5*time.Millisecond, 20*time.Millisecond
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := reembed.New(pool, cat, emb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	return svc
}

// A developer filters by metadata and searches by keyword and hybrid over HTTP; a filter or mode
// outside the grammar is invalid_request naming it.
func TestSearchFiltersAndModesOverHTTP(t *testing.T) {
	pool := pgtest.NewPool(t)
	reembedtest.Seed(t, pool)
	ctx := context.Background()
	cat := reembedtest.Catalog{Pool: pool}
	svc := startService(t, pool, cat)
	if _, err := svc.CreateCorpusIn(ctx, reembed.NewCorpus{Name: "notes", Alias: reembedtest.Alias, Language: "simple"}, nil); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&corpusapi.Handlers{Service: svc}).RegisterDeveloper(mux, corpusapi.SnapshotKeyAuth(cat))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := client{t, srv.URL}

	var docs []map[string]any
	for i := range 40 {
		docs = append(docs, map[string]any{"id": fmt.Sprintf("n%02d", i), "text": fmt.Sprintf("meeting note %d", i),
			"metadata": map[string]any{"team": []string{"red", "blue"}[i%2], "year": 2020 + i%5}})
	}
	docs[13]["text"] = "meeting note about the kumquat harvest"
	if st, body := c.do("PUT", "/v1/corpora/notes/documents", reembedtest.Key, map[string]any{"documents": docs}); st != 202 {
		t.Fatalf("put: %d %v", st, body)
	}
	search := func(body map[string]any) []any {
		t.Helper()
		st, out := c.do("POST", "/v1/corpora/notes/search", reembedtest.Key, body)
		if st != 200 {
			t.Fatalf("search %v: %d %v", body, st, out)
		}
		return out["data"].([]any)
	}
	// Wait until every document is embedded and searchable.
	waittest.Eventually(t, 30*time.Second, "the 40 documents to become searchable", func() (string, bool) {
		n := len(search(map[string]any{"query": "x", "k": 100}))
		return fmt.Sprintf("%d searchable", n), n >= 40
	})

	data := search(map[string]any{"query": "meeting note 7", "k": 10, "filter": map[string]any{"team": "red", "year": map[string]any{"in": []int{2021, 2023}}}})
	if len(data) != 8 { // red: even i; year 2021 or 2023: i%5 is 1 or 3 → i in {6, 8, 16, 18, 26, 28, 36, 38}
		t.Fatalf("filtered search: %d hits %v; want the 8 matching documents", len(data), data)
	}
	for _, h := range data {
		m := h.(map[string]any)["metadata"].(map[string]any)
		if m["team"] != "red" || (m["year"] != float64(2021) && m["year"] != float64(2023)) {
			t.Fatalf("filtered search returned %v", h)
		}
	}
	for _, mode := range []string{"keyword", "hybrid"} {
		data := search(map[string]any{"query": "kumquat", "k": 3, "mode": mode})
		if top := data[0].(map[string]any); top["id"] != "n13" {
			t.Fatalf("%s search for kumquat: %v; want n13 first", mode, data)
		}
	}

	for _, bad := range []struct {
		body  map[string]any
		param string
	}{
		{map[string]any{"query": "x", "mode": "fuzzy"}, "mode"},
		{map[string]any{"query": "x", "filter": []int{1}}, "filter"},
		{map[string]any{"query": "x", "filter": map[string]any{"year": map[string]any{"gt": 2020}}}, "filter.year"},
		{map[string]any{"query": "x", "filter": map[string]any{"team": []string{"red"}}}, "filter.team"},
		{map[string]any{"query": "x", "filter": map[string]any{"team": map[string]any{"in": []any{}}}}, "filter.team"},
	} {
		st, out := c.do("POST", "/v1/corpora/notes/search", reembedtest.Key, bad.body)
		if code, param := errCode(out); st != 400 || code != "invalid_request" || param != bad.param {
			t.Fatalf("search %v: %d %s param %q; want 400 invalid_request param %q", bad.body, st, code, param, bad.param)
		}
	}
	var lang string
	if err := pool.QueryRow(ctx, `SELECT language FROM corpora WHERE name = 'notes'`).Scan(&lang); err != nil || lang != "simple" {
		t.Fatalf("corpus language %q %v", lang, err)
	}
}
