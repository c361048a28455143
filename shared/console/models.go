package console

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

type modelsView struct {
	Chat      []*admin.ModelView
	Embedding []*admin.ModelView
	Providers []*admin.ProviderView
	// Upstream maps a provider to the model names its last verification listed, to pick from.
	Upstream map[string][]string
	// Aliases maps a model to the aliases pointing at it.
	Aliases map[string][]string
}

func (c *Console) modelsPage(w http.ResponseWriter, r *http.Request) {
	p := &page{Title: "Models", Nav: "models"}
	// Prefill from a provider page's "add as model" link.
	q := r.URL.Query()
	if q.Get("provider") != "" {
		p.Form = url.Values{"provider": {q.Get("provider")}, "upstream_name": {q.Get("upstream_name")}, "name": {q.Get("upstream_name")}}
	}
	c.renderModels(w, r, http.StatusOK, p)
}

func (c *Console) renderModels(w http.ResponseWriter, r *http.Request, status int, p *page) {
	p.Title, p.Nav = "Models", "models"
	v := &modelsView{Upstream: map[string][]string{}}
	by := stateOf(r).admin
	list, err := c.svc.Admin.ListModels(r.Context(), by)
	if err != nil {
		status = c.serviceError(r, p, err)
		list = &admin.List[*admin.ModelView]{}
	}
	for _, m := range list.Data {
		if m.Kind == catalog.KindEmbedding {
			v.Embedding = append(v.Embedding, m)
		} else {
			v.Chat = append(v.Chat, m)
		}
	}
	byName := func(ms []*admin.ModelView) {
		sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	}
	byName(v.Chat)
	byName(v.Embedding)
	if provs, err := c.svc.Admin.ListProviders(r.Context(), by); err == nil {
		v.Providers = provs.Data
		sort.Slice(v.Providers, func(i, j int) bool { return v.Providers[i].Identifier < v.Providers[j].Identifier })
		for _, pr := range v.Providers {
			if pr.Verification != nil {
				v.Upstream[pr.Identifier] = pr.Verification.UpstreamModels
			}
		}
	}
	v.Aliases = aliasesByTarget(stateOf(r).snap)
	p.Data = v
	c.render(w, r, status, "models", p)
}

// aliasesByTarget is the names of the aliases pointing at each model, in name order.
func aliasesByTarget(snap *catalog.Snapshot) map[string][]string {
	by := map[string][]string{}
	for _, a := range snap.Aliases {
		by[a.Target] = append(by[a.Target], a.Name)
	}
	for _, names := range by {
		sort.Strings(names)
	}
	return by
}

func (c *Console) modelCreate(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	f := r.PostForm
	in := admin.ModelInput{
		Name:         strings.TrimSpace(f.Get("name")),
		Provider:     f.Get("provider"),
		UpstreamName: strings.TrimSpace(f.Get("upstream_name")),
		Kind:         f.Get("kind"),
		Enabled:      f.Get("enabled") != "",
		DisplayName:  strings.TrimSpace(f.Get("display_name")),
	}
	p := &page{Form: f}
	var ok bool
	if in.ContextWindow, ok = intField(p, f, "context_window"); !ok {
		c.renderModels(w, r, http.StatusBadRequest, p)
		return
	}
	if in.Kind == string(catalog.KindEmbedding) {
		if in.Dimension, ok = intField(p, f, "dimension"); !ok {
			c.renderModels(w, r, http.StatusBadRequest, p)
			return
		}
	} else {
		in.Capabilities = &catalog.Capabilities{Streaming: f.Get("streaming") != "", Tools: f.Get("tools") != ""}
	}
	m, err := c.svc.Admin.CreateModel(r.Context(), stateOf(r).admin, in)
	if err != nil {
		c.renderModels(w, r, c.serviceError(r, p, err), p)
		return
	}
	state := "disabled: enable it when it is ready"
	if m.Enabled {
		state = "enabled"
	}
	back(w, r, "/console/models#model-"+m.Name, "Added "+string(m.Kind)+" model "+m.Name+" ("+state+").")
}

// intField reads a whole number field, empty meaning 0; a bad value marks the field on p.
func intField(p *page, f url.Values, name string) (int, bool) {
	s := strings.TrimSpace(f.Get(name))
	if s == "" {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		if p.Fields == nil {
			p.Fields = map[string]string{}
		}
		p.Fields[name] = "Enter a whole number, e.g. 8192 (you typed " + strconv.Quote(s) + ")."
		p.Error = "Nothing was saved: fix the field marked below."
		return 0, false
	}
	return n, true
}

// modelView is a model's own page: its settings and, for those who may change it, the edit form.
type modelView struct {
	Model    *admin.ModelView
	Aliases  []string // the aliases pointing at it
	Capacity *limitsSection
}

func (c *Console) renderModel(w http.ResponseWriter, r *http.Request, status int, p *page) {
	_, m, ok := detail(c, w, r, p, "name", "Model", "models", c.svc.Admin.GetModel)
	if !ok {
		return
	}
	v := &modelView{Model: m, Aliases: aliasesByTarget(stateOf(r).snap)[m.Name],
		Capacity: c.limitsSection(r, p, c.limitsByScope(r), catalog.Scope{Kind: catalog.ScopeModel, Name: m.Name}, "/console/models/"+url.PathEscape(m.Name)+"/limits")}
	p.Data = v
	c.render(w, r, status, "model", p)
}

// modelPatch reads the edit form: every field the admin API lets change, as the page showed them. The
// capabilities go only when the form offered them (chat models).
func modelPatch(p *page, f url.Values) (admin.ModelPatch, bool) {
	display, description := strings.TrimSpace(f.Get("display_name")), strings.TrimSpace(f.Get("description"))
	enabled := f.Get("enabled") != ""
	in := admin.ModelPatch{DisplayName: &display, Description: &description, Enabled: &enabled}
	n, ok := intField(p, f, "context_window")
	if !ok {
		return in, false
	}
	in.ContextWindow = &n
	if f.Get("capabilities") != "" {
		streaming, tools := f.Get("streaming") != "", f.Get("tools") != ""
		in.Capabilities = &admin.CapabilitiesPatch{Streaming: &streaming, Tools: &tools}
	}
	return in, true
}

func (c *Console) modelUpdate(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	name := r.PathValue("name")
	p := &page{Form: cloneWithout(r.PostForm, csrfField)}
	in, ok := modelPatch(p, r.PostForm)
	if !ok {
		c.renderModel(w, r, http.StatusBadRequest, p)
		return
	}
	if _, err := c.svc.Admin.UpdateModel(r.Context(), stateOf(r).admin, name, in); err != nil {
		c.renderModel(w, r, c.serviceError(r, p, err), p)
		return
	}
	back(w, r, "/console/models/"+url.PathEscape(name), "Saved "+name+".")
}

func (c *Console) modelEnable(enabled bool) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.forbid(w, r, catalog.AreaCatalog, true) {
			return
		}
		name := r.PathValue("name")
		if _, err := c.svc.Admin.UpdateModel(r.Context(), stateOf(r).admin, name, admin.ModelPatch{Enabled: &enabled}); err != nil {
			p := &page{}
			c.renderModels(w, r, c.bannerError(r, p, err), p)
			return
		}
		verb := "Disabled"
		if enabled {
			verb = "Enabled"
		}
		back(w, r, "/console/models#model-"+name, verb+" "+name+".")
	}
}

func (c *Console) modelProbe(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	name := r.PathValue("name")
	if _, err := c.svc.Admin.ProbeModel(r.Context(), stateOf(r).admin, name); err != nil {
		p := &page{}
		c.renderModels(w, r, c.bannerError(r, p, err), p)
		return
	}
	back(w, r, "/console/models#model-"+name, "Probed "+name+": see what the endpoint really does in its row.")
}
