package admin_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

// catcher is a host an attacker controls: it records every Authorization header it receives.
type catcher struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newCatcher(t *testing.T) *catcher {
	c := &catcher{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.seen = append(c.seen, r.Header.Get("Authorization"))
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[]}`))
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *catcher) caught() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// TestAttackProviderBaseURLMovesCredential has a provider_admin point a stored provider at a host
// it controls without giving the credential, then press verify: the change is refused with
// auth.credential and nothing is stored, so the stored credential never leaves for the new host.
// Changing only the path keeps the credential; giving the credential again allows the move.
func TestAttackProviderBaseURLMovesCredential(t *testing.T) {
	e := newEnv(t)
	e.useRealUpstream()
	const secret = "fake-upstream-token-42"
	real := fakeupstream.Start(fakeupstream.Config{Token: secret})
	t.Cleanup(real.Close)
	evil := newCatcher(t)
	e.must(201, "POST", "/admin/providers", map[string]any{"identifier": "acme", "base_url": real.URL,
		"auth": map[string]any{"method": "bearer", "credential": secret}})
	op := str(e.must(201, "POST", "/admin/admins", map[string]any{"name": "Mallory", "role": "provider_admin"}), "token")
	e.refresh()

	// real.URL is http://127.0.0.1:PORT/v1; evil.URL another port; localhost another host name.
	realPort := real.URL[strings.LastIndex(real.URL, ":")+1 : len(real.URL)-len("/v1")]
	for _, moved := range []string{
		evil.URL + "/v1",                        // another port
		"http://localhost:" + realPort + "/v1",  // another host, same port
		"https://127.0.0.1:" + realPort + "/v1", // another scheme
		strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) + "/v1",
	} {
		r := e.do("PATCH", "/admin/providers/acme", op, map[string]any{"base_url": moved})
		if r.Status != 400 || r.errCode() != "invalid_request" || r.errParam() != "auth.credential" ||
			!strings.Contains(str(r.Body, "error", "message"), "credential") {
			t.Errorf("moving the base URL to %s without the credential: %d %s, want 400 invalid_request auth.credential", moved, r.Status, r.Raw)
		}
		if r := e.do("POST", "/admin/providers/acme/verify", op, nil); r.Status != 200 || str(r.Body, "base_url") != real.URL ||
			str(r.Body, "verification", "status") != "verified" {
			t.Errorf("after the refused move the provider changed: %d %s", r.Status, r.Raw)
		}
	}
	if got := evil.caught(); len(got) != 0 {
		t.Fatalf("the attacker's host received %d calls, with %q", len(got), got)
	}

	// Only the path changes: the credential stays (verification fails on the wrong path, then
	// succeeds on the right one with the stored credential).
	r := e.do("PATCH", "/admin/providers/acme", op, map[string]any{"base_url": strings.TrimSuffix(real.URL, "/v1") + "/api/v1"})
	if r.Status != 200 || str(r.Body, "credential_hint") != secret[len(secret)-4:] {
		t.Fatalf("changing only the path: %d %s", r.Status, r.Raw)
	}
	r = e.do("PATCH", "/admin/providers/acme", op, map[string]any{"base_url": real.URL})
	if r.Status != 200 || str(r.Body, "verification", "status") != "verified" {
		t.Fatalf("back to the right path, the stored credential should verify: %d %s", r.Status, r.Raw)
	}

	// With the credential given again in the same request, the move is the operator's choice.
	r = e.do("PATCH", "/admin/providers/acme", op, map[string]any{"base_url": evil.URL + "/v1",
		"auth": map[string]any{"credential": "typed-again-for-the-new-host"}})
	if r.Status != 200 || str(r.Body, "base_url") != evil.URL+"/v1" {
		t.Fatalf("moving with the credential: %d %s", r.Status, r.Raw)
	}
	if got := evil.caught(); len(got) != 1 || got[0] != "Bearer typed-again-for-the-new-host" {
		t.Errorf("the new host received %q, want only the credential typed for it", got)
	}
}

// TestAttackBlockedAddressForms creates providers whose base URL writes a blocked address in a
// disguised form: each is refused with 400 blocked_address naming base_url, and nothing is stored.
func TestAttackBlockedAddressForms(t *testing.T) {
	e := newEnv(t)
	for _, base := range []string{
		"http://[64:ff9b::a9fe:a9fe]/latest", "http://[64:ff9b:1::a9fe:a9fe]/latest", "http://[::a9fe:a9fe]/latest",
		"http://[::127.0.0.1]:8000/v1", "http://[::ffff:169.254.169.254]/latest", "http://[2002:a9fe:a9fe::]/latest",
		"http://[fd00:ec2::254]/latest", "http://localhost.:8000/v1", "http://metadata.google.internal./computeMetadata/v1",
	} {
		r := e.do("POST", "/admin/providers", superToken, map[string]any{"identifier": "p", "base_url": base, "auth": map[string]any{"method": "none"}})
		if r.Status != 400 || r.errCode() != "blocked_address" || r.errParam() != "base_url" {
			t.Errorf("POST a provider at %s: %d %s, want 400 blocked_address", base, r.Status, r.Raw)
		}
	}
	if n := e.count("providers"); n != 0 {
		t.Fatalf("%d providers stored", n)
	}
}
