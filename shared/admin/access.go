package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// Secret prefixes: recognisable in logs and by secret scanners.
const (
	KeyPrefix   = "sk-sy-" // developer API keys
	TokenPrefix = "sya-"   // admin tokens
)

// ---- teams

// TeamInput is the body of POST /admin/teams.
type TeamInput struct {
	Name string `json:"name"`
}

// TeamView is a team with its active key count and the names it may call.
type TeamView struct {
	Name      string    `json:"name"`
	Keys      int       `json:"keys"`
	Grants    []string  `json:"grants"`
	CreatedAt time.Time `json:"created_at"`
}

func teamView(t *catalog.TeamInfo) *TeamView {
	g := t.Grants
	if g == nil {
		g = []string{}
	}
	return &TeamView{Name: t.Name, Keys: t.Keys, Grants: g, CreatedAt: t.CreatedAt}
}

// CreateTeam creates a team.
func (s *Service) CreateTeam(ctx context.Context, by *catalog.Admin, in TeamInput) (*TeamView, error) {
	if err := Authorize(by, catalog.AreaAccess, true); err != nil {
		return nil, err
	}
	if err := checkName("name", in.Name); err != nil {
		return nil, err
	}
	t, err := s.Store.CreateTeam(ctx, in.Name, s.entry(ctx, by, audit.TeamCreate, in.Name))
	if err != nil {
		return nil, err
	}
	return teamView(&catalog.TeamInfo{Team: *t}), nil
}

// GetTeam reads one team.
func (s *Service) GetTeam(ctx context.Context, by *catalog.Admin, name string) (*TeamView, error) {
	if err := Authorize(by, catalog.AreaAccess, false); err != nil {
		return nil, err
	}
	return shown(teamView)(s.Store.Team(ctx, name))
}

// ListTeams lists every team by name.
func (s *Service) ListTeams(ctx context.Context, by *catalog.Admin) (*List[*TeamView], error) {
	if err := Authorize(by, catalog.AreaAccess, false); err != nil {
		return nil, err
	}
	return listed(teamView)(s.Store.Teams(ctx))
}

// ---- keys

// KeyInput is the body of POST /admin/keys.
type KeyInput struct {
	Team   string   `json:"team"`
	Name   string   `json:"name"`
	Models []string `json:"models"` // optional allow-list of model and alias names
}

// KeyView is a developer key; Key is set only in the answer that creates it.
type KeyView struct {
	ID        string     `json:"id"`
	Key       string     `json:"key,omitempty"`
	Team      string     `json:"team"`
	Name      string     `json:"name"`
	Models    []string   `json:"models"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

func keyView(k *catalog.Key) *KeyView {
	m := k.Models
	if m == nil {
		m = []string{}
	}
	return &KeyView{ID: k.ID, Team: k.Team, Name: k.Name, Models: m, Prefix: k.Prefix, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
}

// maxAllowList bounds a key's allow-list.
const maxAllowList = 1000

// CreateKey creates a developer key for a team and returns it this once; only its hash is kept.
func (s *Service) CreateKey(ctx context.Context, by *catalog.Admin, in KeyInput) (*KeyView, error) {
	if err := Authorize(by, catalog.AreaAccess, true); err != nil {
		return nil, err
	}
	if in.Team == "" {
		return nil, apierror.Invalid("team", "team is required: the team the key belongs to")
	}
	if err := checkText("name", in.Name, false, false); err != nil {
		return nil, err
	}
	if len(in.Models) > maxAllowList {
		return nil, apierror.Invalid("models", "models lists %d names; at most %d are allowed", len(in.Models), maxAllowList)
	}
	seen := map[string]bool{}
	for i, n := range in.Models {
		param := fmt.Sprintf("models[%d]", i)
		if err := checkName(param, n); err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, apierror.Invalid(param, "%s is listed twice", n)
		}
		seen[n] = true
	}
	secret, id, err := s.secret(KeyPrefix, "key_")
	if err != nil {
		return nil, err
	}
	k, err := s.Store.CreateKey(ctx, &catalog.Key{ID: id, Team: in.Team, Name: in.Name, Models: in.Models,
		Prefix: secret[:len(KeyPrefix)+4], Hash: catalog.HashSecret(secret)}, s.entry(ctx, by, audit.KeyCreate, id))
	if err != nil {
		return nil, err
	}
	v := keyView(k)
	v.Key = secret
	return v, nil
}

// GetKey reads one key (never the key itself).
func (s *Service) GetKey(ctx context.Context, by *catalog.Admin, id string) (*KeyView, error) {
	if err := Authorize(by, catalog.AreaAccess, false); err != nil {
		return nil, err
	}
	return shown(keyView)(s.Store.Key(ctx, id))
}

// ListKeys lists keys, newest first, of one team when team is set.
func (s *Service) ListKeys(ctx context.Context, by *catalog.Admin, team string) (*List[*KeyView], error) {
	if err := Authorize(by, catalog.AreaAccess, false); err != nil {
		return nil, err
	}
	ks, err := s.Store.Keys(ctx, team)
	if err != nil {
		if nf := (*catalog.NotFoundError)(nil); errors.As(err, &nf) {
			return nil, &catalog.NotFoundError{What: nf.What, Name: nf.Name, Param: "team"}
		}
		return nil, err
	}
	return mapList(ks, keyView), nil
}

// RevokeKey revokes a key; it is refused everywhere within one second.
func (s *Service) RevokeKey(ctx context.Context, by *catalog.Admin, id string) (*KeyView, error) {
	if err := Authorize(by, catalog.AreaAccess, true); err != nil {
		return nil, err
	}
	return shown(keyView)(s.Store.RevokeKey(ctx, id, s.entry(ctx, by, audit.KeyRevoke, id)))
}

// ---- audience

// AudienceInput is the body of PUT /admin/audience/{name}: exactly the teams that may call it.
type AudienceInput struct {
	Teams []string `json:"teams"`
}

// AudienceView lists the teams that may call a model or an alias.
type AudienceView struct {
	Name  string   `json:"name"`
	Teams []string `json:"teams"`
}

// SetAudience replaces the set of teams that may call a model or an alias. A grant on an alias
// covers calls through the alias; a pinned version is granted on its own.
func (s *Service) SetAudience(ctx context.Context, by *catalog.Admin, name string, in AudienceInput) (*AudienceView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if in.Teams == nil {
		return nil, apierror.Invalid("teams", "teams is required: the list of teams that may call %s ([] for none)", name)
	}
	seen := map[string]bool{}
	for i, t := range in.Teams {
		param := fmt.Sprintf("teams[%d]", i)
		if err := checkName(param, t); err != nil {
			return nil, err
		}
		if seen[t] {
			return nil, apierror.Invalid(param, "%s is listed twice", t)
		}
		seen[t] = true
	}
	teams, err := s.Store.SetAudience(ctx, name, in.Teams, s.entry(ctx, by, audit.AudienceSet, name))
	if err != nil {
		return nil, err
	}
	return audienceView(name, teams), nil
}

// GetAudience lists the teams that may call a model or an alias.
func (s *Service) GetAudience(ctx context.Context, by *catalog.Admin, name string) (*AudienceView, error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	teams, err := s.Store.Audience(ctx, name)
	if err != nil {
		return nil, err
	}
	return audienceView(name, teams), nil
}

func audienceView(name string, teams []string) *AudienceView {
	if teams == nil {
		teams = []string{}
	}
	return &AudienceView{Name: name, Teams: teams}
}

// ---- admins

// AdminInput is the body of POST /admin/admins.
type AdminInput struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// AdminView is an admin; Token is set only in the answer that creates it.
type AdminView struct {
	ID        string       `json:"id"`
	Token     string       `json:"token,omitempty"`
	Name      string       `json:"name"`
	Role      catalog.Role `json:"role"`
	CreatedAt time.Time    `json:"created_at"`
	RevokedAt *time.Time   `json:"revoked_at"`
}

func adminView(a *catalog.Admin) *AdminView {
	return &AdminView{ID: a.ID, Name: a.Name, Role: a.Role, CreatedAt: a.CreatedAt, RevokedAt: a.RevokedAt}
}

// CreateAdmin creates an admin and returns its token this once; only its hash is kept.
func (s *Service) CreateAdmin(ctx context.Context, by *catalog.Admin, in AdminInput) (*AdminView, error) {
	if err := Authorize(by, catalog.AreaAccess, true); err != nil {
		return nil, err
	}
	if err := checkText("name", in.Name, true, false); err != nil {
		return nil, err
	}
	if in.Role == "" {
		return nil, apierror.Invalid("role", "role is required: super_admin, provider_admin or viewer")
	}
	if !catalog.ValidRole(catalog.Role(in.Role)) {
		return nil, apierror.Invalid("role", "role %q is not one of super_admin, provider_admin, viewer", in.Role)
	}
	token, id, err := s.secret(TokenPrefix, "adm_")
	if err != nil {
		return nil, err
	}
	a, err := s.Store.CreateAdmin(ctx, &catalog.Admin{ID: id, Name: in.Name, Role: catalog.Role(in.Role), Hash: catalog.HashSecret(token)},
		s.entry(ctx, by, audit.AdminCreate, id))
	if err != nil {
		return nil, err
	}
	v := adminView(a)
	v.Token = token
	return v, nil
}

// GetAdmin reads one admin (never the token).
func (s *Service) GetAdmin(ctx context.Context, by *catalog.Admin, id string) (*AdminView, error) {
	if err := Authorize(by, catalog.AreaAccess, false); err != nil {
		return nil, err
	}
	return shown(adminView)(s.Store.Admin(ctx, id))
}

// ListAdmins lists every admin, oldest first.
func (s *Service) ListAdmins(ctx context.Context, by *catalog.Admin) (*List[*AdminView], error) {
	if err := Authorize(by, catalog.AreaAccess, false); err != nil {
		return nil, err
	}
	return listed(adminView)(s.Store.Admins(ctx))
}

// RevokeAdmin revokes an admin's token; it is refused everywhere within one second. The last
// active super admin cannot be revoked.
func (s *Service) RevokeAdmin(ctx context.Context, by *catalog.Admin, id string) (*AdminView, error) {
	if err := Authorize(by, catalog.AreaAccess, true); err != nil {
		return nil, err
	}
	return shown(adminView)(s.Store.RevokeAdmin(ctx, id, s.entry(ctx, by, audit.AdminRevoke, id)))
}

// SessionsEndedView answers DELETE /admin/admins/{id}/sessions.
type SessionsEndedView struct {
	ID    string `json:"id"`
	Ended int64  `json:"sessions_ended"`
}

// EndAdminSessions signs an admin out of the console everywhere at once: every console session
// signed in with its token ends (the token keeps working for the API; revoke the admin to stop
// that too).
func (s *Service) EndAdminSessions(ctx context.Context, by *catalog.Admin, id string) (*SessionsEndedView, error) {
	if err := Authorize(by, catalog.AreaAccess, true); err != nil {
		return nil, err
	}
	n, err := s.Store.EndAdminSessions(ctx, id, s.entry(ctx, by, audit.AdminSignOut, id))
	if err != nil {
		return nil, err
	}
	return &SessionsEndedView{ID: id, Ended: n}, nil
}
