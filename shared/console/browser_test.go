package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/console"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
)

// The browser tests drive Debian's Chromium, headless, through chromedp. They never skip: without
// Chromium they fail and say how to install it.

const chromiumHelp = "Chromium is not installed; the console's browser tests need it. Install it with `infra/chromium.sh` " +
	"(as root; it runs apt-get install chromium), or set SWITCHYARD_CHROMIUM to a Chromium or Chrome binary"

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SWITCHYARD_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("SWITCHYARD_CHROMIUM=%s: %v. %s", p, err, chromiumHelp)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal(chromiumHelp)
	return ""
}

// browser starts a fresh headless Chromium with its own profile. The flags keep it from dialing
// anything but the test server (this machine's network refuses Chromium's background connections).
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v. %s", err, chromiumHelp)
	}
	return ctx
}

// shotsDir is where screenshots go: SWITCHYARD_SCREENSHOTS, or a folder in the temp dir.
func shotsDir(t *testing.T) string {
	d := os.Getenv("SWITCHYARD_SCREENSHOTS")
	if d == "" {
		d = filepath.Join(os.TempDir(), "switchyard-console-shots")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatalf("screenshots folder: %v", err)
	}
	return d
}

// tab is one browser tab on a test server, with the test's helpers.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// step bounds one browser step, so a missing element fails the test in seconds, not minutes.
func (b *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 15*time.Second)
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// open loads a console path and waits for its main heading.
func (b *tab) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
}

// submit clicks sel and waits for the page it loads.
func (b *tab) submit(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		b.t.Fatalf("click %s and wait for the next page: %v (at %s)", sel, err, b.location())
	}
	b.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v (at %s)", sel, err, b.location())
	}
	return s
}

func (b *tab) value(sel string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read the value of %s: %v", sel, err)
	}
	return s
}

// count is how many elements match sel right now.
func (b *tab) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func (b *tab) fill(sel, v string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.CSS(sel), v))
}

// wants fails unless the text of sel holds every one of subs.
func (b *tab) wants(sel string, subs ...string) {
	b.t.Helper()
	got := b.text(sel)
	for _, s := range subs {
		if !strings.Contains(got, s) {
			b.t.Errorf("%s should say %q; it says:\n%s", sel, s, got)
		}
	}
}

func (b *tab) shot(name string) {
	b.t.Helper()
	// From the top, as a person first sees the page (a #fragment may have scrolled it).
	b.do(chromedp.Evaluate[chromedp.Void]("window.scrollTo(0, 0)"))
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(shotsDir(b.t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatalf("write %s: %v", p, err)
	}
	b.t.Logf("screenshot %s", p)
}

func (b *tab) signIn(token string) {
	b.t.Helper()
	b.open("/console/signin")
	b.fill("#token", token)
	b.submit("#signin-form button[type=submit]")
}

// fakeUpstream is a minimal OpenAI-compatible endpoint that accepts the credential good-key.
func fakeUpstream(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good-key" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"message":"bad key"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"acme-llm-7b","object":"model"},{"id":"acme-embed-small","object":"model"}]}`)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

type consoleEnv struct {
	fake     *fakeServices
	srv      *httptest.Server
	upstream *httptest.Server
	source   *catalog.Source
}

const (
	superToken  = "sya-super-0123456789abcdef"
	viewerToken = "sya-viewer-0123456789abcdef"
	provToken   = "sya-provider-0123456789abcdef"
)

func newConsoleEnv(t *testing.T) *consoleEnv {
	t.Helper()
	pool := pgtest.NewPool(t)
	fake := newFake()
	fake.addAdmin("ops-alice", catalog.RoleSuperAdmin, superToken)
	fake.addAdmin("viewer-vic", catalog.RoleViewer, viewerToken)
	fake.addAdmin("prov-pat", catalog.RoleProviderAdmin, provToken)
	src := catalog.NewSource(fake, 50*time.Millisecond, nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	con, err := console.New(console.Config{Local: true}, fake.services(), src, &postgres.ConsoleSessions{Pool: pool}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", con)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &consoleEnv{fake: fake, srv: srv, upstream: fakeUpstream(t), source: src}
}

func (e *consoleEnv) tab(t *testing.T) *tab {
	return &tab{t: t, ctx: browser(t), base: e.srv.URL}
}

// TestProvidersAndModelsInTheBrowser walks the guide's Steps 2 and 3: sign in, register a provider
// (a doubled route first, then a credential with whitespace), read the diagnostics, pick the upstream
// name, add a chat and an embedding model, enable and probe.
func TestProvidersAndModelsInTheBrowser(t *testing.T) {
	e := newConsoleEnv(t)
	b := e.tab(t)

	b.signIn("not-a-token-at-all")
	b.wants("#page-error", "not valid")
	b.signIn(superToken)
	b.wants("main h1", "Providers")
	b.wants(".sidebar", "Providers", "Models", "Aliases", "Teams", "Corpora", "Usage", "Request log", "Playground", "ops-alice", "super_admin")
	b.shot("01-providers-empty")

	// Step 2: a base URL with the route the gateway appends is refused, with the corrected URL.
	b.submit("#add-provider")
	b.fill("#identifier", "acme-internal-llm")
	b.fill("#display_name", "Acme Internal LLM (self-hosted)")
	b.fill("#base_url", e.upstream.URL+"/v1/chat/completions")
	b.fill("#credential", "  good-key  ")
	b.submit("#save-provider")
	b.wants("#base_url-error", "doubled_route", "/chat/completions")
	b.wants("#corrected-url", e.upstream.URL+"/v1")
	if got := b.value("#identifier"); got != "acme-internal-llm" {
		t.Errorf("the identifier typed should be kept after a refusal; it is %q", got)
	}
	if got := b.value("#credential"); got != "" {
		t.Errorf("the credential must never be sent back into the page; the field holds %q", got)
	}
	if n := len(e.fake.providers); n != 0 {
		t.Errorf("a refused provider must not be stored; %d are", n)
	}
	b.shot("02-provider-doubled-route")

	b.do(chromedp.Click(chromedp.CSS("#corrected-url button")))
	if got := b.value("#base_url"); got != e.upstream.URL+"/v1" {
		t.Errorf("'Use this URL' should fill in the corrected URL; the field holds %q", got)
	}
	b.fill("#credential", "  good-key  ")
	b.submit("#save-provider")
	b.wants("#verification", "verified", "credential_whitespace", "trimmed", "acme-llm-7b", "acme-embed-small")
	b.shot("03-provider-verified")

	// Step 3: pick the upstream name from the verification's model list.
	b.submit(`#upstream-models a[data-upstream="acme-llm-7b"]`)
	if got := b.value("#upstream_name"); got != "acme-llm-7b" {
		t.Errorf("the upstream name should come prefilled from the provider's list; it is %q", got)
	}
	if got := b.value("#provider"); got != "acme-internal-llm" {
		t.Errorf("the provider should come prefilled; it is %q", got)
	}
	b.fill("#name", "acme-internal-llm-2026-04")
	b.do(chromedp.Click(chromedp.CSS("#kind-chat")))
	b.fill("#context_window", "8k")
	b.submit("#save-model")
	b.wants(`#model-form`, "Enter a whole number")
	if got := b.value("#context_window"); got != "8k" {
		t.Errorf("what was typed should be kept after a refusal; the field holds %q", got)
	}
	b.fill("#context_window", "8192")
	b.do(chromedp.Click(chromedp.CSS(`input[name=streaming]`)))
	b.submit("#save-model")
	b.wants(".banner.notice", "Added chat model acme-internal-llm-2026-04", "disabled")
	b.wants("#chat-models #model-acme-internal-llm-2026-04", "acme-llm-7b", "8192", "streaming", "disabled", "not probed")
	b.submit(`#model-acme-internal-llm-2026-04 button[data-action=enable]`)
	b.wants("#model-acme-internal-llm-2026-04", "enabled")
	b.submit(`#model-acme-internal-llm-2026-04 button[data-action=probe]`)
	b.wants("#model-acme-internal-llm-2026-04", "streaming: yes", "tools: no")

	// Step 4: an embedding model, told apart from chat models.
	b.open("/console/models?provider=acme-internal-llm&upstream_name=acme-embed-small")
	b.fill("#name", "acme-embed-2026-06")
	b.do(chromedp.Click(chromedp.CSS("#kind-embedding")))
	b.fill("#dimension", "768")
	b.do(chromedp.Click(chromedp.CSS("#enabled")))
	b.submit("#save-model")
	b.wants("#embedding-models #model-acme-embed-2026-06", "768", "enabled")
	if n := b.count("#chat-models #model-acme-embed-2026-06"); n != 0 {
		t.Errorf("an embedding model must not be listed with the chat models")
	}
	b.shot("04-models")
}

// TestViewerSeesNoWriteActions: what each page offers follows the role, and the server refuses
// the write anyway.
func TestViewerSeesNoWriteActions(t *testing.T) {
	e := newConsoleEnv(t)
	admin := &catalog.Admin{Name: "seed", Role: catalog.RoleSuperAdmin}
	ctx := context.Background()
	cred := "good-key"
	if _, err := e.fake.CreateProvider(ctx, admin, console.ProviderInput{Identifier: "acme", BaseURL: e.upstream.URL + "/v1", AuthMethod: catalog.AuthBearer, Credential: &cred}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.CreateModel(ctx, admin, console.ModelInput{Name: "acme-chat", Provider: "acme", UpstreamName: "acme-llm-7b", Kind: catalog.KindChat}); err != nil {
		t.Fatal(err)
	}
	b := e.tab(t)
	b.signIn(viewerToken)
	b.wants(".sidebar", "viewer")
	if n := b.count("#add-provider"); n != 0 {
		t.Errorf("a viewer must not be offered 'Add a provider'")
	}
	b.open("/console/providers/acme")
	if n := b.count("main form"); n != 0 {
		t.Errorf("a viewer's provider page must hold no forms; it holds %d", n)
	}
	b.open("/console/models")
	if n := b.count("main form, main button"); n != 0 {
		t.Errorf("a viewer's models page must hold no forms or buttons; it holds %d", n)
	}
	b.shot("viewer-models")
	b.open("/console/providers/new")
	b.wants("#page-error", "viewer", "may not")
}

// TestRevokedAdminIsSignedOutWithinASecond: the session follows the catalogue snapshot.
func TestRevokedAdminIsSignedOutWithinASecond(t *testing.T) {
	e := newConsoleEnv(t)
	b := e.tab(t)
	b.signIn(viewerToken)
	b.wants("main h1", "Providers")
	e.fake.revokeAdmin(viewerToken)
	time.Sleep(catalog.MaxStaleness)
	b.open("/console/models")
	b.wants("main h1", "Sign in")
	b.wants("#page-error", "revoked")
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
	e := newConsoleEnv(t)
	c, csrf := signedInClient(t, e.srv.URL, superToken)
	form := url.Values{"identifier": {"acme"}, "base_url": {e.upstream.URL + "/v1"}, "auth_method": {"none"}}
	for _, tc := range []struct {
		name, token string
	}{{"missing", ""}, {"wrong", "x" + csrf}, {"another session's", otherCSRF(t, e.srv.URL)}} {
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
	if n := len(e.fake.providers); n != 0 {
		t.Fatalf("a refused form must change nothing; %d providers stored", n)
	}
	form.Set("csrf", csrf)
	resp, err := c.PostForm(e.srv.URL+"/console/providers/new", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(e.fake.providers) != 1 {
		t.Fatalf("with the token the form should be accepted: %d, %d providers", resp.StatusCode, len(e.fake.providers))
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

func otherCSRF(t *testing.T, base string) string {
	_, csrf := signedInClient(t, base, viewerToken)
	return csrf
}
