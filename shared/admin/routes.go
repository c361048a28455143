package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// RouteInput is the body of PUT /admin/routes/{name}: the route's new rules and default plan,
// written only if the route is still at ExpectedVersion (0 for a route never changed).
type RouteInput struct {
	Rules           []catalog.Rule `json:"rules"`
	Plan            *catalog.Plan  `json:"plan"`
	ExpectedVersion *int64         `json:"expected_version"`
	Reason          string         `json:"reason"`
}

// RouteRollbackInput is the optional body of POST /admin/routes/{name}/rollback.
type RouteRollbackInput struct {
	ExpectedVersion *int64 `json:"expected_version"` // optional: roll back only from this version
	Reason          string `json:"reason"`
}

// RouteDryRunInput is the body of POST /admin/routes/{name}/dry-run: a request as the gateway
// would see it. KeyID or Team names the caller (a key's team comes with it).
type RouteDryRunInput struct {
	KeyID     string            `json:"key_id"`
	Team      string            `json:"team"`
	Headers   map[string]string `json:"headers"`
	Session   string            `json:"session"`
	User      string            `json:"user"`
	RequestID string            `json:"request_id"`
}

// RouteView is a route as the admin API shows it.
type RouteView struct {
	Name    string         `json:"name"`
	Kind    catalog.Kind   `json:"kind"`
	Target  string         `json:"target"` // where the alias points: the default plan's primary target
	Version int64          `json:"version"`
	Rules   []catalog.Rule `json:"rules"`
	Plan    catalog.Plan   `json:"plan"`
	// AliasMoved: the alias moved (move, rollback, re-embed cut-over) after this version was
	// written, so its default plan is the alias's target alone.
	AliasMoved bool      `json:"alias_moved,omitempty"`
	UpdatedBy  string    `json:"updated_by"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func routeView(r *catalog.Route) *RouteView {
	rules := r.Rules
	if rules == nil {
		rules = []catalog.Rule{}
	}
	return &RouteView{Name: r.Name, Kind: r.Kind, Target: r.Base, Version: r.Version, Rules: rules, Plan: r.Plan,
		AliasMoved: r.AliasMoved, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt}
}

// RouteCandidate is one model a dry run would try, in order.
type RouteCandidate struct {
	Model  string `json:"model"`
	Tier   int    `json:"tier"`
	Weight int    `json:"weight"`
}

// RouteDryRunView is where a request would go.
type RouteDryRunView struct {
	Name       string           `json:"name"`
	Version    int64            `json:"version"`
	Rule       *int             `json:"rule"` // index of the matching rule; null: the default plan
	RuleName   string           `json:"rule_name"`
	Plan       catalog.Plan     `json:"plan"`
	StickyBy   string           `json:"sticky_by"` // what placed the first pick: session, key or request
	First      string           `json:"first"`     // the model the request would go to
	Candidates []RouteCandidate `json:"candidates"`
}

// GetRoute reads the route of an alias.
func (s *Service) GetRoute(ctx context.Context, by *catalog.Admin, name string) (*RouteView, error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	return shown(routeView)(s.Store.Route(ctx, name))
}

// ListRoutes lists every alias's route by name.
func (s *Service) ListRoutes(ctx context.Context, by *catalog.Admin) (*List[*RouteView], error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	return listed(routeView)(s.Store.Routes(ctx))
}

// RouteHistory lists a route's versions, newest first.
func (s *Service) RouteHistory(ctx context.Context, by *catalog.Admin, name string) (*List[catalog.RouteVersion], error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	return shown(list[catalog.RouteVersion])(s.Store.RouteHistory(ctx, name))
}

// PutRoute replaces a route's rules and default plan as one new version (postgres.PutRoute).
func (s *Service) PutRoute(ctx context.Context, by *catalog.Admin, name string, in RouteInput) (*RouteView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if in.Plan == nil {
		return nil, apierror.Invalid("plan", "plan is required: the default plan, {\"tiers\": [{\"targets\": [{\"model\", \"weight\"}]}]}")
	}
	if in.ExpectedVersion == nil || *in.ExpectedVersion < 0 {
		return nil, apierror.Invalid("expected_version", "expected_version is required: the route's version now (GET /admin/routes/%s; 0 for a route never changed), so that two changes never cross", name)
	}
	if err := checkText("reason", in.Reason, false, true); err != nil {
		return nil, err
	}
	r, err := s.Store.PutRoute(ctx, name, catalog.RouteChange{Rules: in.Rules, Plan: *in.Plan, ExpectedVersion: *in.ExpectedVersion, Reason: in.Reason},
		s.entry(ctx, by, audit.RouteUpdate, name))
	if err != nil {
		return nil, err
	}
	return routeView(r), nil
}

// RollbackRoute writes the route as it was before its latest version, as a new version.
func (s *Service) RollbackRoute(ctx context.Context, by *catalog.Admin, name string, in RouteRollbackInput) (*RouteView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if err := checkText("reason", in.Reason, false, true); err != nil {
		return nil, err
	}
	expected := int64(-1)
	if in.ExpectedVersion != nil {
		expected = *in.ExpectedVersion
	}
	return shown(routeView)(s.Store.RollbackRoute(ctx, name, expected, in.Reason, s.entry(ctx, by, audit.RouteRollback, name)))
}

// DryRunRoute says which rule a request would match and which models it would try, in order,
// against the route and models as stored now (the gateway sees them within a second). Access is not
// checked: this answers where the route sends the request, whoever may call it.
func (s *Service) DryRunRoute(ctx context.Context, by *catalog.Admin, name string, in RouteDryRunInput) (*RouteDryRunView, error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	rt, err := s.Store.Route(ctx, name)
	if err != nil {
		return nil, err
	}
	key := &catalog.Key{ID: in.KeyID, Team: in.Team}
	if in.KeyID != "" {
		k, err := s.Store.Key(ctx, in.KeyID)
		if nf := (*catalog.NotFoundError)(nil); errors.As(err, &nf) {
			return nil, &catalog.NotFoundError{What: catalog.EntityKey, Name: catalog.Quote(in.KeyID, catalog.QuoteLimit), Param: "key_id", Ref: true}
		}
		if err != nil {
			return nil, err
		}
		if in.Team != "" && in.Team != k.Team {
			return nil, apierror.Invalid("team", "key %s belongs to team %s, not %s; give one of key_id and team", k.ID, k.Team, catalog.Quote(in.Team, catalog.QuoteLimit))
		}
		key.Team = k.Team
	}
	models, err := s.Store.Models(ctx)
	if err != nil {
		return nil, err
	}
	snap := &catalog.Snapshot{Models: map[string]*catalog.Model{}}
	for _, m := range models {
		snap.Models[m.Name] = m
	}
	headers := http.Header{}
	for k, v := range in.Headers {
		headers.Set(k, v)
	}
	req := catalog.RouteRequest{Key: key, Header: headers.Get, Session: in.Session, RequestID: in.RequestID,
		User: func() string { return in.User }}
	if req.Session == "" {
		req.Session = headers.Get(catalog.SessionHeader)
	}
	if req.RequestID == "" {
		req.RequestID = "dry-run"
	}
	got := snap.Evaluate(rt, req)
	out := &RouteDryRunView{Name: rt.Name, Version: rt.Version, RuleName: got.RuleName, Plan: *got.Plan,
		StickyBy: catalog.StickyBy(got.Plan.Sticky, req), Candidates: []RouteCandidate{}}
	if got.Rule >= 0 {
		i := got.Rule
		out.Rule = &i
	}
	for _, c := range got.Candidates {
		out.Candidates = append(out.Candidates, RouteCandidate{Model: c.Model.Name, Tier: c.Tier, Weight: c.Weight})
	}
	if len(out.Candidates) > 0 {
		out.First = out.Candidates[0].Model
	}
	return out, nil
}

// handleRoutes serves the routes API (see NewHandler).
func (h *Handler) handleRoutes(svc *Service) {
	h.Handle("GET", "/admin/routes", noArgs(h, svc.ListRoutes))
	h.Handle("GET", "/admin/routes/{name}", byPath(h, "name", svc.GetRoute))
	h.Handle("PUT", "/admin/routes/{name}", pathBody(h, "name", svc.PutRoute, false))
	h.Handle("GET", "/admin/routes/{name}/history", byPath(h, "name", svc.RouteHistory))
	h.Handle("POST", "/admin/routes/{name}/rollback", pathBody(h, "name", svc.RollbackRoute, true))
	h.Handle("POST", "/admin/routes/{name}/dry-run", pathBody(h, "name", svc.DryRunRoute, false))
	h.Handle("GET", "/admin/routes/{name}/split", byPath(h, "name", svc.RouteSplit))
}

// RouteSplitView is the live split of one name: requests of the last hour by the model that served them.
type RouteSplitView struct {
	Name   string             `json:"name"`
	Since  time.Time          `json:"since"`
	Total  int64              `json:"total"`
	Shares []usage.RouteShare `json:"shares"`
}

// RouteSplit counts the requests for name over the last hour, by the model that served them, from
// the request log (so it reads usage).
func (s *Service) RouteSplit(ctx context.Context, by *catalog.Admin, name string) (*RouteSplitView, error) {
	if err := Authorize(by, catalog.AreaUsage, false); err != nil {
		return nil, err
	}
	if _, err := s.Store.Route(ctx, name); err != nil {
		return nil, err
	}
	since := s.now().Add(-time.Hour)
	shares, err := s.UsageStore.RouteSplit(ctx, name, since)
	if err != nil {
		return nil, err
	}
	v := &RouteSplitView{Name: name, Since: since, Shares: shares}
	for _, sh := range shares {
		v.Total += sh.Requests
	}
	return v, nil
}
