package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// UsageStore reads the request log (the requests table) that the gateway writes.
type UsageStore struct {
	Pool *pgxpool.Pool
}

// GroupBy is a column usage totals can be grouped by.
type GroupBy string

// The groupings SPEC allows, mapped to their columns below.
const (
	GroupByModel    GroupBy = "model"
	GroupByProvider GroupBy = "provider"
	GroupByKey      GroupBy = "key"
	GroupByTeam     GroupBy = "team"
)

// groupColumns maps a GroupBy to its SQL expression; only these strings ever reach the query text.
var groupColumns = map[GroupBy]string{
	GroupByModel:    "model",
	GroupByProvider: "provider",
	GroupByKey:      "coalesce(key_id, '')",
	GroupByTeam:     "coalesce(team, '')",
}

// ValidGroupBy reports whether g is one of the groupings.
func ValidGroupBy(g GroupBy) bool { _, ok := groupColumns[g]; return ok }

// UsageTotal is one group's totals over a time range.
type UsageTotal struct {
	Group            string `json:"group"`
	Requests         int64  `json:"requests"`
	Errors           int64  `json:"errors"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	TotalTokens      int64  `json:"total_tokens"`
}

// Totals sums requests in [from, to) per group, the busiest group first. A request whose outcome
// is not "ok" counts as an error.
func (s *UsageStore) Totals(ctx context.Context, by GroupBy, from, to time.Time) ([]UsageTotal, error) {
	col, ok := groupColumns[by]
	if !ok {
		return nil, fmt.Errorf("usage totals: unknown grouping %q", by)
	}
	rows, _ := s.Pool.Query(ctx, `SELECT `+col+` AS g, count(*), count(*) FILTER (WHERE outcome <> 'ok'),
			coalesce(sum(prompt_tokens), 0)::bigint, coalesce(sum(completion_tokens), 0)::bigint, coalesce(sum(total_tokens), 0)::bigint
		FROM requests WHERE at >= $1 AND at < $2 GROUP BY g ORDER BY count(*) DESC, g`, from, to)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UsageTotal, error) {
		var t UsageTotal
		err := r.Scan(&t.Group, &t.Requests, &t.Errors, &t.PromptTokens, &t.CompletionTokens, &t.TotalTokens)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("usage totals by %s: %w", by, err)
	}
	return out, nil
}

// RequestRow is one entry of the request log.
type RequestRow struct {
	RequestID        string    `json:"request_id"`
	At               time.Time `json:"at"`
	Route            string    `json:"route"`
	KeyID            string    `json:"key_id"`
	Team             string    `json:"team"`
	Requested        string    `json:"requested"`
	Model            string    `json:"model"`
	Provider         string    `json:"provider"`
	Outcome          string    `json:"outcome"`
	Detail           string    `json:"detail"`
	Status           int       `json:"status"`
	Stream           bool      `json:"stream"`
	LatencyMS        float64   `json:"latency_ms"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	TotalTokens      int64     `json:"total_tokens"`
	Message          string    `json:"message"`
}

// Requests lists the newest limit requests, only those with outcome when it is set.
func (s *UsageStore) Requests(ctx context.Context, outcome string, limit int) ([]RequestRow, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT request_id, at, route, coalesce(key_id, ''), coalesce(team, ''), requested, model, provider,
			outcome, detail, status, stream, latency_us, prompt_tokens, completion_tokens, total_tokens, message
		FROM requests WHERE $1 = '' OR outcome = $1 ORDER BY at DESC, id DESC LIMIT $2`, outcome, limit)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RequestRow, error) {
		var q RequestRow
		var latency int64
		err := r.Scan(&q.RequestID, &q.At, &q.Route, &q.KeyID, &q.Team, &q.Requested, &q.Model, &q.Provider, &q.Outcome,
			&q.Detail, &q.Status, &q.Stream, &latency, &q.PromptTokens, &q.CompletionTokens, &q.TotalTokens, &q.Message)
		q.LatencyMS = float64(latency) / 1000
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return out, nil
}
