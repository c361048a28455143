package console

import (
	"fmt"
	"net/http"
	"net/url"
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
}

// Share is model's part of the last hour's requests, in percent.
func (v *routeView) Share(model string) float64 {
	if v.Split == nil || v.Split.Total == 0 {
		return 0
	}
	return percent(v.Shares[model], v.Split.Total)
}

func (c *Console) routePage(w http.ResponseWriter, r *http.Request) {
	c.renderRoute(w, r, http.StatusOK, &page{})
}

func (c *Console) renderRoute(w http.ResponseWriter, r *http.Request, status int, p *page) {
	name := r.PathValue("name")
	st := stateOf(r)
	p.Title, p.Nav = "Route "+name, "routes"
	rt, err := c.svc.Admin.GetRoute(r.Context(), st.admin, name)
	if err != nil {
		c.render(w, r, c.serviceError(r, p, err), "error", p)
		return
	}
	hist, err := c.svc.Admin.RouteHistory(r.Context(), st.admin, name)
	if err != nil {
		c.render(w, r, c.serviceError(r, p, err), "error", p)
		return
	}
	v := &routeView{Route: rt, History: hist.Data, Shares: map[string]int64{}}
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

// routeWeights replaces the weights of the default plan's first tier (the form lists its targets
// and one more to add); other tiers and the rules stay as they are.
func (c *Console) routeWeights(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	name := r.PathValue("name")
	f := r.PostForm
	rt, err := c.svc.Admin.GetRoute(r.Context(), stateOf(r).admin, name)
	if err != nil {
		c.routeError(w, r, err)
		return
	}
	expected, err := strconv.ParseInt(f.Get("expected_version"), 10, 64)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "The form lost its version; reload the page and try again.")
		return
	}
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
			return
		}
		first.Targets = append(first.Targets, catalog.Target{Model: m, Weight: wt})
	}
	plan := rt.Plan
	plan.Tiers = append([]catalog.Tier{first}, rt.Plan.Tiers[1:]...)
	_, err = c.svc.Admin.PutRoute(r.Context(), stateOf(r).admin, name, admin.RouteInput{
		Rules: rt.Rules, Plan: &plan, ExpectedVersion: &expected, Reason: strings.TrimSpace(f.Get("reason"))})
	if err != nil {
		c.routeError(w, r, err)
		return
	}
	back(w, r, "/console/routes/"+url.PathEscape(name), "Saved the weights of "+name+".")
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
