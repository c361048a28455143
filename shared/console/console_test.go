package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// TestViewerSeesNoWriteActions: what each page offers follows the role, and the server refuses
// the write anyway.
func TestViewerSeesNoWriteActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.chatBehindAlias()
	_, viewer := e.admin("viewer-vic", catalog.RoleViewer)
	b := signedInTab(t, e.srv.URL, viewer)
	b.wants(".sidebar", "viewer")
	if n := b.count("#add-provider"); n != 0 {
		t.Errorf("a viewer must not be offered 'Add a provider'")
	}
	for _, path := range []string{"/console/providers/acme", "/console/models", "/console/models/acme-chat", "/console/aliases", "/console/aliases/acme-llm", "/console/teams"} {
		b.open(path)
		if n := b.count("main form, main button"); n != 0 {
			t.Errorf("a viewer's page %s must hold no forms or buttons; it holds %d", path, n)
		}
	}
	b.open("/console/models")
	b.shot("viewer-models")
	b.open("/console/providers/new")
	b.wants("#page-error", "viewer", "may not")
}

// TestProviderAdminManagesTheCatalogueButNotAccess: a provider_admin may grant audience but sees
// no teams, keys or key forms, as the API answers it.
func TestProviderAdminManagesTheCatalogueButNotAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.CreateTeam(ctx, e.super, admin.TeamInput{Name: "search-team"}); err != nil {
		t.Fatal(err)
	}
	e.refresh()
	_, token := e.admin("prov-pat", catalog.RoleProviderAdmin)
	b := signedInTab(t, e.srv.URL, token)
	if n := b.count("#add-provider"); n != 1 {
		t.Errorf("a provider_admin should be offered 'Add a provider'")
	}
	b.open("/console/teams")
	if n := b.count("#teams, #team-form"); n != 0 {
		t.Errorf("a provider_admin may not read teams; the page shows %d team elements", n)
	}
	b.wants("#audience", "Audience")
	b.open("/console/teams/search-team")
	b.wants("#page-error", "provider_admin", "may not")
	b.open("/console/playground")
	if n := b.count("#mint-form"); n != 0 {
		t.Errorf("a provider_admin may not mint keys")
	}
}

// TestRevokedAdminIsSignedOutWithinASecond: the session follows the catalogue snapshot.
func TestRevokedAdminIsSignedOutWithinASecond(t *testing.T) {
	e := newEnv(t)
	id, token := e.admin("viewer-vic", catalog.RoleViewer)
	b := signedInTab(t, e.srv.URL, token)
	b.wants("main h1", "Providers")
	if _, err := e.svc.RevokeAdmin(context.Background(), e.super, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(catalog.MaxStaleness)
	b.open("/console/models")
	b.wants("main h1", "Sign in")
	b.wants("#page-error", "revoked")
}

// TestSignInRefusesBadTokensAndKeepsPagesPrivate: no page shows without a session.
func TestSignInRefusesBadTokensAndKeepsPagesPrivate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{"/console/providers", "/console/models", "/console/requests", "/console/playground"} {
		resp := e.get(path)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin") {
			t.Errorf("GET %s without a session: %d %s, want a redirect to sign-in", path, resp.StatusCode, loc)
		}
	}
	b := e.tab(t)
	b.signIn("sya-not-a-token-at-all")
	b.wants("#page-error", "not valid")
	b.shot("00-signin-refused")
}

// signedInClient signs in over plain HTTP and returns the client and the page's CSRF token.
func signedInClient(t *testing.T, base, token string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pre := between(string(body), `name="csrf" value="`, `"`)
	resp, err = c.PostForm(base+"/console/signin", url.Values{"csrf": {pre}, "token": {token}, "next": {"/console/models"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in answered %d", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "switchyard_session" && ck.Value != "" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("the session cookie must be HttpOnly and SameSite=Strict: %+v", cookie)
	}
	resp, err = c.Get(base + "/console/models")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := between(string(body), `name="csrf" value="`, `"`)
	if csrf == "" {
		t.Fatal("the models page carries no CSRF token")
	}
	return c, csrf
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}

// TestFormsWithoutTheCSRFTokenAreRefused: a form posted without this session's token changes nothing.
func TestFormsWithoutTheCSRFTokenAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, csrf := signedInClient(t, e.srv.URL, superToken)
	_, viewer := e.admin("viewer-vic", catalog.RoleViewer)
	_, otherCSRF := signedInClient(t, e.srv.URL, viewer)
	form := url.Values{"identifier": {"acme"}, "base_url": {e.upstream.URL}, "auth_method": {"none"}}
	providers := func() int {
		l, err := e.svc.ListProviders(context.Background(), e.super)
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Data)
	}
	for _, tc := range []struct{ name, token string }{{"missing", ""}, {"wrong", "x" + csrf}, {"another session's", otherCSRF}} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if tc.token != "" {
			f.Set("csrf", tc.token)
		}
		resp, err := c.PostForm(e.srv.URL+"/console/providers/new", f)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "security token") {
			t.Errorf("%s CSRF token: answered %d, want 403 saying why", tc.name, resp.StatusCode)
		}
	}
	if n := providers(); n != 0 {
		t.Fatalf("a refused form must change nothing; %d providers stored", n)
	}
	form.Set("csrf", csrf)
	resp, err := c.PostForm(e.srv.URL+"/console/providers/new", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || providers() != 1 {
		t.Fatalf("with the token the form should be accepted: %d, %d providers", resp.StatusCode, providers())
	}

	// Sign-out ends the session on the server: the old cookie is dead.
	resp, err = c.PostForm(e.srv.URL+"/console/signout", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.Get(e.srv.URL + "/console/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin") {
		t.Errorf("after sign-out a page should send to sign-in; got %d %s", resp.StatusCode, loc)
	}
}
