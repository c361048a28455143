package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// UsageStore reads the request log (the requests table) that the gateway writes.
type UsageStore struct {
	Pool *pgxpool.Pool
}

// groupColumns maps a usage.GroupBy to its SQL expression; only these strings ever reach the query text.
var groupColumns = map[usage.GroupBy]string{
	usage.GroupByModel:    "model",
	usage.GroupByProvider: "provider",
	usage.GroupByKey:      "coalesce(key_id, '')",
	usage.GroupByTeam:     "coalesce(team, '')",
	usage.GroupByOutcome:  "outcome",
}

// Totals sums requests in [from, to) per group, the busiest group first. A request whose outcome
// is not "ok" counts as an error.
func (s *UsageStore) Totals(ctx context.Context, by usage.GroupBy, from, to time.Time) ([]usage.Total, error) {
	col, ok := groupColumns[by]
	if !ok {
		return nil, fmt.Errorf("usage totals: unknown grouping %q", by)
	}
	return collect(ctx, s.Pool, fmt.Sprintf("usage totals by %s", by), func(r pgx.Row) (usage.Total, error) {
		var t usage.Total
		err := r.Scan(&t.Group, &t.Requests, &t.Errors, &t.PromptTokens, &t.CompletionTokens, &t.TotalTokens)
		return t, err
	}, `SELECT `+col+` AS g, count(*), count(*) FILTER (WHERE outcome <> 'ok'),
			coalesce(sum(prompt_tokens), 0)::bigint, coalesce(sum(completion_tokens), 0)::bigint, coalesce(sum(total_tokens), 0)::bigint
		FROM requests WHERE at >= $1 AND at < $2 GROUP BY g ORDER BY count(*) DESC, g`, from, to)
}

// Requests lists a page of the request log, newest first, and whether more requests lie beyond it
// in the direction asked for (older ones, or newer ones with Before).
func (s *UsageStore) Requests(ctx context.Context, q usage.RequestQuery) ([]usage.RequestRow, bool, error) {
	if q.After != "" && q.Before != "" {
		return nil, false, errors.New("list requests: a page continues after a request or before one, not both")
	}
	// Rows past the cursor in the log's order (at, id); with Before, read towards the newer end and
	// turn the page round. One row more than asked says whether there are more.
	where, order := `($1 = '' OR outcome = $1)`, `at DESC, id DESC`
	args := []any{q.Outcome, q.Limit + 1}
	if cursor := q.After + q.Before; cursor != "" {
		var at time.Time
		var id int64
		err := s.Pool.QueryRow(ctx, `SELECT at, id FROM requests WHERE request_id = $1`, cursor).Scan(&at, &id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, fmt.Errorf("list requests from %q: %w", cursor, usage.ErrRequestNotFound)
		}
		if err != nil {
			return nil, false, fmt.Errorf("find request %q: %w", cursor, err)
		}
		where, order, args = pageFrom(where, args, at, id, q.Before != "")
	}
	out, err := collect(ctx, s.Pool, "list requests", func(r pgx.Row) (usage.RequestRow, error) {
		var e usage.RequestRow
		var latency int64
		err := r.Scan(&e.RequestID, &e.At, &e.Route, &e.KeyID, &e.Team, &e.Requested, &e.Model, &e.Provider, &e.Outcome,
			&e.Detail, &e.Status, &e.Stream, &latency, &e.PromptTokens, &e.CompletionTokens, &e.TotalTokens, &e.Message,
			&e.Attempt, &e.ChainID)
		e.LatencyMS = float64(latency) / 1000
		return e, err
	}, `SELECT request_id, at, route, coalesce(key_id, ''), coalesce(team, ''), requested, model, provider,
			outcome, detail, status, stream, latency_us, prompt_tokens, completion_tokens, total_tokens, message,
			attempt, CASE WHEN chain_id = '' THEN request_id ELSE chain_id END
		FROM requests WHERE `+where+` ORDER BY `+order+` LIMIT $2`, args...)
	if err != nil {
		return nil, false, err
	}
	out, more := endPage(out, q.Limit, q.Before != "")
	return out, more, nil
}

// pageFrom narrows the query of a page of a log kept in (at, id) order to the rows past the cursor
// row (at, id): older ones, or with backwards newer ones, read oldest first (endPage turns them
// round). It appends at and id to args and returns the where and the order to read with.
func pageFrom(where string, args []any, at time.Time, id int64, backwards bool) (string, string, []any) {
	args = append(args, at, id)
	cmp, order := "<", `at DESC, id DESC`
	if backwards {
		cmp, order = ">", `at, id`
	}
	return where + fmt.Sprintf(` AND (at, id) %s ($%d, $%d)`, cmp, len(args)-1, len(args)), order, args
}

// endPage cuts rows, read with one more than limit past a cursor, to the page: whether there were
// more, and the page newest first again when it was read towards the newer end (backwards).
func endPage[T any](rows []T, limit int, backwards bool) ([]T, bool) {
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	if backwards {
		slices.Reverse(rows)
	}
	return rows, more
}
