package admin

import (
	"context"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/capacity"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// Bounds of what an operator may set.
const (
	maxConcurrencyLimit = 10_000
	maxQueueMS          = 60_000
)

// LimitsInput is the body of PUT /admin/limits/{scope}: the whole set of limits of one scope,
// absent or null meaning "no limit". max_concurrency and queue_ms apply to providers and models;
// the rates to teams and keys. 0 is a limit: nothing at all.
type LimitsInput = LimitsSettings

// LimitsSettings is a scope's limits as the API takes and shows them (null: no limit).
type LimitsSettings struct {
	MaxConcurrency    *int   `json:"max_concurrency"`
	QueueMS           *int   `json:"queue_ms"`
	RequestsPerMinute *int64 `json:"requests_per_minute"`
	TokensPerMinute   *int64 `json:"tokens_per_minute"`
	RequestsPerDay    *int64 `json:"requests_per_day"`
	TokensPerDay      *int64 `json:"tokens_per_day"`
	RequestsPerMonth  *int64 `json:"requests_per_month"`
	TokensPerMonth    *int64 `json:"tokens_per_month"`
}

// WindowView is a period's use in its current window.
type WindowView struct {
	Requests int64     `json:"requests"`
	Tokens   int64     `json:"tokens"` // reservations of requests under way included
	Start    time.Time `json:"window_start"`
	Resets   time.Time `json:"resets_at"`
}

// LimitsView is a scope's limits and what it uses now.
type LimitsView struct {
	Scope string            `json:"scope"` // kind:name
	Kind  catalog.ScopeKind `json:"kind"`
	Name  string            `json:"name"`
	LimitsSettings
	// InFlight is the requests holding a slot now (providers and models with a cap).
	InFlight int `json:"in_flight"`
	// Usage is each period's use in its current window (teams and keys with rates).
	Usage     map[catalog.Period]WindowView `json:"usage"`
	UpdatedAt time.Time                     `json:"updated_at"`
}

func optional[T int | int64](v T) *T {
	if v == catalog.NoLimit {
		return nil
	}
	return &v
}

func limitsSettings(l *catalog.Limits) LimitsSettings {
	r := l.Rates
	q := int(l.Queue.Milliseconds())
	return LimitsSettings{MaxConcurrency: optional(l.MaxConcurrency), QueueMS: &q,
		RequestsPerMinute: optional(r[0].Requests), TokensPerMinute: optional(r[0].Tokens),
		RequestsPerDay: optional(r[1].Requests), TokensPerDay: optional(r[1].Tokens),
		RequestsPerMonth: optional(r[2].Requests), TokensPerMonth: optional(r[2].Tokens)}
}

func limitsView(u *capacity.ScopeUsage) *LimitsView {
	v := &LimitsView{Scope: u.Scope.String(), Kind: u.Scope.Kind, Name: u.Scope.Name, LimitsSettings: limitsSettings(u.Limits),
		InFlight: u.InFlight, UpdatedAt: u.Limits.UpdatedAt, Usage: map[catalog.Period]WindowView{}}
	if u.Limits.RateLimited() {
		for i, p := range catalog.Periods {
			w := u.Windows[i]
			_, end := p.Window(w.Start)
			v.Usage[p] = WindowView{Requests: w.Requests, Tokens: w.Tokens, Start: w.Start, Resets: end}
		}
	}
	return v
}

// parseScope reads "kind:name" (a model or team name may hold ':' itself; the kind never does).
func parseScope(scope string) (catalog.Scope, error) {
	kind, name, ok := strings.Cut(scope, ":")
	sc := catalog.Scope{Kind: catalog.ScopeKind(kind), Name: name}
	if !ok || !sc.Kind.Valid() || name == "" {
		return sc, apierror.NotFound("scope", "no limits scope %q: name one as provider:<identifier>, model:<name>, team:<name> or key:<id>", catalog.Quote(scope, catalog.QuoteLimit))
	}
	return sc, nil
}

// authorizeScope parses scope and checks that by may read or change its limits. A scope that does
// not parse is checked against the catalogue, so a role that may change nothing is refused before
// it learns anything.
func authorizeScope(by *catalog.Admin, scope string, write bool) (catalog.Scope, error) {
	sc, err := parseScope(scope)
	area := catalog.AreaCatalog
	if err == nil {
		area = limitsArea(sc.Kind)
	}
	if aerr := Authorize(by, area, write); aerr != nil {
		return sc, aerr
	}
	return sc, err
}

// limitsArea is who may change a scope's limits: caps with the catalogue, rates with teams and keys.
func limitsArea(k catalog.ScopeKind) catalog.Area {
	if k.Serves() {
		return catalog.AreaCatalog
	}
	return catalog.AreaAccess
}

// SetLimits replaces the limits of one scope: a provider's or a model's concurrency cap and queue
// time, or a team's or a key's rates and quotas. Every instance enforces them within a second.
func (s *Service) SetLimits(ctx context.Context, by *catalog.Admin, scope string, in LimitsInput) (*LimitsView, error) {
	sc, err := authorizeScope(by, scope, true)
	if err != nil {
		return nil, err
	}
	l, err := limitsFrom(sc.Kind, in)
	if err != nil {
		return nil, err
	}
	e := s.entry(ctx, by, audit.LimitsSet, sc.String())
	showLimits(e)
	if _, err := s.Limits.SetScopeLimits(ctx, sc, l, e); err != nil {
		return nil, err
	}
	return s.limitsOf(ctx, sc)
}

func showLimits(e *audit.Entry) {
	e.Show = func(v any) any {
		if l, ok := v.(*catalog.Limits); ok {
			return limitsSettings(l)
		}
		return auditView(v)
	}
}

// DeleteLimits removes every limit of one scope.
func (s *Service) DeleteLimits(ctx context.Context, by *catalog.Admin, scope string) (*DeletedView, error) {
	sc, err := authorizeScope(by, scope, true)
	if err != nil {
		return nil, err
	}
	cur, err := s.Limits.Limits(ctx, sc)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, apierror.NotFound("scope", "%s has no limits", sc)
	}
	e := s.entry(ctx, by, audit.LimitsDelete, sc.String())
	showLimits(e)
	if _, err := s.Limits.SetScopeLimits(ctx, sc, nil, e); err != nil {
		return nil, err
	}
	return &DeletedView{ID: sc.String(), Object: "limits", Deleted: true}, nil
}

// GetLimits reads one scope's limits and what it uses now.
func (s *Service) GetLimits(ctx context.Context, by *catalog.Admin, scope string) (*LimitsView, error) {
	sc, err := authorizeScope(by, scope, false)
	if err != nil {
		return nil, err
	}
	return s.limitsOf(ctx, sc)
}

func (s *Service) limitsOf(ctx context.Context, sc catalog.Scope) (*LimitsView, error) {
	all, err := s.Limits.Usage(ctx, s.now())
	if err != nil {
		return nil, err
	}
	for _, u := range all {
		if u.Scope == sc {
			return limitsView(u), nil
		}
	}
	return nil, apierror.NotFound("scope", "%s has no limits", sc)
}

// ListLimits lists every scope with limits, with what each uses now: requests in flight against
// caps, and each period's count against rates.
func (s *Service) ListLimits(ctx context.Context, by *catalog.Admin) (*List[*LimitsView], error) {
	if err := Authorize(by, catalog.AreaUsage, false); err != nil {
		return nil, err
	}
	return listed(limitsView)(s.Limits.Usage(ctx, s.now()))
}

// limitsFrom checks in against what the scope kind takes and turns it into catalog.Limits.
func limitsFrom(kind catalog.ScopeKind, in LimitsInput) (*catalog.Limits, error) {
	l := catalog.Unlimited()
	rates := []struct {
		param string
		v     *int64
		dst   *int64
	}{
		{"requests_per_minute", in.RequestsPerMinute, &l.Rates[0].Requests}, {"tokens_per_minute", in.TokensPerMinute, &l.Rates[0].Tokens},
		{"requests_per_day", in.RequestsPerDay, &l.Rates[1].Requests}, {"tokens_per_day", in.TokensPerDay, &l.Rates[1].Tokens},
		{"requests_per_month", in.RequestsPerMonth, &l.Rates[2].Requests}, {"tokens_per_month", in.TokensPerMonth, &l.Rates[2].Tokens},
	}
	if kind.Serves() {
		for _, r := range rates {
			if r.v != nil {
				return nil, apierror.Invalid(r.param, "%s is a limit on who sends requests: set it on a team or a key (PUT /admin/limits/team:<name>); a %s takes max_concurrency and queue_ms", r.param, kind)
			}
		}
		if in.MaxConcurrency == nil {
			return nil, apierror.Invalid("max_concurrency", "a %s's limit is max_concurrency: the most requests in flight at once across all instances (0 refuses every request); DELETE removes it", kind)
		}
		if n := *in.MaxConcurrency; n < 0 || n > maxConcurrencyLimit {
			return nil, apierror.Invalid("max_concurrency", "max_concurrency must be between 0 (refuse every request) and %d", maxConcurrencyLimit)
		}
		l.MaxConcurrency = *in.MaxConcurrency
		if in.QueueMS != nil {
			if q := *in.QueueMS; q < 0 || q > maxQueueMS {
				return nil, apierror.Invalid("queue_ms", "queue_ms must be between 0 (refuse at once at the cap) and %d", maxQueueMS)
			}
			l.Queue = time.Duration(*in.QueueMS) * time.Millisecond
		}
		return &l, nil
	}
	if in.MaxConcurrency != nil || in.QueueMS != nil {
		param := "max_concurrency"
		if in.MaxConcurrency == nil {
			param = "queue_ms"
		}
		return nil, apierror.Invalid(param, "%s is a cap on what serves requests: set it on a provider or a model (PUT /admin/limits/model:<name>); a %s takes rates such as requests_per_minute and tokens_per_day", param, kind)
	}
	set := false
	for _, r := range rates {
		if r.v == nil {
			continue
		}
		if *r.v < 0 {
			return nil, apierror.Invalid(r.param, "%s must be 0 or more (0 refuses every request); leave it out for no limit", r.param)
		}
		*r.dst, set = *r.v, true
	}
	if !set {
		return nil, apierror.Invalid("", "name at least one limit (requests_per_minute, tokens_per_minute, requests_per_day, tokens_per_day, requests_per_month, tokens_per_month); DELETE removes a %s's limits", kind)
	}
	return &l, nil
}
