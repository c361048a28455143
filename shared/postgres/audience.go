package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// SetAudience makes teams exactly the set of teams that may call name (a model or an alias).
func (s *CatalogStore) SetAudience(ctx context.Context, name string, teams []string, e *audit.Entry) ([]string, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// The name's row is locked, so that two changes of one audience record what each replaced.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM catalog_names WHERE name = $1 FOR UPDATE)`, name).Scan(&exists); err != nil {
			return fmt.Errorf("look up %s: %w", name, err)
		}
		if !exists {
			return audienceNotFound(name)
		}
		before, err := readAudience(ctx, tx, name)
		if err != nil {
			return err
		}
		var ids []int64
		for i, t := range teams {
			id, err := shareReferenced(ctx, tx, catalog.EntityTeam, t, fmt.Sprintf("teams[%d]", i))
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM grants WHERE name = $1 AND NOT (team_id = ANY($2))`, name, ids); err != nil {
			return fmt.Errorf("remove grants of %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO grants (name, team_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, name, ids); err != nil {
			return fmt.Errorf("grant %s: %w", name, err)
		}
		after, err := readAudience(ctx, tx, name)
		if err != nil {
			return err
		}
		return InsertAudit(ctx, tx, e, &catalog.Audience{Name: name, Teams: before}, &catalog.Audience{Name: name, Teams: after})
	})
	if err != nil {
		return nil, err
	}
	return s.Audience(ctx, name)
}

// Audience lists the teams that may call name, sorted.
func (s *CatalogStore) Audience(ctx context.Context, name string) ([]string, error) {
	return readAudience(ctx, s.Pool, name)
}

func readAudience(ctx context.Context, q Querier, name string) ([]string, error) {
	var exists bool
	var teams []string
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM catalog_names WHERE name = $1),
		(SELECT coalesce(array_agg(t.name ORDER BY t.name), '{}') FROM grants g JOIN teams t ON t.id = g.team_id WHERE g.name = $1)`, name).
		Scan(&exists, &teams)
	if err != nil {
		return nil, fmt.Errorf("read the audience of %s: %w", name, err)
	}
	if !exists {
		return nil, audienceNotFound(name)
	}
	return teams, nil
}

func audienceNotFound(name string) error {
	return &catalog.NotFoundError{What: catalog.EntityModelOrAlias, Name: name, Param: "name"}
}
