package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// CreateModel stores a model, claiming its name in the namespace models and aliases share. The
// provider must exist (400 naming provider otherwise).
func (s *CatalogStore) CreateModel(ctx context.Context, m *catalog.Model, e *audit.Entry) (*catalog.Model, error) {
	var out *catalog.Model
	err := s.tx(ctx, func(tx pgx.Tx) error {
		pid, err := shareReferenced(ctx, tx, catalog.EntityProvider, m.Provider, "provider")
		if err != nil {
			return err
		}
		if err := claimName(ctx, tx, m.Name, "model"); err != nil {
			return err
		}
		var id int64
		err = tx.QueryRow(ctx, `INSERT INTO models (name, provider_id, upstream_name, kind, context_window, dimension,
				cap_streaming, cap_tools, enabled, display_name, description)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			m.Name, pid, m.UpstreamName, m.Kind, m.ContextWindow, m.Dimension, m.Capabilities.Streaming,
			m.Capabilities.Tools, m.Enabled, m.DisplayName, m.Description).Scan(&id)
		if err != nil {
			return fmt.Errorf("create model %s: %w", m.Name, err)
		}
		if out, err = modelByID(ctx, tx, id); err != nil {
			return err
		}
		return InsertAudit(ctx, tx, e, nil, out)
	})
	return out, err
}

// claimName takes name in the namespace models and aliases share.
func claimName(ctx context.Context, tx pgx.Tx, name, what string) error {
	tag, err := tx.Exec(ctx, `INSERT INTO catalog_names (name, what) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, what)
	if err != nil {
		return fmt.Errorf("claim the name %s: %w", name, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var holder string
	if err := tx.QueryRow(ctx, `SELECT what FROM catalog_names WHERE name = $1`, name).Scan(&holder); err != nil {
		return fmt.Errorf("look up the name %s: %w", name, err)
	}
	if holder == "alias" && what == "alias" {
		return &catalog.ConflictError{Code: apierror.CodeAliasExists, Param: "name", What: catalog.EntityAlias, Name: name,
			Message: fmt.Sprintf("the alias %s already exists", name)}
	}
	return &catalog.ConflictError{Code: apierror.CodeAlreadyExists, Param: "name", What: holder, Name: name,
		Message: fmt.Sprintf("the name %s is already taken by a %s (models and aliases share one namespace); pick another name", name, holder)}
}

func modelByID(ctx context.Context, q pgx.Tx, id int64) (*catalog.Model, error) {
	m, err := ScanModel(q.QueryRow(ctx, `SELECT `+ModelColumns+` FROM models m JOIN providers p ON p.id = m.provider_id WHERE m.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("read model %d: %w", id, err)
	}
	return m, nil
}

// Model reads one model.
func (s *CatalogStore) Model(ctx context.Context, name string) (*catalog.Model, error) {
	m, err := ScanModel(s.Pool.QueryRow(ctx, `SELECT `+ModelColumns+` FROM models m JOIN providers p ON p.id = m.provider_id WHERE m.name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, modelNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", name, err)
	}
	return m, nil
}

// Models lists every model by name.
func (s *CatalogStore) Models(ctx context.Context) ([]*catalog.Model, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT `+ModelColumns+` FROM models m JOIN providers p ON p.id = m.provider_id ORDER BY m.name`)
	var out []*catalog.Model
	for rows.Next() {
		m, err := ScanModel(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return out, nil
}

func modelNotFound(name string) error {
	return &catalog.NotFoundError{What: catalog.EntityModel, Name: name, Param: "name"}
}

// UpdateModel changes what may change of a model. Enabling an embedding model whose last probe
// found another dimension is refused (400 enabled); disabling a model an alias points at is
// 409 model_in_use naming the aliases, since an alias always points at an enabled model.
func (s *CatalogStore) UpdateModel(ctx context.Context, name string, u catalog.ModelUpdate, e *audit.Entry) (*catalog.Model, error) {
	var out *catalog.Model
	err := s.tx(ctx, func(tx pgx.Tx) error {
		m, err := lockModel(ctx, tx, name)
		if err != nil {
			return err
		}
		if u.Enabled != nil && *u.Enabled && !m.Enabled {
			if m.Kind == catalog.KindEmbedding && m.Probe != nil && m.Probe.Dimension != nil && *m.Probe.Dimension != m.Dimension {
				return catalog.Invalid("enabled",
					"model %s cannot be enabled: it is recorded with dimension %d but its probe on %s found %d; a model's dimension never changes, so create a new model with dimension %d",
					name, m.Dimension, m.Probe.CheckedAt.Format(time.RFC3339), *m.Probe.Dimension, *m.Probe.Dimension)
			}
		}
		if u.Enabled != nil && !*u.Enabled && m.Enabled {
			var aliases []string
			if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM aliases WHERE model_id = $1`, m.ID).Scan(&aliases); err != nil {
				return fmt.Errorf("list the aliases of model %s: %w", name, err)
			}
			if len(aliases) > 0 {
				return &catalog.ConflictError{Code: apierror.CodeModelInUse, Param: "enabled", What: catalog.EntityModel, Name: name,
					Message: fmt.Sprintf("model %s cannot be disabled while aliases point at it: %s; move them first", name, strings.Join(aliases, ", "))}
			}
		}
		_, err = tx.Exec(ctx, `UPDATE models SET enabled = coalesce($2, enabled), context_window = coalesce($3, context_window),
				display_name = coalesce($4, display_name), description = coalesce($5, description),
				cap_streaming = coalesce($6, cap_streaming), cap_tools = coalesce($7, cap_tools),
				price_per_million_tokens = CASE WHEN $8::text IS NULL THEN price_per_million_tokens ELSE nullif($8, '')::numeric END,
				updated_at = now()
			WHERE id = $1`, m.ID, u.Enabled, u.ContextWindow, u.DisplayName, u.Description, u.Streaming, u.Tools, u.Price)
		if err != nil {
			return fmt.Errorf("update model %s: %w", name, err)
		}
		if out, err = modelByID(ctx, tx, m.ID); err != nil {
			return err
		}
		return InsertAudit(ctx, tx, e, m, out)
	})
	return out, err
}

// lockModel reads a model and locks it until tx ends.
func lockModel(ctx context.Context, tx pgx.Tx, name string) (*catalog.Model, error) {
	m, err := ScanModel(tx.QueryRow(ctx, `SELECT `+ModelColumns+` FROM models m JOIN providers p ON p.id = m.provider_id
		WHERE m.name = $1 FOR UPDATE OF m`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, modelNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("lock model %s: %w", name, err)
	}
	return m, nil
}

// SetProbe records the result of a probe.
func (s *CatalogStore) SetProbe(ctx context.Context, name string, p catalog.Probe, e *audit.Entry) (*catalog.Model, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode probe: %w", err)
	}
	var out *catalog.Model
	err = s.tx(ctx, func(tx pgx.Tx) error {
		m, err := lockModel(ctx, tx, name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE models SET probe = $2 WHERE id = $1`, m.ID, b); err != nil {
			return fmt.Errorf("record probe of model %s: %w", name, err)
		}
		if out, err = modelByID(ctx, tx, m.ID); err != nil {
			return err
		}
		return InsertAudit(ctx, tx, e, m, out)
	})
	return out, err
}
