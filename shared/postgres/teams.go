package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// CreateTeam creates a team; a taken name is 409 already_exists.
func (s *CatalogStore) CreateTeam(ctx context.Context, name string, e *audit.Entry) (*catalog.Team, error) {
	var t catalog.Team
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO teams (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id, name, created_at`, name).
			Scan(&t.ID, &t.Name, &t.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return &catalog.ConflictError{Code: apierror.CodeAlreadyExists, Param: "name", What: catalog.EntityTeam, Name: name,
				Message: fmt.Sprintf("a team named %s already exists", name)}
		}
		if err != nil {
			return fmt.Errorf("create team %s: %w", name, err)
		}
		return InsertAudit(ctx, tx, e, nil, &t)
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Teams lists every team by name.
func (s *CatalogStore) Teams(ctx context.Context) ([]*catalog.TeamInfo, error) {
	return s.teams(ctx, "")
}

// Team reads one team.
func (s *CatalogStore) Team(ctx context.Context, name string) (*catalog.TeamInfo, error) {
	ts, err := s.teams(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, &catalog.NotFoundError{What: catalog.EntityTeam, Name: name, Param: "name"}
	}
	return ts[0], nil
}

func (s *CatalogStore) teams(ctx context.Context, name string) ([]*catalog.TeamInfo, error) {
	return collect(ctx, s.Pool, "list teams", func(r pgx.Row) (*catalog.TeamInfo, error) {
		var t catalog.TeamInfo
		err := r.Scan(&t.ID, &t.Name, &t.CreatedAt, &t.Keys, &t.Grants)
		return &t, err
	}, `SELECT t.id, t.name, t.created_at,
			(SELECT count(*) FROM api_keys k WHERE k.team_id = t.id AND k.revoked_at IS NULL),
			(SELECT coalesce(array_agg(g.name ORDER BY g.name), '{}') FROM grants g WHERE g.team_id = t.id)
		FROM teams t WHERE $1 = '' OR t.name = $1 ORDER BY t.name`, name)
}
