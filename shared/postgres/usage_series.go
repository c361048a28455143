package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// Series buckets the requests in [from, to) by step (at least a second), oldest first, with a
// point for every bucket, empty ones included, so a chart's x axis is time itself.
func (s *UsageStore) Series(ctx context.Context, from, to time.Time, step time.Duration) ([]usage.Point, error) {
	if step < time.Second {
		return nil, fmt.Errorf("usage series: step %s is under a second", step)
	}
	secs := int64(step / time.Second)
	rows, _ := s.Pool.Query(ctx, `SELECT floor(extract(epoch FROM at - $1::timestamptz) / $3)::bigint AS b,
			count(*), count(*) FILTER (WHERE outcome <> 'ok'), coalesce(sum(total_tokens), 0)::bigint
		FROM requests WHERE at >= $1 AND at < $2 GROUP BY b`, from, to, secs)
	type bucket struct{ n, errs, tokens int64 }
	got := map[int64]bucket{}
	_, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
		var b int64
		var v bucket
		err := r.Scan(&b, &v.n, &v.errs, &v.tokens)
		got[b] = v
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("usage series: %w", err)
	}
	var out []usage.Point
	for i, at := int64(0), from; at.Before(to); i, at = i+1, at.Add(step) {
		v := got[i]
		out = append(out, usage.Point{At: at, Requests: v.n, Errors: v.errs, Tokens: v.tokens})
	}
	return out, nil
}
