package admin_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/upstream"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

// useRealUpstream swaps the stub for the real client, with loopback allowed (the fake listens there).
func (e *env) useRealUpstream() {
	c := upstream.New(upstream.Options{AllowLoopback: true})
	e.t.Cleanup(c.Close)
	e.svc.Verifier, e.svc.Prober = c, c
	e.svc.CheckBaseURL = func(u string) error { return upstream.CheckBaseURLHost(u, true) }
}

func TestProviderVerificationAgainstFakeUpstream(t *testing.T) {
	e := newEnv(t)
	e.useRealUpstream()
	fake := fakeupstream.Start(fakeupstream.Config{Token: "fake-upstream-token-42"})
	t.Cleanup(fake.Close)

	// The right credential, pasted with a trailing newline: verified, with the model list, and the
	// whitespace reported.
	p := e.must(201, "POST", "/admin/providers", map[string]any{"identifier": "fake", "base_url": fake.URL,
		"auth": map[string]any{"method": "bearer", "credential": "fake-upstream-token-42\n"}})
	if str(p, "verification", "status") != "verified" || !strings.Contains(fmtAny(p["verification"]), "demo-embed-small") ||
		!strings.Contains(fmtAny(p["verification"]), "credential_whitespace") {
		t.Errorf("verification = %v", p["verification"])
	}
	// A wrong credential: stored, with auth_rejected.
	p = e.must(201, "POST", "/admin/providers", map[string]any{"identifier": "fake-wrong", "base_url": fake.URL,
		"auth": map[string]any{"method": "bearer", "credential": "not-the-token"}})
	if str(p, "verification", "status") != "failed" || !strings.Contains(fmtAny(p["verification"]), "auth_rejected") {
		t.Errorf("verification with a wrong credential = %v", p["verification"])
	}
	// Fixing it with PATCH verifies again.
	p = e.must(200, "PATCH", "/admin/providers/fake-wrong", map[string]any{"auth": map[string]any{"credential": "fake-upstream-token-42"}})
	if str(p, "verification", "status") != "verified" {
		t.Errorf("verification after fixing the credential = %v", p["verification"])
	}

	// A hanging upstream does not hold the create: verification is bounded by the provider's
	// connect and first-byte timeouts.
	fake.SetFaults(fakeupstream.Faults{FirstByteDelay: time.Minute})
	start := time.Now()
	p = e.must(201, "POST", "/admin/providers", map[string]any{"identifier": "fake-hang", "base_url": fake.URL,
		"auth":     map[string]any{"method": "bearer", "credential": "fake-upstream-token-42"},
		"timeouts": map[string]any{"connect_ms": 500, "first_byte_ms": 1000}})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("create against a hanging upstream took %v", d)
	}
	if str(p, "verification", "status") != "failed" {
		t.Errorf("verification of a hanging upstream = %v", p["verification"])
	}
	fake.SetFaults(fakeupstream.Faults{})

	// Probes: a chat model whose endpoint lacks tools, an embedding model of another dimension.
	e.must(201, "POST", "/admin/models", map[string]any{"name": "fake-chat", "provider": "fake", "upstream_name": "demo-chat", "kind": "chat",
		"capabilities": map[string]any{"streaming": true, "tools": true}})
	fake.SetFaults(fakeupstream.Faults{NoTools: true})
	m := e.must(200, "POST", "/admin/models/fake-chat/probe", nil)
	if pr := m["probe"].(map[string]any); pr["streaming"] != true || pr["tools"] != false {
		t.Errorf("chat probe = %v", pr)
	}
	fake.SetFaults(fakeupstream.Faults{})
	e.must(201, "POST", "/admin/models", map[string]any{"name": "fake-embed-wrong", "provider": "fake", "upstream_name": "demo-embed-large", "kind": "embedding", "dimension": 384})
	m = e.must(200, "POST", "/admin/models/fake-embed-wrong/probe", nil)
	if m["probe"].(map[string]any)["dimension"] != float64(1024) {
		t.Errorf("embedding probe = %v", m["probe"])
	}
	if r := e.do("PATCH", "/admin/models/fake-embed-wrong", superToken, map[string]any{"enabled": true}); r.Status != 400 || r.errParam() != "enabled" {
		t.Errorf("enabling a model of the wrong dimension: %d %s", r.Status, r.Raw)
	}
}

func TestSeedDemo(t *testing.T) {
	e := newEnv(t)
	e.useRealUpstream()
	fake := fakeupstream.Start(fakeupstream.Config{})
	t.Cleanup(fake.Close)
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "demo-key")
	key, err := admin.SeedDemo(ctx, e.svc, admin.DemoConfig{UpstreamURL: fake.URL, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	p := e.must(200, "GET", "/admin/providers/demo-upstream", nil)
	if str(p, "display_name") != admin.DemoProviderDisplay || str(p, "verification", "status") != "verified" {
		t.Errorf("demo provider = %v", p)
	}
	for _, name := range []string{admin.DemoEmbedSmall, admin.DemoEmbedLarge, admin.DemoChatModel} {
		m := e.must(200, "POST", "/admin/models/"+name+"/probe", nil)
		if d := fmtAny(m["probe"].(map[string]any)["diagnostics"]); d != "[]" {
			t.Errorf("probe of %s has diagnostics %s", name, d)
		}
	}
	e.refresh()
	snap, _ := e.src.Get(ctx)
	k := snap.Keys[catalog.HashSecret(key)]
	if k == nil || k.Team != "demo" {
		t.Fatalf("the demo key is not a key of team demo: %v", k)
	}
	for name, want := range map[string]string{"demo-chat": admin.DemoChatModel, "demo-embed": admin.DemoEmbedSmall, admin.DemoEmbedLarge: admin.DemoEmbedLarge} {
		if m, _, o := snap.Resolve(k, name); o != catalog.Resolved || m.Name != want {
			t.Errorf("%s resolves to %v (%s)", name, m, o)
		}
	}
	// A restart: nothing new, the same key; a restart on another port follows the new URL.
	before := e.state()
	again, err := admin.SeedDemo(ctx, e.svc, admin.DemoConfig{UpstreamURL: fake.URL, KeyFile: keyFile})
	if err != nil || again != key {
		t.Errorf("second seed: key %q (want the first), err %v", again, err)
	}
	if e.state() != before {
		t.Errorf("a second seed wrote something: %s -> %s", before, e.state())
	}
	fake2 := fakeupstream.Start(fakeupstream.Config{})
	t.Cleanup(fake2.Close)
	if _, err := admin.SeedDemo(ctx, e.svc, admin.DemoConfig{UpstreamURL: fake2.URL, KeyFile: keyFile}); err != nil {
		t.Fatal(err)
	}
	if got := str(e.must(200, "GET", "/admin/providers/demo-upstream", nil), "base_url"); got != fake2.URL {
		t.Errorf("demo provider base_url = %s, want %s", got, fake2.URL)
	}
	// A revoked demo key is replaced.
	e.must(200, "DELETE", "/admin/keys/"+k.ID, nil)
	third, err := admin.SeedDemo(ctx, e.svc, admin.DemoConfig{UpstreamURL: fake2.URL, KeyFile: keyFile})
	if err != nil || third == key {
		t.Errorf("seed after revoking the demo key: %q, %v", third, err)
	}
}
