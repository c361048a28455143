package admin

import (
	"context"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// UsageQuery selects usage totals. Zero From and To mean the last 24 hours; GroupBy empty means model.
type UsageQuery struct {
	GroupBy string
	From    time.Time
	To      time.Time
}

// UsageView is usage totals over [from, to), busiest group first.
type UsageView struct {
	Object  string                `json:"object"` // "list"
	GroupBy string                `json:"group_by"`
	From    time.Time             `json:"from"`
	To      time.Time             `json:"to"`
	Data    []postgres.UsageTotal `json:"data"`
}

// DefaultUsageWindow is the range usage covers when none is given.
const DefaultUsageWindow = 24 * time.Hour

// Usage sums requests, errors and tokens per model, provider, key or team.
func (s *Service) Usage(ctx context.Context, by *catalog.Admin, q UsageQuery) (*UsageView, error) {
	if err := Authorize(by, catalog.AreaUsage, false); err != nil {
		return nil, err
	}
	if q.GroupBy == "" {
		q.GroupBy = string(postgres.GroupByModel)
	}
	if !postgres.ValidGroupBy(postgres.GroupBy(q.GroupBy)) {
		return nil, apierror.Invalid("group_by", "group_by %q is not one of model, provider, key, team", q.GroupBy)
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
	data, err := s.UsageStore.Totals(ctx, postgres.GroupBy(q.GroupBy), q.From, q.To)
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = []postgres.UsageTotal{}
	}
	return &UsageView{Object: "list", GroupBy: q.GroupBy, From: q.From.UTC(), To: q.To.UTC(), Data: data}, nil
}

// Request log limits.
const (
	DefaultRequestsLimit = 100
	MaxRequestsLimit     = 1000
)

// RequestsQuery selects request log entries; Limit 0 means DefaultRequestsLimit.
type RequestsQuery struct {
	Outcome string
	Limit   int
}

// Requests lists the request log, newest first, filtered by outcome ("ok" or an error code).
func (s *Service) Requests(ctx context.Context, by *catalog.Admin, q RequestsQuery) (*List[postgres.RequestRow], error) {
	if err := Authorize(by, catalog.AreaUsage, false); err != nil {
		return nil, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultRequestsLimit
	}
	if q.Limit < 1 || q.Limit > MaxRequestsLimit {
		return nil, apierror.Invalid("limit", "limit must be between 1 and %d", MaxRequestsLimit)
	}
	if err := checkText("outcome", q.Outcome, false, false); err != nil {
		return nil, err
	}
	rows, err := s.UsageStore.Requests(ctx, q.Outcome, q.Limit)
	if err != nil {
		return nil, err
	}
	return list(rows), nil
}
