package admin_test

import (
	"context"
	"strings"
	"testing"
)

// The operator's journey, Steps 2 to 5 of the guide, through the HTTP API.
func TestOperatorJourney(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()

	p := e.must(200, "GET", "/admin/providers/acme-internal-llm", nil)
	if got := str(p, "credential_hint"); got != "1234" {
		t.Errorf("credential_hint = %q, want 1234", got)
	}
	if strings.Contains(string(e.do("GET", "/admin/providers", superToken, nil).Raw), "sk-upstream-secret") {
		t.Error("the credential appears in the provider list")
	}
	if str(p, "verification", "status") != "verified" {
		t.Errorf("verification = %v", p["verification"])
	}
	// Sealed at rest, and the snapshot opens it for the gateway.
	var blob []byte
	if err := e.pool.QueryRow(context.Background(), `SELECT credential_sealed FROM providers`).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(blob), "sk-upstream-secret") {
		t.Error("the credential is stored in the clear")
	}
	e.refresh()
	snap, _ := e.src.Get(context.Background())
	if got := snap.Providers["acme-internal-llm"].Credential; got != "sk-upstream-secret-1234" {
		t.Errorf("snapshot credential = %q", got)
	}

	m := e.must(200, "GET", "/admin/models/acme-embed-2026-04", nil)
	if m["dimension"] != float64(384) || m["kind"] != "embedding" {
		t.Errorf("model = %v", m)
	}
	e.must(200, "PUT", "/admin/audience/acme-llm", map[string]any{"teams": []string{"search"}})
	e.must(200, "PUT", "/admin/audience/acme-embed", map[string]any{"teams": []string{"search"}})
	k := e.must(201, "POST", "/admin/keys", map[string]any{"team": "search", "name": "search backend"})
	key := str(k, "key")
	if !strings.HasPrefix(key, "sk-sy-") || len(key) < 40 {
		t.Fatalf("key = %q", key)
	}
	e.refresh()
	snap, _ = e.src.Get(context.Background())
	var found bool
	for _, kk := range snap.Keys {
		if kk.ID == str(k, "id") {
			found = true
			if m, _, o := snap.Resolve(kk, "acme-llm"); o != "resolved" || m.Name != "acme-llm-2026-04" {
				t.Errorf("acme-llm resolves to %v, %s", m, o)
			}
			if _, _, o := snap.Resolve(kk, "acme-llm-2026-04"); o != "not_granted" {
				t.Errorf("the pinned name resolves (%s) without its own grant", o)
			}
		}
	}
	if !found {
		t.Fatal("the new key is not in the snapshot")
	}
	// Listing never shows the key again.
	if strings.Contains(string(e.do("GET", "/admin/keys?team=search", superToken, nil).Raw), key) {
		t.Error("the key is shown again by the list")
	}
}
