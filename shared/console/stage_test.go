package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/switchyard-ai/switchyard/shared/lambda"
	"github.com/switchyard-ai/switchyard/shared/lambda/lambdatest"
)

// TestConsoleBehindTheStage uses the console at API Gateway's default URL, .../prod/console/, in
// Chromium: every request goes through the Lambda adapter as an API Gateway proxy event with the
// stage in requestContext.path, and a path outside /prod/ is API Gateway's 403, so a link, form,
// redirect, asset, cookie or script call that forgets the stage breaks the walk. It opens /prod/console
// (ConsoleUrl without its slash), signs in, follows the sidebar, creates a team and grants it an
// alias through their forms, mints a key and streams a chat reply in the playground (which calls
// /prod/v1/...), opens the request log from it and signs out. The cookies are scoped to
// /prod/console/.
func TestConsoleBehindTheStage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.chatBehindAlias()

	stage := lambdatest.Stage("prod", e.app.Handler(), lambda.BeforeReturn(e.app.Flush))
	var mu sync.Mutex
	var stray []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Chromium asks for /favicon.ico by itself; API Gateway refuses it too, which is harmless.
		if r.URL.Path != "/prod" && !strings.HasPrefix(r.URL.Path, "/prod/") && r.URL.Path != "/favicon.ico" {
			mu.Lock()
			stray = append(stray, r.Method+" "+r.URL.RequestURI())
			mu.Unlock()
		}
		stage.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	b := &tab{t: t, ctx: browser(t), base: srv.URL + "/prod"}

	// ConsoleUrl without its trailing slash lands on the sign-in page, still under the stage.
	b.open("/console")
	b.wants("main h1", "Sign in")
	if loc := b.location(); !strings.HasPrefix(loc, srv.URL+"/prod/console/signin?") {
		t.Errorf("/prod/console should lead to the sign-in page under the stage; it led to %s", loc)
	}
	b.styled()
	b.underStage()
	b.shot("stage-01-signin")

	b.send("#signin-form button[type=submit]", "#token", superToken)
	b.wants("main h1", "Providers")
	if loc := b.location(); loc != srv.URL+"/prod/console/providers" {
		t.Errorf("signing in should open /prod/console/providers; it opened %s", loc)
	}
	cookies := b.cookies(srv.URL + "/prod/console/")
	if c := cookies["switchyard_session"]; c == nil {
		t.Errorf("no session cookie for /prod/console/ after signing in; cookies: %v", cookies)
	} else if c.Path != "/prod/console/" || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
		t.Errorf("the session cookie is Path=%s HttpOnly=%v SameSite=%s; want Path=/prod/console/, HttpOnly, SameSite=Strict", c.Path, c.HTTPOnly, c.SameSite)
	}
	if c := cookies["switchyard_signin"]; c != nil {
		t.Errorf("the sign-in form's cookie should be deleted after signing in; it is still there with Path=%s", c.Path)
	}
	b.styled()
	b.underStage()
	b.shot("stage-02-providers")

	// The sidebar's links, then a form: create a team, then grant it the alias on its page.
	b.submit(`.sidebar a[data-nav="teams"]`)
	b.wants("main h1", "Teams")
	b.underStage()
	b.send("#create-team", "#team-name", "search-team")
	b.wants("main h1", "search-team")
	b.notice("Created team search-team")
	if loc := b.location(); !strings.HasPrefix(loc, srv.URL+"/prod/console/teams/search-team") {
		t.Errorf("creating a team should open its page under the stage; it opened %s", loc)
	}
	b.choose("#grant-name", "acme-llm")
	b.submit("#grant")
	b.notice("Granted acme-llm to team search-team")
	b.underStage()
	b.shot("stage-03-team")

	// The playground's script calls the developer API under the stage: /prod/v1/models, then a
	// streamed /prod/v1/chat/completions.
	b.submit(`.sidebar a[data-nav="playground"]`)
	b.wants("main h1", "Playground")
	b.choose("#mint-team", "search-team")
	b.submit("#mint")
	if got := b.value("#pg-key"); !strings.HasPrefix(got, "sk-") {
		t.Fatalf("minting a key should put it in the key field; the field holds %q", got)
	}
	b.streamChat("acme-llm", "acme-llm — chat")
	b.underStage()
	b.shot("stage-04-playground-chat")

	b.submit("#pg-log-link")
	b.do(chromedp.WaitVisible(chromedp.CSS(`#request-log tr.highlight[data-outcome="ok"]`)))
	if loc := b.location(); !strings.HasPrefix(loc, srv.URL+"/prod/console/requests?") {
		t.Errorf("the playground's log link should open the request log under the stage; it opened %s", loc)
	}
	b.underStage()

	b.submit("#signout")
	b.wants("main h1", "Sign in")
	if loc := b.location(); loc != srv.URL+"/prod/console/signin?why=signed+out" {
		t.Errorf("signing out should open the sign-in page under the stage; it opened %s", loc)
	}
	if c := b.cookies(srv.URL + "/prod/console/")["switchyard_session"]; c != nil {
		t.Errorf("signing out should delete the session cookie; it is still there with Path=%s", c.Path)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(stray) > 0 {
		t.Errorf("the browser asked for paths outside the stage, which API Gateway refuses: %v", stray)
	}
}

// underStage fails for every link, form action, stylesheet or script on the page that leaves the
// stage: a root-relative URL that does not start with /prod/.
func (b *tab) underStage() {
	b.t.Helper()
	urls, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("a[href], form[action], link[href], script[src], [data-progress]")]
		.map((e) => e.getAttribute("href") || e.getAttribute("action") || e.getAttribute("src") || e.getAttribute("data-progress"))
		.filter((u) => u.startsWith("/") && !u.startsWith("/prod/"))`))
	if err != nil {
		b.t.Fatalf("read the page's URLs: %v", err)
	}
	if len(urls) > 0 {
		b.t.Errorf("%s links outside the stage: %v", b.location(), urls)
	}
}

// styled fails unless the page's stylesheet loaded and applies.
func (b *tab) styled() {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`[...document.styleSheets].reduce((n, s) => n + s.cssRules.length, 0)`))
	if err != nil || n < 10 {
		b.t.Errorf("%s: the stylesheet did not load (%d rules, %v)", b.location(), n, err)
	}
}

// cookies are the browser's cookies for url, by name.
func (b *tab) cookies(url string) map[string]*network.Cookie {
	b.t.Helper()
	res, err := chromedp.Run(b.ctx, chromedp.Action[network.GetCookiesResult](func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	}))
	if err != nil {
		b.t.Fatalf("read the cookies for %s: %v", url, err)
	}
	m := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		m[c.Name] = c
	}
	return m
}
