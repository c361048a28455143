package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// ScopeExists is the check SetLimits runs in its transaction: the entity of sc exists (its row is
// locked FOR SHARE until the transaction ends), or the answer is a *catalog.NotFoundError naming
// the request field scope.
func ScopeExists(sc catalog.Scope) func(context.Context, pgx.Tx) error {
	q := map[catalog.ScopeKind]string{
		catalog.ScopeProvider: `SELECT 1 FROM providers WHERE identifier = $1 FOR SHARE`,
		catalog.ScopeModel:    `SELECT 1 FROM models WHERE name = $1 FOR SHARE`,
		catalog.ScopeTeam:     `SELECT 1 FROM teams WHERE name = $1 FOR SHARE`,
		catalog.ScopeKey:      `SELECT 1 FROM api_keys WHERE id = $1 FOR SHARE`,
	}[sc.Kind]
	return func(ctx context.Context, tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, q, sc.Name).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return &catalog.NotFoundError{What: string(sc.Kind), Name: catalog.Quote(sc.Name, catalog.QuoteLimit), Param: "scope"}
		}
		if err != nil {
			return fmt.Errorf("look up %s: %w", sc, err)
		}
		return nil
	}
}

// SetScopeLimits is SetLimits with ScopeExists as its check: limits (l not nil) are set only on a
// scope that exists, and removing them (l nil) is allowed whether or not it still does.
func (s *CapacityStore) SetScopeLimits(ctx context.Context, sc catalog.Scope, l *catalog.Limits, e *audit.Entry) (*catalog.Limits, error) {
	var exists func(context.Context, pgx.Tx) error
	if l != nil {
		exists = ScopeExists(sc)
	}
	return s.SetLimits(ctx, sc, l, exists, e)
}
