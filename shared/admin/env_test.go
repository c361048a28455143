package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
	"github.com/switchyard-ai/switchyard/shared/seal"
	"github.com/switchyard-ai/switchyard/shared/upstream"
)

const superToken = "sya-8a3a0a03731cd4321358874aa8d5ec74cc7ca0b1"

// env is one test's admin API: its own database, the real local-key sealer, a stub upstream.
type env struct {
	t      *testing.T
	pool   *pgxpool.Pool
	svc    *admin.Service
	cor    *admin.Corpora
	h      *admin.Handler
	src    *catalog.Source
	srv    *httptest.Server
	up     *stubUpstream
	sealer *seal.Local
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := app.EnsureBootstrapAdmin(ctx, pool, superToken); err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.LocalFromFile(filepath.Join(t.TempDir(), "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	up := &stubUpstream{}
	svc := &admin.Service{
		Store:      &postgres.CatalogStore{Pool: pool, Sealer: sealer},
		UsageStore: &postgres.UsageStore{Pool: pool},
		Limits:     &postgres.CapacityStore{Pool: pool},
		Verifier:   up,
		Prober:     up,
		CheckBaseURL: func(u string) error {
			return upstream.CheckBaseURLHost(u, false)
		},
		CheckCABundle: upstream.CheckCABundle,
	}
	src := catalog.NewSource(&postgres.SnapshotLoader{Pool: pool, Opener: sealer}, 0, nil)
	h := admin.NewHandler(svc, src, nil)
	// The corpus routes are served through the same gate (as app wires them), so the OpenAPI, role
	// and audit walks cover them too.
	corpora, err := reembed.New(pool, src, nil, reembed.Config{InsertOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	cor := &admin.Corpora{Reembed: corpora, Catalog: src}
	h.ServeCorpora(cor)
	// reqlog gives each request the id and origin the audit log records, as app wires it.
	srv := httptest.NewServer(reqlog.Middleware(slog.New(slog.DiscardHandler), h))
	t.Cleanup(srv.Close)
	return &env{t: t, pool: pool, svc: svc, cor: cor, h: h, src: src, srv: srv, up: up, sealer: sealer}
}

// stubUpstream answers verification and probes without a network; the real client is tested
// against fakeupstream elsewhere.
type stubUpstream struct {
	verifies atomic.Int64
	fail     atomic.Bool
	probeDim atomic.Int64
}

func (s *stubUpstream) Verify(ctx context.Context, p *catalog.Provider) catalog.Verification {
	s.verifies.Add(1)
	if s.fail.Load() {
		return catalog.Verification{Status: catalog.Failed, CheckedAt: time.Now(),
			Diagnostics: []catalog.Diagnostic{{Code: "unreachable", Message: "connection refused"}}}
	}
	return catalog.Verification{Status: catalog.Verified, CheckedAt: time.Now(), UpstreamModels: []string{"m1", "m2"}}
}

func (s *stubUpstream) Probe(ctx context.Context, p *catalog.Provider, m *catalog.Model) catalog.Probe {
	pr := catalog.Probe{CheckedAt: time.Now()}
	if m.Kind == catalog.KindEmbedding {
		d := m.Dimension
		if n := s.probeDim.Load(); n > 0 {
			d = int(n)
		}
		pr.Dimension = &d
	} else {
		yes := true
		pr.Streaming, pr.Tools = &yes, &yes
	}
	return pr
}

// refresh makes the next request see every committed change (tests that are not about timing).
func (e *env) refresh() {
	e.t.Helper()
	if err := e.src.Refresh(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// resp is an answer of the admin API.
type resp struct {
	Status int
	Body   map[string]any
	Raw    []byte
	Header http.Header
}

func (r resp) errCode() string  { return str(r.Body, "error", "code") }
func (r resp) errParam() string { return str(r.Body, "error", "param") }

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

// do sends body (a string is sent as is, anything else as JSON) with token.
func (e *env) do(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Raw: raw, Header: res.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return out
}

// must sends a request as the bootstrap super admin and fails the test unless it answers want.
func (e *env) must(want int, method, path string, body any) map[string]any {
	e.t.Helper()
	r := e.do(method, path, superToken, body)
	if r.Status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r.Body
}

// count returns the number of rows of table.
func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// seedCatalog creates a provider, a chat model, two embedding models, aliases, a team and grants.
func (e *env) seedCatalog() {
	e.t.Helper()
	e.must(201, "POST", "/admin/providers", map[string]any{"identifier": "acme-internal-llm", "display_name": "Acme Internal LLM (self-hosted)",
		"base_url": "https://llm.acme.internal/v1", "auth": map[string]any{"method": "bearer", "credential": "sk-upstream-secret-1234"}})
	e.must(201, "POST", "/admin/models", map[string]any{"name": "acme-llm-2026-04", "provider": "acme-internal-llm", "upstream_name": "acme-llm",
		"kind": "chat", "context_window": 32768, "capabilities": map[string]any{"streaming": true, "tools": true}, "enabled": true})
	e.must(201, "POST", "/admin/models", map[string]any{"name": "acme-llm-2026-06", "provider": "acme-internal-llm", "upstream_name": "acme-llm-v2",
		"kind": "chat", "context_window": 32768, "enabled": true})
	e.must(201, "POST", "/admin/models", map[string]any{"name": "acme-embed-2026-04", "provider": "acme-internal-llm", "upstream_name": "embed-small",
		"kind": "embedding", "dimension": 384, "enabled": true})
	e.must(201, "POST", "/admin/models", map[string]any{"name": "acme-embed-2026-06", "provider": "acme-internal-llm", "upstream_name": "embed-large",
		"kind": "embedding", "dimension": 1024, "enabled": true})
	e.must(201, "PUT", "/admin/aliases/acme-llm", map[string]any{"target": "acme-llm-2026-04"})
	e.must(201, "PUT", "/admin/aliases/acme-embed", map[string]any{"target": "acme-embed-2026-04"})
	e.must(201, "POST", "/admin/teams", map[string]any{"name": "search"})
}

func fmtAny(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
