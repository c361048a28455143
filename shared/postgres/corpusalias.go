package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/switchyard-ai/switchyard/shared/corpus"
)

// CorpusAlias reads the alias corpus name follows; an unknown corpus is corpus.ErrNotFound.
func (s *CorpusStore) CorpusAlias(ctx context.Context, q Querier, name string) (string, error) {
	var alias string
	if err := q.QueryRow(ctx, `SELECT alias FROM corpora WHERE name = $1`, name).Scan(&alias); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return "", corpus.ErrNotFound
		}
		return "", fmt.Errorf("read corpus %s: %w", name, err)
	}
	return alias, nil
}
