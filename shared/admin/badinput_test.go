package admin_test

import (
	"context"
	"strings"
	"testing"
)

// state is everything a refused request must leave untouched.
func (e *env) state() string {
	e.t.Helper()
	var s string
	err := e.pool.QueryRow(context.Background(), `SELECT concat_ws(',',
		(SELECT version FROM catalog_version), (SELECT count(*) FROM providers), (SELECT count(*) FROM models),
		(SELECT count(*) FROM catalog_names), (SELECT count(*) FROM aliases), (SELECT count(*) FROM alias_history),
		(SELECT count(*) FROM teams), (SELECT count(*) FROM api_keys), (SELECT count(*) FROM grants),
		(SELECT count(*) FROM admins), (SELECT count(*) FROM admins WHERE revoked_at IS NOT NULL),
		(SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL), (SELECT count(*) FROM audit_log),
		(SELECT count(*) FROM corpora), (SELECT count(*) FROM reembed_runs))`).Scan(&s)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// For each route taking a body: malformed, oversized, wrongly typed and unknown-field bodies each
// answer 400 invalid_request naming the field, and nothing is written.
func TestBadBodies(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	type badCase struct {
		name, body, param string
	}
	// Every body route gets these, whatever its fields.
	generic := []badCase{
		{"malformed", `{"name": `, ""},
		{"not json", `name=x`, ""},
		{"array", `[]`, ""},
		{"string", `"x"`, ""},
		{"trailing garbage", `{} {}`, ""},
		{"trailing text", `{} x`, ""},
		{"oversized", `{"description": "` + strings.Repeat("a", 1<<20) + `"}`, ""},
		{"unknown field", `{"bogus": 1}`, "bogus"},
	}
	routes := []struct {
		method, path string
		cases        []badCase
	}{
		{"POST", "/admin/providers", []badCase{
			{"identifier type", `{"identifier": 7, "base_url": "https://h/v1", "auth": {"method": "none"}}`, "identifier"},
			{"auth type", `{"identifier": "p", "base_url": "https://h/v1", "auth": "bearer"}`, "auth"},
			{"auth.method type", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": 1}}`, "auth.method"},
			{"nested unknown", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": "none", "token": "x"}}`, "auth.token"},
			{"timeouts type", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": "none"}, "timeouts": {"connect_ms": "5s"}}`, "timeouts.connect_ms"},
			{"timeouts negative", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": "none"}, "timeouts": {"connect_ms": -1}}`, "timeouts.connect_ms"},
			{"timeouts unknown", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": "none"}, "timeouts": {"read_ms": 1}}`, "timeouts.read_ms"},
			{"missing identifier", `{"base_url": "https://h/v1", "auth": {"method": "none"}}`, "identifier"},
			{"bad identifier", `{"identifier": "Acme LLM", "base_url": "https://h/v1", "auth": {"method": "none"}}`, "identifier"},
			{"missing base_url", `{"identifier": "p", "auth": {"method": "none"}}`, "base_url"},
			{"base_url no scheme", `{"identifier": "p", "base_url": "h.example/v1", "auth": {"method": "none"}}`, "base_url"},
			{"missing auth method", `{"identifier": "p", "base_url": "https://h/v1"}`, "auth.method"},
			{"bad auth method", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": "basic"}}`, "auth.method"},
			{"bearer without credential", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": "bearer"}}`, "auth.credential"},
			{"api_key without header", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": "api_key", "credential": "abcdefgh"}}`, "auth.header"},
			{"credential line break", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": "bearer", "credential": "abc\ndef"}}`, "auth.credential"},
			{"credential control char", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": "bearer", "credential": "abc\u0007def"}}`, "auth.credential"},
			{"ca_bundle not pem", `{"identifier": "p", "base_url": "https://h/v1", "auth": {"method": "none"}, "ca_bundle": "hello"}`, "ca_bundle"},
		}},
		{"PATCH", "/admin/providers/acme-internal-llm", []badCase{
			{"identifier", `{"identifier": "other"}`, "identifier"},
			{"display_name type", `{"display_name": false}`, "display_name"},
			{"auth.credential type", `{"auth": {"credential": 12}}`, "auth.credential"},
			{"nested unknown", `{"auth": {"secret": "x"}}`, "auth.secret"},
			{"base_url doubled", `{"base_url": "https://h/v1/chat/completions"}`, "base_url"},
			{"credential control", `{"auth": {"credential": "a\rb"}}`, "auth.credential"},
		}},
		{"POST", "/admin/models", []badCase{
			{"name type", `{"name": ["x"], "provider": "acme-internal-llm", "kind": "chat"}`, "name"},
			{"dimension type", `{"name": "x", "provider": "acme-internal-llm", "kind": "embedding", "dimension": "384"}`, "dimension"},
			{"dimension fraction", `{"name": "x", "provider": "acme-internal-llm", "kind": "embedding", "dimension": 3.5}`, "dimension"},
			{"enabled type", `{"name": "x", "provider": "acme-internal-llm", "kind": "chat", "enabled": "yes"}`, "enabled"},
			{"capabilities unknown", `{"name": "x", "provider": "acme-internal-llm", "kind": "chat", "capabilities": {"vision": true}}`, "capabilities.vision"},
			{"capabilities type", `{"name": "x", "provider": "acme-internal-llm", "kind": "chat", "capabilities": {"tools": 1}}`, "capabilities.tools"},
			{"missing name", `{"provider": "acme-internal-llm", "kind": "chat"}`, "name"},
			{"uppercase name", `{"name": "Acme", "provider": "acme-internal-llm", "kind": "chat"}`, "name"},
			{"long name", `{"name": "` + strings.Repeat("a", 129) + `", "provider": "acme-internal-llm", "kind": "chat"}`, "name"},
			{"missing kind", `{"name": "x", "provider": "acme-internal-llm"}`, "kind"},
			{"bad kind", `{"name": "x", "provider": "acme-internal-llm", "kind": "rerank"}`, "kind"},
			{"embedding without dimension", `{"name": "x", "provider": "acme-internal-llm", "kind": "embedding"}`, "dimension"},
			{"dimension too big", `{"name": "x", "provider": "acme-internal-llm", "kind": "embedding", "dimension": 4001}`, "dimension"},
			{"chat with dimension", `{"name": "x", "provider": "acme-internal-llm", "kind": "chat", "dimension": 8}`, "dimension"},
			{"embedding streams", `{"name": "x", "provider": "acme-internal-llm", "kind": "embedding", "dimension": 8, "capabilities": {"streaming": true}}`, "capabilities.streaming"},
			{"unknown provider", `{"name": "x", "provider": "nope", "kind": "chat"}`, "provider"},
			{"negative context", `{"name": "x", "provider": "acme-internal-llm", "kind": "chat", "context_window": -1}`, "context_window"},
		}},
		{"PATCH", "/admin/models/acme-embed-2026-04", []badCase{
			{"kind", `{"kind": "chat"}`, "kind"},
			{"dimension", `{"dimension": 1024}`, "dimension"},
			{"name", `{"name": "y"}`, "name"},
			{"provider", `{"provider": "y"}`, "provider"},
			{"upstream_name", `{"upstream_name": "y"}`, "upstream_name"},
			{"enabled type", `{"enabled": 0}`, "enabled"},
			{"context type", `{"context_window": "big"}`, "context_window"},
			{"capabilities unknown", `{"capabilities": {"vision": true}}`, "capabilities.vision"},
			{"embedding tools", `{"capabilities": {"tools": true}}`, "capabilities"},
		}},
		{"PUT", "/admin/aliases/new-alias", []badCase{
			{"target type", `{"target": 1}`, "target"},
			{"missing target", `{}`, "target"},
			{"unknown target", `{"target": "nope"}`, "target"},
			{"alias target", `{"target": "acme-llm"}`, "target"},
			{"reason control", `{"target": "acme-llm-2026-04", "reason": "a\u0000b"}`, "reason"},
		}},
		{"PUT", "/admin/aliases/Bad Name", []badCase{
			{"bad alias name", `{"target": "acme-llm-2026-04"}`, "name"},
		}},
		{"POST", "/admin/aliases/acme-llm/move", []badCase{
			{"to type", `{"to": true, "expected_from": "acme-llm-2026-04"}`, "to"},
			{"missing to", `{"expected_from": "acme-llm-2026-04"}`, "to"},
			{"missing expected_from", `{"to": "acme-llm-2026-06"}`, "expected_from"},
			{"wrong kind", `{"to": "acme-embed-2026-06", "expected_from": "acme-llm-2026-04"}`, "to"},
			{"unknown target", `{"to": "nope", "expected_from": "acme-llm-2026-04"}`, "to"},
		}},
		{"POST", "/admin/aliases/acme-llm/rollback", []badCase{
			{"reason type", `{"reason": 5}`, "reason"},
		}},
		{"POST", "/admin/teams", []badCase{
			{"name type", `{"name": 5}`, "name"},
			{"missing name", `{}`, "name"},
			{"bad name", `{"name": "Search Team"}`, "name"},
		}},
		{"POST", "/admin/keys", []badCase{
			{"models type", `{"team": "search", "models": "acme-llm"}`, "models"},
			{"models item type", `{"team": "search", "models": [1]}`, "models"},
			{"missing team", `{}`, "team"},
			{"unknown team", `{"team": "nope"}`, "team"},
			{"unknown model", `{"team": "search", "models": ["acme-llm", "nope"]}`, "models[1]"},
			{"duplicate model", `{"team": "search", "models": ["acme-llm", "acme-llm"]}`, "models[1]"},
		}},
		{"PUT", "/admin/audience/acme-llm", []badCase{
			{"teams type", `{"teams": "search"}`, "teams"},
			{"missing teams", `{}`, "teams"},
			{"unknown team", `{"teams": ["search", "nope"]}`, "teams[1]"},
		}},
		{"POST", "/admin/admins", []badCase{
			{"role type", `{"name": "a", "role": 1}`, "role"},
			{"missing name", `{"role": "viewer"}`, "name"},
			{"missing role", `{"name": "a"}`, "role"},
			{"bad role", `{"name": "a", "role": "root"}`, "role"},
		}},
		{"POST", "/admin/providers/acme-internal-llm/verify", nil},
		{"POST", "/admin/models/acme-llm-2026-04/probe", nil},
		// The corpus routes pass the same gate: the same decoder, the same 1 MiB bound.
		{"POST", "/admin/corpora", []badCase{
			{"name type", `{"name": 1, "embedding_model": "acme-embed"}`, "name"},
			{"teams type", `{"name": "kb", "embedding_model": "acme-embed", "teams": "search"}`, "teams"},
			{"missing embedding_model", `{"name": "kb"}`, "embedding_model"},
			{"bad name", `{"name": "Knowledge Base", "embedding_model": "acme-embed"}`, "name"},
			{"empty teams", `{"name": "kb", "embedding_model": "acme-embed", "teams": []}`, "teams"},
		}},
		{"POST", "/admin/corpora/kb/reembed", []badCase{
			{"model type", `{"model": 1}`, "model"},
			{"missing model", `{}`, "model"},
		}},
		{"POST", "/admin/corpora/kb/rollback", nil},
		{"POST", "/admin/reembeds/1/cancel", nil},
	}
	for _, rt := range routes {
		cases := append(append([]badCase{}, generic...), rt.cases...)
		for _, c := range cases {
			t.Run(rt.method+" "+rt.path+" "+c.name, func(t *testing.T) {
				before := e.state()
				r := e.do(rt.method, rt.path, superToken, c.body)
				if r.Status != 400 || (r.errCode() != "invalid_request" && r.errCode() != "doubled_route") || r.errParam() != c.param {
					t.Errorf("%d %s param=%q, want 400 invalid_request param=%q: %s", r.Status, r.errCode(), r.errParam(), c.param, r.Raw)
				}
				if str(r.Body, "error", "message") == "" || str(r.Body, "error", "type") != "invalid_request_error" {
					t.Errorf("error without message or type: %s", r.Raw)
				}
				if after := e.state(); after != before {
					t.Errorf("state changed: %s -> %s", before, after)
				}
			})
		}
	}
}

// Query strings are checked as strictly as bodies.
func TestBadQueries(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ path, param string }{
		{"/admin/usage?group_by=region", "group_by"},
		{"/admin/usage?from=yesterday", "from"},
		{"/admin/usage?to=2026-13-01T00:00:00Z", "to"},
		{"/admin/usage?from=2026-06-02T00:00:00Z&to=2026-06-01T00:00:00Z", "from"},
		{"/admin/usage?group=model", "group"},
		{"/admin/requests?limit=0", "limit"},
		{"/admin/requests?limit=ten", "limit"},
		{"/admin/requests?limit=1001", "limit"},
		{"/admin/requests?limit=1&limit=2", "limit"},
		{"/admin/providers?page=2", "page"},
		{"/admin/corpora?limit=5", "limit"},
		{"/admin/keys?team=nope", "team"},
	} {
		r := e.do("GET", c.path, superToken, nil)
		wantStatus := 400
		if c.param == "team" {
			wantStatus = 404
		}
		if r.Status != wantStatus || r.errParam() != c.param {
			t.Errorf("GET %s: %d param=%q, want %d param=%q: %s", c.path, r.Status, r.errParam(), wantStatus, c.param, r.Raw)
		}
	}
}
