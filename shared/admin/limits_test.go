package admin_test

import (
	"context"
	"testing"
)

// An operator says "this endpoint takes 8 at a time; team search gets 60 requests and 100k tokens a
// minute", reads it back with what is in use, and is told plainly what does not fit a scope.
func TestLimitsAdmin(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	ctx := context.Background()
	v := e.must(200, "PUT", "/admin/limits/provider:acme-internal-llm", map[string]any{"max_concurrency": 8, "queue_ms": 2000})
	if v["max_concurrency"] != float64(8) || v["queue_ms"] != float64(2000) || v["in_flight"] != float64(0) || v["scope"] != "provider:acme-internal-llm" {
		t.Fatalf("PUT provider limits = %v", v)
	}
	v = e.must(200, "PUT", "/admin/limits/team:search", map[string]any{"requests_per_minute": 60, "tokens_per_minute": 100000})
	if v["requests_per_minute"] != float64(60) || v["tokens_per_minute"] != float64(100000) || v["requests_per_day"] != nil {
		t.Fatalf("PUT team limits = %v", v)
	}
	// A request in flight and a minute's use show up in the listing.
	if _, err := e.pool.Exec(ctx, `UPDATE capacity_slots SET holder = gen_random_uuid(), lease_until = now() + interval '1 minute'
		WHERE scope = 'provider:acme-internal-llm' AND slot = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE rate_windows SET window_start = date_trunc('minute', now()), requests = 3, tokens = 700
		WHERE scope = 'team:search' AND period = 'minute'`); err != nil {
		t.Fatal(err)
	}
	list := e.must(200, "GET", "/admin/limits", nil)["data"].([]any)
	if len(list) != 2 {
		t.Fatalf("GET /admin/limits listed %d scopes, want 2", len(list))
	}
	for _, item := range list {
		m := item.(map[string]any)
		switch m["scope"] {
		case "provider:acme-internal-llm":
			if m["in_flight"] != float64(1) {
				t.Errorf("provider in_flight = %v, want 1", m["in_flight"])
			}
		case "team:search":
			minute := m["usage"].(map[string]any)["minute"].(map[string]any)
			if minute["requests"] != float64(3) || minute["tokens"] != float64(700) {
				t.Errorf("team usage this minute = %v, want 3 requests and 700 tokens", minute)
			}
		}
	}
	for _, c := range []struct {
		path  string
		body  map[string]any
		code  int
		param string
	}{
		{"/admin/limits/team:search", map[string]any{"max_concurrency": 3}, 400, "max_concurrency"},
		{"/admin/limits/model:acme-llm-2026-04", map[string]any{"tokens_per_minute": 3}, 400, "tokens_per_minute"},
		{"/admin/limits/model:acme-llm-2026-04", map[string]any{"max_concurrency": -1}, 400, "max_concurrency"},
		{"/admin/limits/team:search", map[string]any{}, 400, ""},
		{"/admin/limits/model:nope", map[string]any{"max_concurrency": 3}, 404, "scope"},
		{"/admin/limits/galaxy:x", map[string]any{"max_concurrency": 3}, 404, "scope"},
	} {
		r := e.do("PUT", c.path, superToken, c.body)
		if r.Status != c.code || r.errParam() != c.param {
			t.Errorf("PUT %s %v = %d %s; want %d naming %q", c.path, c.body, r.Status, r.Raw, c.code, c.param)
		}
	}
	e.must(200, "DELETE", "/admin/limits/team:search", nil)
	e.must(404, "GET", "/admin/limits/team:search", nil)
}
