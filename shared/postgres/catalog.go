package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// Sealer seals provider credentials before they are stored and opens them for verification (see
// package seal).
type Sealer interface {
	Opener
	Seal(ctx context.Context, plaintext []byte) ([]byte, error)
}

// CorpusFollowers lists the corpora that follow an embedding alias, inside the transaction that
// moves it. The corpus store implements it; nil means corporaFollowing, which reads a corpora table
// with columns name and alias when one exists.
type CorpusFollowers interface {
	Following(ctx context.Context, tx pgx.Tx, alias string) ([]string, error)
}

// CatalogStore writes the catalogue: providers, models, aliases, teams, keys, audience grants and
// admins. Every change that touches more than one row runs in one transaction, so bad input never
// leaves anything half-written. Every write takes the audit entry of the change (*audit.Entry, nil
// for none) and records it in the change's transaction, with the entity before and after. Errors a
// caller should see are the catalogue's domain errors (*catalog.NotFoundError, *catalog.ConflictError,
// *catalog.InvalidError, *catalog.MoveError), which say what is wrong but nothing about HTTP; the admin
// API maps them (admin.APIError). Any other error is an internal failure.
type CatalogStore struct {
	Pool      *pgxpool.Pool
	Sealer    Sealer
	Followers CorpusFollowers
}

func (s *CatalogStore) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{}, fn)
}

// referencedRow is how shareReferenced finds each kind of entity a change may refer to by name.
var referencedRow = map[string]string{
	catalog.EntityTeam:     `SELECT id FROM teams WHERE name = $1 FOR SHARE`,
	catalog.EntityProvider: `SELECT id FROM providers WHERE identifier = $1 FOR SHARE`,
}

// shareReferenced returns the id of the what named name that a change refers to (a key's team, a
// model's provider), locked FOR SHARE so that it cannot be deleted before the change commits. A
// missing one is a *catalog.NotFoundError with Ref set, under param.
func shareReferenced(ctx context.Context, tx pgx.Tx, what, name, param string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, referencedRow[what], name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, &catalog.NotFoundError{What: what, Name: name, Param: param, Ref: true}
	}
	if err != nil {
		return 0, fmt.Errorf("look up %s %s: %w", what, name, err)
	}
	return id, nil
}
