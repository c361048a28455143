package lambda_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/lambda"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/seal"
)

// At API Gateway's stage URL (.../prod/console/) the admin function sees /console/... with
// requestContext.path /prod/console/...: its redirects and cookies must carry /prod, or the browser
// leaves the stage and sign-in cannot work.
func TestConsoleSignInAtTheStageURL(t *testing.T) {
	const token = "9f2c61d0b8e34a7f95c2e1d07a6b3f48c5e9d2a1"
	pool := pgtest.NewPool(t)
	if err := app.EnsureBootstrapAdmin(context.Background(), pool, token); err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.LocalFromFile(filepath.Join(t.TempDir(), "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Config{}, slog.New(slog.DiscardHandler), pool, sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	fn := lambda.Handler(a.AdminFunctionHandler())

	invoke := func(method, path, resource string, params map[string]string, cookie, body string) (int, http.Header, string) {
		t.Helper()
		ev := &events.APIGatewayProxyRequest{
			HTTPMethod: method, Path: path, Resource: resource, PathParameters: params, Body: body,
			MultiValueHeaders: map[string][]string{"Host": {"abc123.execute-api.eu-west-1.amazonaws.com"}},
			RequestContext:    events.APIGatewayProxyRequestContext{Stage: "prod", Path: "/prod" + path, RequestID: "req-" + path},
		}
		if cookie != "" {
			ev.MultiValueHeaders["Cookie"] = []string{cookie}
		}
		if body != "" {
			ev.MultiValueHeaders["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		}
		resp, err := fn(context.Background(), ev)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		h := http.Header{}
		for k, v := range resp.Headers {
			h.Add(k, v)
		}
		for k, vs := range resp.MultiValueHeaders {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: read the body: %v", method, path, err)
		}
		return resp.StatusCode, h, string(b)
	}
	wantRedirect := func(status int, h http.Header, to string) {
		t.Helper()
		if status != http.StatusSeeOther || h.Get("Location") != to {
			t.Errorf("answered %d Location %q; want 303 to %s", status, h.Get("Location"), to)
		}
	}
	cookie := func(h http.Header, name string) *http.Cookie {
		t.Helper()
		for _, c := range (&http.Response{Header: h}).Cookies() {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no %s cookie in %q", name, h.Values("Set-Cookie"))
		return nil
	}

	// ConsoleUrl, with and without its slash, and a page before signing in.
	status, h, _ := invoke("GET", "/console", "/console", nil, "", "")
	wantRedirect(status, h, "/prod/console/")
	status, h, _ = invoke("GET", "/console/", "/console", nil, "", "")
	wantRedirect(status, h, "/prod/console/providers")
	status, h, _ = invoke("GET", "/console/providers", "/console/{proxy+}", map[string]string{"proxy": "providers"}, "", "")
	wantRedirect(status, h, "/prod/console/signin?next=%2Fconsole%2Fproviders")

	status, h, page := invoke("GET", "/console/signin", "/console/{proxy+}", map[string]string{"proxy": "signin"}, "", "")
	if status != http.StatusOK {
		t.Fatalf("the sign-in page answered %d", status)
	}
	if !strings.Contains(page, `action="/prod/console/signin"`) || !strings.Contains(page, `href="/prod/console/static/console.css"`) {
		t.Errorf("the sign-in page's form and stylesheet should be under /prod/console/:\n%s", page)
	}
	pre := cookie(h, "switchyard_signin")
	if pre.Path != "/prod/console/" {
		t.Errorf("the sign-in form's cookie has Path=%s; want /prod/console/", pre.Path)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the sign-in page:\n%s", page)
	}
	form := url.Values{"csrf": {m[1]}, "token": {token}, "next": {"/console/providers"}}.Encode()
	status, h, _ = invoke("POST", "/console/signin", "/console/{proxy+}", map[string]string{"proxy": "signin"}, pre.Name+"="+pre.Value, form)
	wantRedirect(status, h, "/prod/console/providers")
	if s := cookie(h, "switchyard_session"); s.Path != "/prod/console/" || !s.HttpOnly || !s.Secure {
		t.Errorf("the session cookie is Path=%s HttpOnly=%v Secure=%v; want Path=/prod/console/, HttpOnly, Secure", s.Path, s.HttpOnly, s.Secure)
	}
}
