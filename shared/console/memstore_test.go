package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/console"
	"github.com/switchyard-ai/switchyard/shared/session"
)

// fixedCatalog is a catalogue that never changes: the snapshot the console reads its admins and
// models from.
type fixedCatalog struct{ snap *catalog.Snapshot }

func (f fixedCatalog) Version(context.Context) (int64, error)          { return f.snap.Version, nil }
func (f fixedCatalog) Load(context.Context) (*catalog.Snapshot, error) { return f.snap, nil }

// aliasStore holds one alias and the moves committed to it. It decides a move by the catalogue's
// own rule (catalog.CheckAliasMove), so a refusal reads as the Postgres store's does. Any method
// the alias pages must not reach panics on the embedded nil interface.
type aliasStore struct {
	admin.CatalogStore
	models map[string]*catalog.Model
	alias  catalog.Alias
	moves  []*audit.Entry // committed moves only
}

func (s *aliasStore) Alias(_ context.Context, name string, _ bool) (*catalog.Alias, error) {
	if name != s.alias.Name {
		return nil, &catalog.NotFoundError{What: catalog.EntityAlias, Name: name, Param: "name"}
	}
	a := s.alias
	return &a, nil
}

func (s *aliasStore) MoveAlias(_ context.Context, _, to, expectedFrom, reason string, e *audit.Entry) (*catalog.Alias, error) {
	err := catalog.CheckAliasMove(catalog.AliasMoveCheck{Way: catalog.MoveByAdmin, Alias: s.alias,
		ToName: to, To: s.models[to], ExpectedFrom: expectedFrom})
	if err != nil {
		return nil, err
	}
	s.alias.History = append([]catalog.AliasMove{{From: s.alias.Target, To: to, Actor: e.Actor.Name, Reason: reason}}, s.alias.History...)
	s.alias.Target = to
	s.moves = append(s.moves, e)
	return s.Alias(context.Background(), s.alias.Name, true)
}

// Models and Providers draw the models page, where signedInClient lands.
func (s *aliasStore) Models(context.Context) ([]*catalog.Model, error) {
	return []*catalog.Model{s.models["chat-v1"], s.models["chat-v2"]}, nil
}
func (s *aliasStore) Providers(context.Context) ([]*catalog.Provider, error) { return nil, nil }

// memSessions is console.SessionStore in a map: a session lives until it expires or is deleted.
type memSessions map[[32]byte]session.Session

func (m memSessions) CreateSession(_ context.Context, s session.Session, _ *audit.Entry) error {
	m[s.IDHash] = s
	return nil
}
func (m memSessions) RecordFailedSignin(context.Context, *audit.Entry) error { return nil }
func (m memSessions) DeleteSession(_ context.Context, id [32]byte) error {
	delete(m, id)
	return nil
}
func (m memSessions) GetSession(_ context.Context, id [32]byte, now time.Time) (*session.Session, error) {
	s, ok := m[id]
	if !ok || !now.Before(s.ExpiresAt) {
		return nil, nil
	}
	return &s, nil
}

// The console's alias move, run over stores in memory with no database: what a person signed in
// with an admin token sees when the move is made, refused for their role, or crosses another move.
func TestAliasMovesInTheConsoleOverStoresInMemory(t *testing.T) {
	operator := &catalog.Admin{ID: "adm_op", Name: "ops-alice", Role: catalog.RoleProviderAdmin}
	viewer := &catalog.Admin{ID: "adm_view", Name: "bob", Role: catalog.RoleViewer}
	tokens := map[string]*catalog.Admin{"op-token": operator, "view-token": viewer}

	for _, tc := range []struct {
		name, token, expectedFrom string
		rollback                  bool // the rollback form, with a reason over the limit, instead of the move form
		noCSRF                    bool
		status                    int
		says                      string // on the page the person lands on
		moved                     bool
	}{
		{name: "a provider_admin's move is made and recorded as theirs", token: "op-token", expectedFrom: "chat-v1",
			status: 200, says: "Moved chat to chat-v2.", moved: true},
		{name: "a viewer may not move an alias", token: "view-token", expectedFrom: "chat-v1",
			status: 403, says: "Your role (viewer) may not do this."},
		{name: "a move crossing another shows the conflict on the alias page", token: "op-token", expectedFrom: "chat-v0",
			status: 409, says: "alias chat points at chat-v1, not chat-v0: someone moved it meanwhile; nothing changed"},
		{name: "a refused rollback says why in the banner, not at the move form's fields", token: "op-token", expectedFrom: "chat-v1",
			rollback: true, status: 400, says: `id="page-error">reason has 1001 characters; at most 1000 are allowed<`},
		{name: "a form without the session's token is refused", token: "op-token", expectedFrom: "chat-v1", noCSRF: true,
			status: 403, says: "it did not carry this session&#39;s security token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := &catalog.Snapshot{Version: 1, Admins: map[[32]byte]*catalog.Admin{},
				Models: map[string]*catalog.Model{
					"chat-v1": {ID: 1, Name: "chat-v1", Kind: catalog.KindChat, Enabled: true},
					"chat-v2": {ID: 2, Name: "chat-v2", Kind: catalog.KindChat, Enabled: true}},
				Aliases: map[string]*catalog.Alias{"chat": {Name: "chat", Kind: catalog.KindChat, Target: "chat-v1"}}}
			for tok, a := range tokens {
				snap.Admins[catalog.HashSecret(tok)] = a
			}
			store := &aliasStore{models: snap.Models, alias: *snap.Aliases["chat"]}
			con, err := console.New(console.Config{Local: true}, console.Services{Admin: &admin.Service{Store: store}},
				catalog.NewSource(fixedCatalog{snap}, 0, nil), memSessions{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(con)
			defer srv.Close()

			c, csrf := signedInClient(t, srv.URL, tc.token)
			if tc.noCSRF {
				csrf = ""
			}
			path, form := "/console/aliases/chat/move", url.Values{"to": {"chat-v2"}, "expected_from": {tc.expectedFrom}, "reason": {"canary looks good"}}
			if tc.rollback {
				path, form = "/console/aliases/chat/rollback", url.Values{"expected_from": {tc.expectedFrom}, "reason": {strings.Repeat("x", 1001)}}
			}
			status, loc, page := post(t, c, srv.URL, csrf, path, form)
			if status == http.StatusSeeOther && strings.HasPrefix(loc, "/console/aliases/chat?") {
				status, page = getPage(t, c, srv.URL+loc)
			}
			if status != tc.status || !strings.Contains(page, tc.says) {
				t.Fatalf("the move landed on status %d, want %d with a page saying %q:\n%s", status, tc.status, tc.says, page)
			}
			if strings.Contains(page, `class="field-error"`) {
				t.Fatalf("the page marks a field although the message is in the banner:\n%s", page)
			}
			if !tc.moved {
				if len(store.moves) != 0 || store.alias.Target != "chat-v1" {
					t.Fatalf("refused, yet the store holds %d moves and chat points at %s", len(store.moves), store.alias.Target)
				}
				return
			}
			want := audit.Actor{ID: "adm_op", Name: "ops-alice", Role: catalog.RoleProviderAdmin}
			if len(store.moves) != 1 || store.alias.Target != "chat-v2" {
				t.Fatalf("the store holds %d moves and chat points at %s; want one move to chat-v2", len(store.moves), store.alias.Target)
			}
			if e := store.moves[0]; e.Actor == nil || *e.Actor != want || e.Action != audit.AliasMove || e.Target != "chat" {
				t.Fatalf("recorded %s on %q by %+v; want %s on chat by %+v", e.Action, e.Target, e.Actor, audit.AliasMove, want)
			}
			if !strings.Contains(page, `id="alias-target-now">chat-v2<`) {
				t.Fatalf("the page after the move does not show chat at chat-v2:\n%s", page)
			}
		})
	}
}
