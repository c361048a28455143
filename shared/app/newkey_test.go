package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/gateway"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// A key and an admin token work on another instance the moment their creation answered, however
// recently that instance checked its snapshot (here: it would not check again for ten seconds).
func TestNewKeyWorksOnEveryInstanceAtOnce(t *testing.T) {
	t.Parallel()
	const token = "sya-5d1e8c3b7a9f2e4d6c0b8a7f1e3d5c9b2a4f6e8d"
	pool, sealer := sharedDatabase(t, token)
	fake := fakeupstream.Start(fakeupstream.Config{})
	t.Cleanup(fake.Close)
	serve := func(interval time.Duration) *httptest.Server {
		a, err := app.New(app.Config{Local: true, AllowLoopback: true, SnapshotInterval: interval}, slog.New(slog.DiscardHandler), pool, sealer)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.Handler())
		t.Cleanup(func() { srv.Close(); _ = a.Usage.Close(context.Background()) })
		return srv
	}
	one, two := serve(0), serve(10*time.Second)
	op := client{t, one.URL, token}
	for _, step := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/admin/providers", map[string]any{"identifier": "fake", "base_url": fake.URL, "auth": map[string]any{"method": "none"}}},
		{"POST", "/admin/models", map[string]any{"name": "chat-v1", "provider": "fake", "upstream_name": "demo-chat", "kind": "chat", "enabled": true}},
		{"POST", "/admin/teams", map[string]any{"name": "search"}},
		{"PUT", "/admin/audience/chat-v1", map[string]any{"teams": []string{"search"}}},
	} {
		if status, body := op.do(step.method, step.path, step.body); status >= 300 {
			t.Fatalf("%s %s = %d %v", step.method, step.path, status, body)
		}
	}
	// The second instance loads its snapshot now, and would keep it for ten seconds.
	if status, _ := (client{t, two.URL, token}).do("GET", "/admin/providers", nil); status != 200 {
		t.Fatalf("the bootstrap token on the second instance = %d", status)
	}

	_, key := op.do("POST", "/admin/keys", map[string]any{"team": "search"})
	status, body := (client{t, two.URL, key["key"].(string)}).do("POST", "/v1/chat/completions",
		map[string]any{"model": "chat-v1", "messages": []map[string]any{{"role": "user", "content": "hi"}}})
	if status != http.StatusOK {
		t.Errorf("a key created on one instance, used at once on another = %d %v; want 200", status, body)
	}
	_, adm := op.do("POST", "/admin/admins", map[string]any{"name": "ops", "role": "viewer"})
	if status, body := (client{t, two.URL, adm["token"].(string)}).do("GET", "/admin/providers", nil); status != http.StatusOK {
		t.Errorf("an admin token created on one instance, used at once on another = %d %v; want 200", status, body)
	}

	// Revoked is revoked: the look-up of a hash the snapshot lacks never brings a key back.
	if status, body := op.do("DELETE", "/admin/keys/"+key["id"].(string), nil); status != 200 {
		t.Fatalf("revoke = %d %v", status, body)
	}
	// The contract refuses a revoked key within one second (the instance's snapshot may be up to that
	// old); once refused, it stays refused: no look-up brings it back.
	chat := func() int {
		status, _ := (client{t, one.URL, key["key"].(string)}).do("POST", "/v1/chat/completions",
			map[string]any{"model": "chat-v1", "messages": []map[string]any{{"role": "user", "content": "hi"}}})
		return status
	}
	waittest.Eventually(t, 2*time.Second, "the revoked key to be refused with 401", func() (string, bool) {
		status := chat()
		return fmt.Sprintf("status %d", status), status == http.StatusUnauthorized
	})
	for range 5 {
		if status := chat(); status != http.StatusUnauthorized {
			t.Fatalf("the revoked key = %d after it was refused once; want 401 for good", status)
		}
	}
}

// countingLoader counts every database read a catalog.Source makes through it.
type countingLoader struct {
	*postgres.SnapshotLoader
	reads, lookups atomic.Int64
}

func (c *countingLoader) Version(ctx context.Context) (int64, error) {
	c.reads.Add(1)
	return c.SnapshotLoader.Version(ctx)
}

func (c *countingLoader) Load(ctx context.Context) (*catalog.Snapshot, error) {
	c.reads.Add(1)
	return c.SnapshotLoader.Load(ctx)
}

func (c *countingLoader) ActiveHash(ctx context.Context, kind catalog.SecretKind, hash [32]byte) (bool, error) {
	c.lookups.Add(1)
	return c.SnapshotLoader.ActiveHash(ctx, kind, hash)
}

// A flood of unknown keys costs the database a bounded number of look-ups (catalog.MissBurst at once;
// the clock stands still here, so no budget comes back), and a known key costs none.
func TestAttackUnknownKeyFloodMakesBoundedLookups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	known := catalog.HashSecret("sk-sy-known-key")
	if _, err := pool.Exec(ctx, `WITH t AS (INSERT INTO teams (name) VALUES ('search') RETURNING id)
		INSERT INTO api_keys (id, team_id, prefix, key_hash) SELECT 'key_1', id, 'sk-sy-kn', $1 FROM t`, known[:]); err != nil {
		t.Fatal(err)
	}
	loader := &countingLoader{SnapshotLoader: &postgres.SnapshotLoader{Pool: pool}}
	frozen := time.Now()
	src := catalog.NewSource(loader, 0, func() time.Time { return frozen })
	if _, err := src.Get(ctx); err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(gateway.Config{Catalog: src, Log: slog.New(slog.DiscardHandler)})
	get := func(key string) int {
		r := httptest.NewRequest("GET", "/v1/models", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, r)
		return w.Code
	}
	before := loader.reads.Load()
	for i := range 100 {
		if code := get("sk-sy-known-key"); code != http.StatusOK {
			t.Fatalf("known key, request %d = %d", i, code)
		}
	}
	if n, m := loader.reads.Load()-before, loader.lookups.Load(); n != 0 || m != 0 {
		t.Errorf("100 requests with a known key read the database %d+%d times; want none", n, m)
	}
	for i := range 1000 {
		if code := get(fmt.Sprintf("sk-sy-unknown-%04d", i)); code != http.StatusUnauthorized {
			t.Fatalf("unknown key %d = %d; want 401", i, code)
		}
	}
	if n := loader.lookups.Load(); n > catalog.MissBurst || n == 0 {
		t.Errorf("1,000 unknown keys made %d look-ups; want between 1 and %d", n, catalog.MissBurst)
	}
}
