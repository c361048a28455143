package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/seal"
)

func newApp(t *testing.T) (*app.App, *httptest.Server) {
	t.Helper()
	pool := pgtest.NewPool(t)
	sealer, err := seal.LocalFromFile(filepath.Join(t.TempDir(), "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Config{Local: true, AllowLoopback: true}, slog.New(slog.DiscardHandler), pool, sealer)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return a, srv
}

// /healthz tells whether the database answers, without credentials, and carries a request id.
func TestHealthz(t *testing.T) {
	t.Parallel()
	a, srv := newApp(t)

	get := func() (int, map[string]string, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body map[string]string
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("healthz body %q: %v", b, err)
		}
		return resp.StatusCode, body, resp.Header.Get("X-Request-Id")
	}
	status, body, id := get()
	if status != http.StatusOK || body["database"] != "ok" || id == "" {
		t.Fatalf("healthz = %d %v (request id %q); want 200 with database ok and a request id", status, body, id)
	}
	a.Pool.Close()
	status, body, _ = get()
	if status != http.StatusServiceUnavailable || body["status"] != "degraded" {
		t.Fatalf("healthz with the pool closed = %d %v; want 503 degraded", status, body)
	}
	if body["database"] != "unreachable" {
		t.Errorf("healthz told an anonymous caller why the database is unreachable: %q; want just \"unreachable\"", body["database"])
	}
}

// The bootstrap admin's token is the one given at start; a restart with another token replaces it.
func TestBootstrapAdminTokenIsReplacedOnRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, srv := newApp(t)
	first, second := "sya-8d49167b7390b57666eae463499f0642b9af0aa9", "sya-22b3e22a9edb4fa6e869a3bec6b8c6b7dde2b170"
	for _, tok := range []string{first, second} {
		if err := app.EnsureBootstrapAdmin(ctx, a.Pool, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Catalog.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]int{first: http.StatusUnauthorized, second: http.StatusOK} {
		req, _ := http.NewRequest("GET", srv.URL+"/admin/providers", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /admin/providers with the %s token = %d; want %d", map[bool]string{true: "old", false: "new"}[tok == first], resp.StatusCode, want)
		}
	}
	var n int
	if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM admins WHERE bootstrap`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("bootstrap admins = %d (%v); want 1", n, err)
	}
}

// A credential that cannot be unsealed (here: sealed with another key) leaves that provider without
// its credential and the rest of the catalogue serving, instead of failing every request.
func TestUnopenableCredentialDoesNotTakeTheCatalogueDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, srv := newApp(t)
	const token = "sya-49e7efdecd2fd131350956b0f27185c6286b8051"
	if err := app.EnsureBootstrapAdmin(ctx, a.Pool, token); err != nil {
		t.Fatal(err)
	}
	if err := a.Catalog.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	op := client{t, srv.URL, token}
	for _, p := range []map[string]any{
		{"identifier": "sealed", "base_url": "http://127.0.0.1:9/v1", "auth": map[string]any{"method": "bearer", "credential": "secret-1234"}},
		{"identifier": "open", "base_url": "http://127.0.0.1:9/v1", "auth": map[string]any{"method": "none"}},
	} {
		if status, body := op.do("POST", "/admin/providers", p); status != 201 {
			t.Fatalf("create provider = %d %v", status, body)
		}
	}
	otherKey, err := seal.LocalFromFile(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := app.New(app.Config{Local: true}, slog.New(slog.DiscardHandler), a.Pool, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Usage.Close(ctx) }) // the pool is a's, closed with it
	snap, err := b.Catalog.Get(ctx)
	if err != nil {
		t.Fatalf("catalogue with one unopenable credential: %v", err)
	}
	if p := snap.Providers["sealed"]; p == nil || p.Credential != "" {
		t.Errorf("provider sealed = %+v; want it present without a credential", p)
	}
	if snap.Providers["open"] == nil {
		t.Error("the other provider is missing")
	}
}
