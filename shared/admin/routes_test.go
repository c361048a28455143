package admin_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// The OpenAPI document lists exactly the served routes: every served route is documented and
// every documented route is served.
func TestOpenAPIMatchesRouter(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r := e.do("GET", "/admin/openapi.json", "", nil)
	if r.Status != 200 {
		t.Fatalf("GET /admin/openapi.json without a token: %d", r.Status)
	}
	if err := json.Unmarshal(r.Raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, rt := range e.h.Routes() {
		served[rt.Method+" "+rt.Path] = true
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("%s is served but not in openapi.json", k)
		}
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("%s is in openapi.json but not served", k)
		}
	}
	// Every documented route answers something other than the fallback's 404/405.
	for k := range documented {
		method, path, _ := strings.Cut(k, " ")
		path = strings.NewReplacer("{identifier}", "x", "{name}", "x", "{id}", "x").Replace(path)
		got := e.do(method, path, superToken, "{}")
		if c := got.errCode(); got.Status == 405 || (got.Status == 404 && strings.Contains(str(got.Body, "error", "message"), "no admin route")) {
			t.Errorf("%s: answered by the fallback (%d %s)", k, got.Status, c)
		}
	}
}

// Paths nobody serves answer in SPEC's shape: 401 without a token, then 404 or 405.
func TestFallbackAnswers(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		method, path, token string
		status              int
		code                string
	}{
		{"GET", "/admin/nothing", "", 401, "invalid_admin_token"},
		{"GET", "/admin/nothing", superToken, 404, "not_found"},
		{"DELETE", "/admin/models", superToken, 405, "invalid_request"},
		{"GET", "/admin/providers", "sya-wrong-token-000000000000", 401, "invalid_admin_token"},
	} {
		r := e.do(c.method, c.path, c.token, nil)
		if r.Status != c.status || r.errCode() != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, r.Status, r.errCode(), c.status, c.code)
		}
	}
	if a := e.do("DELETE", "/admin/models", superToken, nil).Header.Get("Allow"); !strings.Contains(a, "GET") || !strings.Contains(a, "POST") {
		t.Errorf("Allow = %q", a)
	}
}

type access int

const (
	catalogRead access = iota
	catalogWrite
	accessRead
	accessWrite
	usageRead
)

// allowed is SPEC's role table, written out independently of catalog.Role.Can.
var allowed = map[string]map[access]bool{
	"super_admin":    {catalogRead: true, catalogWrite: true, accessRead: true, accessWrite: true, usageRead: true},
	"provider_admin": {catalogRead: true, catalogWrite: true, usageRead: true},
	"viewer":         {catalogRead: true, accessRead: true, usageRead: true},
}

// Every admin route, walked with every role: allowed answers anything but 401/403, the rest 403.
func TestEveryRouteEveryRole(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	key := e.must(201, "POST", "/admin/keys", map[string]any{"team": "search"})
	victim := e.must(201, "POST", "/admin/admins", map[string]any{"name": "victim", "role": "viewer"})
	tokens := map[string]string{"super_admin": superToken}
	for _, role := range []string{"provider_admin", "viewer"} {
		tokens[role] = str(e.must(201, "POST", "/admin/admins", map[string]any{"name": role + " person", "role": role}), "token")
	}
	e.refresh()

	type rule struct {
		acc  access
		path string
		body func(role string) any
	}
	none := func(string) any { return nil }
	rules := map[string]rule{
		"GET /admin/openapi.json": {catalogRead, "/admin/openapi.json", none},
		"POST /admin/providers": {catalogWrite, "/admin/providers", func(r string) any {
			return map[string]any{"identifier": "p-" + strings.ReplaceAll(r, "_", "-"), "base_url": "https://h.example/v1", "auth": map[string]any{"method": "none"}}
		}},
		"GET /admin/providers":                      {catalogRead, "/admin/providers", none},
		"GET /admin/providers/{identifier}":         {catalogRead, "/admin/providers/acme-internal-llm", none},
		"PATCH /admin/providers/{identifier}":       {catalogWrite, "/admin/providers/acme-internal-llm", func(string) any { return map[string]any{"display_name": "x"} }},
		"DELETE /admin/providers/{identifier}":      {catalogWrite, "/admin/providers/acme-internal-llm", none},
		"POST /admin/providers/{identifier}/verify": {catalogWrite, "/admin/providers/acme-internal-llm/verify", none},
		"POST /admin/models": {catalogWrite, "/admin/models", func(r string) any {
			return map[string]any{"name": "m-" + strings.ReplaceAll(r, "_", "-"), "provider": "acme-internal-llm", "kind": "chat"}
		}},
		"GET /admin/models":                   {catalogRead, "/admin/models", none},
		"GET /admin/models/{name}":            {catalogRead, "/admin/models/acme-llm-2026-04", none},
		"PATCH /admin/models/{name}":          {catalogWrite, "/admin/models/acme-llm-2026-04", func(string) any { return map[string]any{"description": "d"} }},
		"POST /admin/models/{name}/probe":     {catalogWrite, "/admin/models/acme-llm-2026-04/probe", none},
		"PUT /admin/aliases/{name}":           {catalogWrite, "/admin/aliases/new-alias", func(string) any { return map[string]any{"target": "acme-llm-2026-04"} }},
		"GET /admin/aliases":                  {catalogRead, "/admin/aliases", none},
		"GET /admin/aliases/{name}":           {catalogRead, "/admin/aliases/acme-llm", none},
		"POST /admin/aliases/{name}/move":     {catalogWrite, "/admin/aliases/acme-llm/move", func(string) any { return map[string]any{"to": "acme-llm-2026-06", "expected_from": "acme-llm-2026-04"} }},
		"POST /admin/aliases/{name}/rollback": {catalogWrite, "/admin/aliases/acme-llm/rollback", none},
		"GET /admin/routes":                   {catalogRead, "/admin/routes", none},
		"GET /admin/routes/{name}":            {catalogRead, "/admin/routes/acme-llm", none},
		"PUT /admin/routes/{name}": {catalogWrite, "/admin/routes/acme-llm", func(string) any {
			return map[string]any{"expected_version": 99, "plan": map[string]any{"tiers": []any{}}}
		}},
		"GET /admin/routes/{name}/history":   {catalogRead, "/admin/routes/acme-llm/history", none},
		"POST /admin/routes/{name}/rollback": {catalogWrite, "/admin/routes/acme-llm/rollback", none},
		"POST /admin/routes/{name}/dry-run":  {catalogRead, "/admin/routes/acme-llm/dry-run", func(string) any { return map[string]any{"team": "search"} }},
		"GET /admin/routes/{name}/split":     {usageRead, "/admin/routes/acme-llm/split", none},
		"POST /admin/teams":                  {accessWrite, "/admin/teams", func(r string) any { return map[string]any{"name": "t-" + strings.ReplaceAll(r, "_", "-")} }},
		"GET /admin/teams":                   {accessRead, "/admin/teams", none},
		"GET /admin/teams/{name}":            {accessRead, "/admin/teams/search", none},
		"POST /admin/keys":                   {accessWrite, "/admin/keys", func(string) any { return map[string]any{"team": "search"} }},
		"GET /admin/keys":                    {accessRead, "/admin/keys?team=search", none},
		"GET /admin/keys/{id}":               {accessRead, "/admin/keys/" + str(key, "id"), none},
		"DELETE /admin/keys/{id}":            {accessWrite, "/admin/keys/" + str(key, "id"), none},
		"PUT /admin/audience/{name}":         {catalogWrite, "/admin/audience/acme-llm", func(string) any { return map[string]any{"teams": []string{"search"}} }},
		"GET /admin/audience/{name}":         {catalogRead, "/admin/audience/acme-llm", none},
		"POST /admin/admins":                 {accessWrite, "/admin/admins", func(string) any { return map[string]any{"name": "n", "role": "viewer"} }},
		"GET /admin/admins":                  {accessRead, "/admin/admins", none},
		"GET /admin/admins/{id}":             {accessRead, "/admin/admins/" + str(victim, "id"), none},
		"DELETE /admin/admins/{id}":          {accessWrite, "/admin/admins/" + str(victim, "id"), none},
		"DELETE /admin/admins/{id}/sessions": {accessWrite, "/admin/admins/" + str(victim, "id") + "/sessions", none},
		"GET /admin/limits":                  {usageRead, "/admin/limits", none},
		"GET /admin/limits/{scope}":          {catalogRead, "/admin/limits/model:acme-llm-2026-04", none},
		"PUT /admin/limits/{scope}":          {catalogWrite, "/admin/limits/model:acme-llm-2026-04", func(string) any { return map[string]any{"max_concurrency": 4} }},
		"DELETE /admin/limits/{scope}":       {catalogWrite, "/admin/limits/model:acme-llm-2026-04", none},
		"GET /admin/usage":                   {usageRead, "/admin/usage?group_by=team", none},
		"GET /admin/requests":                {usageRead, "/admin/requests?limit=5", none},
		"GET /admin/audit":                   {catalogRead, "/admin/audit?limit=5", none},
		"POST /admin/corpora": {catalogWrite, "/admin/corpora", func(r string) any {
			return map[string]any{"name": "c-" + strings.ReplaceAll(r, "_", "-"), "embedding_model": "acme-embed"}
		}},
		"GET /admin/corpora":                  {catalogRead, "/admin/corpora", none},
		"GET /admin/corpora/{name}":           {catalogRead, "/admin/corpora/nope", none},
		"PATCH /admin/corpora/{name}":         {catalogWrite, "/admin/corpora/nope", func(string) any { return map[string]any{"keep_queries": true} }},
		"POST /admin/corpora/{name}/reembed":  {catalogWrite, "/admin/corpora/nope/reembed", func(string) any { return map[string]any{"model": "acme-embed-2026-06"} }},
		"POST /admin/corpora/{name}/rollback": {catalogWrite, "/admin/corpora/nope/rollback", none},
		"GET /admin/reembeds/{id}":            {catalogRead, "/admin/reembeds/999", none},
		"POST /admin/reembeds/{id}/cancel":    {catalogWrite, "/admin/reembeds/999/cancel", none},

		"POST /admin/corpora/{name}/reembed/estimate": {catalogWrite, "/admin/corpora/nope/reembed/estimate", func(string) any { return map[string]any{"model": "acme-embed-2026-06"} }},
		"POST /admin/corpora/{name}/reembed/preview":  {catalogWrite, "/admin/corpora/nope/reembed/preview", func(string) any { return map[string]any{"model": "acme-embed-2026-06"} }},
	}
	var routes []string
	for _, rt := range e.h.Routes() {
		routes = append(routes, rt.Method+" "+rt.Path)
	}
	for _, k := range routes {
		if _, ok := rules[k]; !ok {
			t.Errorf("route %s has no role rule in this test", k)
		}
	}
	// Forbidden roles first, so that the allowed writes (a delete) come after.
	for _, role := range []string{"viewer", "provider_admin", "super_admin"} {
		for _, k := range routes {
			rl, ok := rules[k]
			if !ok {
				continue
			}
			method, _, _ := strings.Cut(k, " ")
			r := e.do(method, rl.path, tokens[role], rl.body(role))
			want := allowed[role][rl.acc] || rl.path == "/admin/openapi.json"
			switch {
			case want && (r.Status == 401 || r.Status == 403 || r.Status >= 500):
				t.Errorf("%s as %s: %d %s, want it allowed", k, role, r.Status, r.Raw)
			case !want && (r.Status != 403 || r.errCode() != "forbidden"):
				t.Errorf("%s as %s: %d %s, want 403 forbidden", k, role, r.Status, r.Raw)
			}
		}
	}
}
