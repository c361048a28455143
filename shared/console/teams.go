package console

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// grantable is a model or alias with the teams that may call it.
type grantable struct {
	Name   string
	Alias  bool
	Kind   catalog.Kind
	Target string // an alias's model
	Dim    int
	Teams  []string
}

type teamsView struct {
	Teams    []*admin.TeamView
	Names    []grantable
	AllTeams []string // for the grant form, from the catalogue snapshot
}

// audience lists every model and alias with its grants, from the snapshot the request was
// authorised with, so the page and the gateway agree.
func audience(snap *catalog.Snapshot) []grantable {
	var out []grantable
	teams := func(name string) []string {
		var ts []string
		for t := range snap.Grants[name] {
			ts = append(ts, t)
		}
		sort.Strings(ts)
		return ts
	}
	for _, m := range snap.Models {
		out = append(out, grantable{Name: m.Name, Kind: m.Kind, Dim: m.Dimension, Teams: teams(m.Name)})
	}
	for _, a := range snap.Aliases {
		g := grantable{Name: a.Name, Alias: true, Kind: a.Kind, Target: a.Target, Teams: teams(a.Name)}
		if m := snap.Models[a.Target]; m != nil {
			g.Dim = m.Dimension
		}
		out = append(out, g)
	}
	// Aliases first: they are what developers should call.
	sort.Slice(out, func(i, j int) bool {
		if out[i].Alias != out[j].Alias {
			return out[i].Alias
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func teamNames(snap *catalog.Snapshot) []string {
	var out []string
	for n := range snap.Teams {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (c *Console) renderTeams(w http.ResponseWriter, r *http.Request, status int, p *page) {
	st := stateOf(r)
	p.Title, p.Nav = "Teams & audience", "teams"
	v := &teamsView{Names: audience(st.snap), AllTeams: teamNames(st.snap)}
	if st.admin.Role.Can(catalog.AreaAccess, false) {
		list, err := c.svc.Admin.ListTeams(r.Context(), st.admin)
		if err != nil {
			status = c.serviceError(r, p, err)
		} else {
			v.Teams = list.Data
		}
	}
	p.Data = v
	c.render(w, r, status, "teams", p)
}

func (c *Console) teamCreate(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaAccess, true) {
		return
	}
	t, err := c.svc.Admin.CreateTeam(r.Context(), stateOf(r).admin, admin.TeamInput{Name: strings.TrimSpace(r.PostForm.Get("name"))})
	if err != nil {
		p := &page{Form: r.PostForm}
		c.renderTeams(w, r, c.serviceError(r, p, err), p)
		return
	}
	back(w, r, "/console/teams/"+url.PathEscape(t.Name), "Created team "+t.Name+". Create a key for it below.")
}

type teamView struct {
	Team    *admin.TeamView
	Keys    []*admin.KeyView
	NewKey  *admin.KeyView // the key just created, its secret shown this once
	Names   []grantable
	Granted []grantable
	Limits  *limitsSection
	// KeyLimits is each key's limits, by key id.
	KeyLimits map[string]*limitsSection
}

func (c *Console) teamPage(w http.ResponseWriter, r *http.Request) {
	c.renderTeam(w, r, http.StatusOK, &page{}, nil)
}

func (c *Console) renderTeam(w http.ResponseWriter, r *http.Request, status int, p *page, newKey *admin.KeyView) {
	if c.forbid(w, r, catalog.AreaAccess, false) {
		return
	}
	st := stateOf(r)
	name := r.PathValue("name")
	if name == "" {
		name = r.PostForm.Get("team")
	}
	p.Title, p.Nav = "Team "+name, "teams"
	t, err := c.svc.Admin.GetTeam(r.Context(), st.admin, name)
	if err != nil {
		c.render(w, r, c.serviceError(r, p, err), "error", p)
		return
	}
	keys, err := c.svc.Admin.ListKeys(r.Context(), st.admin, name)
	if err != nil {
		c.render(w, r, c.serviceError(r, p, err), "error", p)
		return
	}
	v := &teamView{Team: t, Keys: keys.Data, NewKey: newKey, Names: audience(st.snap), KeyLimits: map[string]*limitsSection{}}
	all := c.limitsByScope(r)
	v.Limits = c.limitsSection(r, p, all, catalog.Scope{Kind: catalog.ScopeTeam, Name: t.Name}, "/console/teams/"+url.PathEscape(t.Name)+"/limits")
	for _, k := range v.Keys {
		v.KeyLimits[k.ID] = c.limitsSection(r, p, all, catalog.Scope{Kind: catalog.ScopeKey, Name: k.ID}, "/console/keys/"+url.PathEscape(k.ID)+"/limits")
	}
	for _, g := range v.Names {
		if slices.Contains(t.Grants, g.Name) {
			v.Granted = append(v.Granted, g)
		}
	}
	p.Data = v
	c.render(w, r, status, "team", p)
}

// splitList reads a comma- or space-separated list of names.
func splitList(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if len(f) == 0 {
		return nil
	}
	return f
}

func (c *Console) keyCreate(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaAccess, true) {
		return
	}
	f := r.PostForm
	k, err := c.svc.Admin.CreateKey(r.Context(), stateOf(r).admin, admin.KeyInput{
		Team: f.Get("team"), Name: strings.TrimSpace(f.Get("name")), Models: splitList(f.Get("models"))})
	if err != nil {
		p := &page{Form: f}
		status := c.serviceError(r, p, err)
		// models[3] and the like belong to the allow-list field.
		for param, msg := range p.Fields {
			if strings.HasPrefix(param, "models[") {
				p.Fields["models"] = msg
			}
		}
		c.renderTeam(w, r, status, p, nil)
		return
	}
	// The secret is in this answer only: never in a URL, a redirect or the log.
	c.renderTeam(w, r, http.StatusCreated, &page{Notice: "Created key " + k.ID + ". Copy it now: it is shown this once."}, k)
}

func (c *Console) keyRevoke(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaAccess, true) {
		return
	}
	k, err := c.svc.Admin.RevokeKey(r.Context(), stateOf(r).admin, r.PathValue("id"))
	if err != nil {
		p := &page{}
		c.render(w, r, c.bannerError(r, p, err), "error", p)
		return
	}
	back(w, r, "/console/teams/"+url.PathEscape(k.Team), "Revoked key "+k.ID+": it is refused everywhere within a second.")
}

// grant adds one team to a name's audience; ungrant removes it. Both read the audience first and
// write it whole, as the API's PUT does.
func (c *Console) grant(w http.ResponseWriter, r *http.Request)   { c.setGrant(w, r, true) }
func (c *Console) ungrant(w http.ResponseWriter, r *http.Request) { c.setGrant(w, r, false) }

func (c *Console) setGrant(w http.ResponseWriter, r *http.Request, add bool) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	by := stateOf(r).admin
	f := r.PostForm
	name, team := f.Get("name"), f.Get("team")
	ret := f.Get("back")
	if !strings.HasPrefix(ret, "/console/") {
		ret = "/console/teams"
	}
	fail := func(err error) {
		p := &page{Form: f}
		status := c.serviceError(r, p, err)
		if strings.HasPrefix(ret, "/console/teams/") {
			r.SetPathValue("name", strings.TrimPrefix(ret, "/console/teams/"))
			c.renderTeam(w, r, status, p, nil)
			return
		}
		c.renderTeams(w, r, status, p)
	}
	cur, err := c.svc.Admin.GetAudience(r.Context(), by, name)
	if err != nil {
		fail(err)
		return
	}
	teams := slices.DeleteFunc(slices.Clone(cur.Teams), func(t string) bool { return t == team })
	verb := "Removed " + team + " from the audience of " + name + "."
	if add {
		teams = append(teams, team)
		verb = "Granted " + name + " to team " + team + "."
	}
	if _, err := c.svc.Admin.SetAudience(r.Context(), by, name, admin.AudienceInput{Teams: teams}); err != nil {
		fail(err)
		return
	}
	back(w, r, ret, verb)
}
