package corpusapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpusapi"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

const (
	adminToken  = "sya-test-provider-admin-token-0000"
	viewerToken = "sya-test-viewer-token-000000000000"
)

// adminSnapshots finds admins in the test catalogue, as catalog.Source does for the admin API.
type adminSnapshots struct{ reembedtest.Catalog }

func (a adminSnapshots) Admin(ctx context.Context, hash [32]byte) (*catalog.Admin, *catalog.Snapshot, error) {
	snap, err := a.Get(ctx)
	if err != nil {
		return nil, nil, err
	}
	return snap.Admins[hash], snap, nil
}

type client struct {
	t   *testing.T
	url string
}

func (c client) do(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			c.t.Fatalf("%s %s: not JSON: %s", method, path, b)
		}
	}
	return resp.StatusCode, out
}

func errCode(body map[string]any) (code, param string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	param, _ = e["param"].(string)
	return code, param
}

// serveWithAdmins seeds the test catalogue with a provider_admin (adminToken) and a viewer
// (viewerToken), starts a re-embed service (cfg over startService's test settings), and serves the
// developer's corpus routes and the admin API's corpus routes, behind its one gate, until the test
// ends.
func serveWithAdmins(t *testing.T, pool *pgxpool.Pool, cfg reembed.Config) (client, *reembed.Service) {
	t.Helper()
	reembedtest.Seed(t, pool)
	for token, role := range map[string]string{adminToken: "provider_admin", viewerToken: "viewer"} {
		h := catalog.HashSecret(token)
		if _, err := pool.Exec(context.Background(), `INSERT INTO admins (id, name, role, token_hash) VALUES ($1, $1, $2, $3)`, "adm-"+role, role, h[:]); err != nil {
			t.Fatal(err)
		}
	}
	cat := reembedtest.Catalog{Pool: pool}
	svc := startServiceOn(t, pool, cat, cfg, &reembedtest.Embedder{})
	mux := http.NewServeMux()
	(&corpusapi.Handlers{Service: svc}).RegisterDeveloper(mux, corpusapi.SnapshotKeyAuth(cat))
	mux.Handle("/admin/", admin.NewHandler(&admin.Service{}, adminSnapshots{cat}, nil).ServeCorpora(&admin.Corpora{Reembed: svc, Catalog: cat}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return client{t, srv.URL}, svc
}

func TestCorpusHTTPWalkThrough(t *testing.T) {
	pool := pgtest.NewPool(t)
	c, _ := serveWithAdmins(t, pool, reembed.Config{})

	// Admin: roles and validation.
	if st, body := c.do("POST", "/admin/corpora", viewerToken, map[string]any{"name": "handbook", "embedding_model": reembedtest.Alias}); st != 403 {
		t.Fatalf("viewer creating a corpus: %d %v", st, body)
	}
	if st, body := c.do("POST", "/admin/corpora", adminToken, map[string]any{"name": "handbook", "embedding_model": reembedtest.Alias, "colour": 1}); st != 400 {
		t.Fatalf("unknown field: %d %v", st, body)
	} else if code, param := errCode(body); code != "invalid_request" || param != "colour" {
		t.Fatalf("unknown field answered %s param %s", code, param)
	}
	st, body := c.do("POST", "/admin/corpora", adminToken, map[string]any{"name": "handbook", "embedding_model": reembedtest.Alias})
	if st != 201 || body["active_index"].(map[string]any)["model"] != reembedtest.ModelV1 || body["documents"] != float64(0) {
		t.Fatalf("create corpus: %d %v", st, body)
	}

	// Developer: writes, validation, search, access.
	var docs []map[string]any
	for i := 0; i < 60; i++ {
		docs = append(docs, map[string]any{"id": fmt.Sprintf("d%03d", i), "text": fmt.Sprintf("text of d%03d", i), "metadata": map[string]any{"i": i}})
	}
	if st, body := c.do("PUT", "/v1/corpora/handbook/documents", reembedtest.Key, map[string]any{"documents": docs}); st != 202 || body["accepted"] != float64(60) {
		t.Fatalf("put: %d %v", st, body)
	}
	st, body = c.do("PUT", "/v1/corpora/handbook/documents", reembedtest.Key, map[string]any{"documents": []map[string]any{{"id": "x", "text": ""}}})
	if code, param := errCode(body); st != 400 || param != "documents[0].text" {
		t.Fatalf("empty text: %d %s %s", st, code, param)
	}
	for _, key := range []string{reembedtest.OtherKey} {
		if st, body := c.do("POST", "/v1/corpora/handbook/search", key, map[string]any{"query": "x"}); st != 404 {
			t.Fatalf("other team's search: %d %v", st, body)
		} else if code, _ := errCode(body); code != "corpus_not_found" {
			t.Fatalf("other team's search answered %s", code)
		}
	}
	if st, _ := c.do("POST", "/v1/corpora/handbook/search", "sk-nope", map[string]any{"query": "x"}); st != 401 {
		t.Fatalf("unknown key: %d", st)
	}
	search := func(q string) map[string]any {
		t.Helper()
		return waittest.Eventually(t, 20*time.Second, fmt.Sprintf("a search for %q to find its document", q), func() (map[string]any, bool) {
			st, body := c.do("POST", "/v1/corpora/handbook/search", reembedtest.Key, map[string]any{"query": q, "k": 3})
			if st != 200 {
				t.Fatalf("search: %d %v", st, body)
			}
			data := body["data"].([]any)
			return body, len(data) > 0 && data[0].(map[string]any)["score"].(float64) > 0.99
		})
	}
	res := search("text of d042")
	top := res["data"].([]any)[0].(map[string]any)
	if res["object"] != "list" || res["model"] != reembedtest.ModelV1 || top["id"] != "d042" || top["metadata"].(map[string]any)["i"] != float64(42) {
		t.Fatalf("search: %v", res)
	}
	if st, _ := c.do("DELETE", "/v1/corpora/handbook/documents/d001", reembedtest.Key, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	// The admin routes count the documents: 60 written, one deleted.
	if st, body := c.do("GET", "/admin/corpora/handbook", viewerToken, nil); st != 200 || body["documents"] != float64(59) {
		t.Fatalf("GET /admin/corpora/handbook after 60 writes and a delete: %d documents %v, want 59", st, body["documents"])
	}

	// Re-embed with progress, then rollback.
	st, body = c.do("POST", "/admin/corpora/handbook/reembed", adminToken, map[string]any{"model": reembedtest.ModelV2})
	if st != 202 {
		t.Fatalf("reembed: %d %v", st, body)
	}
	id := int64(body["run"].(map[string]any)["id"].(float64))
	if st, body := c.do("POST", "/admin/corpora/handbook/reembed", adminToken, map[string]any{"model": reembedtest.ModelV3}); st != 409 {
		t.Fatalf("second run: %d %v", st, body)
	}
	run := waittest.Eventually(t, 30*time.Second, fmt.Sprintf("run %d to end", id), func() (map[string]any, bool) {
		_, run := c.do("GET", fmt.Sprintf("/admin/reembeds/%d", id), viewerToken, nil)
		return run, run["state"] == "succeeded" || run["state"] == "failed"
	})
	v := run["verification"].(map[string]any)
	if run["state"] != "succeeded" || run["total"] != float64(59) || run["embedded"] != float64(59) || v["passed"] != true || v["documents"] != float64(59) {
		t.Fatalf("run: %v", run)
	}
	if res := search("text of d042"); res["model"] != reembedtest.ModelV2 {
		t.Fatalf("search after cut-over answered by %v", res["model"])
	}
	if st, body := c.do("POST", fmt.Sprintf("/admin/reembeds/%d/cancel", id), adminToken, nil); st != 409 {
		t.Fatalf("cancel of an ended run: %d %v", st, body)
	}
	st, body = c.do("POST", "/admin/corpora/handbook/rollback", adminToken, nil)
	if st != 200 || body["active_index"].(map[string]any)["model"] != reembedtest.ModelV1 || body["standby_index"].(map[string]any)["model"] != reembedtest.ModelV2 {
		t.Fatalf("rollback: %d %v", st, body)
	}
	if res := search("text of d042"); res["model"] != reembedtest.ModelV1 {
		t.Fatalf("search after rollback answered by %v", res["model"])
	}
	if st, body := c.do("GET", "/admin/corpora", viewerToken, nil); st != 200 || len(body["data"].([]any)) != 1 ||
		body["data"].([]any)[0].(map[string]any)["documents"] != float64(59) {
		t.Fatalf("list (one corpus of 59 documents): %d %v", st, body)
	}
	if st, _ := c.do("GET", "/admin/reembeds/999", viewerToken, nil); st != 404 {
		t.Fatalf("unknown run: %d", st)
	}
}
