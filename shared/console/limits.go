package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
)

// limitsSection is a scope's limits as a page shows them: a provider's or a model's "Capacity", a
// team's or a key's "Limits", with what it uses now and, for roles that may change them, a form.
// The form keeps its own typed values and field errors, so a refused limits form never disturbs
// another form on the same page.
type limitsSection struct {
	Scope   catalog.Scope
	View    *admin.LimitsView // nil: no limits set
	Action  string            // the form's console path, under the base path
	CanEdit bool
	Form    url.Values        // what was typed, kept when the form is refused
	Fields  map[string]string // field name (the API's param) → its error
	Periods []limitPeriod     // teams and keys: each period's limits and use
}

// limitPeriod is one row of a team's or a key's limits table.
type limitPeriod struct {
	Period                 catalog.Period
	Requests, Tokens       *int64 // the limits (nil: none)
	UsedReq, UsedTok       int64
	Resets                 string
	RequestsKey, TokensKey string // the form fields
}

// Val is what was typed in field name, or the stored setting.
func (s *limitsSection) Val(name string) string {
	if s.Form != nil {
		return s.Form.Get(name)
	}
	if s.View == nil {
		return ""
	}
	if v := settingOf(&s.View.LimitsSettings, name); v != nil {
		return strconv.FormatInt(*v, 10)
	}
	return ""
}

// Err is field name's error.
func (s *limitsSection) Err(name string) string { return s.Fields[name] }

// ID is a prefix for the section's element ids, unique on its page.
func (s *limitsSection) ID() string {
	if s.Scope.Kind == catalog.ScopeKey {
		return "limits-" + s.Scope.Name
	}
	return "limits"
}

// Capped reports whether the scope has a concurrency cap.
func (s *limitsSection) Capped() bool { return s.View != nil && s.View.MaxConcurrency != nil }

// Max is the concurrency cap (0 when none).
func (s *limitsSection) Max() int {
	if !s.Capped() {
		return 0
	}
	return *s.View.MaxConcurrency
}

// Summary says the scope's rate limits in a few words ("" when none), for a key's row.
func (s *limitsSection) Summary() string {
	var parts []string
	for _, row := range s.Periods {
		if row.Requests != nil {
			parts = append(parts, fmtNum(*row.Requests)+" requests/"+string(row.Period))
		}
		if row.Tokens != nil {
			parts = append(parts, fmtNum(*row.Tokens)+" tokens/"+string(row.Period))
		}
	}
	return strings.Join(parts, " · ")
}

// limitFields are the form fields of each kind of scope, named as the API names them, so an error's
// param marks its field.
var (
	capFields  = []string{"max_concurrency", "queue_ms"}
	rateFields = []string{"requests_per_minute", "tokens_per_minute", "requests_per_day", "tokens_per_day", "requests_per_month", "tokens_per_month"}
)

// settingOf is the stored value of one field (nil: no limit).
func settingOf(l *admin.LimitsSettings, name string) *int64 {
	widen := func(p *int) *int64 {
		if p == nil {
			return nil
		}
		v := int64(*p)
		return &v
	}
	return map[string]*int64{
		"max_concurrency": widen(l.MaxConcurrency), "queue_ms": widen(l.QueueMS),
		"requests_per_minute": l.RequestsPerMinute, "tokens_per_minute": l.TokensPerMinute,
		"requests_per_day": l.RequestsPerDay, "tokens_per_day": l.TokensPerDay,
		"requests_per_month": l.RequestsPerMonth, "tokens_per_month": l.TokensPerMonth,
	}[name]
}

// limitsByScope reads every scope's limits with what each uses now, keyed by "kind:name". A page
// shows no limits rather than fail when they cannot be read; the log says why.
func (c *Console) limitsByScope(r *http.Request) map[string]*admin.LimitsView {
	out := map[string]*admin.LimitsView{}
	list, err := c.svc.Admin.ListLimits(r.Context(), stateOf(r).admin)
	if err != nil {
		reqlog.Logger(r.Context(), c.log).Warn("console: read limits", "err", err)
		return out
	}
	for _, v := range list.Data {
		out[v.Scope] = v
	}
	return out
}

// limitsSection builds the section of scope from all (limitsByScope), with the form's action path.
// A refused form of the same scope on p is shown again as typed.
func (c *Console) limitsSection(r *http.Request, p *page, all map[string]*admin.LimitsView, sc catalog.Scope, action string) *limitsSection {
	s := &limitsSection{Scope: sc, View: all[sc.String()], Action: action,
		CanEdit: stateOf(r).admin.Role.Can(limitsArea(sc.Kind), true)}
	if f := p.limitsForm; f != nil && f.Scope == sc {
		s.Form, s.Fields = f.Form, f.Fields
	}
	if !sc.Kind.Serves() {
		for i, p := range catalog.Periods {
			row := limitPeriod{Period: p, RequestsKey: rateFields[2*i], TokensKey: rateFields[2*i+1]}
			if s.View != nil {
				row.Requests = settingOf(&s.View.LimitsSettings, row.RequestsKey)
				row.Tokens = settingOf(&s.View.LimitsSettings, row.TokensKey)
				if u, ok := s.View.Usage[p]; ok {
					row.UsedReq, row.UsedTok, row.Resets = u.Requests, u.Tokens, fmtTime(u.Resets)
				}
			}
			s.Periods = append(s.Periods, row)
		}
	}
	return s
}

// limitsArea is the area whose write role changes a scope's limits, as the API decides.
func limitsArea(k catalog.ScopeKind) catalog.Area {
	if k.Serves() {
		return catalog.AreaCatalog
	}
	return catalog.AreaAccess
}

// parseLimit reads a limit as typed: empty is no limit; digits may be grouped with commas, spaces
// or underscores, and end in k or M ("100k").
func parseLimit(s string) (*int64, bool) {
	s = strings.NewReplacer(",", "", "_", "", " ", "").Replace(strings.TrimSpace(s))
	if s == "" {
		return nil, true
	}
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k") || strings.HasSuffix(s, "K"):
		mult, s = 1_000, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1_000_000, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > (1<<62)/mult {
		return nil, false
	}
	n *= mult
	return &n, true
}

// limitsInput reads the form of a scope kind; a field that is not a number is marked on s.
func limitsInput(kind catalog.ScopeKind, f url.Values, s *limitsSection) (admin.LimitsInput, bool) {
	var in admin.LimitsInput
	fields := rateFields
	if kind.Serves() {
		fields = capFields
	}
	vals := map[string]*int64{}
	for _, name := range fields {
		v, ok := parseLimit(f.Get(name))
		if !ok {
			if s.Fields == nil {
				s.Fields = map[string]string{}
			}
			s.Fields[name] = "Enter a whole number such as 60 or 100k, or leave it empty for no limit (you typed " + strconv.Quote(f.Get(name)) + ")."
			continue
		}
		vals[name] = v
	}
	if len(s.Fields) > 0 {
		return in, false
	}
	narrow := func(p *int64) *int {
		if p == nil {
			return nil
		}
		v := int(max(min(*p, 1<<31-1), -1<<31)) // out of range either way: the API says by how much
		return &v
	}
	in.MaxConcurrency, in.QueueMS = narrow(vals["max_concurrency"]), narrow(vals["queue_ms"])
	in.RequestsPerMinute, in.TokensPerMinute = vals["requests_per_minute"], vals["tokens_per_minute"]
	in.RequestsPerDay, in.TokensPerDay = vals["requests_per_day"], vals["tokens_per_day"]
	in.RequestsPerMonth, in.TokensPerMonth = vals["requests_per_month"], vals["tokens_per_month"]
	return in, true
}

// setLimits handles a limits form of scope: "Save" replaces the scope's limits, "Remove" deletes
// them. A refusal shows the page again through rerender, the error at its field (or in the banner)
// and what was typed kept; success goes back to path with a notice.
func (c *Console) setLimits(w http.ResponseWriter, r *http.Request, sc catalog.Scope, path string, rerender func(status int, p *page)) {
	if c.forbid(w, r, limitsArea(sc.Kind), true) {
		return
	}
	by := stateOf(r).admin
	s := &limitsSection{Scope: sc, Form: cloneWithout(r.PostForm, csrfField, "remove")}
	p := &page{limitsForm: s}
	fail := func(err error) {
		status := c.serviceError(r, p, err)
		// The form's errors belong to it, not to the page's other forms; one naming no field of
		// the form (an unknown scope) goes in the banner.
		for param, msg := range p.Fields {
			if slices.Contains(capFields, param) || slices.Contains(rateFields, param) {
				if s.Fields == nil {
					s.Fields = map[string]string{}
				}
				s.Fields[param] = msg
			} else {
				p.Error = msg
			}
		}
		p.Fields = nil
		rerender(status, p)
	}
	if r.PostForm.Get("remove") != "" {
		s.Form = nil
		if _, err := c.svc.Admin.DeleteLimits(r.Context(), by, sc.String()); err != nil {
			fail(err)
			return
		}
		back(w, r, path, "Removed the limits of "+sc.String()+".")
		return
	}
	in, ok := limitsInput(sc.Kind, r.PostForm, s)
	if !ok {
		p.Error = "Nothing was saved: fix the field marked below."
		rerender(http.StatusBadRequest, p)
		return
	}
	if _, err := c.svc.Admin.SetLimits(r.Context(), by, sc.String(), in); err != nil {
		fail(err)
		return
	}
	back(w, r, path, "Saved the limits of "+sc.String()+": every instance applies them within a second.")
}

func (c *Console) modelLimits(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	c.setLimits(w, r, catalog.Scope{Kind: catalog.ScopeModel, Name: name}, "/console/models/"+url.PathEscape(name)+"#capacity",
		func(status int, p *page) { c.renderModel(w, r, status, p) })
}

func (c *Console) providerLimits(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c.setLimits(w, r, catalog.Scope{Kind: catalog.ScopeProvider, Name: id}, "/console/providers/"+url.PathEscape(id)+"#capacity",
		func(status int, p *page) { c.renderProvider(w, r, status, p) })
}

func (c *Console) teamLimits(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	c.setLimits(w, r, catalog.Scope{Kind: catalog.ScopeTeam, Name: name}, "/console/teams/"+url.PathEscape(name)+"#limits",
		func(status int, p *page) { c.renderTeam(w, r, status, p, nil) })
}

// keyLimits sets a key's limits from its row on its team's page; the form names the team.
func (c *Console) keyLimits(w http.ResponseWriter, r *http.Request) {
	id, team := r.PathValue("id"), r.PostForm.Get("team")
	c.setLimits(w, r, catalog.Scope{Kind: catalog.ScopeKey, Name: id}, "/console/teams/"+url.PathEscape(team)+"#limits-"+id,
		func(status int, p *page) { c.renderTeam(w, r, status, p, nil) })
}
