package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// auditEntry is a row of audit_log as the test reads it.
type auditEntry struct {
	ActorID, ActorName, Role *string
	Action, Target           string
	Before, After            []byte
	SourceIP, UA, RequestID  string
}

func (e *env) auditRows() []auditEntry {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT actor_id, actor_name, role, action, target, before, after,
		source_ip, user_agent, request_id FROM audit_log ORDER BY id DESC`)
	if err != nil {
		e.t.Fatal(err)
	}
	// The columns fill auditEntry's fields in order.
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[auditEntry])
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// secretFields are the names a recorded entity must never hold, whatever their case: a credential
// (sealed or not), a key, a token or a hash of one.
var secretFields = []string{"credential", "credential_sealed", "key", "token", "hash", "key_hash", "token_hash"}

// secretField finds a field of v (decoded JSON) named like a secret, at any depth.
func secretField(v any) string {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			for _, s := range secretFields {
				if strings.EqualFold(k, s) {
					return k
				}
			}
			if f := secretField(sub); f != "" {
				return k + "." + f
			}
		}
	case []any:
		for _, sub := range x {
			if f := secretField(sub); f != "" {
				return f
			}
		}
	}
	return ""
}

// TestEveryWriteLeavesOneAuditRow walks every write route of the admin API (the corpus routes
// included) with a valid request: each leaves exactly one audit row naming the action, the target,
// the admin by id and name and role, where the request came from, and the entity before and after,
// which never holds a credential, a key, a token or a hash.
func TestEveryWriteLeavesOneAuditRow(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	ctx := context.Background()
	secrets := []string{superToken, "sk-upstream-secret-1234", "sk-second-credential-5678", "sk-rotated-credential-9999"}
	var keyID, adminID, runID string
	type step struct {
		route          string // the served route, METHOD pattern
		path           func() string
		body           any
		action, target string
		target2        func() string // the target when it is known only from an earlier answer
		answer         func(map[string]any)
		setup          func()
		readOnly       bool // a POST that changes nothing (a dry run) and records nothing
	}
	fixed := func(p string) func() string { return func() string { return p } }
	steps := []step{
		{route: "POST /admin/providers", path: fixed("/admin/providers"), action: "provider.create", target: "second",
			body: map[string]any{"identifier": "second", "base_url": "https://h2.example/v1", "auth": map[string]any{"method": "bearer", "credential": "sk-second-credential-5678"}}},
		{route: "PATCH /admin/providers/{identifier}", path: fixed("/admin/providers/second"), action: "provider.update", target: "second",
			body: map[string]any{"display_name": "Second", "auth": map[string]any{"credential": "sk-rotated-credential-9999"}}},
		{route: "POST /admin/providers/{identifier}/verify", path: fixed("/admin/providers/second/verify"), action: "provider.verify", target: "second"},
		{route: "DELETE /admin/providers/{identifier}", path: fixed("/admin/providers/second"), action: "provider.delete", target: "second"},
		{route: "POST /admin/models", path: fixed("/admin/models"), action: "model.create", target: "m-new",
			body: map[string]any{"name": "m-new", "provider": "acme-internal-llm", "kind": "chat", "enabled": true}},
		{route: "PATCH /admin/models/{name}", path: fixed("/admin/models/m-new"), action: "model.update", target: "m-new", body: map[string]any{"description": "d"}},
		{route: "POST /admin/models/{name}/probe", path: fixed("/admin/models/m-new/probe"), action: "model.probe", target: "m-new"},
		{route: "PUT /admin/aliases/{name}", path: fixed("/admin/aliases/new-alias"), action: "alias.create", target: "new-alias", body: map[string]any{"target": "m-new"}},
		{route: "POST /admin/aliases/{name}/move", path: fixed("/admin/aliases/acme-llm/move"), action: "alias.move", target: "acme-llm",
			body: map[string]any{"to": "acme-llm-2026-06", "expected_from": "acme-llm-2026-04"}},
		{route: "POST /admin/aliases/{name}/rollback", path: fixed("/admin/aliases/acme-llm/rollback"), action: "alias.rollback", target: "acme-llm"},
		{route: "PUT /admin/routes/{name}", path: fixed("/admin/routes/acme-llm"), action: "route.update", target: "acme-llm",
			body: map[string]any{"expected_version": 0, "reason": "canary", "plan": map[string]any{"tiers": []any{map[string]any{"targets": []any{
				map[string]any{"model": "acme-llm-2026-04", "weight": 90}, map[string]any{"model": "acme-llm-2026-06", "weight": 10}}}}}}},
		{route: "POST /admin/routes/{name}/rollback", path: fixed("/admin/routes/acme-llm/rollback"), action: "route.rollback", target: "acme-llm"},
		{route: "POST /admin/routes/{name}/dry-run", path: fixed("/admin/routes/acme-llm/dry-run"), body: map[string]any{"team": "search"}, readOnly: true},
		{route: "POST /admin/teams", path: fixed("/admin/teams"), action: "team.create", target: "t2", body: map[string]any{"name": "t2"}},
		{route: "POST /admin/keys", path: fixed("/admin/keys"), action: "key.create", body: map[string]any{"team": "search"},
			target2: func() string { return keyID }, answer: func(b map[string]any) { keyID = str(b, "id"); secrets = append(secrets, str(b, "key")) }},
		{route: "DELETE /admin/keys/{id}", path: func() string { return "/admin/keys/" + keyID }, action: "key.revoke", target2: func() string { return keyID }},
		{route: "PUT /admin/audience/{name}", path: fixed("/admin/audience/acme-llm"), action: "audience.set", target: "acme-llm", body: map[string]any{"teams": []string{"search", "t2"}}},
		{route: "POST /admin/admins", path: fixed("/admin/admins"), action: "admin.create", body: map[string]any{"name": "n", "role": "viewer"},
			target2: func() string { return adminID }, answer: func(b map[string]any) { adminID = str(b, "id"); secrets = append(secrets, str(b, "token")) }},
		{route: "DELETE /admin/admins/{id}/sessions", path: func() string { return "/admin/admins/" + adminID + "/sessions" }, action: "admin.end_sessions", target2: func() string { return adminID }},
		{route: "DELETE /admin/admins/{id}", path: func() string { return "/admin/admins/" + adminID }, action: "admin.revoke", target2: func() string { return adminID }},
		{route: "PUT /admin/limits/{scope}", path: fixed("/admin/limits/team:t2"), action: "limits.set", target: "team:t2",
			body: map[string]any{"requests_per_minute": 60, "tokens_per_minute": 100000},
			setup: func() {
				// Limits set before (by SQL, unrecorded), so that this change has a before.
				if _, err := e.pool.Exec(ctx, `INSERT INTO limits (scope_kind, scope_name, requests_per_day) VALUES ('team', 't2', 1000)`); err != nil {
					t.Fatal(err)
				}
			}},
		{route: "DELETE /admin/limits/{scope}", path: fixed("/admin/limits/team:t2"), action: "limits.delete", target: "team:t2"},
		{route: "POST /admin/corpora", path: fixed("/admin/corpora"), action: "corpus.create", target: "kb", body: map[string]any{"name": "kb", "embedding_model": "acme-embed"}},
		{route: "PATCH /admin/corpora/{name}", path: fixed("/admin/corpora/kb"), action: "corpus.update", target: "kb", body: map[string]any{"keep_queries": true}},
		{route: "POST /admin/corpora/{name}/reembed", path: fixed("/admin/corpora/kb/reembed"), action: "reembed.start", target: "kb", body: map[string]any{"model": "acme-embed-2026-06"},
			answer: func(b map[string]any) {
				run, _ := b["run"].(map[string]any)
				runID = fmt.Sprint(run["id"])
				if by := str(run, "started_by"); by != "bootstrap (adm_bootstrap)" {
					t.Errorf("the run was started_by %q; want the admin's name and id, as every record names it", by)
				}
			}},
		// Estimates and previews call the upstream but change nothing: kb has no documents here, so
		// they answer without it.
		{route: "POST /admin/corpora/{name}/reembed/estimate", path: fixed("/admin/corpora/kb/reembed/estimate"), body: map[string]any{"model": "acme-embed-2026-06"}, readOnly: true},
		{route: "POST /admin/corpora/{name}/reembed/preview", path: fixed("/admin/corpora/kb/reembed/preview"), body: map[string]any{"model": "acme-embed-2026-06"}, readOnly: true},
		{route: "POST /admin/reembeds/{id}/cancel", path: func() string { return "/admin/reembeds/" + runID + "/cancel" }, action: "reembed.cancel", target2: func() string { return runID }},
		{route: "POST /admin/corpora/{name}/rollback", path: fixed("/admin/corpora/kb/rollback"), action: "corpus.rollback", target: "kb",
			setup: func() {
				// A standby index on the other model, as a finished re-embed leaves one (the worker
				// does not run in this test).
				_, err := e.pool.Exec(ctx, `INSERT INTO corpus_indexes (corpus_id, model_id, dimension, table_name, state, standby_until)
					SELECT c.id, m.id, m.dimension, 'audit_test_standby', 'standby', now() + interval '1 day'
					FROM corpora c, models m WHERE c.name = 'kb' AND m.name = 'acme-embed-2026-06'`)
				if err != nil {
					t.Fatal(err)
				}
			}},
	}
	walked := map[string]bool{}
	for _, s := range steps {
		walked[s.route] = true
	}
	for _, rt := range e.h.Routes() {
		if k := rt.Method + " " + rt.Path; rt.Method != "GET" && !walked[k] {
			t.Errorf("write route %s is not walked by this test", k)
		}
	}

	for _, s := range steps {
		if s.setup != nil {
			s.setup()
		}
		method, _, _ := strings.Cut(s.route, " ")
		n := e.count("audit_log")
		r := e.do(method, s.path(), superToken, s.body)
		if r.Status < 200 || r.Status > 299 {
			t.Fatalf("%s: %d %s", s.route, r.Status, r.Raw)
		}
		if s.answer != nil {
			s.answer(r.Body)
		}
		if s.readOnly {
			if got := e.count("audit_log"); got != n {
				t.Errorf("%s changes nothing but left %d audit rows", s.route, got-n)
			}
			continue
		}
		if got := e.count("audit_log"); got != n+1 {
			t.Errorf("%s left %d audit rows, want 1", s.route, got-n)
			continue
		}
		a := e.auditRows()[0]
		target := s.target
		if s.target2 != nil {
			target = s.target2()
		}
		if a.Action != s.action || a.Target != target {
			t.Errorf("%s recorded %s %q, want %s %q", s.route, a.Action, a.Target, s.action, target)
		}
		if a.ActorID == nil || *a.ActorID != "adm_bootstrap" || *a.ActorName != "bootstrap" || *a.Role != "super_admin" {
			t.Errorf("%s recorded actor %v %v %v, want adm_bootstrap bootstrap super_admin", s.route, a.ActorID, a.ActorName, a.Role)
		}
		if a.SourceIP != "127.0.0.1" || !strings.HasPrefix(a.UA, "Go-http-client/") || a.RequestID == "" || a.RequestID != r.Header.Get("X-Request-Id") {
			t.Errorf("%s recorded origin %q %q %q; want 127.0.0.1, the Go client and the answer's request id %q", s.route, a.SourceIP, a.UA, a.RequestID, r.Header.Get("X-Request-Id"))
		}
		creates := strings.HasSuffix(s.action, ".create") || s.action == "reembed.start"
		if creates != (a.Before == nil) || strings.HasSuffix(s.action, ".delete") != (a.After == nil) {
			t.Errorf("%s recorded before %s and after %s", s.route, a.Before, a.After)
		}
		for _, raw := range [][]byte{a.Before, a.After} {
			if raw == nil {
				continue
			}
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatalf("%s: %v", s.route, err)
			}
			if f := secretField(v); f != "" {
				t.Errorf("%s recorded the field %s: %s", s.route, f, raw)
			}
			for _, secret := range secrets {
				if secret != "" && strings.Contains(string(raw), secret) {
					t.Errorf("%s recorded a secret: %s", s.route, raw)
				}
			}
		}
	}
	// What a change was is readable from its row: the rotated credential shows as its hint only.
	field := func(raw []byte, name string) any {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m[name]
	}
	for _, a := range e.auditRows() {
		if a.Action == "provider.update" && (field(a.Before, "credential_hint") != "5678" || field(a.After, "credential_hint") != "9999") {
			t.Errorf("provider.update before %s after %s; want the credential hints 5678 then 9999", a.Before, a.After)
		}
		if a.Action == "alias.move" && (field(a.Before, "target") != "acme-llm-2026-04" || field(a.After, "target") != "acme-llm-2026-06") {
			t.Errorf("alias.move before %s after %s", a.Before, a.After)
		}
	}
}

// TestRefusedWritesLeaveNoAuditRow: a write refused for its role (403), its input (400, 404) or a
// conflict (409) records nothing.
func TestRefusedWritesLeaveNoAuditRow(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	viewer := str(e.must(201, "POST", "/admin/admins", map[string]any{"name": "vic", "role": "viewer"}), "token")
	e.must(201, "POST", "/admin/corpora", map[string]any{"name": "kb", "embedding_model": "acme-embed"})
	run := e.must(202, "POST", "/admin/corpora/kb/reembed", map[string]any{"model": "acme-embed-2026-06"})
	e.refresh()
	before := e.count("audit_log")
	placeholder := strings.NewReplacer("{identifier}", "acme-internal-llm", "{name}", "acme-llm", "{id}", "1")
	for _, rt := range e.h.Routes() {
		if rt.Method == "GET" || strings.HasSuffix(rt.Path, "/dry-run") { // a dry run is a read that takes a body
			continue
		}
		path := placeholder.Replace(rt.Path)
		if r := e.do(rt.Method, path, viewer, "{}"); r.Status != 403 {
			t.Errorf("%s %s as a viewer: %d, want 403", rt.Method, path, r.Status)
		}
		if !strings.Contains(rt.Path, "corpora") && !strings.Contains(rt.Path, "reembeds") {
			if r := e.do(rt.Method, path+"?dry_run=1", superToken, "{}"); r.Status != 400 {
				t.Errorf("%s %s with an unknown parameter: %d, want 400", rt.Method, path, r.Status)
			}
		}
	}
	runID := fmt.Sprint(run["run"].(map[string]any)["id"])
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/admin/providers", map[string]any{"identifier": "acme-internal-llm", "base_url": "https://h.example/v1", "auth": map[string]any{"method": "none"}}, 409},
		{"POST", "/admin/providers", map[string]any{"identifier": "x", "base_url": "not a url", "auth": map[string]any{"method": "none"}}, 400},
		{"PATCH", "/admin/providers/nope", map[string]any{"display_name": "x"}, 404},
		{"DELETE", "/admin/providers/acme-internal-llm", nil, 409},
		{"POST", "/admin/models", map[string]any{"name": "acme-llm", "provider": "acme-internal-llm", "kind": "chat"}, 409},
		{"PATCH", "/admin/models/acme-llm-2026-04", map[string]any{"enabled": false}, 409},
		{"PUT", "/admin/aliases/acme-llm", map[string]any{"target": "acme-llm-2026-06"}, 409},
		{"POST", "/admin/aliases/acme-llm/move", map[string]any{"to": "acme-llm-2026-06", "expected_from": "acme-llm-2026-06"}, 409},
		{"POST", "/admin/aliases/acme-llm/rollback", nil, 400},
		{"POST", "/admin/teams", map[string]any{"name": "search"}, 409},
		{"POST", "/admin/keys", map[string]any{"team": "nope"}, 400},
		{"DELETE", "/admin/keys/key_nope", nil, 404},
		{"PUT", "/admin/audience/acme-llm", map[string]any{"teams": []string{"nope"}}, 400},
		{"DELETE", "/admin/admins/adm_bootstrap", nil, 409},
		{"POST", "/admin/corpora", map[string]any{"name": "kb", "embedding_model": "acme-embed"}, 409},
		{"POST", "/admin/corpora/kb/reembed", map[string]any{"model": "acme-embed-2026-06"}, 409},
		{"POST", "/admin/corpora/kb/reembed", map[string]any{}, 400},
		{"POST", "/admin/corpora/kb/rollback", nil, 409},
		{"POST", "/admin/reembeds/999/cancel", nil, 404},
	} {
		if r := e.do(c.method, c.path, superToken, c.body); r.Status != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, r.Status, r.Raw, c.status)
		}
	}
	e.must(200, "POST", "/admin/reembeds/"+runID+"/cancel", nil)
	if r := e.do("POST", "/admin/reembeds/"+runID+"/cancel", superToken, nil); r.Status != 409 {
		t.Errorf("cancelling an ended run: %d %s, want 409", r.Status, r.Raw)
	}
	// The one cancel that was done is the one row written.
	if got := e.count("audit_log"); got != before+1 {
		t.Errorf("refused writes left %d audit rows; only the cancel should have", got-before-1)
	}
}

// TestFailedWriteLeavesNoAuditRow: a change and its audit row commit together or not at all. A
// change that fails after its row was written (here at commit) leaves no row, and an audit row that
// cannot be written undoes its change.
func TestFailedWriteLeavesNoAuditRow(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		if _, err := e.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`)

	// The team insert fails at commit, after the audit row was written in the same transaction.
	exec(`CREATE CONSTRAINT TRIGGER teams_fail_at_commit AFTER INSERT ON teams DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW EXECUTE FUNCTION refuse()`)
	n := e.count("audit_log")
	if r := e.do("POST", "/admin/teams", superToken, map[string]any{"name": "doomed"}); r.Status != 500 {
		t.Errorf("a team whose commit fails: %d %s, want 500", r.Status, r.Raw)
	}
	if e.count("audit_log") != n || e.count("teams WHERE name = 'doomed'") != 0 {
		t.Errorf("a failed team create left %d audit rows and %d teams", e.count("audit_log")-n, e.count("teams WHERE name = 'doomed'"))
	}
	exec(`DROP TRIGGER teams_fail_at_commit ON teams`)

	// The audit row cannot be written: nothing changes, through the admin routes and the corpus ones.
	exec(`CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse()`)
	for _, c := range []struct {
		method, path string
		body         any
		unchanged    string // a table and condition that must count 0 afterwards
	}{
		{"POST", "/admin/teams", map[string]any{"name": "doomed"}, "teams WHERE name = 'doomed'"},
		{"POST", "/admin/aliases/acme-llm/move", map[string]any{"to": "acme-llm-2026-06", "expected_from": "acme-llm-2026-04"},
			"aliases a JOIN models m ON m.id = a.model_id WHERE a.name = 'acme-llm' AND m.name <> 'acme-llm-2026-04'"},
		{"PATCH", "/admin/providers/acme-internal-llm", map[string]any{"display_name": "changed"}, "providers WHERE display_name = 'changed'"},
		{"POST", "/admin/corpora", map[string]any{"name": "kb", "embedding_model": "acme-embed"}, "corpora"},
	} {
		if r := e.do(c.method, c.path, superToken, c.body); r.Status != 500 {
			t.Errorf("%s %s without an audit row: %d %s, want 500", c.method, c.path, r.Status, r.Raw)
		}
		if got := e.count(c.unchanged); got != 0 {
			t.Errorf("%s %s changed something although its audit row was refused", c.method, c.path)
		}
	}
	if e.count("audit_log") != n {
		t.Errorf("audit rows were written while refused")
	}
}

// TestAuditLogFiltersAndPages: GET /admin/audit filters by actor (id or name), action, target and
// time, and pages newest first like the request log; every role reads it.
func TestAuditLogFiltersAndPages(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog() // 1 provider, 4 models, 2 aliases, 1 team
	viewer := str(e.must(201, "POST", "/admin/admins", map[string]any{"name": "vic", "role": "viewer"}), "token")
	e.refresh()
	get := func(q string) (int, []map[string]any, map[string]any) {
		t.Helper()
		r := e.do("GET", "/admin/audit"+q, viewer, nil)
		var rows []map[string]any
		for _, d := range r.Body["data"].([]any) {
			rows = append(rows, d.(map[string]any))
		}
		return r.Status, rows, r.Body
	}
	status, all, _ := get("")
	if status != 200 || len(all) != 9 {
		t.Fatalf("a viewer reads %d with %d entries; want 200 with 9", status, len(all))
	}
	if all[0]["action"] != "admin.create" || all[8]["action"] != "provider.create" {
		t.Errorf("not newest first: %v ... %v", all[0]["action"], all[8]["action"])
	}
	for q, want := range map[string]int{
		"?action=model.create": 4, "?target=acme-llm": 1, "?actor=adm_bootstrap": 9, "?actor=bootstrap": 9, "?actor=vic": 0,
		"?action=model.create&target=acme-embed-2026-06":                                                                                                       1,
		"?from=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)):                                                                             0,
		"?to=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)):                                                                              0,
		"?from=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)) + "&to=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)): 9,
	} {
		if status, rows, _ := get(q); status != 200 || len(rows) != want {
			t.Errorf("GET /admin/audit%s: %d with %d entries, want %d", q, status, len(rows), want)
		}
	}
	// Pages of 4, older and newer, give back the whole log once.
	var seen []any
	q := "?limit=4"
	for range 5 {
		_, rows, body := get(q)
		for _, r := range rows {
			seen = append(seen, r["id"])
		}
		if body["has_more"] != true {
			break
		}
		q = fmt.Sprintf("?limit=4&after=%v", body["last_id"])
	}
	if len(seen) != 9 {
		t.Fatalf("paging older read %d entries, want 9", len(seen))
	}
	for i := range seen {
		if seen[i] != all[i]["id"] {
			t.Fatalf("paging older read %v, want the ids of %v", seen, all)
		}
	}
	_, rows, body := get(fmt.Sprintf("?limit=4&before=%v", all[4]["id"]))
	if len(rows) != 4 || rows[0]["id"] != all[0]["id"] || rows[3]["id"] != all[3]["id"] || body["has_more"] != false {
		t.Errorf("before the fifth entry: %v has_more %v; want the newest four and nothing newer", rows, body["has_more"])
	}
	for _, c := range []struct{ q, param string }{
		{"?after=999999", "after"}, {"?after=1&before=2", "before"}, {"?limit=0", "limit"}, {"?limit=1001", "limit"},
		{"?from=yesterday", "from"}, {"?after=x", "after"}, {"?who=me", "who"},
	} {
		if r := e.do("GET", "/admin/audit"+c.q, viewer, nil); r.Status != 400 || r.errParam() != c.param {
			t.Errorf("GET /admin/audit%s: %d %s, want 400 naming %s", c.q, r.Status, r.Raw, c.param)
		}
	}
	if r := e.do("GET", "/admin/audit", "", nil); r.Status != 401 {
		t.Errorf("without a token: %d", r.Status)
	}
}
