package admin_test

import (
	"context"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/postgres"
)

func tier(targets ...any) map[string]any {
	var ts []map[string]any
	for i := 0; i < len(targets); i += 2 {
		ts = append(ts, map[string]any{"model": targets[i], "weight": targets[i+1]})
	}
	return map[string]any{"targets": ts}
}

func plan(tiers ...map[string]any) map[string]any { return map[string]any{"tiers": tiers} }

// Routes are versioned: every change needs the version it was based on, a stale one changes
// nothing (409), history lists who changed what and why, rollback restores the previous version as
// a new one, and the alias follows the default plan's primary target.
func TestRouteVersionsHistoryRollback(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()

	got := e.must(200, "GET", "/admin/routes/acme-llm", nil)
	if got["version"].(float64) != 0 || str(got, "target") != "acme-llm-2026-04" {
		t.Fatalf("a route never changed: %v", got)
	}

	// 5% to the new model.
	canary := map[string]any{"plan": plan(tier("acme-llm-2026-04", 95, "acme-llm-2026-06", 5)), "expected_version": 0, "reason": "canary 5%"}
	got = e.must(200, "PUT", "/admin/routes/acme-llm", canary)
	if got["version"].(float64) != 1 || str(got, "updated_by") != "bootstrap (adm_bootstrap)" {
		t.Errorf("after the first change: %v", got)
	}
	// The same body again is stale: someone (this test) changed it to version 1 meanwhile.
	r := e.do("PUT", "/admin/routes/acme-llm", superToken, canary)
	if r.Status != 409 || r.errCode() != "route_changed" || r.errParam() != "expected_version" {
		t.Errorf("a stale expected_version: %d %s", r.Status, r.Raw)
	}
	// 100%: the alias moves with its default plan, and its history says so.
	full := map[string]any{"plan": plan(tier("acme-llm-2026-06", 100)), "expected_version": 1, "reason": "all in"}
	got = e.must(200, "PUT", "/admin/routes/acme-llm", full)
	if str(got, "target") != "acme-llm-2026-06" {
		t.Errorf("after 100%%: target %s", str(got, "target"))
	}
	alias := e.must(200, "GET", "/admin/aliases/acme-llm", nil)
	if str(alias, "target") != "acme-llm-2026-06" {
		t.Errorf("the alias did not follow the route: %v", alias)
	}
	hist := e.must(200, "GET", "/admin/routes/acme-llm/history", nil)["data"].([]any)
	if len(hist) != 3 {
		t.Fatalf("history has %d versions; want 3 (0, 1, 2): %v", len(hist), hist)
	}
	if h := hist[0].(map[string]any); h["version"].(float64) != 2 || str(h, "why") != "all in" || str(h, "who") != "bootstrap (adm_bootstrap)" {
		t.Errorf("newest version: %v", h)
	}

	// Rollback: back to the 95/5 split, as version 3; the alias goes back too.
	got = e.must(200, "POST", "/admin/routes/acme-llm/rollback", map[string]any{"reason": "errors on v2"})
	if got["version"].(float64) != 3 || str(got, "target") != "acme-llm-2026-04" {
		t.Errorf("after rollback: %v", got)
	}
	tiers := got["plan"].(map[string]any)["tiers"].([]any)
	if n := len(tiers[0].(map[string]any)["targets"].([]any)); n != 2 {
		t.Errorf("rollback restored %d targets; want the 95/5 split", n)
	}
	// A rollback with a stale expected_version changes nothing.
	if r := e.do("POST", "/admin/routes/acme-llm/rollback", superToken, map[string]any{"expected_version": 1}); r.Status != 409 {
		t.Errorf("a stale rollback: %d %s", r.Status, r.Raw)
	}
	// Rolling back all the way reaches version 0's plan: the alias alone.
	e.must(200, "POST", "/admin/routes/acme-llm/rollback", nil)

	// A viewer reads but does not write.
	e.refresh()
	if r := e.do("PUT", "/admin/routes/acme-llm", viewerToken(e), full); r.Status != 403 {
		t.Errorf("a viewer's change: %d", r.Status)
	}
}

// viewerToken creates a viewer admin and returns its token.
func viewerToken(e *env) string {
	e.t.Helper()
	b := e.must(201, "POST", "/admin/admins", map[string]any{"name": "watcher", "role": "viewer"})
	e.refresh()
	return str(b, "token")
}

// Invalid routes are refused with the field at fault, and nothing changes.
func TestRouteValidation(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	e.must(201, "POST", "/admin/models", map[string]any{"name": "acme-embed-384b", "provider": "acme-internal-llm",
		"kind": "embedding", "dimension": 384, "enabled": true})
	e.must(201, "POST", "/admin/models", map[string]any{"name": "acme-llm-off", "provider": "acme-internal-llm", "kind": "chat"})
	for _, tc := range []struct {
		name, route string
		body        map[string]any
		status      int
		code, param string
	}{
		{"weights sum", "acme-llm", map[string]any{"plan": plan(tier("acme-llm-2026-04", 90, "acme-llm-2026-06", 5)), "expected_version": 0},
			400, "invalid_request", "plan.tiers[0].targets"},
		{"weight range", "acme-llm", map[string]any{"plan": plan(tier("acme-llm-2026-04", 150)), "expected_version": 0},
			400, "invalid_request", "plan.tiers[0].targets[0].weight"},
		{"disabled target", "acme-llm", map[string]any{"plan": plan(tier("acme-llm-off", 100)), "expected_version": 0},
			400, "invalid_request", "plan.tiers[0].targets[0].model"},
		{"wrong kind", "acme-llm", map[string]any{"plan": plan(tier("acme-embed-2026-04", 100)), "expected_version": 0},
			400, "invalid_request", "plan.tiers[0].targets[0].model"},
		{"embedding, two dimensions", "acme-embed", map[string]any{"plan": plan(tier("acme-embed-2026-04", 90, "acme-embed-2026-06", 10)), "expected_version": 0},
			400, "invalid_request", "plan.tiers[0].targets[1].model"},
		{"unknown team", "acme-llm", map[string]any{"plan": plan(tier("acme-llm-2026-04", 100)), "expected_version": 0,
			"rules": []any{map[string]any{"match": map[string]any{"teams": []string{"nobody"}}, "plan": plan(tier("acme-llm-2026-06", 100))}}},
			400, "invalid_request", "rules[0].match.teams[0]"},
		{"missing expected_version", "acme-llm", map[string]any{"plan": plan(tier("acme-llm-2026-04", 100))},
			400, "invalid_request", "expected_version"},
		{"unknown field", "acme-llm", map[string]any{"plan": map[string]any{"tiers": []any{}, "split": 1}, "expected_version": 0},
			400, "invalid_request", "plan.split"},
		{"not an alias", "acme-llm-2026-04", map[string]any{"plan": plan(tier("acme-llm-2026-04", 100)), "expected_version": 0},
			404, "not_found", "name"},
	} {
		r := e.do("PUT", "/admin/routes/"+tc.route, superToken, tc.body)
		if r.Status != tc.status || r.errCode() != tc.code || r.errParam() != tc.param {
			t.Errorf("%s: %d %s; want %d %s on %s", tc.name, r.Status, r.Raw, tc.status, tc.code, tc.param)
		}
	}
	if n := e.count("routes"); n != 0 {
		t.Errorf("%d routes stored after refusals", n)
	}

	// One dimension is fine while no corpus follows the alias; once one does, the route neither
	// splits nor moves outside a re-embed.
	e.must(200, "PUT", "/admin/routes/acme-embed", map[string]any{"plan": plan(tier("acme-embed-2026-04", 90, "acme-embed-384b", 10)), "expected_version": 0})
	e.must(200, "PUT", "/admin/routes/acme-embed", map[string]any{"plan": plan(tier("acme-embed-2026-04", 100)), "expected_version": 1})
	e.must(201, "POST", "/admin/corpora", map[string]any{"name": "kb", "embedding_model": "acme-embed", "teams": []string{"search"}})
	for _, p := range []map[string]any{
		plan(tier("acme-embed-2026-04", 90, "acme-embed-384b", 10)),
		plan(tier("acme-embed-384b", 100)),
	} {
		r := e.do("PUT", "/admin/routes/acme-embed", superToken, map[string]any{"plan": p, "expected_version": 2})
		if r.Status != 409 || r.errCode() != "reembed_required" {
			t.Errorf("an embedding route a corpus follows, changed to %v: %d %s", p, r.Status, r.Raw)
		}
	}
}

// A dry run says which rule a request matches and which models it would try, in order.
func TestRouteDryRun(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	key := e.must(201, "POST", "/admin/keys", map[string]any{"team": "search", "name": "pilot"})
	keyID := str(key, "id")
	e.must(200, "PUT", "/admin/routes/acme-llm", map[string]any{"expected_version": 0, "reason": "pilot",
		"plan": plan(tier("acme-llm-2026-04", 100), tier("acme-llm-2026-06", 100)),
		"rules": []any{
			map[string]any{"name": "pilot-key", "match": map[string]any{"keys": []string{keyID}}, "plan": plan(tier("acme-llm-2026-06", 100))},
			map[string]any{"name": "beta", "match": map[string]any{"tags": []string{"beta"}}, "plan": plan(tier("acme-llm-2026-06", 50, "acme-llm-2026-04", 50))},
		}})
	got := e.must(200, "POST", "/admin/routes/acme-llm/dry-run", map[string]any{"key_id": keyID})
	if str(got, "rule_name") != "pilot-key" || str(got, "first") != "acme-llm-2026-06" {
		t.Errorf("the pilot key: %v", got)
	}
	got = e.must(200, "POST", "/admin/routes/acme-llm/dry-run", map[string]any{"team": "search"})
	if got["rule"] != nil || str(got, "first") != "acme-llm-2026-04" {
		t.Errorf("the team without a rule: %v", got)
	}
	if c := got["candidates"].([]any); len(c) != 2 || str(c[1].(map[string]any), "model") != "acme-llm-2026-06" || c[1].(map[string]any)["tier"].(float64) != 1 {
		t.Errorf("candidates: %v; want the default's two tiers in order", c)
	}
	got = e.must(200, "POST", "/admin/routes/acme-llm/dry-run", map[string]any{"team": "search", "headers": map[string]string{"x-switchyard-tag": "beta"}, "session": "s1"})
	if str(got, "rule_name") != "beta" || str(got, "sticky_by") != "session" || len(got["candidates"].([]any)) != 2 {
		t.Errorf("the beta tag: %v", got)
	}
	// The same session always gets the same first pick.
	for i := 0; i < 5; i++ {
		again := e.must(200, "POST", "/admin/routes/acme-llm/dry-run", map[string]any{"team": "search", "headers": map[string]string{"x-switchyard-tag": "beta"}, "session": "s1", "request_id": string(rune('a' + i))})
		if str(again, "first") != str(got, "first") {
			t.Errorf("session s1 went to %s, then %s", str(got, "first"), str(again, "first"))
		}
	}
	if r := e.do("POST", "/admin/routes/acme-llm/dry-run", superToken, map[string]any{"key_id": "key_nope"}); r.Status != 400 || r.errParam() != "key_id" {
		t.Errorf("an unknown key: %d %s", r.Status, r.Raw)
	}
	// The live split reads the request log; with no traffic it is empty.
	if split := e.must(200, "GET", "/admin/routes/acme-llm/split", nil); split["total"].(float64) != 0 {
		t.Errorf("split without traffic: %v", split)
	}
	// The snapshot the gateway reads carries the route, its rules and tiers.
	snap, err := (&postgres.SnapshotLoader{Pool: e.pool}).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rt := snap.Routes["acme-llm"]; rt == nil || rt.Version != 1 || len(rt.Rules) != 2 || len(rt.Plan.Tiers) != 2 {
		t.Errorf("the snapshot's route: %+v", rt)
	}
}
