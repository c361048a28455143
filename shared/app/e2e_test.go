package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

type client struct {
	t     *testing.T
	base  string
	token string
}

func (c client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// The operator's journey on one address, as make dev serves it: a provider whose credential is sealed,
// an embedding model behind an alias, a team and its key; then the developer's corpus requests, each
// in the request log with its outcome, like every /v1 request.
func TestCorpusRequestsAreLoggedLikeEveryDeveloperRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, srv := newApp(t)
	fake := fakeupstream.Start(fakeupstream.Config{Token: "up-secret-9876"})
	t.Cleanup(fake.Close)
	const token = "sya-6f1cd64fb31df58f91425a602f1cb683f10ce67f"
	if err := app.EnsureBootstrapAdmin(ctx, a.Pool, token); err != nil {
		t.Fatal(err)
	}
	if err := a.Catalog.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	op := client{t, srv.URL, token}
	for _, step := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/admin/providers", map[string]any{"identifier": "acme", "base_url": fake.URL, "auth": map[string]any{"method": "bearer", "credential": "up-secret-9876"}}},
		{"POST", "/admin/models", map[string]any{"name": "acme-embed-v1", "provider": "acme", "upstream_name": "demo-embed-small", "kind": "embedding", "dimension": 384, "enabled": true}},
		{"PUT", "/admin/aliases/acme-embed", map[string]any{"target": "acme-embed-v1"}},
		{"POST", "/admin/teams", map[string]any{"name": "search"}},
		{"PUT", "/admin/audience/acme-embed", map[string]any{"teams": []string{"search"}}},
	} {
		if status, body := op.do(step.method, step.path, step.body); status >= 300 {
			t.Fatalf("%s %s = %d %v", step.method, step.path, status, body)
		}
	}
	_, key := op.do("POST", "/admin/keys", map[string]any{"team": "search"})
	if err := a.Catalog.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if status, body := op.do("POST", "/admin/corpora", map[string]any{"name": "handbook", "embedding_model": "acme-embed"}); status != 201 || len(body["teams"].([]any)) != 1 {
		t.Fatalf("create corpus = %d %v", status, body)
	}
	dev := client{t, srv.URL, key["key"].(string)}
	if status, body := dev.do("PUT", "/v1/corpora/handbook/documents", map[string]any{"documents": []map[string]any{{"id": "a", "text": "vacation: 25 days"}}}); status != 202 {
		t.Fatalf("put documents = %d %v", status, body)
	}
	// The document becomes searchable once the worker embedded it; this app works no jobs, so the
	// search answers from an empty index: still a successful, logged request.
	if status, body := dev.do("POST", "/v1/corpora/handbook/search", map[string]any{"query": "vacation"}); status != 200 || body["model"] != "acme-embed-v1" {
		t.Fatalf("search = %d %v", status, body)
	}
	if status, _ := dev.do("POST", "/v1/corpora/nope/search", map[string]any{"query": "x"}); status != 404 {
		t.Fatalf("search of an unknown corpus = %d; want 404", status)
	}
	if status, _ := (client{t, srv.URL, "sk-wrong"}).do("POST", "/v1/corpora/handbook/search", map[string]any{"query": "x"}); status != 401 {
		t.Fatalf("search with a wrong key = %d; want 401", status)
	}
	a.Flush(ctx)
	type logged struct{ route, outcome, model, provider string }
	want := map[logged]bool{
		{"/v1/corpora/{corpus}/documents", "ok", "", ""}:               true,
		{"/v1/corpora/{corpus}/search", "ok", "acme-embed-v1", "acme"}: true,
		{"/v1/corpora/{corpus}/search", "corpus_not_found", "", ""}:    true,
		{"/v1/corpora/{corpus}/search", "invalid_api_key", "", ""}:     true,
	}
	got := waittest.Eventually(t, 2*time.Second, fmt.Sprintf("%d kinds of request in the request log", len(want)), func() (map[logged]bool, bool) {
		rows, err := a.Pool.Query(ctx, `SELECT route, outcome, model, provider FROM requests`)
		if err != nil {
			t.Fatal(err)
		}
		got := map[logged]bool{}
		for rows.Next() {
			var l logged
			if err := rows.Scan(&l.route, &l.outcome, &l.model, &l.provider); err != nil {
				t.Fatal(err)
			}
			got[l] = true
		}
		return got, len(got) == len(want)
	})
	for l := range want {
		if !got[l] {
			t.Errorf("request log lacks %+v; it has %v", l, got)
		}
	}
}
