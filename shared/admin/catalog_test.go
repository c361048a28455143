package admin_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

func history(t *testing.T, a map[string]any) []map[string]any {
	t.Helper()
	raw, _ := a["history"].([]any)
	out := make([]map[string]any, len(raw))
	for i, h := range raw {
		out[i] = h.(map[string]any)
	}
	return out
}

func TestAliasMoveRollbackHistory(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	dana := e.must(201, "POST", "/admin/admins", map[string]any{"name": "Dana (platform)", "role": "provider_admin"})
	op, danaID := str(dana, "token"), str(dana, "id")
	e.refresh()

	// PUT on an existing alias is alias_exists; on a model's name, already_exists.
	if r := e.do("PUT", "/admin/aliases/acme-llm", superToken, map[string]any{"target": "acme-llm-2026-06"}); r.Status != 409 || r.errCode() != "alias_exists" {
		t.Errorf("PUT existing alias: %d %s", r.Status, r.Raw)
	}
	if r := e.do("PUT", "/admin/aliases/acme-llm-2026-06", superToken, map[string]any{"target": "acme-llm-2026-04"}); r.Status != 409 || r.errCode() != "already_exists" {
		t.Errorf("PUT alias on a model's name: %d %s", r.Status, r.Raw)
	}
	if r := e.do("POST", "/admin/models", superToken, map[string]any{"name": "acme-llm", "provider": "acme-internal-llm", "kind": "chat"}); r.Status != 409 || r.errCode() != "already_exists" {
		t.Errorf("POST model on an alias's name: %d %s", r.Status, r.Raw)
	}

	// A stale expected_from changes nothing.
	before := e.state()
	r := e.do("POST", "/admin/aliases/acme-llm/move", op, map[string]any{"to": "acme-llm-2026-06", "expected_from": "acme-llm-2026-06"})
	if r.Status != 409 || r.errCode() != "alias_moved" || r.errParam() != "expected_from" {
		t.Errorf("stale move: %d %s", r.Status, r.Raw)
	}
	if e.state() != before {
		t.Error("a refused move wrote something")
	}

	r = e.do("POST", "/admin/aliases/acme-llm/move", op, map[string]any{"to": "acme-llm-2026-06", "expected_from": "acme-llm-2026-04", "reason": "v2 passed evals"})
	if r.Status != 200 || str(r.Body, "target") != "acme-llm-2026-06" {
		t.Fatalf("move: %d %s", r.Status, r.Raw)
	}
	h := history(t, r.Body)
	if len(h) != 2 || h[0]["from"] != "acme-llm-2026-04" || h[0]["to"] != "acme-llm-2026-06" || h[0]["who"] != "Dana (platform) ("+danaID+")" || h[0]["why"] != "v2 passed evals" || h[0]["when"] == "" {
		t.Errorf("history after move = %v", h)
	}
	if h[1]["from"] != "" || h[1]["to"] != "acme-llm-2026-04" || h[1]["who"] != "bootstrap (adm_bootstrap)" {
		t.Errorf("creation entry = %v", h[1])
	}
	// The previous target stays enabled.
	if m := e.must(200, "GET", "/admin/models/acme-llm-2026-04", nil); m["enabled"] != true {
		t.Error("the previous target was disabled by the move")
	}
	// The current target cannot be disabled.
	if r := e.do("PATCH", "/admin/models/acme-llm-2026-06", superToken, map[string]any{"enabled": false}); r.Status != 409 || r.errCode() != "model_in_use" || !strings.Contains(str(r.Body, "error", "message"), "acme-llm") {
		t.Errorf("disabling a target: %d %s", r.Status, r.Raw)
	}

	r = e.do("POST", "/admin/aliases/acme-llm/rollback", op, nil)
	if r.Status != 200 || str(r.Body, "target") != "acme-llm-2026-04" {
		t.Fatalf("rollback: %d %s", r.Status, r.Raw)
	}
	h = history(t, e.must(200, "GET", "/admin/aliases/acme-llm", nil))
	if len(h) != 3 || h[0]["from"] != "acme-llm-2026-06" || h[0]["to"] != "acme-llm-2026-04" || h[0]["why"] != "rollback" {
		t.Errorf("history after rollback = %v", h)
	}
	// A rollback with a stale expectation is refused.
	if r := e.do("POST", "/admin/aliases/acme-llm/rollback", op, map[string]any{"expected_from": "acme-llm-2026-06"}); r.Status != 409 || r.errCode() != "alias_moved" {
		t.Errorf("stale rollback: %d %s", r.Status, r.Raw)
	}
	// An alias that never moved has nothing to roll back to.
	if r := e.do("POST", "/admin/aliases/acme-embed/rollback", op, nil); r.Status != 400 {
		t.Errorf("rollback of a fresh alias: %d %s", r.Status, r.Raw)
	}
	// Moving to a disabled model is refused.
	e.must(201, "POST", "/admin/models", map[string]any{"name": "acme-llm-off", "provider": "acme-internal-llm", "kind": "chat"})
	if r := e.do("POST", "/admin/aliases/acme-llm/move", op, map[string]any{"to": "acme-llm-off", "expected_from": "acme-llm-2026-04"}); r.Status != 400 || r.errParam() != "to" {
		t.Errorf("move to a disabled model: %d %s", r.Status, r.Raw)
	}
	if r := e.do("GET", "/admin/aliases/nope", op, nil); r.Status != 404 || r.errCode() != "not_found" {
		t.Errorf("GET unknown alias: %d %s", r.Status, r.Raw)
	}
	if l := e.must(200, "GET", "/admin/aliases", nil); len(l["data"].([]any)) != 2 {
		t.Errorf("alias list = %v", l)
	}
}

// Many movers with the same expected_from: exactly one wins, the others get alias_moved, and the
// history holds exactly one move.
func TestConcurrentAliasMoves(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	for i := range 6 {
		e.must(201, "POST", "/admin/models", map[string]any{"name": fmt.Sprintf("acme-llm-c%d", i), "provider": "acme-internal-llm", "kind": "chat", "enabled": true})
	}
	var wg sync.WaitGroup
	statuses := make([]resp, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.do("POST", "/admin/aliases/acme-llm/move", superToken,
				map[string]any{"to": fmt.Sprintf("acme-llm-c%d", i), "expected_from": "acme-llm-2026-04"})
		}()
	}
	wg.Wait()
	wins := 0
	for _, r := range statuses {
		switch {
		case r.Status == 200:
			wins++
		case r.Status == 409 && r.errCode() == "alias_moved":
		default:
			t.Errorf("concurrent move: %d %s", r.Status, r.Raw)
		}
	}
	if wins != 1 {
		t.Errorf("%d moves won, want exactly 1", wins)
	}
	if n := e.count("alias_history WHERE alias = 'acme-llm'"); n != 2 {
		t.Errorf("history has %d entries, want 2 (creation and one move)", n)
	}
}

func TestEmbeddingAliasFollowedByCorpusNeedsReembed(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	e.must(201, "POST", "/admin/models", map[string]any{"name": "acme-embed-2026-05", "provider": "acme-internal-llm", "kind": "embedding", "dimension": 384, "enabled": true})
	// Without a corpus following it the alias moves freely.
	e.must(200, "POST", "/admin/aliases/acme-embed/move", map[string]any{"to": "acme-embed-2026-05", "expected_from": "acme-embed-2026-04"})
	// With a corpus following the alias, it does not: a re-embed run moves it.
	e.refresh()
	e.must(201, "POST", "/admin/corpora", map[string]any{"name": "handbook", "embedding_model": "acme-embed"})
	before := e.state()
	for _, c := range []struct {
		path string
		body any
	}{
		{"/admin/aliases/acme-embed/move", map[string]any{"to": "acme-embed-2026-06", "expected_from": "acme-embed-2026-05"}},
		{"/admin/aliases/acme-embed/rollback", nil},
	} {
		r := e.do("POST", c.path, superToken, c.body)
		if r.Status != 409 || r.errCode() != "reembed_required" || !strings.Contains(str(r.Body, "error", "message"), "handbook") {
			t.Errorf("POST %s: %d %s", c.path, r.Status, r.Raw)
		}
	}
	if e.state() != before {
		t.Error("a refused move wrote something")
	}
	// Chat aliases are not concerned.
	e.must(200, "POST", "/admin/aliases/acme-llm/move", map[string]any{"to": "acme-llm-2026-06", "expected_from": "acme-llm-2026-04"})
}

func TestProviders(t *testing.T) {
	e := newEnv(t)
	// Whitespace around a pasted credential is removed, and said.
	p := e.must(201, "POST", "/admin/providers", map[string]any{"identifier": "ws", "base_url": "HTTPS://Models.Example.com/v1/",
		"auth": map[string]any{"method": "api_key", "header": "x-api-key", "credential": "  key-with-spaces-9876\n"}})
	if str(p, "credential_hint") != "9876" || str(p, "base_url") != "https://models.example.com/v1" || str(p, "auth", "header") != "x-api-key" {
		t.Errorf("normalised provider = %v", p)
	}
	diags, _ := p["verification"].(map[string]any)["diagnostics"].([]any)
	if len(diags) == 0 || diags[0].(map[string]any)["code"] != "credential_whitespace" {
		t.Errorf("diagnostics = %v, want credential_whitespace first", diags)
	}
	e.refresh()
	snap, _ := e.src.Get(context.Background())
	if got := snap.Providers["ws"].Credential; got != "key-with-spaces-9876" {
		t.Errorf("stored credential = %q, want it trimmed", got)
	}

	// Input that can never work is refused and nothing is stored.
	before := e.state()
	for _, c := range []struct {
		url, code, corrected string
	}{
		{"https://h.example/v1/chat/completions", "doubled_route", "https://h.example/v1"},
		{"https://h.example/v1/v1", "doubled_route", "https://h.example/v1"},
		{"https://h.example/v1/embeddings/", "doubled_route", "https://h.example/v1"},
		{"https://h.example/v1/models", "doubled_route", "https://h.example/v1"},
		{"http://169.254.169.254/latest", "blocked_address", ""},
		{"http://[fd00:ec2::254]/v1", "blocked_address", ""},
		{"http://127.0.0.1:8000/v1", "blocked_address", ""}, // loopback is off here, as in the cloud
	} {
		r := e.do("POST", "/admin/providers", superToken, map[string]any{"identifier": "bad", "base_url": c.url, "auth": map[string]any{"method": "none"}})
		if r.Status != 400 || r.errCode() != c.code || r.errParam() != "base_url" || !strings.Contains(str(r.Body, "error", "message"), c.corrected) {
			t.Errorf("base_url %s: %d %s", c.url, r.Status, r.Raw)
		}
	}
	if e.state() != before {
		t.Error("a refused provider wrote something")
	}

	// A failing verification is stored with the failure.
	e.up.fail.Store(true)
	p = e.must(201, "POST", "/admin/providers", map[string]any{"identifier": "down", "base_url": "https://down.example/v1", "auth": map[string]any{"method": "none"}})
	if str(p, "verification", "status") != "failed" {
		t.Errorf("verification = %v", p["verification"])
	}
	e.up.fail.Store(false)
	p = e.must(200, "POST", "/admin/providers/down/verify", nil)
	if str(p, "verification", "status") != "verified" {
		t.Errorf("verification after verify = %v", p["verification"])
	}
	// Update re-verifies; switching to none drops the credential.
	n := e.up.verifies.Load()
	p = e.must(200, "PATCH", "/admin/providers/ws", map[string]any{"auth": map[string]any{"method": "none"}, "timeouts": map[string]any{"connect_ms": 1500}})
	if e.up.verifies.Load() != n+1 || str(p, "credential_hint") != "" || p["timeouts"].(map[string]any)["connect_ms"] != float64(1500) {
		t.Errorf("after PATCH: %v (verifications %d -> %d)", p, n, e.up.verifies.Load())
	}
	var sealed []byte
	_ = e.pool.QueryRow(context.Background(), `SELECT credential_sealed FROM providers WHERE identifier = 'ws'`).Scan(&sealed)
	if sealed != nil {
		t.Error("the credential stayed after switching to auth none")
	}
	if r := e.do("POST", "/admin/providers", superToken, map[string]any{"identifier": "ws", "base_url": "https://x.example/v1", "auth": map[string]any{"method": "none"}}); r.Status != 409 || r.errCode() != "already_exists" {
		t.Errorf("duplicate identifier: %d %s", r.Status, r.Raw)
	}

	// provider_in_use names the models; a provider without models is deleted.
	e.must(201, "POST", "/admin/models", map[string]any{"name": "uses-down", "provider": "down", "kind": "chat"})
	r := e.do("DELETE", "/admin/providers/down", superToken, nil)
	if r.Status != 409 || r.errCode() != "provider_in_use" || !strings.Contains(str(r.Body, "error", "message"), "uses-down") {
		t.Errorf("delete a used provider: %d %s", r.Status, r.Raw)
	}
	e.must(200, "DELETE", "/admin/providers/ws", nil)
	if r := e.do("GET", "/admin/providers/ws", superToken, nil); r.Status != 404 {
		t.Errorf("GET deleted provider: %d", r.Status)
	}
}

// Verification never holds a create for long, whatever the upstream does.
func TestVerificationIsBounded(t *testing.T) {
	e := newEnv(t)
	e.svc.Verifier = hangingVerifier{}
	e.svc.VerifyTimeout = 300 * time.Millisecond
	start := time.Now()
	p := e.must(201, "POST", "/admin/providers", map[string]any{"identifier": "slow", "base_url": "https://slow.example/v1", "auth": map[string]any{"method": "none"}})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("create took %v", d)
	}
	if str(p, "verification", "status") != "failed" {
		t.Errorf("verification = %v", p["verification"])
	}
}

type hangingVerifier struct{}

func (hangingVerifier) Verify(ctx context.Context, p *catalog.Provider) catalog.Verification {
	<-ctx.Done()
	return catalog.Verification{Status: catalog.Failed, CheckedAt: time.Now(), Diagnostics: []catalog.Diagnostic{{Code: "unreachable", Message: ctx.Err().Error()}}}
}

func TestModelsAndProbe(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	m := e.must(201, "POST", "/admin/models", map[string]any{"name": "acme-embed-2026-07", "provider": "acme-internal-llm", "kind": "embedding", "dimension": 768})
	if m["enabled"] != false || str(m, "upstream_name") != "acme-embed-2026-07" || m["probe"] != nil {
		t.Errorf("new model = %v", m)
	}
	// The probe finds another dimension: the model cannot be enabled.
	e.up.probeDim.Store(1024)
	m = e.must(200, "POST", "/admin/models/acme-embed-2026-07/probe", nil)
	if m["probe"].(map[string]any)["dimension"] != float64(1024) || m["dimension"] != float64(768) {
		t.Errorf("probed model = %v", m)
	}
	if r := e.do("PATCH", "/admin/models/acme-embed-2026-07", superToken, map[string]any{"enabled": true}); r.Status != 400 || r.errParam() != "enabled" || !strings.Contains(str(r.Body, "error", "message"), "1024") {
		t.Errorf("enable after a mismatching probe: %d %s", r.Status, r.Raw)
	}
	e.up.probeDim.Store(0)
	e.must(200, "POST", "/admin/models/acme-embed-2026-07/probe", nil)
	m = e.must(200, "PATCH", "/admin/models/acme-embed-2026-07", map[string]any{"enabled": true, "display_name": "Acme embed (July)", "context_window": 8192})
	if m["enabled"] != true || str(m, "display_name") != "Acme embed (July)" || m["context_window"] != float64(8192) {
		t.Errorf("patched model = %v", m)
	}
	c := e.must(200, "PATCH", "/admin/models/acme-llm-2026-06", map[string]any{"capabilities": map[string]any{"tools": true}})
	if caps := c["capabilities"].(map[string]any); caps["tools"] != true || caps["streaming"] != false {
		t.Errorf("capabilities = %v", caps)
	}
	if l := e.must(200, "GET", "/admin/models", nil); len(l["data"].([]any)) != 5 {
		t.Errorf("model list has %d", len(l["data"].([]any)))
	}
	if r := e.do("GET", "/admin/models/nope", superToken, nil); r.Status != 404 || r.errCode() != "not_found" {
		t.Errorf("unknown model: %d %s", r.Status, r.Raw)
	}
}

func TestTeamsKeysAudienceAdmins(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	if r := e.do("POST", "/admin/teams", superToken, map[string]any{"name": "search"}); r.Status != 409 || r.errCode() != "already_exists" {
		t.Errorf("duplicate team: %d %s", r.Status, r.Raw)
	}
	e.must(201, "POST", "/admin/teams", map[string]any{"name": "pilot"})
	a := e.must(200, "PUT", "/admin/audience/acme-embed", map[string]any{"teams": []string{"search", "pilot"}})
	if fmt.Sprint(a["teams"]) != "[pilot search]" {
		t.Errorf("audience = %v", a)
	}
	a = e.must(200, "PUT", "/admin/audience/acme-embed", map[string]any{"teams": []string{"pilot"}})
	if fmt.Sprint(a["teams"]) != "[pilot]" || fmt.Sprint(e.must(200, "GET", "/admin/audience/acme-embed", nil)["teams"]) != "[pilot]" {
		t.Errorf("audience after replacing = %v", a)
	}
	if r := e.do("PUT", "/admin/audience/nope", superToken, map[string]any{"teams": []string{}}); r.Status != 404 {
		t.Errorf("audience of an unknown name: %d %s", r.Status, r.Raw)
	}
	k := e.must(201, "POST", "/admin/keys", map[string]any{"team": "pilot", "name": "notebook", "models": []string{"acme-embed"}})
	if fmt.Sprint(k["models"]) != "[acme-embed]" || !strings.HasPrefix(str(k, "prefix"), "sk-sy-") {
		t.Errorf("key = %v", k)
	}
	var hash []byte
	_ = e.pool.QueryRow(context.Background(), `SELECT key_hash FROM api_keys WHERE id = $1`, str(k, "id")).Scan(&hash)
	if want := catalog.HashSecret(str(k, "key")); string(hash) != string(want[:]) {
		t.Error("the stored hash is not catalog.HashSecret of the key")
	}
	got := e.must(200, "GET", "/admin/keys/"+str(k, "id"), nil)
	if _, shown := got["key"]; shown {
		t.Error("GET shows the key")
	}
	team := e.must(200, "GET", "/admin/teams/pilot", nil)
	if team["keys"] != float64(1) || fmt.Sprint(team["grants"]) != "[acme-embed]" {
		t.Errorf("team = %v", team)
	}
	rk := e.must(200, "DELETE", "/admin/keys/"+str(k, "id"), nil)
	if rk["revoked_at"] == nil {
		t.Errorf("revoked key = %v", rk)
	}

	ad := e.must(201, "POST", "/admin/admins", map[string]any{"name": "Viewer Vic", "role": "viewer"})
	if !strings.HasPrefix(str(ad, "token"), "sya-") || strings.Contains(string(e.do("GET", "/admin/admins", superToken, nil).Raw), str(ad, "token")) {
		t.Errorf("admin token shown wrongly: %v", ad)
	}
	// The last active super admin cannot be revoked.
	if r := e.do("DELETE", "/admin/admins/adm_bootstrap", superToken, nil); r.Status != 409 || r.errCode() != apierror.CodeLastSuperAdmin {
		t.Errorf("revoke the last super admin: %d %s", r.Status, r.Raw)
	}
}

// The one-second rule: a revoked admin token and a revoked key are refused within a second,
// through a catalog.Source with its default interval and no manual refresh.
func TestRevocationWithinOneSecond(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	v := e.must(201, "POST", "/admin/admins", map[string]any{"name": "soon gone", "role": "viewer"})
	k := e.must(201, "POST", "/admin/keys", map[string]any{"team": "search"})
	e.refresh()
	if r := e.do("GET", "/admin/models", str(v, "token"), nil); r.Status != 200 {
		t.Fatalf("new admin: %d %s", r.Status, r.Raw)
	}
	ctx := context.Background()
	e.must(200, "DELETE", "/admin/admins/"+str(v, "id"), nil)
	e.must(200, "DELETE", "/admin/keys/"+str(k, "id"), nil)
	revoked := time.Now()
	time.Sleep(catalog.MaxStaleness)
	if r := e.do("GET", "/admin/models", str(v, "token"), nil); r.Status != 401 || r.errCode() != "invalid_admin_token" {
		t.Errorf("revoked admin token %v later: %d %s", time.Since(revoked), r.Status, r.Raw)
	}
	snap, err := e.src.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Keys[catalog.HashSecret(str(k, "key"))] != nil {
		t.Errorf("revoked key still in the snapshot %v later", time.Since(revoked))
	}
}
