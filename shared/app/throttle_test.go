package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/seal"
	"github.com/switchyard-ai/switchyard/shared/throttle"
)

// clock is a time the test moves: a fixed start plus what was added.
type clock struct{ added atomic.Int64 }

func (c *clock) Now() time.Time {
	return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(c.added.Load()))
}

func (c *clock) Add(d time.Duration) { c.added.Add(int64(d)) }

// sharedDatabase is one database for several instances, with token as the bootstrap admin's, and
// the sealing key they share.
func sharedDatabase(t *testing.T, token string) (*pgxpool.Pool, *seal.Local) {
	t.Helper()
	pool := pgtest.NewPool(t)
	sealer, err := seal.LocalFromFile(filepath.Join(t.TempDir(), "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.EnsureBootstrapAdmin(context.Background(), pool, token); err != nil {
		t.Fatal(err)
	}
	return pool, sealer
}

// instance is one more App (a second Lambda instance) on pool, its throttle on clk.
func instance(t *testing.T, pool *pgxpool.Pool, sealer *seal.Local, clk *clock) http.Handler {
	t.Helper()
	a, err := app.New(app.Config{Local: true}, slog.New(slog.DiscardHandler), pool, sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Usage.Close(context.Background()) })
	a.Throttle = throttle.New(&postgres.AuthFailureStore{Pool: pool}, throttle.Options{Now: clk.Now})
	return a.Handler()
}

// asFrom serves a request from ip on h, as API Gateway's source IP reaches it.
func asFrom(h http.Handler, ip, method, path, token string, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, path, body)
	r.RemoteAddr = net.JoinHostPort(ip, "40000")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// consoleSignIn posts the console's sign-in form from ip with token (its CSRF cookie and field).
func consoleSignIn(h http.Handler, ip, token string) *httptest.ResponseRecorder {
	const csrf = "form-csrf-token"
	form := url.Values{"csrf": {csrf}, "token": {token}}
	r := httptest.NewRequest("POST", "/console/signin", strings.NewReader(form.Encode()))
	r.RemoteAddr = net.JoinHostPort(ip, "40000")
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: "switchyard_signin", Value: csrf})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Guessing admin tokens is throttled per source address across instances: ten failures in a minute
// are answered 401, the eleventh 429 rate_limited with Retry-After; from then until the window ends
// every attempt from that address is refused, a correct token and a console sign-in included, on an
// instance that saw none of the failures; another address is unaffected.
func TestAttackAdminTokenGuessingIsThrottled(t *testing.T) {
	t.Parallel()
	const token = "sya-0c7d5e2f9b8a41c3d6e0f7a9b2c4d8e1f3a5b7c9"
	pool, sealer := sharedDatabase(t, token)
	clk := &clock{}
	a, b, c := instance(t, pool, sealer, clk), instance(t, pool, sealer, clk), instance(t, pool, sealer, clk)
	const attacker, bystander = "203.0.113.7", "198.51.100.9"

	for i := range throttle.DefaultMax {
		h := []http.Handler{a, b}[i%2]
		if w := asFrom(h, attacker, "GET", "/admin/providers", "sya-guess-"+strconv.Itoa(i), nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("failed attempt %d = %d %s; want 401", i+1, w.Code, w.Body)
		}
		clk.Add(time.Second)
	}
	w := asFrom(a, attacker, "GET", "/admin/corpora", "sya-guess-11", nil)
	var body struct {
		Error struct{ Type, Code string }
	}
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	retry, _ := strconv.Atoi(w.Header().Get("Retry-After"))
	if w.Code != http.StatusTooManyRequests || body.Error.Code != "rate_limited" || body.Error.Type != "rate_limit_error" || retry < 1 || retry > 60 {
		t.Fatalf("11th failed attempt = %d Retry-After %q %s; want 429 rate_limited with Retry-After in (0, 60]", w.Code, w.Header().Get("Retry-After"), w.Body)
	}

	if w := asFrom(c, bystander, "GET", "/admin/providers", "sya-wrong", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("another address's wrong token = %d; want 401", w.Code)
	}
	if w := asFrom(c, bystander, "GET", "/admin/providers", token, nil); w.Code != http.StatusOK {
		t.Errorf("another address's correct token = %d %s; want 200", w.Code, w.Body)
	}
	if w := asFrom(c, attacker, "GET", "/admin/providers", token, nil); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("the correct token from the throttled address, on a third instance = %d %q; want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if w := consoleSignIn(c, attacker, token); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("a console sign-in with the correct token from the throttled address = %d %q; want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}

	clk.Add(time.Duration(retry) * time.Second)
	if w := asFrom(c, attacker, "GET", "/admin/providers", token, nil); w.Code != http.StatusOK {
		t.Errorf("the correct token once the window ended = %d %s; want 200", w.Code, w.Body)
	}
	if w := consoleSignIn(b, attacker, token); w.Code != http.StatusSeeOther {
		t.Errorf("a console sign-in once the window ended = %d; want 303 into the console", w.Code)
	}
}

// Failed console sign-ins count like failed admin tokens: the eleventh is refused with 429.
func TestAttackConsoleSignInGuessingIsThrottled(t *testing.T) {
	t.Parallel()
	pool, sealer := sharedDatabase(t, "sya-0c7d5e2f9b8a41c3d6e0f7a9b2c4d8e1f3a5b7c9")
	clk := &clock{}
	h := instance(t, pool, sealer, clk)
	for i := range throttle.DefaultMax {
		if w := consoleSignIn(h, "2001:db8:1:2::7", "sya-guess-"+strconv.Itoa(i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("failed sign-in %d = %d; want 401", i+1, w.Code)
		}
	}
	// Another address of the same IPv6 /64 is the same source.
	if w := consoleSignIn(h, "2001:db8:1:2::8", "sya-guess-11"); w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "Too many failed sign-ins") {
		t.Fatalf("11th failed sign-in = %d; want 429 saying why", w.Code)
	}
}
