package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
)

// signinFailed records a refused sign-in in the audit log: who is unknown, from where is not. A
// failure to record is logged; the sign-in is refused all the same.
func (c *Console) signinFailed(r *http.Request) {
	if err := c.sessions.RecordFailedSignin(r.Context(), audit.New(r.Context(), nil, audit.SigninFailed, "")); err != nil {
		c.log.Error("console: record a failed sign-in", "err", err)
	}
}

// auditPerPage is how many entries a page of the audit log shows.
const auditPerPage = 50

// pager links a keyset-paged page to its neighbours.
type pager struct {
	Paged        bool   // a page other than the newest
	Newer, Older string // links to the neighbouring pages, empty when there is none that way
}

// pages works out a page's neighbours. It was read past cursor after or before (at most one set);
// hasMore looks one way only, the way the page was read: the other way lies the page that linked
// here. href is the page past a cursor id in direction dir ("after" or "before").
func pages(after, before string, hasMore bool, firstID, lastID *string, href func(dir, id string) string) pager {
	p := pager{Paged: after != "" || before != ""}
	older, newer := hasMore, after != ""
	if before != "" {
		older, newer = true, hasMore
	}
	if older && lastID != nil {
		p.Older = href("after", *lastID)
	}
	if newer && firstID != nil {
		p.Newer = href("before", *firstID)
	}
	return p
}

type auditFilter struct {
	Actor, Action, Target string
	From, To              string // dates, YYYY-MM-DD, UTC
}

// href is the audit page with these filters, past cursor id in direction dir when dir is set.
func (f auditFilter) href(dir, id string) string {
	q := url.Values{}
	for _, kv := range [][2]string{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}, {"from", f.From}, {"to", f.To}, {dir, id}} {
		if kv[0] != "" && kv[1] != "" {
			q.Set(kv[0], kv[1])
		}
	}
	if len(q) == 0 {
		return "/console/audit"
	}
	return "/console/audit?" + q.Encode()
}

// With is the filter with one field set, for the links in the table.
func (f auditFilter) With(field, v string) string {
	g := auditFilter{}
	switch field {
	case "actor":
		g.Actor = v
	case "action":
		g.Action = v
	case "target":
		g.Target = v
	}
	return g.href("", "")
}

type auditView struct {
	pager
	Filter  auditFilter
	Actions []string
	Rows    []auditEntry
}

// auditEntry is an entry as the page shows it: what changed, field by field, and the whole entity
// before and after for the curious.
type auditEntry struct {
	audit.Row
	Who, WhoID, WhoRole string // the actor; empty for a failed sign-in
	Changes             []fieldChange
	Before, After       string // indented JSON, empty for none
}

type fieldChange struct{ Field, From, To string }

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	p := &page{Title: "Audit log", Nav: "audit"}
	q := r.URL.Query()
	v := &auditView{Actions: audit.Actions, Filter: auditFilter{Actor: q.Get("actor"), Action: q.Get("action"),
		Target: q.Get("target"), From: q.Get("from"), To: q.Get("to")}}
	aq := admin.AuditQuery{Actor: v.Filter.Actor, Action: v.Filter.Action, Target: v.Filter.Target, Limit: auditPerPage}
	var err error
	for _, f := range []struct {
		param, date string
		t           *time.Time
		days        int
	}{{"from", v.Filter.From, &aq.From, 0}, {"to", v.Filter.To, &aq.To, 1}} {
		if f.date == "" {
			continue
		}
		var d time.Time
		if d, err = time.Parse(time.DateOnly, f.date); err != nil {
			err = apierror.Invalid(f.param, "%s must be a date such as 2026-06-01, not %q", f.param, f.date)
			break
		}
		*f.t = d.AddDate(0, 0, f.days) // to is inclusive: up to the end of that day
	}
	for _, f := range []struct {
		param string
		id    *int64
	}{{"after", &aq.After}, {"before", &aq.Before}} {
		if s := q.Get(f.param); s != "" && err == nil {
			if *f.id, err = strconv.ParseInt(s, 10, 64); err != nil {
				err = apierror.Invalid(f.param, "%s must be the id of an audit entry, not %q", f.param, s)
			}
		}
	}
	var list *admin.AuditPage
	if err == nil {
		list, err = c.svc.Admin.Audit(r.Context(), stateOf(r).admin, aq)
	}
	if err != nil {
		status := c.bannerError(r, p, err)
		p.Fix = &link{Text: "Show the newest entries", Href: "/console/audit"}
		c.render(w, r, status, "error", p)
		return
	}
	for _, row := range list.Data {
		v.Rows = append(v.Rows, entryOf(row))
	}
	var first, last *string
	if list.FirstID != nil {
		f, l := strconv.FormatInt(*list.FirstID, 10), strconv.FormatInt(*list.LastID, 10)
		first, last = &f, &l
	}
	v.pager = pages(q.Get("after"), q.Get("before"), list.HasMore, first, last, v.Filter.href)
	p.Data = v
	c.render(w, r, http.StatusOK, "audit", p)
}

// entryOf lists the fields that differ between before and after, nested ones by their dotted path
// (updated_at aside: it changes with everything), for a change of an entity that existed before and
// after.
func entryOf(row audit.Row) auditEntry {
	e := auditEntry{Row: row, Before: indent(row.Before), After: indent(row.After)}
	for _, f := range []struct {
		dst *string
		src *string
	}{{&e.Who, row.ActorName}, {&e.WhoID, row.ActorID}, {&e.WhoRole, row.Role}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	var before, after map[string]any
	if json.Unmarshal(row.Before, &before) != nil || json.Unmarshal(row.After, &after) != nil || before == nil || after == nil {
		return e
	}
	b, a := map[string]any{}, map[string]any{}
	flatten("", before, b)
	flatten("", after, a)
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range a {
		keys[k] = true
	}
	for k := range keys {
		if k == "updated_at" || reflect.DeepEqual(b[k], a[k]) {
			continue
		}
		e.Changes = append(e.Changes, fieldChange{Field: k, From: short(b[k]), To: short(a[k])})
	}
	sort.Slice(e.Changes, func(i, j int) bool { return e.Changes[i].Field < e.Changes[j].Field })
	return e
}

// flatten puts the fields of m into out under their dotted paths; lists stay whole.
func flatten(prefix string, m map[string]any, out map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			flatten(prefix+k+".", sub, out)
			continue
		}
		out[prefix+k] = v
	}
}

// short is a value in a line: JSON, cut at 120 characters.
func short(v any) string {
	if v == nil {
		return "—"
	}
	b, _ := json.Marshal(v)
	if r := []rune(string(b)); len(r) > 120 {
		return string(r[:119]) + "…"
	}
	return string(b)
}

func indent(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}
