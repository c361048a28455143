package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// memCatalog is the catalogue store in memory with one alias, chat, and its route: only the writes
// the table below makes. Any other method panics (the embedded nil interface), so a service that
// reaches the store where it must not is caught.
type memCatalog struct {
	admin.CatalogStore
	target  string // where chat points
	version int64  // chat's route version
	entries []*audit.Entry
	reasons []string
}

func (m *memCatalog) MoveAlias(_ context.Context, name, to, expectedFrom, reason string, e *audit.Entry) (*catalog.Alias, error) {
	m.entries, m.reasons = append(m.entries, e), append(m.reasons, reason)
	if expectedFrom != m.target {
		return nil, &catalog.MoveError{Refusal: catalog.RefusedAliasMoved, Param: "expected_from",
			Message: fmt.Sprintf("alias %s points at %s now, not %s; nothing changed", name, m.target, expectedFrom)}
	}
	m.target = to
	return &catalog.Alias{Name: name, Kind: catalog.KindChat, Target: to}, nil
}

func (m *memCatalog) PutRoute(_ context.Context, name string, c catalog.RouteChange, e *audit.Entry) (*catalog.Route, error) {
	m.entries, m.reasons = append(m.entries, e), append(m.reasons, c.Reason)
	if c.ExpectedVersion != m.version {
		return nil, &catalog.ConflictError{Code: apierror.CodeRouteChanged, Param: "expected_version", What: catalog.EntityRoute, Name: name,
			Message: fmt.Sprintf("route %s is at version %d, not %d: someone changed it meanwhile; nothing changed", name, m.version, c.ExpectedVersion)}
	}
	m.version++
	return &catalog.Route{Name: name, Kind: catalog.KindChat, Version: m.version, Plan: c.Plan, Base: m.target}, nil
}

// memAdmins finds the admins of the table by token, as the catalogue snapshot does.
type memAdmins map[string]*catalog.Admin

func (a memAdmins) Admin(_ context.Context, hash [32]byte) (*catalog.Admin, *catalog.Snapshot, error) {
	for token, ad := range a {
		if catalog.HashSecret(token) == hash {
			return ad, &catalog.Snapshot{}, nil
		}
	}
	return nil, &catalog.Snapshot{}, nil
}

// The admin services' rules, run over the store in memory through the HTTP handler: who may change
// an alias or a route, what must be sent, whom the audit log names, and the answer a person reads
// when the store refuses a change that crossed another.
func TestAliasAndRouteWritesOverAStoreInMemory(t *testing.T) {
	operator := &catalog.Admin{ID: "adm_op", Name: "ops-alice", Role: catalog.RoleProviderAdmin}
	viewer := &catalog.Admin{ID: "adm_view", Name: "bob", Role: catalog.RoleViewer}
	admins := memAdmins{"op-token": operator, "view-token": viewer}
	plan := `{"tiers": [{"targets": [{"model": "chat-v2", "weight": 100}]}]}`

	for _, tc := range []struct {
		name, token, method, path, body string
		status                          int
		code, param, message            string // of the error answered; code "" for success
		stored                          bool   // the store was asked to make the change
	}{
		{name: "a viewer may not move an alias", token: "view-token", method: "POST", path: "/admin/aliases/chat/move",
			body: `{"to": "chat-v2", "expected_from": "chat-v1"}`, status: 403, code: "forbidden",
			message: "admin bob has role viewer, which may not change providers, models, aliases, audience grants and corpora"},
		{name: "a move names the model it moves from", token: "op-token", method: "POST", path: "/admin/aliases/chat/move",
			body: `{"to": "chat-v2"}`, status: 400, code: "invalid_request", param: "expected_from",
			message: "expected_from is required"},
		{name: "a move from a model the alias left is a conflict", token: "op-token", method: "POST", path: "/admin/aliases/chat/move",
			body: `{"to": "chat-v2", "expected_from": "chat-v0"}`, status: 409, code: "alias_moved", param: "expected_from",
			message: "alias chat points at chat-v1 now, not chat-v0", stored: true},
		{name: "a move is recorded as its admin's", token: "op-token", method: "POST", path: "/admin/aliases/chat/move",
			body: `{"to": "chat-v2", "expected_from": "chat-v1", "reason": "canary looks good"}`, status: 200, stored: true},
		{name: "a viewer may not change a route", token: "view-token", method: "PUT", path: "/admin/routes/chat",
			body: `{"plan": ` + plan + `, "expected_version": 2}`, status: 403, code: "forbidden", message: "has role viewer"},
		{name: "a route change names the version it changes", token: "op-token", method: "PUT", path: "/admin/routes/chat",
			body: `{"plan": ` + plan + `}`, status: 400, code: "invalid_request", param: "expected_version",
			message: "expected_version is required: the route's version now (GET /admin/routes/chat"},
		{name: "a route changed meanwhile is a conflict saying where to read it", token: "op-token", method: "PUT", path: "/admin/routes/chat",
			body: `{"plan": ` + plan + `, "expected_version": 1}`, status: 409, code: "route_changed", param: "expected_version",
			message: "route chat is at version 2, not 1: someone changed it meanwhile; nothing changed; read GET /admin/routes/chat and retry", stored: true},
		{name: "a route change is recorded as its admin's", token: "op-token", method: "PUT", path: "/admin/routes/chat",
			body: `{"plan": ` + plan + `, "expected_version": 2, "reason": "canary looks good"}`, status: 200, stored: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &memCatalog{target: "chat-v1", version: 2}
			srv := httptest.NewServer(admin.NewHandler(&admin.Service{Store: store}, admins, nil))
			defer srv.Close()
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tc.token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error *struct{ Message, Code, Param string }
				// Alias moves answer target, route changes version.
				Target  string
				Version int64
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%+v), want %d", resp.StatusCode, body.Error, tc.status)
			}
			if tc.code != "" {
				if e := body.Error; e == nil || e.Code != tc.code || e.Param != tc.param || !strings.Contains(e.Message, tc.message) {
					t.Fatalf("answered %+v; want code %s, param %q, a message holding %q", e, tc.code, tc.param, tc.message)
				}
			}
			if got := len(store.entries); got != map[bool]int{false: 0, true: 1}[tc.stored] {
				t.Fatalf("the store was asked %d times; want stored=%v", got, tc.stored)
			}
			if tc.status != 200 {
				return
			}
			if tc.method == "POST" && body.Target != "chat-v2" || tc.method == "PUT" && body.Version != 3 {
				t.Fatalf("answered target %q version %d; want the alias moved to chat-v2, or the route at version 3", body.Target, body.Version)
			}
			e := store.entries[0]
			want := audit.Actor{ID: "adm_op", Name: "ops-alice", Role: catalog.RoleProviderAdmin}
			if e.Actor == nil || *e.Actor != want || e.Target != "chat" || store.reasons[0] != "canary looks good" {
				t.Fatalf("the store recorded actor %+v, target %q, reason %q; want %+v on chat for the reason sent", e.Actor, e.Target, store.reasons[0], want)
			}
			if action := map[string]string{"POST": audit.AliasMove, "PUT": audit.RouteUpdate}[tc.method]; e.Action != action {
				t.Fatalf("recorded action %s, want %s", e.Action, action)
			}
		})
	}
}
