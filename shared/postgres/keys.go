package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// CreateKey stores a key (its hash only) for k.Team; the team and every name of the allow-list
// must exist (400 naming team or models[i]).
func (s *CatalogStore) CreateKey(ctx context.Context, k *catalog.Key, e *audit.Entry) (*catalog.Key, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		teamID, err := shareReferenced(ctx, tx, catalog.EntityTeam, k.Team, "team")
		if err != nil {
			return err
		}
		if err := namesExist(ctx, tx, k.Models, "models"); err != nil {
			return err
		}
		models := k.Models
		if models == nil {
			models = []string{}
		}
		_, err = tx.Exec(ctx, `INSERT INTO api_keys (id, team_id, name, key_hash, prefix, models) VALUES ($1, $2, $3, $4, $5, $6)`,
			k.ID, teamID, k.Name, k.Hash[:], k.Prefix, models)
		if err != nil {
			return fmt.Errorf("create key for team %s: %w", k.Team, err)
		}
		after, err := readKey(ctx, tx, k.ID, false)
		if err != nil {
			return err
		}
		return InsertAudit(ctx, tx, e, nil, after)
	})
	if err != nil {
		return nil, err
	}
	return s.Key(ctx, k.ID)
}

// namesExist checks that every name is a model or an alias, naming the first that is not as
// param[i].
func namesExist(ctx context.Context, tx pgx.Tx, names []string, param string) error {
	if len(names) == 0 {
		return nil
	}
	rows, _ := tx.Query(ctx, `SELECT name FROM catalog_names WHERE name = ANY($1) FOR SHARE`, names)
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("look up names: %w", err)
	}
	for i, n := range names {
		if !slices.Contains(known, n) {
			return &catalog.NotFoundError{What: catalog.EntityModelOrAlias, Name: n, Param: fmt.Sprintf("%s[%d]", param, i), Ref: true}
		}
	}
	return nil
}

const keyColumns = `k.id, t.name, k.name, k.models, k.prefix, k.key_hash, k.created_at, k.revoked_at`

func scanKey(r pgx.Row) (*catalog.Key, error) {
	var k catalog.Key
	var hash []byte
	if err := r.Scan(&k.ID, &k.Team, &k.Name, &k.Models, &k.Prefix, &hash, &k.CreatedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	copy(k.Hash[:], hash)
	return &k, nil
}

// Key reads one key, revoked or not.
func (s *CatalogStore) Key(ctx context.Context, id string) (*catalog.Key, error) {
	return readKey(ctx, s.Pool, id, false)
}

// readKey reads one key through q, locking it until the transaction ends when lock is set.
func readKey(ctx context.Context, q Querier, id string, lock bool) (*catalog.Key, error) {
	sql := `SELECT ` + keyColumns + ` FROM api_keys k JOIN teams t ON t.id = k.team_id WHERE k.id = $1`
	if lock {
		sql += ` FOR UPDATE OF k`
	}
	k, err := scanKey(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &catalog.NotFoundError{What: catalog.EntityKey, Name: id, Param: "id"}
	}
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", id, err)
	}
	return k, nil
}

// ActiveKeyByHash reports the unrevoked key with this hash, or nil.
func (s *CatalogStore) ActiveKeyByHash(ctx context.Context, hash [32]byte) (*catalog.Key, error) {
	k, err := scanKey(s.Pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys k JOIN teams t ON t.id = k.team_id
		WHERE k.key_hash = $1 AND k.revoked_at IS NULL`, hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up a key by hash: %w", err)
	}
	return k, nil
}

// Keys lists keys, newest first, of one team when team is set (an unknown team is 404).
func (s *CatalogStore) Keys(ctx context.Context, team string) ([]*catalog.Key, error) {
	if team != "" {
		if _, err := s.Team(ctx, team); err != nil {
			return nil, err
		}
	}
	return collect(ctx, s.Pool, "list keys", scanKey, `SELECT `+keyColumns+` FROM api_keys k JOIN teams t ON t.id = k.team_id
		WHERE $1 = '' OR t.name = $1 ORDER BY k.created_at DESC, k.id`, team)
}

// RevokeKey revokes a key; revoking a revoked key changes nothing. An unknown key is 404.
func (s *CatalogStore) RevokeKey(ctx context.Context, id string, e *audit.Entry) (*catalog.Key, error) {
	var out *catalog.Key
	err := s.tx(ctx, func(tx pgx.Tx) error {
		before, err := readKey(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id); err != nil {
			return fmt.Errorf("revoke key %s: %w", id, err)
		}
		if out, err = readKey(ctx, tx, id, false); err != nil {
			return err
		}
		return InsertAudit(ctx, tx, e, before, out)
	})
	return out, err
}
