package catalog

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"time"
)

// Route is what an alias sends a request to: ordered rules, each with its own plan, and a default
// plan for every request no rule matches. Every alias is a route: one never changed (Version 0) is
// one tier of one target, the alias's model, at weight 100, so it answers exactly as the alias did.
type Route struct {
	Name    string
	Kind    Kind
	Version int64 // 0: never changed through the routes API
	Rules   []Rule
	Plan    Plan
	// Base is the alias's target when this version was written. When the alias has moved since (a
	// move, a rollback, a re-embed cut-over), the default plan is that move's target alone and the
	// rules stay: the one alias-move rule keeps deciding where the alias's default traffic goes.
	Base string
	// AliasMoved says the alias moved after this version was written: Plan is the move's target
	// alone (see Base), not the plan the version stored.
	AliasMoved bool
	UpdatedAt  time.Time
	UpdatedBy  string // the audit actor ("name (id)") of the last change
}

// RouteChange is one change of a route: the new rules and default plan, written only if the route
// is still at ExpectedVersion.
type RouteChange struct {
	Rules           []Rule
	Plan            Plan
	ExpectedVersion int64
	Reason          string
}

// Follow is r as it applies while its alias points at target: unchanged when the alias still
// points where it did when r was written, else with the default plan replaced by target alone.
func (r *Route) Follow(target string) *Route {
	if r.Base == target {
		return r
	}
	c := *r
	c.Plan, c.Base, c.AliasMoved = SinglePlan(target), target, true
	return &c
}

// RouteVersion is one entry of a route's history.
type RouteVersion struct {
	Version int64     `json:"version"`
	Rules   []Rule    `json:"rules"`
	Plan    Plan      `json:"plan"`
	Actor   string    `json:"who"`
	Reason  string    `json:"why"`
	At      time.Time `json:"when"`
}

// Rule sends the requests it matches to its own plan. Rules are tried in order; the first that
// matches wins.
type Rule struct {
	Name  string `json:"name,omitempty"`
	Match Match  `json:"match"`
	Plan  Plan   `json:"plan"`
}

// Match is a rule's condition. Every field that is set must match (and); within a field, any one
// value matches (or). A Match with no field set is refused by ValidateRoute: the default plan is
// for everyone.
type Match struct {
	Keys  []string `json:"keys,omitempty"`  // calling key ids
	Teams []string `json:"teams,omitempty"` // the calling key's team
	Tags  []string `json:"tags,omitempty"`  // any of the comma-separated values of the x-switchyard-tag header
	Users []string `json:"users,omitempty"` // the request body's OpenAI "user" field
}

// Empty reports whether no condition is set.
func (m Match) Empty() bool {
	return len(m.Keys) == 0 && len(m.Teams) == 0 && len(m.Tags) == 0 && len(m.Users) == 0
}

// Stickiness modes of a plan: what keeps a caller on one target within a tier.
const (
	// StickySession (the default): requests with the same x-session-id header go to the same
	// target; a request without one is placed on its own (by its request id).
	StickySession = "session"
	// StickyKey: every request of one key goes to the same target.
	StickyKey = "key"
	// StickyNone: every request is placed on its own.
	StickyNone = "none"
)

// Plan is ordered priority tiers; the first tier takes the traffic, later tiers are fallbacks.
type Plan struct {
	Sticky string `json:"sticky,omitempty"` // StickySession when empty
	Tiers  []Tier `json:"tiers"`
}

// Tier is a weighted set of pinned models. Weights are integers 0–100 that sum to exactly 100 (no
// normalising: what the operator reads is the share each target gets). A target of weight 0 is
// never picked first but stays a candidate of its tier, after the weighted ones.
type Tier struct {
	Targets []Target `json:"targets"`
}

// Target is one pinned model of a tier and its share of the tier's traffic, in percent.
type Target struct {
	Model  string `json:"model"`
	Weight int    `json:"weight"`
}

// SinglePlan is the plan of an alias never routed otherwise: its one model at weight 100.
func SinglePlan(model string) Plan {
	return Plan{Tiers: []Tier{{Targets: []Target{{Model: model, Weight: 100}}}}}
}

// Models lists every model the plan names, in order, once each.
func (p Plan) Models() []string {
	var out []string
	for _, t := range p.Tiers {
		for _, tg := range t.Targets {
			if !contains(out, tg.Model) {
				out = append(out, tg.Model)
			}
		}
	}
	return out
}

// Primary is the model that takes the largest share of the plan's first tier (the first listed on
// a tie): what the alias "points at" for /v1/models, corpora and alias history.
func (p Plan) Primary() string {
	if len(p.Tiers) == 0 {
		return ""
	}
	best := -1
	var name string
	for _, tg := range p.Tiers[0].Targets {
		if tg.Weight > best {
			best, name = tg.Weight, tg.Model
		}
	}
	return name
}

// Split reports whether a route may send requests to more than one model.
func (r *Route) Split() bool {
	if len(r.Rules) > 0 {
		return true
	}
	return len(r.Plan.Models()) > 1
}

// RouteRequest is what a rule may match on and what stickiness hashes, for one request.
type RouteRequest struct {
	Key *Key // the calling key: its ID and Team are matched, its ID is hashed under StickyKey
	// Header reads a request header (nil: none). Rules read x-switchyard-tag.
	Header func(string) string
	// Session is the x-session-id header; empty when absent.
	Session string
	// User returns the body's OpenAI "user" field (nil or "": absent). It is called only when a
	// rule of the route asks for it, so requests to other routes never read it.
	User func() string
	// RequestID places a request that no session or key keeps on one target.
	RequestID string
}

// Candidate is one pinned model a request may be sent to.
type Candidate struct {
	Model    *Model
	Provider *Provider
	Tier     int // 0-based index of the tier it came from
	Weight   int // its weight in that tier
}

// Routing is where one request goes: the route consulted (nil for a pinned name), the rule that
// matched (-1: the default plan) and the candidates, best first.
type Routing struct {
	Route      *Route
	Rule       int
	RuleName   string
	Plan       *Plan
	Candidates []Candidate
}

// TagHeader and SessionHeader are the request headers routing reads.
const (
	TagHeader     = "X-Switchyard-Tag"
	SessionHeader = "X-Session-Id"
)

// RouteOf is the route of an alias as the snapshot holds it (the implicit one-target route when it
// was never changed), or nil when name is not an alias.
func (s *Snapshot) RouteOf(name string) *Route {
	if r := s.Routes[name]; r != nil {
		return r
	}
	a := s.Aliases[name]
	if a == nil {
		return nil
	}
	return &Route{Name: a.Name, Kind: a.Kind, Plan: SinglePlan(a.Target), Base: a.Target, UpdatedAt: a.UpdatedAt}
}

// Route finds where one request for name (an alias or a pinned model) goes. Access is checked
// exactly as Resolve checks it (team grant on name, the key's allow-list); any Outcome but Resolved
// is answered model_not_found, like an unknown name.
//
// Ordering guarantee of Candidates (what fallback consumes, trying them in order):
//  1. the plan is the first matching rule's, else the default plan;
//  2. tiers in plan order; within a tier, first the sticky weighted pick (weighted rendezvous
//     hashing of the stickiness value and each target's model name: deterministic, the same on
//     every instance, and a weight change moves only the requests that must move), then the
//     tier's other targets by weight, highest first (plan order on a tie), weight-0 targets last;
//  3. a model appears once, at its first place; a disabled or missing model is left out.
//
// A pinned name has exactly one candidate. No candidate left is ModelDisabled.
func (s *Snapshot) Route(name string, req RouteRequest) (*Routing, Outcome) {
	key := req.Key
	if m := s.Models[name]; m != nil {
		if o := s.access(key, name); o != Resolved {
			return nil, o
		}
		if !m.Enabled {
			return nil, ModelDisabled
		}
		return &Routing{Rule: -1, Candidates: []Candidate{{Model: m, Provider: s.Providers[m.Provider], Weight: 100}}}, Resolved
	}
	rt := s.RouteOf(name)
	if rt == nil {
		return nil, UnknownName
	}
	if o := s.access(key, name); o != Resolved {
		return nil, o
	}
	out := s.Evaluate(rt, req)
	if len(out.Candidates) == 0 {
		return out, ModelDisabled
	}
	return out, Resolved
}

// Evaluate is Route's choice for rt without the access checks (the admin API's dry run): the
// first matching rule, or the default plan, and its candidates in Route's order.
func (s *Snapshot) Evaluate(rt *Route, req RouteRequest) *Routing {
	out := &Routing{Route: rt, Rule: -1, Plan: &rt.Plan}
	for i := range rt.Rules {
		if rt.Rules[i].Match.matches(req) {
			out.Rule, out.RuleName, out.Plan = i, rt.Rules[i].Name, &rt.Rules[i].Plan
			break
		}
	}
	out.Candidates = s.candidates(out.Plan, req)
	return out
}

func (s *Snapshot) access(key *Key, name string) Outcome {
	if !s.Grants[name][key.Team] {
		return NotGranted
	}
	if !key.Allows(name) {
		return NotInAllowList
	}
	return Resolved
}

func (m Match) matches(req RouteRequest) bool {
	if m.Empty() {
		return false
	}
	if len(m.Keys) > 0 && (req.Key == nil || !contains(m.Keys, req.Key.ID)) {
		return false
	}
	if len(m.Teams) > 0 && (req.Key == nil || !contains(m.Teams, req.Key.Team)) {
		return false
	}
	if len(m.Tags) > 0 {
		if req.Header == nil {
			return false
		}
		found := false
		for _, t := range strings.Split(req.Header(TagHeader), ",") {
			if t = strings.TrimSpace(t); t != "" && contains(m.Tags, t) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if len(m.Users) > 0 {
		if req.User == nil {
			return false
		}
		if u := req.User(); u == "" || !contains(m.Users, u) {
			return false
		}
	}
	return true
}

// StickyBy names what places req's first pick under a plan's stickiness: "session", "key" or
// "request" (the request on its own).
func StickyBy(sticky string, req RouteRequest) string {
	switch stickValue(sticky, req)[0] {
	case 's':
		return "session"
	case 'k':
		return "key"
	}
	return "request"
}

// stickValue is what a plan's stickiness hashes for req.
func stickValue(sticky string, req RouteRequest) string {
	keyID := ""
	if req.Key != nil {
		keyID = req.Key.ID
	}
	switch sticky {
	case StickyKey:
		return "k:" + keyID
	case StickyNone:
		return "r:" + req.RequestID
	}
	if req.Session != "" {
		return "s:" + req.Session
	}
	return "r:" + req.RequestID
}

func (s *Snapshot) candidates(p *Plan, req RouteRequest) []Candidate {
	stick := stickValue(p.Sticky, req)
	var out []Candidate
	seen := func(name string) bool {
		for _, c := range out {
			if c.Model.Name == name {
				return true
			}
		}
		return false
	}
	for ti, tier := range p.Tiers {
		for _, tg := range OrderTier(tier, stick) {
			m := s.Models[tg.Model]
			if m == nil || !m.Enabled || seen(m.Name) {
				continue
			}
			out = append(out, Candidate{Model: m, Provider: s.Providers[m.Provider], Tier: ti, Weight: tg.Weight})
		}
	}
	return out
}

// OrderTier orders a tier's targets for the stickiness value stick: the weighted rendezvous pick
// first, then the others by weight, highest first (tier order on a tie), weight-0 targets last.
// For a fixed stick, raising one target's weight only ever moves picks onto that target.
func OrderTier(t Tier, stick string) []Target {
	out := make([]Target, len(t.Targets))
	copy(out, t.Targets)
	best, bestScore := -1, math.Inf(-1)
	for i, tg := range out {
		if tg.Weight <= 0 {
			continue
		}
		if sc := rendezvous(stick, tg.Model, tg.Weight); sc > bestScore {
			best, bestScore = i, sc
		}
	}
	if best > 0 {
		first := out[best]
		copy(out[1:best+1], out[:best])
		out[0] = first
	}
	rest := out
	if best >= 0 {
		rest = out[1:]
	}
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].Weight > rest[j].Weight })
	return out
}

// rendezvous is the weighted rendezvous (highest random weight) score of target for stick:
// weight / -ln(u), u uniform in (0,1) from a hash of both. The pick is the highest score, so each
// target wins with probability weight/sum, and only a target whose weight rose can gain picks.
func rendezvous(stick, model string, weight int) float64 {
	h := fnv.New64a()
	h.Write([]byte(stick))
	h.Write([]byte{0})
	h.Write([]byte(model))
	x := mix64(h.Sum64())
	u := (float64(x>>11) + 0.5) / (1 << 53)
	return float64(weight) / -math.Log(u)
}

// mix64 is SplitMix64's finaliser: FNV's low bits alone are too regular for nearby strings.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Limits on a route's size, so a route stays cheap to evaluate on every request.
const (
	MaxRules         = 100
	MaxTiers         = 10
	MaxTargets       = 20
	MaxMatchValues   = 1000
	MaxMatchValueLen = 256
)

// RouteError is a route that cannot be stored: Param names the field at fault by its JSON path
// (e.g. "rules[1].plan.tiers[0].targets[2].weight").
type RouteError struct {
	Param   string
	Message string
}

func (e *RouteError) Error() string { return e.Param + ": " + e.Message }

func routeErr(param, format string, args ...any) *RouteError {
	return &RouteError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// ValidateRoute checks a route's rules and default plan against the models lookup returns (nil:
// no such model): every plan has 1 to MaxTiers tiers of 1 to MaxTargets distinct targets, weights
// are 0–100 and sum to 100 in each tier, every target is an enabled pinned model (not an alias) of
// kind, and for an embedding route every target has one dimension, the same as dimension's. Every
// rule has a condition.
func ValidateRoute(kind Kind, dimension int, rules []Rule, plan Plan, lookup func(string) *Model) *RouteError {
	if len(rules) > MaxRules {
		return routeErr("rules", "a route has at most %d rules; this one has %d", MaxRules, len(rules))
	}
	if err := validatePlan("plan", kind, dimension, plan, lookup); err != nil {
		return err
	}
	for i, r := range rules {
		p := fmt.Sprintf("rules[%d]", i)
		if len(r.Name) > MaxMatchValueLen {
			return routeErr(p+".name", "a rule's name has at most %d characters", MaxMatchValueLen)
		}
		if r.Match.Empty() {
			return routeErr(p+".match", "a rule needs at least one of keys, teams, tags or users; the default plan is for everyone else")
		}
		for field, vals := range map[string][]string{"keys": r.Match.Keys, "teams": r.Match.Teams, "tags": r.Match.Tags, "users": r.Match.Users} {
			if len(vals) > MaxMatchValues {
				return routeErr(p+".match."+field, "at most %d values", MaxMatchValues)
			}
			for j, v := range vals {
				if v == "" || len(v) > MaxMatchValueLen || strings.ContainsAny(v, ",\r\n") {
					return routeErr(fmt.Sprintf("%s.match.%s[%d]", p, field, j), "a value is 1 to %d characters, without commas or line breaks", MaxMatchValueLen)
				}
			}
		}
		if err := validatePlan(p+".plan", kind, dimension, r.Plan, lookup); err != nil {
			return err
		}
	}
	return nil
}

func validatePlan(param string, kind Kind, dimension int, p Plan, lookup func(string) *Model) *RouteError {
	switch p.Sticky {
	case "", StickySession, StickyKey, StickyNone:
	default:
		return routeErr(param+".sticky", "sticky is %q, %q or %q", StickySession, StickyKey, StickyNone)
	}
	if len(p.Tiers) == 0 || len(p.Tiers) > MaxTiers {
		return routeErr(param+".tiers", "a plan has 1 to %d tiers", MaxTiers)
	}
	for ti, t := range p.Tiers {
		tp := fmt.Sprintf("%s.tiers[%d]", param, ti)
		if len(t.Targets) == 0 || len(t.Targets) > MaxTargets {
			return routeErr(tp+".targets", "a tier has 1 to %d targets", MaxTargets)
		}
		sum := 0
		for i, tg := range t.Targets {
			gp := fmt.Sprintf("%s.targets[%d]", tp, i)
			if tg.Weight < 0 || tg.Weight > 100 {
				return routeErr(gp+".weight", "a weight is a percentage, 0 to 100; got %d", tg.Weight)
			}
			sum += tg.Weight
			for _, other := range t.Targets[:i] {
				if other.Model == tg.Model {
					return routeErr(gp+".model", "`%s` is listed twice in this tier; give it one weight", Quote(tg.Model, QuoteLimit))
				}
			}
			m := lookup(tg.Model)
			switch {
			case tg.Model == "":
				return routeErr(gp+".model", "model is required: a pinned model name")
			case m == nil:
				return routeErr(gp+".model", "`%s` is not a pinned model (aliases cannot be targets); GET /admin/models lists them", Quote(tg.Model, QuoteLimit))
			case m.Kind != kind:
				return routeErr(gp+".model", "`%s` is a %s model; this route is %s", m.Name, m.Kind, kind)
			case !m.Enabled:
				return routeErr(gp+".model", "`%s` is disabled; enable it first (PATCH /admin/models/%s)", m.Name, m.Name)
			case kind == KindEmbedding && m.Dimension != dimension:
				return routeErr(gp+".model", "`%s` makes vectors of %d dimensions; every target of this route makes %d (vectors of different lengths cannot share a route)", m.Name, m.Dimension, dimension)
			}
		}
		if sum != 100 {
			return routeErr(tp+".targets", "the weights of a tier sum to 100; these sum to %d", sum)
		}
	}
	return nil
}
