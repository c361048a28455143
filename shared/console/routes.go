package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

type routesView struct {
	Routes []*admin.RouteView
}

func (c *Console) routesPage(w http.ResponseWriter, r *http.Request) {
	p := &page{Title: "Routes", Nav: "routes"}
	list, err := c.svc.Admin.ListRoutes(r.Context(), stateOf(r).admin)
	status := http.StatusOK
	if err != nil {
		status = c.serviceError(r, p, err)
		list = &admin.List[*admin.RouteView]{}
	}
	p.Data = &routesView{Routes: list.Data}
	c.render(w, r, status, "routes", p)
}

type routeView struct {
	Route   *admin.RouteView
	History []catalog.RouteVersion
	Split   *admin.RouteSplitView // nil when the role may not read usage
	Shares  map[string]int64      // requests per model in the last hour
	Adds    []*catalog.Model      // enabled models of the route's kind not in its first tier
	// Teams and Candidates feed the team form: every team, and the models a team's share may go to
	// (enabled, of the route's kind and, for embeddings, dimension; not the alias's own model).
	Teams      []string
	Candidates []*catalog.Model
}

// Share is model's part of the last hour's requests, in percent.
func (v *routeView) Share(model string) float64 {
	if v.Split == nil || v.Split.Total == 0 {
		return 0
	}
	return percent(v.Shares[model], v.Split.Total)
}

func (c *Console) renderRoute(w http.ResponseWriter, r *http.Request, status int, p *page) {
	name, rt, ok := detail(c, w, r, p, "name", "Route", "routes", c.svc.Admin.GetRoute)
	if !ok {
		return
	}
	st := stateOf(r)
	hist, err := c.svc.Admin.RouteHistory(r.Context(), st.admin, name)
	if err != nil {
		c.render(w, r, c.serviceError(r, p, err), "error", p)
		return
	}
	v := &routeView{Route: rt, History: hist.Data, Shares: map[string]int64{}, Teams: sortedTeams(st.snap)}
	if st.admin.Role.Can(catalog.AreaUsage, false) {
		if v.Split, err = c.svc.Admin.RouteSplit(r.Context(), st.admin, name); err != nil {
			c.log.Warn("console: route split", "route", name, "err", err)
			v.Split = nil
		}
		if v.Split != nil {
			for _, s := range v.Split.Shares {
				v.Shares[s.Model] = s.Requests
			}
		}
	}
	inFirst := map[string]bool{}
	if len(rt.Plan.Tiers) > 0 {
		for _, t := range rt.Plan.Tiers[0].Targets {
			inFirst[t.Model] = true
		}
	}
	for _, m := range enabledModels(st.snap, rt.Kind) {
		if m.Name != rt.Target && (rt.Kind != catalog.KindEmbedding || m.Dimension == dimensionOf(st.snap, rt.Target)) {
			v.Candidates = append(v.Candidates, m)
		}
		if !inFirst[m.Name] && (rt.Kind != catalog.KindEmbedding || len(rt.Plan.Tiers) == 0 || m.Dimension == dimensionOf(st.snap, rt.Target)) {
			v.Adds = append(v.Adds, m)
		}
	}
	p.Data = v
	c.render(w, r, status, "route", p)
}

func dimensionOf(snap *catalog.Snapshot, model string) int {
	if m := snap.Models[model]; m != nil {
		return m.Dimension
	}
	return 0
}

// routeEdit is one route form's change: from the route as it is, the rules and default plan to write
// and the notice to show. When ok is false it has answered the request itself (a refused input).
type routeEdit func(rt *admin.RouteView) (rules []catalog.Rule, plan catalog.Plan, notice string, ok bool)

// editRoute is every route form's way in and out: the role check, the route read, the version the
// form was shown at, the edit, and the new version written with the form's reason, or the refusal
// shown on the route's page.
func (c *Console) editRoute(w http.ResponseWriter, r *http.Request, edit routeEdit) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	name := r.PathValue("name")
	rt, err := c.svc.Admin.GetRoute(r.Context(), stateOf(r).admin, name)
	if err != nil {
		c.routeError(w, r, err)
		return
	}
	expected, err := strconv.ParseInt(r.PostForm.Get("expected_version"), 10, 64)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "The form lost its version; reload the page and try again.")
		return
	}
	rules, plan, notice, ok := edit(rt)
	if !ok {
		return
	}
	_, err = c.svc.Admin.PutRoute(r.Context(), stateOf(r).admin, name, admin.RouteInput{
		Rules: rules, Plan: &plan, ExpectedVersion: &expected, Reason: strings.TrimSpace(r.PostForm.Get("reason"))})
	if err != nil {
		c.routeError(w, r, err)
		return
	}
	back(w, r, "/console/routes/"+url.PathEscape(name), notice)
}

// routeWeights replaces the weights of the default plan's first tier (the form lists its targets
// and one more to add); other tiers and the rules stay as they are.
func (c *Console) routeWeights(w http.ResponseWriter, r *http.Request) {
	c.editRoute(w, r, func(rt *admin.RouteView) ([]catalog.Rule, catalog.Plan, string, bool) {
		f := r.PostForm
		var first catalog.Tier
		models, weights := f["model"], f["weight"]
		for i, m := range models {
			if m == "" || i >= len(weights) || strings.TrimSpace(weights[i]) == "" {
				continue // an empty weight removes the target; an empty model is the unused "add" row
			}
			wt, err := strconv.Atoi(strings.TrimSpace(weights[i]))
			if err != nil {
				p := &page{Form: f, Error: fmt.Sprintf("The weight of %s is %q; weights are whole percentages, 0 to 100.", m, weights[i])}
				c.renderRoute(w, r, http.StatusBadRequest, p)
				return nil, catalog.Plan{}, "", false
			}
			first.Targets = append(first.Targets, catalog.Target{Model: m, Weight: wt})
		}
		plan := rt.Plan
		plan.Tiers = append([]catalog.Tier{first}, rt.Plan.Tiers[1:]...)
		return rt.Rules, plan, "Saved the weights of " + rt.Name + ".", true
	})
}

func (c *Console) routeRollback(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	name := r.PathValue("name")
	in := admin.RouteRollbackInput{Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	if v, err := strconv.ParseInt(r.PostForm.Get("expected_version"), 10, 64); err == nil {
		in.ExpectedVersion = &v
	}
	rt, err := c.svc.Admin.RollbackRoute(r.Context(), stateOf(r).admin, name, in)
	if err != nil {
		c.routeError(w, r, err)
		return
	}
	back(w, r, "/console/routes/"+url.PathEscape(name), fmt.Sprintf("Rolled %s back (now version %d).", name, rt.Version))
}

// routeError shows a refused change on the route's page, every message in the banner (the form's
// fields are rows of a table, not named ones).
func (c *Console) routeError(w http.ResponseWriter, r *http.Request, err error) {
	p := &page{Form: r.PostForm}
	status := c.bannerError(r, p, err)
	c.renderRoute(w, r, status, p)
}

// sortedTeams lists the catalogue's team names in order.
func sortedTeams(snap *catalog.Snapshot) []string {
	names := make([]string, 0, len(snap.Teams))
	for n := range snap.Teams {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// teamRuleName names the rule the team form writes, so that the form replaces its own rule.
func teamRuleName(team string) string { return "team " + team }

// routeTeamShare sends a share of one team's traffic to a model: a rule matching the team whose plan
// splits its first tier between the alias's model and that model, with the alias's model alone as
// the fallback tier. The team's earlier rule from this form is replaced; other rules stay, after it.
func (c *Console) routeTeamShare(w http.ResponseWriter, r *http.Request) {
	c.editRoute(w, r, func(rt *admin.RouteView) ([]catalog.Rule, catalog.Plan, string, bool) {
		f := r.PostForm
		team, model := f.Get("team"), f.Get("team_model")
		share, err := strconv.Atoi(strings.TrimSpace(f.Get("team_share")))
		if err != nil || share < 1 || share > 100 {
			p := &page{Form: f, Error: fmt.Sprintf("The share is %q; it is a whole percentage of the team's requests, 1 to 100.", f.Get("team_share"))}
			c.renderRoute(w, r, http.StatusBadRequest, p)
			return nil, catalog.Plan{}, "", false
		}
		first := catalog.Tier{Targets: []catalog.Target{{Model: model, Weight: share}}}
		if share < 100 {
			first.Targets = append([]catalog.Target{{Model: rt.Target, Weight: 100 - share}}, first.Targets...)
		}
		rule := catalog.Rule{Name: teamRuleName(team), Match: catalog.Match{Teams: []string{team}},
			Plan: catalog.Plan{Tiers: []catalog.Tier{first, {Targets: []catalog.Target{{Model: rt.Target, Weight: 100}}}}}}
		rules := []catalog.Rule{rule}
		for _, old := range rt.Rules {
			if old.Name != rule.Name {
				rules = append(rules, old)
			}
		}
		return rules, rt.Plan, fmt.Sprintf("Team %s now sends %d%% of its %s requests to %s.", team, share, rt.Name, model), true
	})
}

// routeRemoveRule removes one rule (by its position, checked against its name) as a new version.
func (c *Console) routeRemoveRule(w http.ResponseWriter, r *http.Request) {
	c.editRoute(w, r, func(rt *admin.RouteView) ([]catalog.Rule, catalog.Plan, string, bool) {
		i, err := strconv.Atoi(r.PostForm.Get("rule"))
		if err != nil || i < 0 || i >= len(rt.Rules) || rt.Rules[i].Name != r.PostForm.Get("rule_name") {
			c.fail(w, r, http.StatusConflict, "The route changed since this page was shown; reload it and try again.")
			return nil, catalog.Plan{}, "", false
		}
		return slices.Delete(slices.Clone(rt.Rules), i, i+1), rt.Plan, "Removed a rule of " + rt.Name + ".", true
	})
}
