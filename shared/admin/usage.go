package admin

import (
	"context"
	"errors"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// UsageQuery selects usage totals. Zero From and To mean the last 24 hours; GroupBy empty means model.
type UsageQuery struct {
	GroupBy string
	From    time.Time
	To      time.Time
}

// UsageView is usage totals over [from, to), busiest group first.
type UsageView struct {
	Object  string        `json:"object"` // "list"
	GroupBy string        `json:"group_by"`
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	Data    []usage.Total `json:"data"`
}

// DefaultUsageWindow is the range usage covers when none is given.
const DefaultUsageWindow = 24 * time.Hour

// Usage sums requests, errors and tokens per model, provider, key, team or outcome.
func (s *Service) Usage(ctx context.Context, by *catalog.Admin, q UsageQuery) (*UsageView, error) {
	if err := Authorize(by, catalog.AreaUsage, false); err != nil {
		return nil, err
	}
	if q.GroupBy == "" {
		q.GroupBy = string(usage.GroupByModel)
	}
	if !usage.ValidGroupBy(usage.GroupBy(q.GroupBy)) {
		return nil, apierror.Invalid("group_by", "group_by %q is not one of model, provider, key, team, outcome", q.GroupBy)
	}
	if q.To.IsZero() {
		q.To = s.now()
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-DefaultUsageWindow)
	}
	if !q.From.Before(q.To) {
		return nil, apierror.Invalid("from", "from (%s) must be before to (%s)", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	data, err := s.UsageStore.Totals(ctx, usage.GroupBy(q.GroupBy), q.From, q.To)
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = []usage.Total{}
	}
	return &UsageView{Object: "list", GroupBy: q.GroupBy, From: q.From.UTC(), To: q.To.UTC(), Data: data}, nil
}

// Request log limits.
const (
	DefaultRequestsLimit = 100
	MaxRequestsLimit     = 1000
)

// RequestsQuery selects a page of the request log; Limit 0 means DefaultRequestsLimit. After and
// Before are request ids from a page read earlier, at most one of them: After continues to the older
// requests past it, Before goes back to the newer requests just before it (the page still lists
// newest first).
type RequestsQuery struct {
	Outcome string
	Limit   int
	After   string
	Before  string
}

// Page is a page of a log (the request log, the audit log), newest first. HasMore says whether more
// entries lie beyond the page in the direction asked for: older ones, or newer ones when the query
// gave Before. FirstID and LastID (null on an empty page) are the cursors of the neighbouring pages:
// before=FirstID for newer entries, after=LastID for older ones.
type Page[T, ID any] struct {
	Object  string `json:"object"` // "list"
	Data    []T    `json:"data"`
	FirstID *ID    `json:"first_id"`
	LastID  *ID    `json:"last_id"`
	HasMore bool   `json:"has_more"`
}

// newPage is the page of rows; id is a row's cursor.
func newPage[T, ID any](rows []T, more bool, id func(*T) ID) *Page[T, ID] {
	p := &Page[T, ID]{Object: "list", Data: rows, HasMore: more}
	if len(rows) == 0 {
		p.Data = []T{}
	} else {
		first, last := id(&rows[0]), id(&rows[len(rows)-1])
		p.FirstID, p.LastID = &first, &last
	}
	return p
}

// pageLimit is the page size asked for: def when 0, refused outside 1 to max.
func pageLimit(limit, def, max int) (int, error) {
	if limit == 0 {
		return def, nil
	}
	if limit < 1 || limit > max {
		return 0, apierror.Invalid("limit", "limit must be between 1 and %d", max)
	}
	return limit, nil
}

// checkPage checks a query for a page of a log (the request log, the audit log), in the order both
// answer: by may read area; limit becomes def when 0 and is refused outside 1 to max; each filter
// is one line of text; at most one of after and before is given (entries names what the log holds).
func checkPage[ID comparable](by *catalog.Admin, area catalog.Area, limit *int, def, max int, filters []struct{ param, v string },
	after, before ID, entries string) error {
	if err := Authorize(by, area, false); err != nil {
		return err
	}
	var err error
	if *limit, err = pageLimit(*limit, def, max); err != nil {
		return err
	}
	for _, f := range filters {
		if err := checkText(f.param, f.v, false, false); err != nil {
			return err
		}
	}
	var none ID
	if after != none && before != none {
		return apierror.Invalid("before", "give after or before, not both: after=<last_id> continues to older %s, before=<first_id> goes back to newer ones", entries)
	}
	return nil
}

// pageRead is the page of a log that a store read past cursor after or before (at most one):
// its rows and whether more lie beyond, or its error err. When err is unknown (the cursor names
// no row) the answer is 400 under the cursor's parameter, saying it names no such row (row words
// what the log holds); id is a row's cursor.
func pageRead[T any, ID comparable](rows []T, more bool, err, unknown error, after, before ID, row string, id func(*T) ID) (*Page[T, ID], error) {
	if errors.Is(err, unknown) {
		param, cursor := pageCursor(after, before)
		return nil, apierror.Invalid(param, "%s=%v names no %s; page with the first_id or last_id of a page you read", param, cursor, row)
	}
	if err != nil {
		return nil, err
	}
	return newPage(rows, more, id), nil
}

// pageCursor is the cursor a page query gave (checkPage allows one) and its parameter's name.
func pageCursor[ID comparable](after, before ID) (string, ID) {
	var none ID
	if before != none {
		return "before", before
	}
	return "after", after
}

// RequestsPage is a page of the request log, keyed by request id.
type RequestsPage = Page[usage.RequestRow, string]

// Requests lists a page of the request log, newest first, filtered by outcome ("ok" or an error
// code). Pages are keyed on the log's order, so new requests arriving never shift a page.
func (s *Service) Requests(ctx context.Context, by *catalog.Admin, q RequestsQuery) (*RequestsPage, error) {
	if err := checkPage(by, catalog.AreaUsage, &q.Limit, DefaultRequestsLimit, MaxRequestsLimit,
		[]struct{ param, v string }{{"outcome", q.Outcome}, {"after", q.After}, {"before", q.Before}}, q.After, q.Before, "requests"); err != nil {
		return nil, err
	}
	rows, more, err := s.UsageStore.Requests(ctx, usage.RequestQuery{Outcome: q.Outcome, Limit: q.Limit, After: q.After, Before: q.Before})
	return pageRead(rows, more, err, usage.ErrRequestNotFound, q.After, q.Before, "request in the log",
		func(r *usage.RequestRow) string { return r.RequestID })
}
