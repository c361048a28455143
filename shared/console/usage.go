package console

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// usageWindow is a choice of the usage page: how far back, and the chart's bucket.
type usageWindow struct {
	ID    string
	Label string
	Span  time.Duration
	Step  time.Duration
}

var usageWindows = []usageWindow{
	{"1h", "Last hour", time.Hour, time.Minute},
	{"6h", "6 hours", 6 * time.Hour, 5 * time.Minute},
	{"24h", "24 hours", 24 * time.Hour, 30 * time.Minute},
	{"7d", "7 days", 7 * 24 * time.Hour, 3 * time.Hour},
	{"30d", "30 days", 30 * 24 * time.Hour, 12 * time.Hour},
}

var groupings = []string{"model", "provider", "team", "key", "outcome"}

type usageView struct {
	Windows  []usageWindow
	Window   usageWindow
	Groups   []string
	GroupBy  string
	Usage    *admin.UsageView
	Chart    template.HTML
	Total    usage.Total
	StepText string
	// Meanings explains each outcome, for the table grouped by outcome.
	Meanings map[string]string
}

func (c *Console) usagePage(w http.ResponseWriter, r *http.Request) {
	p := &page{Title: "Usage", Nav: "usage"}
	q := r.URL.Query()
	v := &usageView{Windows: usageWindows, Window: usageWindows[2], Groups: groupings, GroupBy: "model", Meanings: map[string]string{}}
	for _, o := range outcomes {
		v.Meanings[o.Code] = o.Meaning
	}
	for _, uw := range usageWindows {
		if uw.ID == q.Get("window") {
			v.Window = uw
		}
	}
	for _, g := range groupings {
		if g == q.Get("group_by") {
			v.GroupBy = g
		}
	}
	// Buckets end on a step boundary after now, so the last bar holds the latest requests.
	to := c.now().Truncate(v.Window.Step).Add(v.Window.Step)
	from := to.Add(-v.Window.Span)
	u, err := c.svc.Admin.Usage(r.Context(), stateOf(r).admin, admin.UsageQuery{GroupBy: v.GroupBy, From: from, To: to})
	if err != nil {
		c.render(w, r, c.serviceError(r, p, err), "error", p)
		return
	}
	v.Usage = u
	for _, t := range u.Data {
		v.Total.Requests += t.Requests
		v.Total.Errors += t.Errors
		v.Total.PromptTokens += t.PromptTokens
		v.Total.CompletionTokens += t.CompletionTokens
		v.Total.TotalTokens += t.TotalTokens
	}
	if c.svc.Series != nil {
		pts, err := c.svc.Series.Series(r.Context(), from, to, v.Window.Step)
		if err != nil {
			c.render(w, r, c.serviceError(r, p, err), "error", p)
			return
		}
		v.Chart = template.HTML(chartSVG(pts, v.Window.Step)) // drawn by chartSVG from numbers only
	}
	v.StepText = fmtStep(v.Window.Step)
	p.Data = v
	c.render(w, r, http.StatusOK, "usage", p)
}

// outcomeInfo explains the outcomes an operator filters by: the three failures of the guide's
// Step 6 first, each with where to look.
type outcomeInfo struct {
	Code, Meaning string
}

var outcomes = []outcomeInfo{
	{"ok", "answered"},
	{"upstream_auth_error", "the upstream refused the provider's credential: fix it on the provider"},
	{"model_not_found", "unknown, disabled, or outside the key's audience (detail says which): enable the model or grant it"},
	{"unsupported_operation", "the model or endpoint lacks the operation (embeddings on a chat model, streaming, tools)"},
	{"upstream_model_not_found", "the upstream does not know the model's upstream name: fix the catalogue entry"},
	{"upstream_unavailable", "the upstream could not be reached, timed out or failed"},
	{"upstream_bad_response", "the upstream answered outside the protocol, or a vector of the wrong dimension"},
	{"invalid_request", "the request was malformed, or the upstream refused it (e.g. context too long)"},
	{"rate_limited", "the upstream's rate limit, passed through"},
	{"rate_limited_local", "over its team's or its key's rate limit or quota (Switchyard's own 429): see the team's Limits"},
	{"capacity_exceeded", "the model or its provider had every slot of its concurrency cap taken past its queue time, or its cap is 0: see its Capacity"},
	{"client_closed", "the caller went away before the answer ended"},
	{"invalid_api_key", "missing, unknown or revoked key"},
}

// requestsPerPage is how many requests a page of the request log shows.
const requestsPerPage = 100

type requestsView struct {
	Outcomes  []outcomeInfo
	Outcome   string
	Meaning   string
	Rows      []usage.RequestRow
	Highlight string // a request id to mark, from the playground's link
	Found     bool   // the highlighted request is in Rows
	pager            // the neighbouring pages, with the same outcome
}

func (c *Console) requestsPage(w http.ResponseWriter, r *http.Request) {
	p := &page{Title: "Request log", Nav: "requests"}
	q := r.URL.Query()
	v := &requestsView{Outcomes: outcomes, Outcome: q.Get("outcome"), Highlight: q.Get("request_id")}
	for _, o := range outcomes {
		if o.Code == v.Outcome {
			v.Meaning = o.Meaning
		}
	}
	rq := admin.RequestsQuery{Outcome: v.Outcome, Limit: requestsPerPage, After: q.Get("after"), Before: q.Get("before")}
	list, err := c.svc.Admin.Requests(r.Context(), stateOf(r).admin, rq)
	if err != nil {
		status := c.bannerError(r, p, err)
		// A cursor the log does not hold: the way back is the newest page of the same outcome.
		if ae, ok := apierror.As(err); ok && ae.Param != nil && (*ae.Param == "after" || *ae.Param == "before") {
			p.Fix = &link{Text: "Show the newest requests", Href: requestsHref(v.Outcome, "", "")}
		}
		c.render(w, r, status, "error", p)
		return
	}
	v.Rows = list.Data
	for _, row := range v.Rows {
		if row.RequestID == v.Highlight {
			v.Found = true
		}
	}
	v.pager = pages(rq.After, rq.Before, list.HasMore, list.FirstID, list.LastID, func(dir, id string) string {
		return requestsHref(v.Outcome, dir, id)
	})
	p.Data = v
	c.render(w, r, http.StatusOK, "requests", p)
}

// requestsHref is the request log page past cursor id in direction dir ("after" or "before"), or
// the newest page when dir is empty, with requests of outcome only when it is set.
func requestsHref(outcome, dir, id string) string {
	q := url.Values{}
	if dir != "" {
		q.Set(dir, id)
	}
	if outcome != "" {
		q.Set("outcome", outcome)
	}
	if len(q) == 0 {
		return "/console/requests"
	}
	return "/console/requests?" + q.Encode()
}

func fmtStep(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d >= time.Hour:
		if d == time.Hour {
			return "hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d == time.Minute:
		return "minute"
	}
	return fmt.Sprintf("%d minutes", d/time.Minute)
}
