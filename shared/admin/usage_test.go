package admin_test

import (
	"context"
	"fmt"
	"strings"
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

// TestRequestLogPages walks the request log a page at a time both ways (after=last_id for older,
// before=first_id for newer), with and without an outcome filter; requests logged meanwhile do
// not shift the pages, and a cursor the log does not hold is refused naming it.
func TestRequestLogPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	insert := func(id string, at time.Time, outcome string) {
		t.Helper()
		if _, err := e.pool.Exec(ctx, `INSERT INTO requests (request_id, at, route, requested, model, provider, outcome, status)
			VALUES ($1, $2, '/v1/chat/completions', 'm', 'm', 'acme', $3, 200)`, id, at, outcome); err != nil {
			t.Fatal(err)
		}
	}
	// req_0 is the newest. req_3 and req_4 share a timestamp: the order written (req_4 first, so
	// it is the older) breaks the tie, so no page repeats or skips either.
	for i, o := range []string{"ok", "model_not_found", "ok", "ok", "model_not_found", "ok", "ok"} {
		at := now.Add(-time.Duration(i) * time.Minute)
		if i == 4 {
			at = now.Add(-3 * time.Minute)
		}
		insert(fmt.Sprintf("req_%d", i), at, o)
	}
	type pageOf struct {
		ids         string
		first, last any
		more        bool
	}
	read := func(query string) pageOf {
		t.Helper()
		b := e.must(200, "GET", "/admin/requests?"+query, nil)
		var ids []string
		for _, d := range b["data"].([]any) {
			ids = append(ids, d.(map[string]any)["request_id"].(string))
		}
		return pageOf{fmt.Sprint(ids), b["first_id"], b["last_id"], b["has_more"].(bool)}
	}
	for _, c := range []struct {
		query string
		want  pageOf
	}{
		{"limit=3", pageOf{"[req_0 req_1 req_2]", "req_0", "req_2", true}},
		{"limit=3&after=req_2", pageOf{"[req_4 req_3 req_5]", "req_4", "req_5", true}},
		{"limit=3&after=req_5", pageOf{"[req_6]", "req_6", "req_6", false}},
		{"limit=3&before=req_6", pageOf{"[req_4 req_3 req_5]", "req_4", "req_5", true}},
		{"limit=3&before=req_4", pageOf{"[req_0 req_1 req_2]", "req_0", "req_2", false}},
		{"limit=3&before=req_0", pageOf{"[]", nil, nil, false}},
		{"limit=1&outcome=model_not_found", pageOf{"[req_1]", "req_1", "req_1", true}},
		{"limit=1&outcome=model_not_found&after=req_1", pageOf{"[req_4]", "req_4", "req_4", false}},
		{"limit=1&outcome=model_not_found&before=req_4", pageOf{"[req_1]", "req_1", "req_1", false}},
		{"limit=2&outcome=ok&after=req_1", pageOf{"[req_2 req_3]", "req_2", "req_3", true}},
	} {
		if got := read(c.query); got != c.want {
			t.Errorf("GET /admin/requests?%s = %+v, want %+v", c.query, got, c.want)
		}
	}
	// New requests arrive: the older page read from the same cursor is the same.
	insert("req_new", now.Add(time.Minute), "ok")
	if got := read("limit=3&after=req_2"); got.ids != "[req_4 req_3 req_5]" {
		t.Errorf("after a new request the page after req_2 = %s, want the same as before", got.ids)
	}
	if got := read("limit=3&before=req_0"); got.ids != "[req_new]" || got.more {
		t.Errorf("the page before req_0 = %+v, want the new request alone", got)
	}

	for _, c := range []struct{ query, param string }{
		{"after=req_nope", "after"},
		{"before=req_nope", "before"},
		{"after=req_2&before=req_5", "before"},
		{"after=req_2&after=req_3", "after"},
	} {
		r := e.do("GET", "/admin/requests?"+c.query, superToken, nil)
		if r.Status != 400 || r.errParam() != c.param || !strings.Contains(str(r.Body, "error", "message"), c.param) {
			t.Errorf("GET /admin/requests?%s: %d param %q %s, want 400 naming %s", c.query, r.Status, r.errParam(), r.Raw, c.param)
		}
	}
}
