package admin_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestUsageAndRequestLog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	rows := []struct {
		ago                   time.Duration
		key, team, model, out string
		prompt, completion    int
	}{
		{time.Hour, "key_a", "search", "acme-llm-2026-04", "ok", 10, 5},
		{2 * time.Hour, "key_a", "search", "acme-llm-2026-04", "ok", 20, 10},
		{3 * time.Hour, "key_b", "pilot", "acme-embed-2026-04", "upstream_unavailable", 0, 0},
		{30 * time.Hour, "key_b", "pilot", "acme-embed-2026-04", "ok", 100, 0}, // outside the default 24h
	}
	for i, r := range rows {
		_, err := e.pool.Exec(ctx, `INSERT INTO requests (request_id, at, route, key_id, team, requested, model, provider, outcome, status,
			prompt_tokens, completion_tokens, total_tokens, latency_us) VALUES ($1, $2, '/v1/chat/completions', $3, $4, $5, $5, 'acme', $6, 200, $7, $8, $9, 1500)`,
			fmt.Sprintf("req_%d", i), now.Add(-r.ago), r.key, r.team, r.model, r.out, r.prompt, r.completion, r.prompt+r.completion)
		if err != nil {
			t.Fatal(err)
		}
	}
	u := e.must(200, "GET", "/admin/usage", nil)
	if u["group_by"] != "model" || fmtAny(u["data"]) != `[{"completion_tokens":15,"errors":0,"group":"acme-llm-2026-04","prompt_tokens":30,"requests":2,"total_tokens":45},{"completion_tokens":0,"errors":1,"group":"acme-embed-2026-04","prompt_tokens":0,"requests":1,"total_tokens":0}]` {
		t.Errorf("usage by model (last 24h) = %s", fmtAny(u["data"]))
	}
	from := now.Add(-48 * time.Hour).Format(time.RFC3339)
	u = e.must(200, "GET", "/admin/usage?group_by=team&from="+from, nil)
	if fmtAny(u["data"]) != `[{"completion_tokens":0,"errors":1,"group":"pilot","prompt_tokens":100,"requests":2,"total_tokens":100},{"completion_tokens":15,"errors":0,"group":"search","prompt_tokens":30,"requests":2,"total_tokens":45}]` {
		t.Errorf("usage by team (48h) = %s", fmtAny(u["data"]))
	}
	for _, g := range []string{"key", "provider"} {
		if u := e.must(200, "GET", "/admin/usage?group_by="+g, nil); len(u["data"].([]any)) == 0 {
			t.Errorf("usage by %s is empty", g)
		}
	}

	l := e.must(200, "GET", "/admin/requests?limit=2", nil)
	data := l["data"].([]any)
	if len(data) != 2 || data[0].(map[string]any)["request_id"] != "req_0" || data[1].(map[string]any)["request_id"] != "req_1" {
		t.Errorf("request log (newest first, 2) = %s", fmtAny(data))
	}
	if data[0].(map[string]any)["latency_ms"] != 1.5 {
		t.Errorf("latency_ms = %v", data[0].(map[string]any)["latency_ms"])
	}
	l = e.must(200, "GET", "/admin/requests?outcome=upstream_unavailable", nil)
	if data := l["data"].([]any); len(data) != 1 || data[0].(map[string]any)["request_id"] != "req_2" {
		t.Errorf("request log filtered by outcome = %s", fmtAny(data))
	}
}
