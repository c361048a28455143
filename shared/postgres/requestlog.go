package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/usage"
)

// RequestLogStore writes the request log (table requests) for usage.Logger (usage.Store).
type RequestLogStore struct {
	Pool *pgxpool.Pool
}

var requestColumns = []string{"request_id", "at", "route", "key_id", "team", "requested", "model", "provider",
	"outcome", "detail", "status", "stream", "latency_us", "prompt_tokens", "completion_tokens", "total_tokens", "message", "attempt", "chain_id"}

// requestValues is r as the columns above store it: an empty key or team is NULL, attempt 0 is 1 and
// an empty chain id is the request id.
func requestValues(r *usage.Row) []any {
	var key, team any
	if r.KeyID != "" {
		key = r.KeyID
	}
	if r.Team != "" {
		team = r.Team
	}
	attempt, chain := int32(max(r.Attempt, 1)), r.ChainID
	if chain == "" {
		chain = r.RequestID
	}
	return []any{r.RequestID, r.At, r.Route, key, team, r.Requested, r.Model, r.Provider,
		r.Outcome, r.Detail, int32(r.Status), r.Stream, r.Latency.Microseconds(),
		r.PromptTokens, r.CompletionTokens, r.TotalTokens, r.Message, attempt, chain}
}

// WriteRequests stores batch with COPY, all rows or none. Request ids are unique in the table, and an
// inbound X-Request-Id may repeat one; COPY then fails as a whole, so the batch is written again row by
// row in one transaction, a repeated id getting a suffix (~2, ~3, ...): every request keeps its one row.
func (s *RequestLogStore) WriteRequests(ctx context.Context, batch []usage.Row) error {
	_, err := s.Pool.CopyFrom(ctx, pgx.Identifier{"requests"}, requestColumns,
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) { return requestValues(&batch[i]), nil }))
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return fmt.Errorf("copy %d rows into requests: %w", len(batch), err)
	}
	return s.writeOneByOne(ctx, batch)
}

const insertRequest = `INSERT INTO requests (request_id, at, route, key_id, team, requested, model, provider,
	outcome, detail, status, stream, latency_us, prompt_tokens, completion_tokens, total_tokens, message, attempt, chain_id)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
	ON CONFLICT (request_id) DO NOTHING`

func (s *RequestLogStore) writeOneByOne(ctx context.Context, batch []usage.Row) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		for i := range batch {
			r := batch[i]
			id := r.RequestID
			for attempt := 2; ; attempt++ {
				args := requestValues(&r)
				args[0] = id
				tag, err := tx.Exec(ctx, insertRequest, args...)
				if err != nil {
					return fmt.Errorf("insert request %s: %w", r.RequestID, err)
				}
				if tag.RowsAffected() == 1 {
					break
				}
				if attempt > 100 {
					return fmt.Errorf("insert request %s: 100 rows already carry this request id", r.RequestID)
				}
				id = r.RequestID + "~" + strconv.Itoa(attempt)
			}
		}
		return nil
	})
}
