package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// TestAttackConsoleEditMovesCredential: the edit form keeps the stored credential when its field
// is left empty. A provider_admin who changes the base URL's host that way must not send the
// credential there: the form comes back with the error at the credential field and nothing is
// stored. Changing only the path still keeps the credential.
func TestAttackConsoleEditMovesCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var calls atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			calls.Add(1)
		}
		http.NotFound(w, r)
	}))
	defer evil.Close()
	ctx := context.Background()
	e.provider()
	_, token := e.admin("mallory", catalog.RoleProviderAdmin)
	c, csrf := signedInClient(t, e.srv.URL, token)
	edit := func(base, credential string) (int, string) {
		t.Helper()
		resp, err := c.PostForm(e.srv.URL+"/console/providers/acme", url.Values{"csrf": {csrf}, "display_name": {"Acme"},
			"base_url": {base}, "auth_method": {"bearer"}, "auth_header": {""}, "credential": {credential}, "ca_bundle": {""}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	status, page := edit(evil.URL+"/v1", "")
	if status != http.StatusBadRequest || !strings.Contains(between(page, `id="credential"`, `</div>`), "give the credential (auth.credential) again") {
		t.Errorf("moving the host with an empty credential field: %d, want 400 with the error at the credential field:\n%s", status, page)
	}
	if strings.Contains(page, upstreamCred) {
		t.Errorf("the refused form shows the stored credential")
	}
	p, err := e.svc.GetProvider(ctx, e.super, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if p.BaseURL != e.upstream.URL || p.DisplayName == "Acme" {
		t.Errorf("a refused form stored %s %q", p.BaseURL, p.DisplayName)
	}
	if _, err := e.svc.VerifyProvider(ctx, e.super, "acme"); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the attacker's host received the credential %d times", n)
	}

	// Only the path changes: saved, the credential kept.
	if status, page := edit(strings.TrimSuffix(e.upstream.URL, "/v1")+"/api/v1", ""); status != http.StatusSeeOther {
		t.Errorf("changing only the path: %d\n%s", status, page)
	}
	if p, err := e.svc.GetProvider(ctx, e.super, "acme"); err != nil || !strings.HasSuffix(p.BaseURL, "/api/v1") || p.CredentialHint != upstreamCred[len(upstreamCred)-4:] {
		t.Errorf("after changing only the path: %+v %v", p, err)
	}
	// The move with the credential typed again is saved.
	if status, page := edit(evil.URL+"/v1", "typed-for-the-new-host"); status != http.StatusSeeOther {
		t.Errorf("moving with the credential typed again: %d\n%s", status, page)
	}
}
