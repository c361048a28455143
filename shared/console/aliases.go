package console

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

type aliasesView struct {
	Aliases []*admin.AliasView
	Models  []*catalog.Model // enabled models, targets to choose from
	Kinds   map[string]catalog.Kind
	// Followed maps an embedding alias to the corpora that follow it: those move by re-embed only.
	Followed map[string][]string
}

// enabledModels lists the snapshot's enabled models by name, of kind when kind is not empty.
func enabledModels(snap *catalog.Snapshot, kind catalog.Kind) []*catalog.Model {
	var out []*catalog.Model
	for _, m := range snap.Models {
		if m.Enabled && (kind == "" || m.Kind == kind) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// followers maps each embedding alias to the corpora following it, when this build has corpora.
func (c *Console) followers(r *http.Request) map[string][]string {
	out := map[string][]string{}
	if c.svc.Corpora == nil {
		return out
	}
	list, err := c.svc.Corpora.ListCorpora(r.Context(), stateOf(r).admin)
	if err != nil {
		c.log.Warn("console: list corpora", "err", err)
		return out
	}
	for _, co := range list {
		out[co.Alias] = append(out[co.Alias], co.Name)
	}
	return out
}

func (c *Console) renderAliases(w http.ResponseWriter, r *http.Request, status int, p *page) {
	p.Title, p.Nav = "Aliases", "aliases"
	st := stateOf(r)
	list, err := c.svc.Admin.ListAliases(r.Context(), st.admin)
	if err != nil {
		status = c.serviceError(r, p, err)
		list = &admin.List[*admin.AliasView]{}
	}
	p.Data = &aliasesView{Aliases: list.Data, Models: enabledModels(st.snap, ""), Followed: c.followers(r)}
	c.render(w, r, status, "aliases", p)
}

func (c *Console) aliasCreate(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	f := r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	a, err := c.svc.Admin.CreateAlias(r.Context(), stateOf(r).admin, name, admin.AliasInput{Target: f.Get("target"), Reason: strings.TrimSpace(f.Get("reason"))})
	if err != nil {
		p := &page{Form: f}
		c.renderAliases(w, r, c.serviceError(r, p, err), p)
		return
	}
	back(w, r, "/console/aliases/"+url.PathEscape(a.Name), "Created alias "+a.Name+" → "+a.Target+".")
}

type aliasView struct {
	Alias     *admin.AliasView
	Targets   []*catalog.Model // enabled models of the alias's kind, but its target
	Followed  []string         // corpora following it (embedding aliases)
	CanRollBk bool
}

func (c *Console) renderAlias(w http.ResponseWriter, r *http.Request, status int, p *page) {
	_, a, ok := detail(c, w, r, p, "name", "Alias", "aliases", c.svc.Admin.GetAlias)
	if !ok {
		return
	}
	st := stateOf(r)
	v := &aliasView{Alias: a, Followed: c.followers(r)[a.Name]}
	for _, m := range enabledModels(st.snap, a.Kind) {
		if m.Name != a.Target {
			v.Targets = append(v.Targets, m)
		}
	}
	v.CanRollBk = len(a.History) > 0 && a.History[0].From != ""
	p.Data = v
	c.render(w, r, status, "alias", p)
}

func (c *Console) aliasMove(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	f := r.PostForm
	name := r.PathValue("name")
	a, err := c.svc.Admin.MoveAlias(r.Context(), stateOf(r).admin, name, admin.AliasMoveInput{
		To: f.Get("to"), ExpectedFrom: f.Get("expected_from"), Reason: strings.TrimSpace(f.Get("reason"))})
	if err != nil {
		c.aliasError(w, r, err, "to", "reason")
		return
	}
	back(w, r, "/console/aliases/"+url.PathEscape(name), "Moved "+name+" to "+a.Target+".")
}

func (c *Console) aliasRollback(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	name := r.PathValue("name")
	a, err := c.svc.Admin.RollbackAlias(r.Context(), stateOf(r).admin, name, admin.AliasRollbackInput{
		ExpectedFrom: r.PostForm.Get("expected_from"), Reason: strings.TrimSpace(r.PostForm.Get("reason"))})
	if err != nil {
		c.aliasError(w, r, err)
		return
	}
	back(w, r, "/console/aliases/"+url.PathEscape(name), "Rolled "+name+" back to "+a.Target+".")
}

// aliasError shows a refused move or rollback on the alias's page; reembed_required points at the
// corpora. marked are the fields the form that was sent shows errors at (the move form's to and
// reason); a message for any other field (expected_from is hidden; the rollback form marks none, and
// its reason field shares the move form's name) goes in the banner.
func (c *Console) aliasError(w http.ResponseWriter, r *http.Request, err error, marked ...string) {
	p := &page{}
	if len(marked) > 0 {
		p.Form = r.PostForm // the move form shows what was sent; the rollback form keeps nothing
	}
	status := c.serviceError(r, p, err)
	for field, msg := range p.Fields {
		if !slices.Contains(marked, field) {
			p.Error = msg
			delete(p.Fields, field)
		}
	}
	if ae, ok := admin.APIError(err); ok && ae.Code == apierror.CodeReembedRequired {
		p.Fix = &link{Text: "Open Corpora & re-embeds to start a re-embed", Href: "/console/corpora"}
	}
	c.renderAlias(w, r, status, p)
}
