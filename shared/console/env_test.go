package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/seal"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

const (
	superToken   = "sya-4bad3b3d845dc7d7d1dc4af5fe3b614d779108b7"
	upstreamCred = "acme-secret-key-42"
)

// env is one test's Switchyard: app.Handler (admin API and console on one mux, as `make dev` serves
// them) on its own database, with the real sealer and upstream client, and a fake upstream.
type env struct {
	t        *testing.T
	app      *app.App
	svc      *admin.Service
	srv      *httptest.Server
	upstream *fakeupstream.Running
	super    *catalog.Admin
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := app.EnsureBootstrapAdmin(ctx, pool, superToken); err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.LocalFromFile(filepath.Join(t.TempDir(), "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(app.Config{Local: true, AllowLoopback: true, SnapshotInterval: 50 * time.Millisecond}, log, pool, sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	up := fakeupstream.Start(fakeupstream.Config{
		Token:      upstreamCred,
		ChatModels: []string{"acme-llm-7b"},
		Dimensions: map[string]int{"acme-embed-small": 768},
	})
	t.Cleanup(up.Close)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, app: a, svc: a.AdminService(), srv: srv, upstream: up,
		super: &catalog.Admin{ID: app.BootstrapAdminID, Name: "bootstrap", Role: catalog.RoleSuperAdmin}}
	return e
}

// admin creates an admin with role and returns its token.
func (e *env) admin(name string, role catalog.Role) (id, token string) {
	e.t.Helper()
	v, err := e.svc.CreateAdmin(context.Background(), e.super, admin.AdminInput{Name: name, Role: string(role)})
	if err != nil {
		e.t.Fatalf("create admin %s: %v", name, err)
	}
	e.refresh()
	return v.ID, v.Token
}

func (e *env) tab(t *testing.T) *tab {
	return &tab{t: t, ctx: browser(t), base: e.srv.URL}
}

// get fetches a path with no session.
func (e *env) get(path string) *http.Response {
	e.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// refresh makes the next request see every committed change (tests that are not about timing).
func (e *env) refresh() {
	e.t.Helper()
	if err := e.app.Catalog.Refresh(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// provider registers provider acme on the fake upstream, with the credential it accepts.
func (e *env) provider() {
	e.t.Helper()
	e.must(e.svc.CreateProvider(context.Background(), e.super, admin.ProviderInput{Identifier: "acme", BaseURL: e.upstream.URL,
		Auth: admin.AuthInput{Method: "bearer", Credential: upstreamCred}}))
}

// team creates team name, grants it each alias or model of grants, and returns the secret and id of
// its new key keyName.
func (e *env) team(name, keyName string, grants ...string) (secret, id string) {
	e.t.Helper()
	ctx := context.Background()
	e.must(e.svc.CreateTeam(ctx, e.super, admin.TeamInput{Name: name}))
	for _, g := range grants {
		e.must(e.svc.SetAudience(ctx, e.super, g, admin.AudienceInput{Teams: []string{name}}))
	}
	k, err := e.svc.CreateKey(ctx, e.super, admin.KeyInput{Team: name, Name: keyName})
	if err != nil {
		e.t.Fatal(err)
	}
	e.refresh()
	return k.Key, k.ID
}

// call sends one developer request with key and returns the answer (its body read and closed) and its
// error code ("" on success).
func (e *env) call(key, route, body string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+route, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out.Error.Code
}
