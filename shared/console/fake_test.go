package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/console"
)

// fakeServices stands in for the admin API's services in the console's own tests, holding the
// catalogue in memory and serving it as the snapshot too, so pages and sessions see one state.
// It applies the few rules the pages show (doubled_route, credential_whitespace, kind and dimension,
// alias history, role checks); the admin package's tests own the real rules.
type fakeServices struct {
	mu        sync.Mutex
	version   int64
	now       func() time.Time
	client    *http.Client
	providers map[string]*catalog.Provider
	models    map[string]*catalog.Model
	aliases   map[string]*catalog.Alias
	teams     map[string]*catalog.Team
	keys      map[string]*catalog.Key
	grants    map[string]map[string]bool
	admins    map[[32]byte]*catalog.Admin
	nextKey   int
}

func newFake() *fakeServices {
	return &fakeServices{
		version: 1, now: time.Now, client: &http.Client{Timeout: 5 * time.Second},
		providers: map[string]*catalog.Provider{}, models: map[string]*catalog.Model{},
		aliases: map[string]*catalog.Alias{}, teams: map[string]*catalog.Team{}, keys: map[string]*catalog.Key{},
		grants: map[string]map[string]bool{}, admins: map[[32]byte]*catalog.Admin{},
	}
}

func (f *fakeServices) services() console.Services {
	return console.Services{Providers: f, Models: f, Aliases: f, Access: f}
}

func (f *fakeServices) bump() { f.version++ }

func (f *fakeServices) addAdmin(name string, role catalog.Role, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admins[catalog.HashSecret(token)] = &catalog.Admin{ID: "adm_" + name, Name: name, Role: role}
	f.bump()
}

func (f *fakeServices) revokeAdmin(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.admins, catalog.HashSecret(token))
	f.bump()
}

// Version and Load make the fake a catalog.Loader.
func (f *fakeServices) Version(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version, nil
}

func (f *fakeServices) Load(context.Context) (*catalog.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &catalog.Snapshot{Version: f.version, Providers: map[string]*catalog.Provider{}, Models: map[string]*catalog.Model{},
		Aliases: map[string]*catalog.Alias{}, Teams: map[string]*catalog.Team{}, Keys: map[[32]byte]*catalog.Key{},
		Admins: map[[32]byte]*catalog.Admin{}, Grants: map[string]map[string]bool{}}
	for _, v := range copies(f.providers) {
		s.Providers[v.Identifier] = v
	}
	for _, v := range copies(f.models) {
		s.Models[v.Name] = v
	}
	for _, v := range copies(f.aliases) {
		s.Aliases[v.Name] = v
	}
	for k, v := range f.teams {
		s.Teams[k] = v
	}
	for _, v := range f.keys {
		if v.RevokedAt == nil {
			s.Keys[v.Hash] = v
		}
	}
	for k, v := range f.admins {
		s.Admins[k] = v
	}
	for k, v := range f.grants {
		s.Grants[k] = map[string]bool{}
		for t := range v {
			s.Grants[k][t] = true
		}
	}
	return s, nil
}

func forbidden(by *catalog.Admin, area catalog.Area) error {
	if by.Role.Can(area, true) {
		return nil
	}
	return apierror.New(http.StatusForbidden, apierror.PermissionError, apierror.CodeForbidden, "", "role %s may not", by.Role)
}

func (f *fakeServices) ListProviders(context.Context) ([]*catalog.Provider, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return copies(f.providers), nil
}

func (f *fakeServices) GetProvider(_ context.Context, id string) (*catalog.Provider, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return copyOf(f.providers, id, "identifier", "provider")
}

func (f *fakeServices) CreateProvider(ctx context.Context, by *catalog.Admin, in console.ProviderInput) (*catalog.Provider, error) {
	if err := forbidden(by, catalog.AreaCatalog); err != nil {
		return nil, err
	}
	if err := catalog.ValidateIdentifier(in.Identifier); err != nil {
		return nil, apierror.Invalid("identifier", "%v", err)
	}
	f.mu.Lock()
	exists := f.providers[in.Identifier] != nil
	f.mu.Unlock()
	if exists {
		return nil, apierror.Conflict("provider_exists", "identifier", "a provider %q exists already", in.Identifier)
	}
	return f.save(ctx, &catalog.Provider{Identifier: in.Identifier, CreatedAt: f.now()}, in)
}

func (f *fakeServices) UpdateProvider(ctx context.Context, by *catalog.Admin, id string, in console.ProviderInput) (*catalog.Provider, error) {
	if err := forbidden(by, catalog.AreaCatalog); err != nil {
		return nil, err
	}
	cur, err := f.GetProvider(ctx, id)
	if err != nil {
		return nil, err
	}
	return f.save(ctx, cur, in)
}

func (f *fakeServices) save(ctx context.Context, p *catalog.Provider, in console.ProviderInput) (*catalog.Provider, error) {
	base, err := catalog.NormalizeBaseURL(in.BaseURL)
	var dr *catalog.DoubledRouteError
	if errors.As(err, &dr) {
		return nil, apierror.New(http.StatusBadRequest, apierror.InvalidRequestError, apierror.CodeDoubledRoute, "base_url", "%s", dr.Error())
	}
	if err != nil {
		return nil, apierror.Invalid("base_url", "%v", err)
	}
	trimmed := false
	if in.Credential != nil {
		cred, t, err := catalog.NormalizeCredential(*in.Credential)
		if err != nil {
			return nil, apierror.Invalid("auth.credential", "%v", err)
		}
		if in.AuthMethod != catalog.AuthNone && cred == "" {
			return nil, apierror.Invalid("auth.credential", "a credential is required with auth method %s", in.AuthMethod)
		}
		trimmed = t
		p.Credential = cred
		if len(cred) >= 4 {
			p.CredentialHint = cred[len(cred)-4:]
		}
	}
	p.DisplayName, p.BaseURL, p.AuthMethod, p.AuthHeader, p.CABundle = in.DisplayName, base, in.AuthMethod, in.AuthHeader, in.CABundle
	p.Verification = f.verify(ctx, p, trimmed)
	p.UpdatedAt = f.now()
	f.mu.Lock()
	f.providers[p.Identifier] = p
	f.bump()
	f.mu.Unlock()
	c := *p
	return &c, nil
}

func (f *fakeServices) verify(ctx context.Context, p *catalog.Provider, trimmed bool) *catalog.Verification {
	v := &catalog.Verification{Status: catalog.Verified, CheckedAt: f.now()}
	if trimmed {
		v.Diagnostics = append(v.Diagnostics, catalog.Diagnostic{Code: "credential_whitespace", Message: "The credential had whitespace around it; it was trimmed."})
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.BaseURL+"/models", nil)
	if p.AuthMethod == catalog.AuthBearer {
		req.Header.Set("Authorization", "Bearer "+p.Credential)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		v.Status = catalog.Failed
		v.Diagnostics = append(v.Diagnostics, catalog.Diagnostic{Code: "unreachable", Message: err.Error()})
		return v
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		v.Status = catalog.Failed
		v.Diagnostics = append(v.Diagnostics, catalog.Diagnostic{Code: "auth_rejected", Message: "GET /models answered 401"})
		return v
	}
	var body struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		v.Status = catalog.Failed
		v.Diagnostics = append(v.Diagnostics, catalog.Diagnostic{Code: "not_openai_compatible", Message: fmt.Sprintf("GET /models answered %d", resp.StatusCode)})
		return v
	}
	for _, d := range body.Data {
		v.UpstreamModels = append(v.UpstreamModels, d.ID)
	}
	return v
}

func (f *fakeServices) VerifyProvider(ctx context.Context, by *catalog.Admin, id string) (*catalog.Provider, error) {
	if err := forbidden(by, catalog.AreaCatalog); err != nil {
		return nil, err
	}
	p, err := f.GetProvider(ctx, id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	cur := f.providers[id]
	f.mu.Unlock()
	p.Credential = cur.Credential
	p.Verification = f.verify(ctx, p, false)
	f.mu.Lock()
	f.providers[id].Verification = p.Verification
	f.bump()
	f.mu.Unlock()
	return p, nil
}

func (f *fakeServices) ListModels(context.Context) ([]*catalog.Model, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return copies(f.models), nil
}

func (f *fakeServices) CreateModel(_ context.Context, by *catalog.Admin, in console.ModelInput) (*catalog.Model, error) {
	if err := forbidden(by, catalog.AreaCatalog); err != nil {
		return nil, err
	}
	if err := catalog.ValidateName(in.Name); err != nil {
		return nil, apierror.Invalid("name", "%v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.providers[in.Provider] == nil {
		return nil, apierror.Invalid("provider", "no provider %q; add it on the Providers page first", in.Provider)
	}
	if f.models[in.Name] != nil || f.aliases[in.Name] != nil {
		return nil, apierror.Invalid("name", "the name %q is taken", in.Name)
	}
	switch in.Kind {
	case catalog.KindChat:
		if in.Dimension != 0 {
			return nil, apierror.Invalid("dimension", "a chat model has no dimension")
		}
	case catalog.KindEmbedding:
		if in.Dimension < 1 || in.Dimension > catalog.MaxDimension {
			return nil, apierror.Invalid("dimension", "an embedding model needs its dimension, 1 to %d", catalog.MaxDimension)
		}
	default:
		return nil, apierror.Invalid("kind", "kind is chat or embedding")
	}
	m := &catalog.Model{Name: in.Name, Provider: in.Provider, UpstreamName: in.UpstreamName, Kind: in.Kind, ContextWindow: in.ContextWindow,
		Dimension: in.Dimension, Capabilities: in.Capabilities, Enabled: in.Enabled, DisplayName: in.DisplayName, CreatedAt: f.now()}
	f.models[m.Name] = m
	f.bump()
	c := *m
	return &c, nil
}

func (f *fakeServices) SetModelEnabled(_ context.Context, by *catalog.Admin, name string, enabled bool) (*catalog.Model, error) {
	if err := forbidden(by, catalog.AreaCatalog); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.models[name]
	if m == nil {
		return nil, apierror.NotFound("name", "no model %q", name)
	}
	m.Enabled = enabled
	f.bump()
	c := *m
	return &c, nil
}

func (f *fakeServices) ProbeModel(_ context.Context, by *catalog.Admin, name string) (*catalog.Model, error) {
	if err := forbidden(by, catalog.AreaCatalog); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.models[name]
	if m == nil {
		return nil, apierror.NotFound("name", "no model %q", name)
	}
	yes, no := true, false
	pr := &catalog.Probe{CheckedAt: f.now()}
	if m.Kind == catalog.KindChat {
		pr.Streaming, pr.Tools = &yes, &no
	} else {
		d := m.Dimension
		pr.Dimension = &d
	}
	m.Probe = pr
	f.bump()
	c := *m
	return &c, nil
}

func (f *fakeServices) ListAliases(context.Context) ([]*catalog.Alias, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := copies(f.aliases)
	for _, a := range out {
		a.History = nil
	}
	return out, nil
}

func (f *fakeServices) GetAlias(_ context.Context, name string) (*catalog.Alias, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return copyOf(f.aliases, name, "name", "alias")
}

// copies returns copies of m's values, so callers never share the fake's state.
func copies[T any](m map[string]*T) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		c := *v
		out = append(out, &c)
	}
	return out
}

func copyOf[T any](m map[string]*T, key, param, what string) (*T, error) {
	v := m[key]
	if v == nil {
		return nil, apierror.NotFound(param, "no %s %q", what, key)
	}
	c := *v
	return &c, nil
}

func (f *fakeServices) CreateAlias(_ context.Context, by *catalog.Admin, name, target string) (*catalog.Alias, error) {
	if err := forbidden(by, catalog.AreaCatalog); err != nil {
		return nil, err
	}
	if err := catalog.ValidateName(name); err != nil {
		return nil, apierror.Invalid("name", "%v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.aliases[name] != nil {
		return nil, apierror.Conflict(apierror.CodeAliasExists, "name", "alias %q exists: move it instead", name)
	}
	if f.models[name] != nil {
		return nil, apierror.Invalid("name", "the name %q is a model's", name)
	}
	m := f.models[target]
	if m == nil || !m.Enabled {
		return nil, apierror.Invalid("target", "the target must be an enabled model; %q is not", target)
	}
	now := f.now()
	a := &catalog.Alias{Name: name, Kind: m.Kind, Target: target, CreatedAt: now, UpdatedAt: now,
		History: []catalog.AliasMove{{To: target, Actor: by.Name, At: now, Reason: "created"}}}
	f.aliases[name] = a
	f.bump()
	c := *a
	return &c, nil
}

func (f *fakeServices) MoveAlias(_ context.Context, by *catalog.Admin, name, to, expectedFrom, reason string) (*catalog.Alias, error) {
	if err := forbidden(by, catalog.AreaCatalog); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.aliases[name]
	if a == nil {
		return nil, apierror.NotFound("name", "no alias %q", name)
	}
	if expectedFrom != "" && expectedFrom != a.Target {
		return nil, apierror.Conflict(apierror.CodeAliasMoved, "expected_from", "%s now points at %s, not %s; reload and try again", name, a.Target, expectedFrom)
	}
	m := f.models[to]
	if m == nil || !m.Enabled || m.Kind != a.Kind {
		return nil, apierror.Invalid("to", "%q is not an enabled %s model", to, a.Kind)
	}
	a.History = append([]catalog.AliasMove{{From: a.Target, To: to, Actor: by.Name, Reason: reason, At: f.now()}}, a.History...)
	a.Target = to
	f.bump()
	c := *a
	return &c, nil
}

func (f *fakeServices) RollbackAlias(ctx context.Context, by *catalog.Admin, name string) (*catalog.Alias, error) {
	a, err := f.GetAlias(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(a.History) == 0 || a.History[0].From == "" {
		return nil, apierror.Invalid("name", "%s has never moved", name)
	}
	return f.MoveAlias(ctx, by, name, a.History[0].From, a.Target, "rollback")
}

func (f *fakeServices) ListTeams(context.Context) ([]*catalog.Team, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*catalog.Team
	for _, t := range f.teams {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakeServices) CreateTeam(_ context.Context, by *catalog.Admin, name string) (*catalog.Team, error) {
	if err := forbidden(by, catalog.AreaAccess); err != nil {
		return nil, err
	}
	if err := catalog.ValidateIdentifier(name); err != nil {
		return nil, apierror.Invalid("name", "%v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.teams[name] != nil {
		return nil, apierror.Invalid("name", "team %q exists", name)
	}
	t := &catalog.Team{ID: int64(len(f.teams) + 1), Name: name, CreatedAt: f.now()}
	f.teams[name] = t
	f.bump()
	return t, nil
}

func (f *fakeServices) ListKeys(_ context.Context, team string) ([]*catalog.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*catalog.Key
	for _, k := range f.keys {
		if team == "" || k.Team == team {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeServices) CreateKey(_ context.Context, by *catalog.Admin, team, name string, models []string) (*catalog.Key, string, error) {
	if err := forbidden(by, catalog.AreaAccess); err != nil {
		return nil, "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.teams[team] == nil {
		return nil, "", apierror.Invalid("team", "no team %q", team)
	}
	f.nextKey++
	secret := fmt.Sprintf("sk-test-%04d-%s", f.nextKey, strings.Repeat("x", 24))
	k := &catalog.Key{ID: fmt.Sprintf("key_%04d", f.nextKey), Team: team, Name: name, Models: models, Prefix: secret[:12], Hash: catalog.HashSecret(secret), CreatedAt: f.now()}
	f.keys[k.ID] = k
	f.bump()
	return k, secret, nil
}

func (f *fakeServices) RevokeKey(_ context.Context, by *catalog.Admin, id string) error {
	if err := forbidden(by, catalog.AreaAccess); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.keys[id]
	if k == nil {
		return apierror.NotFound("id", "no key %q", id)
	}
	now := f.now()
	k.RevokedAt = &now
	f.bump()
	return nil
}

func (f *fakeServices) Audience(_ context.Context, name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for t := range f.grants[name] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeServices) SetAudience(_ context.Context, by *catalog.Admin, name string, teams []string) error {
	if err := forbidden(by, catalog.AreaCatalog); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.models[name] == nil && f.aliases[name] == nil {
		return apierror.Invalid("name", "no model or alias %q", name)
	}
	g := map[string]bool{}
	for _, t := range teams {
		if f.teams[t] == nil {
			return apierror.Invalid("teams", "no team %q", t)
		}
		g[t] = true
	}
	f.grants[name] = g
	f.bump()
	return nil
}
