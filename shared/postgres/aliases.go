package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// CreateAlias creates an alias pointing at target and records the creation in its history. An
// existing alias is 409 alias_exists; a name a model holds is 409 already_exists. The target obeys
// catalog.CheckAliasMove, as every later move does.
func (s *CatalogStore) CreateAlias(ctx context.Context, name, target, reason string, e *audit.Entry) (*catalog.Alias, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := claimName(ctx, tx, name, "alias"); err != nil {
			return err
		}
		to, isAlias, err := lockTarget(ctx, tx, target)
		if err != nil {
			return err
		}
		if err := catalog.CheckAliasMove(catalog.AliasMoveCheck{Way: catalog.CreateByAdmin, Alias: catalog.Alias{Name: name},
			ToName: target, To: to, ToIsAlias: isAlias}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO aliases (name, kind, model_id) VALUES ($1, $2, $3)`, name, to.Kind, to.ID); err != nil {
			return fmt.Errorf("create alias %s: %w", name, err)
		}
		if err := recordMove(ctx, tx, name, nil, to.ID, e.ActorString(), reason); err != nil {
			return err
		}
		return auditAlias(ctx, tx, e, name, nil)
	})
	if err != nil {
		return nil, err
	}
	return s.Alias(ctx, name, true)
}

func recordMove(ctx context.Context, tx pgx.Tx, alias string, from *int64, to int64, actor, reason string) error {
	_, err := tx.Exec(ctx, `INSERT INTO alias_history (alias, from_model_id, to_model_id, actor, reason) VALUES ($1, $2, $3, $4, $5)`,
		alias, from, to, actor, reason)
	if err != nil {
		return fmt.Errorf("record the history of alias %s: %w", alias, err)
	}
	return nil
}

// MoveAlias points an alias at another enabled model of its kind, only if it still points at
// expectedFrom (409 alias_moved otherwise, and nothing changes). An embedding alias that corpora
// follow is 409 reembed_required. Moving an alias to where it already points changes nothing and
// records nothing. The rule is catalog.CheckAliasMove (MoveByAdmin).
func (s *CatalogStore) MoveAlias(ctx context.Context, name, to, expectedFrom, reason string, e *audit.Entry) (*catalog.Alias, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		return moveAlias(ctx, tx, aliasMove{way: catalog.MoveByAdmin, alias: name, to: to, expectedFrom: expectedFrom,
			actor: e.ActorString(), reason: reason, audit: e, followers: s.Followers})
	})
	if err != nil {
		return nil, err
	}
	return s.Alias(ctx, name, true)
}

// RollbackAlias moves an alias back to where its last move took it from. With expectedFrom set,
// it does so only if the alias still points there. The rule is catalog.CheckAliasMove
// (RollbackByAdmin): a model disabled since is refused, as is an embedding alias corpora follow.
func (s *CatalogStore) RollbackAlias(ctx context.Context, name, expectedFrom, reason string, e *audit.Entry) (*catalog.Alias, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// Lock first, so that the history read is the alias's last move.
		cur, err := lockAlias(ctx, tx, name)
		if err != nil {
			return err
		}
		var prev *string
		err = tx.QueryRow(ctx, `SELECT fm.name FROM alias_history h LEFT JOIN models fm ON fm.id = h.from_model_id
			WHERE h.alias = $1 ORDER BY h.at DESC, h.id DESC LIMIT 1`, name).Scan(&prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read the history of alias %s: %w", name, err)
		}
		if prev == nil {
			// A stale expected_from is still the first thing a caller hears of.
			if err := catalog.CheckAliasMove(catalog.AliasMoveCheck{Way: catalog.RollbackByAdmin, ExpectedFrom: expectedFrom,
				Alias: catalog.Alias{Name: name, Kind: cur.kind, Target: cur.target}, ToName: cur.target}); err != nil {
				return err
			}
			return catalog.Invalid("", "alias %s has not moved since it was created; there is nothing to roll back to", name)
		}
		if reason == "" {
			reason = "rollback"
		}
		return moveAlias(ctx, tx, aliasMove{way: catalog.RollbackByAdmin, alias: name, to: *prev, expectedFrom: expectedFrom,
			actor: e.ActorString(), reason: reason, audit: e, followers: s.Followers})
	})
	if err != nil {
		return nil, err
	}
	return s.Alias(ctx, name, true)
}

type aliasRow struct {
	kind      catalog.Kind
	modelID   int64
	target    string
	createdAt time.Time
	updatedAt time.Time
}

// auditAlias records e with the alias before (cur, as it was locked; nil for a creation) and as it is
// now in tx. The history is left out: the log's own rows are the history.
func auditAlias(ctx context.Context, tx pgx.Tx, e *audit.Entry, name string, cur *aliasRow) error {
	if e == nil {
		return nil
	}
	after, err := readAlias(ctx, tx, name)
	if err != nil {
		return err
	}
	var before *catalog.Alias
	if cur != nil {
		before = &catalog.Alias{Name: name, Kind: cur.kind, Target: cur.target, CreatedAt: cur.createdAt, UpdatedAt: cur.updatedAt}
	}
	return InsertAudit(ctx, tx, e, before, after)
}

// lockAlias reads an alias and locks its row until tx ends (404 when there is none). Locking it
// again in the same transaction costs one statement and waits for nothing.
func lockAlias(ctx context.Context, tx pgx.Tx, name string) (*aliasRow, error) {
	var a aliasRow
	// Lock the alias row alone, then read its target: with a join, a concurrent move's new model_id
	// fails the re-checked join condition and the row would vanish from this query (read committed
	// re-evaluates a locked row against the old joined row).
	err := tx.QueryRow(ctx, `SELECT kind, model_id, created_at, updated_at FROM aliases WHERE name = $1 FOR UPDATE`, name).
		Scan(&a.kind, &a.modelID, &a.createdAt, &a.updatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &catalog.NotFoundError{What: catalog.EntityAlias, Name: name, Param: "name"}
	}
	if err != nil {
		return nil, fmt.Errorf("lock alias %s: %w", name, err)
	}
	if err := tx.QueryRow(ctx, `SELECT name FROM models WHERE id = $1`, a.modelID).Scan(&a.target); err != nil {
		return nil, fmt.Errorf("read the target of alias %s: %w", name, err)
	}
	return &a, nil
}

// corporaFollowing reads the corpora following alias from a corpora table with columns name and
// alias, when that table exists (the corpus migrations add it).
func corporaFollowing(ctx context.Context, tx pgx.Tx, alias string) ([]string, error) {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('corpora') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return nil, nil
	}
	var names []string
	err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(name::text ORDER BY name), '{}') FROM corpora WHERE alias = $1`, alias).Scan(&names)
	return names, err
}

// Alias reads one alias, with its history (newest first) when withHistory.
func (s *CatalogStore) Alias(ctx context.Context, name string, withHistory bool) (*catalog.Alias, error) {
	a, err := readAlias(ctx, s.Pool, name)
	if err != nil || !withHistory {
		return a, err
	}
	a.History, err = collect(ctx, s.Pool, "read the history of alias "+name, func(r pgx.Row) (catalog.AliasMove, error) {
		var m catalog.AliasMove
		err := r.Scan(&m.From, &m.To, &m.Actor, &m.Reason, &m.At)
		return m, err
	}, `SELECT coalesce(fm.name, ''), tm.name, h.actor, h.reason, h.at
		FROM alias_history h LEFT JOIN models fm ON fm.id = h.from_model_id JOIN models tm ON tm.id = h.to_model_id
		WHERE h.alias = $1 ORDER BY h.at DESC, h.id DESC`, name)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// readAlias reads one alias, without its history.
func readAlias(ctx context.Context, q Querier, name string) (*catalog.Alias, error) {
	var a catalog.Alias
	err := q.QueryRow(ctx, `SELECT a.name, a.kind, m.name, a.created_at, a.updated_at FROM aliases a JOIN models m ON m.id = a.model_id
		WHERE a.name = $1`, name).Scan(&a.Name, &a.Kind, &a.Target, &a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &catalog.NotFoundError{What: catalog.EntityAlias, Name: name, Param: "name"}
	}
	if err != nil {
		return nil, fmt.Errorf("read alias %s: %w", name, err)
	}
	return &a, nil
}

// Aliases lists every alias by name, without history.
func (s *CatalogStore) Aliases(ctx context.Context) ([]*catalog.Alias, error) {
	return collect(ctx, s.Pool, "list aliases", func(r pgx.Row) (*catalog.Alias, error) {
		var a catalog.Alias
		err := r.Scan(&a.Name, &a.Kind, &a.Target, &a.CreatedAt, &a.UpdatedAt)
		return &a, err
	}, `SELECT a.name, a.kind, m.name, a.created_at, a.updated_at FROM aliases a JOIN models m ON m.id = a.model_id ORDER BY a.name`)
}
