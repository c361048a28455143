package console_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/console"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// The session table app wires is the one the console's Sessions use.
var _ console.SessionRows = (*postgres.ConsoleSessionStore)(nil)

// testClock is now plus what the test added.
type testClock struct {
	start time.Time
	added atomic.Int64
}

func (c *testClock) now() time.Time      { return c.start.Add(time.Duration(c.added.Load())) }
func (c *testClock) add(d time.Duration) { c.added.Add(int64(d)) }

// clockedConsole is a new env whose console is served on a clock the test moves.
func clockedConsole(t *testing.T) (*env, *httptest.Server, *testClock) {
	t.Helper()
	e := newEnv(t)
	clk := &testClock{start: time.Now()}
	c, err := console.New(console.Config{Local: true}, e.app.ConsoleServices(), e.app.Catalog,
		&console.Sessions{Rows: &postgres.ConsoleSessionStore{Pool: e.app.Pool}}, slog.New(slog.DiscardHandler), clk.now)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", c)
	mux.Handle("/admin/", e.app.AdminHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return e, srv, clk
}

// withCookie fetches a console page with exactly the session cookie value, as a copied cookie would.
func withCookie(t *testing.T, base, cookie string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/console/providers", nil)
	req.AddCookie(&http.Cookie{Name: "switchyard_session", Value: cookie})
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func sessionCookie(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	u, _ := url.Parse(base + "/console/")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "switchyard_session" {
			return ck.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// A session unused for an hour ends; one used all along still ends twelve hours after sign-in.
func TestAttackStolenSessionExpires(t *testing.T) {
	t.Parallel()
	_, srv, clk := clockedConsole(t)

	c, _ := signedInClient(t, srv.URL, superToken)
	idle := sessionCookie(t, c, srv.URL)
	clk.add(console.SessionIdle - time.Minute)
	if got := withCookie(t, srv.URL, idle); got != http.StatusOK {
		t.Fatalf("a session used %v after sign-in = %d; want 200", console.SessionIdle-time.Minute, got)
	}
	clk.add(console.SessionIdle)
	if got := withCookie(t, srv.URL, idle); got != http.StatusSeeOther {
		t.Errorf("a session unused for %v = %d; want a redirect to sign-in", console.SessionIdle, got)
	}

	c, _ = signedInClient(t, srv.URL, superToken)
	busy := sessionCookie(t, c, srv.URL)
	for used := time.Duration(0); used < console.SessionTTL-console.SessionIdle; used += console.SessionIdle / 2 {
		clk.add(console.SessionIdle / 2)
		if got := withCookie(t, srv.URL, busy); got != http.StatusOK {
			t.Fatalf("a session in use, %v after sign-in = %d; want 200", used, got)
		}
	}
	clk.add(console.SessionIdle)
	if got := withCookie(t, srv.URL, busy); got != http.StatusSeeOther {
		t.Errorf("a session in use, past %v after sign-in = %d; want a redirect to sign-in", console.SessionTTL, got)
	}
}

// Sign-out ends the session on the server (a copy of the cookie is dead), and a super admin ends
// another admin's sessions with DELETE /admin/admins/{id}/sessions while its token keeps working.
func TestAttackCopiedSessionCookieDiesAtSignOutAndWhenEnded(t *testing.T) {
	t.Parallel()
	e, srv, _ := clockedConsole(t)

	c, csrf := signedInClient(t, srv.URL, superToken)
	copied := sessionCookie(t, c, srv.URL)
	resp, err := c.PostForm(srv.URL+"/console/signout", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := withCookie(t, srv.URL, copied); got != http.StatusSeeOther {
		t.Errorf("a copy of the cookie after sign-out = %d; want a redirect to sign-in", got)
	}

	id, token := e.admin("viewer-vic", catalog.RoleViewer)
	c1, _ := signedInClient(t, srv.URL, token)
	c2, _ := signedInClient(t, srv.URL, token)
	mine, _ := signedInClient(t, srv.URL, superToken)
	req, _ := http.NewRequest("DELETE", srv.URL+"/admin/admins/"+id+"/sessions", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a viewer ending sessions = %v %v; want 403", resp.StatusCode, err)
	}
	req.Header.Set("Authorization", "Bearer "+superToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"sessions_ended":2`) {
		t.Fatalf("DELETE /admin/admins/{id}/sessions = %d %s; want 200 with 2 ended", resp.StatusCode, body)
	}
	for i, c := range []*http.Client{c1, c2} {
		if got := withCookie(t, srv.URL, sessionCookie(t, c, srv.URL)); got != http.StatusSeeOther {
			t.Errorf("the viewer's session %d after its sessions were ended = %d; want a redirect to sign-in", i+1, got)
		}
	}
	if got := withCookie(t, srv.URL, sessionCookie(t, mine, srv.URL)); got != http.StatusOK {
		t.Errorf("the super admin's own session = %d; want 200 (only the viewer's ended)", got)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/admin/providers", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the viewer's token after its sessions ended = %v %v; want 200", resp.StatusCode, err)
	}
}
