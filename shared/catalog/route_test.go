package catalog

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// routeSnapshot is a catalogue with three enabled chat models behind the alias "chat", granted to
// teams a and b, and two embedding models of different dimensions.
func routeSnapshot(rt *Route) *Snapshot {
	s := &Snapshot{
		Providers: map[string]*Provider{"p": {Identifier: "p"}},
		Models: map[string]*Model{
			"old":     {Name: "old", Provider: "p", Kind: KindChat, Enabled: true},
			"new":     {Name: "new", Provider: "p", Kind: KindChat, Enabled: true},
			"spare":   {Name: "spare", Provider: "p", Kind: KindChat, Enabled: true},
			"off":     {Name: "off", Provider: "p", Kind: KindChat},
			"emb-384": {Name: "emb-384", Provider: "p", Kind: KindEmbedding, Dimension: 384, Enabled: true},
			"emb-768": {Name: "emb-768", Provider: "p", Kind: KindEmbedding, Dimension: 768, Enabled: true},
		},
		Aliases: map[string]*Alias{"chat": {Name: "chat", Kind: KindChat, Target: "old"}},
		Routes:  map[string]*Route{},
		Grants:  map[string]map[string]bool{"chat": {"a": true, "b": true}, "old": {"a": true}},
	}
	if rt != nil {
		s.Routes[rt.Name] = rt
	}
	return s
}

func split(weights ...int) Plan {
	models := []string{"old", "new", "spare"}
	var t Tier
	for i, w := range weights {
		t.Targets = append(t.Targets, Target{Model: models[i], Weight: w})
	}
	return Plan{Tiers: []Tier{t}}
}

func first(t *testing.T, s *Snapshot, req RouteRequest) string {
	t.Helper()
	r, o := s.Route("chat", req)
	if o != Resolved {
		t.Fatalf("Route: %s", o)
	}
	return r.Candidates[0].Model.Name
}

var keyA = &Key{ID: "key-a", Team: "a"}

func TestRouteSplitFollowsWeights(t *testing.T) {
	t.Parallel()
	for _, weights := range [][]int{{90, 10}, {50, 30, 20}, {99, 1}} {
		s := routeSnapshot(&Route{Name: "chat", Kind: KindChat, Version: 1, Plan: split(weights...)})
		const n = 10000
		counts := map[string]int{}
		for i := 0; i < n; i++ {
			counts[first(t, s, RouteRequest{Key: keyA, RequestID: "req-" + strconv.Itoa(i)})]++
		}
		for i, m := range []string{"old", "new", "spare"}[:len(weights)] {
			got := 100 * float64(counts[m]) / n
			if math.Abs(got-float64(weights[i])) > 2 {
				t.Errorf("weights %v: %s took %.2f%% of %d requests; want %d±2", weights, m, got, n, weights[i])
			}
		}
	}
}

func TestRouteStickyAndMinimalMove(t *testing.T) {
	t.Parallel()
	before := routeSnapshot(&Route{Name: "chat", Kind: KindChat, Version: 1, Plan: split(95, 5)})
	after := routeSnapshot(&Route{Name: "chat", Kind: KindChat, Version: 2, Plan: split(90, 10)})
	// The same session lands on the same model on every call, whatever the request id.
	for i := 0; i < 1000; i++ {
		if got := first(t, before, RouteRequest{Key: keyA, Session: "conv-7", RequestID: strconv.Itoa(i)}); got != first(t, before, RouteRequest{Key: keyA, Session: "conv-7"}) {
			t.Fatalf("call %d of session conv-7 went to %s", i, got)
		}
	}
	const n = 10000
	moved, wrongWay := 0, 0
	for i := 0; i < n; i++ {
		req := RouteRequest{Key: keyA, Session: "session-" + strconv.Itoa(i), RequestID: "x"}
		a, b := first(t, before, req), first(t, after, req)
		if a != b {
			moved++
			if a != "old" || b != "new" {
				wrongWay++
			}
		}
	}
	if wrongWay > 0 {
		t.Errorf("%d sessions moved other than old → new when new's weight rose", wrongWay)
	}
	if pct := 100 * float64(moved) / n; math.Abs(pct-5) > 1 {
		t.Errorf("moving new from 5%% to 10%% moved %.2f%% of sessions; want about 5%%", pct)
	}
	// Sticky by key: every request of one key goes to one model.
	byKey := routeSnapshot(&Route{Name: "chat", Kind: KindChat, Version: 1, Plan: Plan{Sticky: StickyKey, Tiers: split(50, 50).Tiers}})
	want := first(t, byKey, RouteRequest{Key: keyA, RequestID: "0"})
	for i := 1; i < 200; i++ {
		if got := first(t, byKey, RouteRequest{Key: keyA, Session: strconv.Itoa(i), RequestID: strconv.Itoa(i)}); got != want {
			t.Fatalf("sticky by key: request %d went to %s, the first to %s", i, got, want)
		}
	}
}

func TestRouteCandidateOrder(t *testing.T) {
	t.Parallel()
	rt := &Route{Name: "chat", Kind: KindChat, Version: 1, Plan: Plan{Tiers: []Tier{
		{Targets: []Target{{Model: "old", Weight: 20}, {Model: "new", Weight: 0}, {Model: "spare", Weight: 80}}},
		{Targets: []Target{{Model: "old", Weight: 100}}},
		{Targets: []Target{{Model: "off", Weight: 100}}},
	}}}
	s := routeSnapshot(rt)
	sawOldFirst := false
	for i := 0; i < 100; i++ {
		r, _ := s.Route("chat", RouteRequest{Key: keyA, RequestID: strconv.Itoa(i)})
		var names []string
		for _, c := range r.Candidates {
			names = append(names, c.Model.Name)
		}
		got := strings.Join(names, ",")
		// old appears once (its tier-0 place), off (disabled) never, new (weight 0) last in its tier.
		switch got {
		case "spare,old,new":
		case "old,spare,new":
			sawOldFirst = true
		default:
			t.Fatalf("candidates %s; want spare,old,new or old,spare,new", got)
		}
	}
	if !sawOldFirst {
		t.Error("a 20% target was never picked first in 100 requests")
	}
	// Only disabled targets: the name answers like a disabled model.
	s.Routes["chat"] = &Route{Name: "chat", Kind: KindChat, Version: 2, Plan: SinglePlan("off")}
	if _, o := s.Route("chat", RouteRequest{Key: keyA}); o != ModelDisabled {
		t.Errorf("a route of disabled models: %s; want %s", o, ModelDisabled)
	}
}

func TestRouteRules(t *testing.T) {
	t.Parallel()
	rt := &Route{Name: "chat", Kind: KindChat, Version: 3, Plan: SinglePlan("old"), Rules: []Rule{
		{Name: "pilot-key", Match: Match{Keys: []string{"key-pilot"}}, Plan: SinglePlan("new")},
		{Name: "team-b-beta", Match: Match{Teams: []string{"b"}, Tags: []string{"beta"}}, Plan: SinglePlan("spare")},
		{Name: "user", Match: Match{Users: []string{"alice"}}, Plan: SinglePlan("new")},
	}}
	s := routeSnapshot(rt)
	header := func(v string) func(string) string {
		return func(h string) string {
			if h == TagHeader {
				return v
			}
			return ""
		}
	}
	userCalls := 0
	for _, tc := range []struct {
		name string
		req  RouteRequest
		rule string
		want string
	}{
		{"no rule matches", RouteRequest{Key: keyA}, "", "old"},
		{"per-key override", RouteRequest{Key: &Key{ID: "key-pilot", Team: "a"}}, "pilot-key", "new"},
		{"team and tag", RouteRequest{Key: &Key{ID: "k2", Team: "b"}, Header: header("x, beta")}, "team-b-beta", "spare"},
		{"team without the tag", RouteRequest{Key: &Key{ID: "k2", Team: "b"}, Header: header("alpha")}, "", "old"},
		{"tag without the team", RouteRequest{Key: keyA, Header: header("beta")}, "", "old"},
		{"user field", RouteRequest{Key: keyA, User: func() string { userCalls++; return "alice" }}, "user", "new"},
	} {
		r, o := s.Route("chat", tc.req)
		if o != Resolved {
			t.Fatalf("%s: %s", tc.name, o)
		}
		if r.RuleName != tc.rule || r.Candidates[0].Model.Name != tc.want {
			t.Errorf("%s: rule %q → %s; want rule %q → %s", tc.name, r.RuleName, r.Candidates[0].Model.Name, tc.rule, tc.want)
		}
	}
	if userCalls != 1 {
		t.Errorf("the user field was read %d times; want once (only the rule that asks reads it)", userCalls)
	}
	// Access is checked before any rule: a team without a grant learns nothing.
	if _, o := s.Route("chat", RouteRequest{Key: &Key{ID: "key-pilot", Team: "c"}}); o != NotGranted {
		t.Errorf("a team without a grant: %s; want %s", o, NotGranted)
	}
	if _, o := s.Route("chat", RouteRequest{Key: &Key{ID: "key-pilot", Team: "a", Models: []string{"old"}}}); o != NotInAllowList {
		t.Errorf("an allow-list without the alias: %s; want %s", o, NotInAllowList)
	}
	// An alias never changed routes to its target; a pinned name to itself.
	plain := routeSnapshot(nil)
	if got := first(t, plain, RouteRequest{Key: keyA}); got != "old" {
		t.Errorf("an implicit route went to %s; want old", got)
	}
	if r, o := plain.Route("old", RouteRequest{Key: keyA}); o != Resolved || len(r.Candidates) != 1 || r.Candidates[0].Model.Name != "old" {
		t.Errorf("a pinned name: %v %v", r, o)
	}
}

func TestValidateRoute(t *testing.T) {
	t.Parallel()
	s := routeSnapshot(nil)
	lookup := func(n string) *Model { return s.Models[n] }
	for _, tc := range []struct {
		name  string
		kind  Kind
		dim   int
		rules []Rule
		plan  Plan
		param string
	}{
		{"ok", KindChat, 0, nil, split(95, 5), ""},
		{"weights short of 100", KindChat, 0, nil, split(90, 5), "plan.tiers[0].targets"},
		{"weight over 100", KindChat, 0, nil, split(101, -1), "plan.tiers[0].targets[0].weight"},
		{"no tiers", KindChat, 0, nil, Plan{}, "plan.tiers"},
		{"disabled target", KindChat, 0, nil, SinglePlan("off"), "plan.tiers[0].targets[0].model"},
		{"alias as target", KindChat, 0, nil, SinglePlan("chat"), "plan.tiers[0].targets[0].model"},
		{"other kind", KindChat, 0, nil, SinglePlan("emb-384"), "plan.tiers[0].targets[0].model"},
		{"sticky", KindChat, 0, nil, Plan{Sticky: "cookie", Tiers: split(100).Tiers}, "plan.sticky"},
		{"rule without a condition", KindChat, 0, []Rule{{Plan: SinglePlan("new")}}, split(100), "rules[0].match"},
		{"rule plan checked", KindChat, 0, []Rule{{Match: Match{Teams: []string{"a"}}, Plan: split(50, 40)}}, split(100), "rules[0].plan.tiers[0].targets"},
		{"embedding, one dimension", KindEmbedding, 384, nil, Plan{Tiers: []Tier{{Targets: []Target{{Model: "emb-384", Weight: 90}, {Model: "emb-768", Weight: 10}}}}}, "plan.tiers[0].targets[1].model"},
		{"embedding ok", KindEmbedding, 384, nil, SinglePlan("emb-384"), ""},
	} {
		err := ValidateRoute(tc.kind, tc.dim, tc.rules, tc.plan, lookup)
		switch {
		case tc.param == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.param != "" && (err == nil || err.Param != tc.param):
			t.Errorf("%s: %v; want an error on %s", tc.name, err, tc.param)
		}
	}
}
