package corpusapi_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/corpusapi"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
	"github.com/switchyard-ai/switchyard/shared/usage"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

type rowLog struct {
	mu   sync.Mutex
	rows []usage.Row
}

func (l *rowLog) Log(r usage.Row) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rows = append(l.rows, r)
}

// The re-embed service answers in the domain's words; the developer's routes answer in theirs,
// as the contract has them: an unknown corpus and another team's read the same (404
// corpus_not_found naming corpus, a message that says neither), a missing document is 404
// not_found naming id, an embedding of the wrong size is 502 upstream_bad_response; and the
// request log records the code the developer saw.
func TestDeveloperErrorsKeepTheirContract(t *testing.T) {
	pool := pgtest.NewPool(t)
	reembedtest.Seed(t, pool)
	cat := reembedtest.Catalog{Pool: pool}
	emb := &reembedtest.Embedder{}
	svc := startServiceOn(t, pool, cat, reembed.Config{}, emb)
	if _, err := svc.CreateCorpus(context.Background(), "kb", reembedtest.Alias, nil, nil); err != nil {
		t.Fatal(err)
	}
	rows := &rowLog{}
	mux := http.NewServeMux()
	(&corpusapi.Handlers{Service: svc, Usage: rows}).RegisterDeveloper(mux, corpusapi.SnapshotKeyAuth(cat))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := client{t, srv.URL}

	notFound := func(name string) map[string]any {
		return map[string]any{"message": `there is no corpus "` + name + `" that this key may use`, "type": "not_found_error", "code": "corpus_not_found", "param": "corpus"}
	}
	for _, tc := range []struct {
		method, path, key string
		body              any
		status            int
		want              map[string]any
	}{
		{"POST", "/v1/corpora/nope/search", reembedtest.Key, map[string]any{"query": "x"}, 404, notFound("nope")},
		{"POST", "/v1/corpora/kb/search", reembedtest.OtherKey, map[string]any{"query": "x"}, 404, notFound("kb")},
		{"PUT", "/v1/corpora/kb/documents", reembedtest.OtherKey, map[string]any{"documents": []map[string]any{{"id": "a", "text": "b"}}}, 404, notFound("kb")},
		{"DELETE", "/v1/corpora/nope/documents/a", reembedtest.Key, nil, 404, notFound("nope")},
		{"DELETE", "/v1/corpora/kb/documents/zzz", reembedtest.Key, nil, 404,
			map[string]any{"message": `corpus "kb" has no document "zzz"`, "type": "not_found_error", "code": "not_found", "param": "id"}},
	} {
		st, body := c.do(tc.method, tc.path, tc.key, tc.body)
		if got, _ := body["error"].(map[string]any); st != tc.status || !maps.Equal(got, tc.want) {
			t.Errorf("%s %s: %d %v, want %d %v", tc.method, tc.path, st, got, tc.status, tc.want)
		}
	}

	emb.WrongDimension(reembedtest.ModelV1, 7)
	st, body := c.do("POST", "/v1/corpora/kb/search", reembedtest.Key, map[string]any{"query": "x"})
	e, _ := body["error"].(map[string]any)
	if msg, _ := e["message"].(string); st != 502 || e["code"] != "upstream_bad_response" || e["type"] != "upstream_error" || e["param"] != nil ||
		!strings.Contains(msg, "returned an embedding of 7 dimensions") {
		t.Errorf("a query embedded with the wrong dimension: %d %v, want 502 upstream_bad_response naming the 7 dimensions", st, e)
	}

	want := []string{"corpus_not_found", "corpus_not_found", "corpus_not_found", "corpus_not_found", "not_found", "upstream_bad_response"}
	got := waittest.Eventually(t, 5*time.Second, "a request-log row per request", func() ([]string, bool) {
		rows.mu.Lock()
		defer rows.mu.Unlock()
		var out []string
		for _, r := range rows.rows {
			out = append(out, r.Outcome)
		}
		return out, len(out) == len(want)
	})
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("request-log outcomes %v, want %v", got, want)
	}
}
