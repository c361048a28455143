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

const adminColumns = `id, name, role, token_hash, created_at, revoked_at`

func scanAdmin(r pgx.Row) (*catalog.Admin, error) {
	var a catalog.Admin
	var hash []byte
	if err := r.Scan(&a.ID, &a.Name, &a.Role, &hash, &a.CreatedAt, &a.RevokedAt); err != nil {
		return nil, err
	}
	copy(a.Hash[:], hash)
	return &a, nil
}

// CreateAdmin stores an admin (its token's hash only).
func (s *CatalogStore) CreateAdmin(ctx context.Context, a *catalog.Admin, e *audit.Entry) (*catalog.Admin, error) {
	var out *catalog.Admin
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanAdmin(tx.QueryRow(ctx, `INSERT INTO admins (id, name, role, token_hash) VALUES ($1, $2, $3, $4) RETURNING `+adminColumns,
			a.ID, a.Name, a.Role, a.Hash[:]))
		if err != nil {
			return fmt.Errorf("create admin %s: %w", a.Name, err)
		}
		return InsertAudit(ctx, tx, e, nil, out)
	})
	return out, err
}

// Admin reads one admin, revoked or not.
func (s *CatalogStore) Admin(ctx context.Context, id string) (*catalog.Admin, error) {
	a, err := scanAdmin(s.Pool.QueryRow(ctx, `SELECT `+adminColumns+` FROM admins WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &catalog.NotFoundError{What: catalog.EntityAdmin, Name: id, Param: "id"}
	}
	if err != nil {
		return nil, fmt.Errorf("read admin %s: %w", id, err)
	}
	return a, nil
}

// Admins lists every admin, oldest first.
func (s *CatalogStore) Admins(ctx context.Context) ([]*catalog.Admin, error) {
	return collect(ctx, s.Pool, "list admins", scanAdmin, `SELECT `+adminColumns+` FROM admins ORDER BY created_at, id`)
}

// RevokeAdmin revokes an admin's token. Revoking the last active super admin is refused
// (409 last_super_admin): nobody could create admins afterwards.
func (s *CatalogStore) RevokeAdmin(ctx context.Context, id string, e *audit.Entry) (*catalog.Admin, error) {
	var out *catalog.Admin
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// Lock every active super admin, so two revocations cannot each leave the other as the last.
		rows, _ := tx.Query(ctx, `SELECT id FROM admins WHERE role = 'super_admin' AND revoked_at IS NULL ORDER BY id FOR UPDATE`)
		supers, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("lock super admins: %w", err)
		}
		a, err := scanAdmin(tx.QueryRow(ctx, `SELECT `+adminColumns+` FROM admins WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return &catalog.NotFoundError{What: catalog.EntityAdmin, Name: id, Param: "id"}
		}
		if err != nil {
			return fmt.Errorf("lock admin %s: %w", id, err)
		}
		if a.RevokedAt == nil {
			if a.Role == catalog.RoleSuperAdmin && len(supers) == 1 && supers[0] == id {
				return &catalog.ConflictError{Code: apierror.CodeLastSuperAdmin, Param: "id", What: catalog.EntityAdmin, Name: id,
					Message: fmt.Sprintf("admin %s (%s) is the last active super admin; create another super admin before revoking this one", id, a.Name)}
			}
			if _, err := tx.Exec(ctx, `UPDATE admins SET revoked_at = now() WHERE id = $1`, id); err != nil {
				return fmt.Errorf("revoke admin %s: %w", id, err)
			}
		}
		if out, err = scanAdmin(tx.QueryRow(ctx, `SELECT `+adminColumns+` FROM admins WHERE id = $1`, id)); err != nil {
			return fmt.Errorf("read admin %s: %w", id, err)
		}
		return InsertAudit(ctx, tx, e, a, out)
	})
	return out, err
}

// EndAdminSessions ends every console session signed in with admin id's token (the token itself
// keeps working) and returns how many there were; e is recorded with the change, in its transaction.
func (s *CatalogStore) EndAdminSessions(ctx context.Context, id string, e *audit.Entry) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM admins WHERE id = $1)`, id).Scan(&exists); err != nil {
			return fmt.Errorf("look up admin %s: %w", id, err)
		}
		if !exists {
			return &catalog.NotFoundError{What: catalog.EntityAdmin, Name: id, Param: "id"}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE token_hash = (SELECT token_hash FROM admins WHERE id = $1)`, id)
		if err != nil {
			return fmt.Errorf("end the console sessions of admin %s: %w", id, err)
		}
		n = tag.RowsAffected()
		return InsertAudit(ctx, tx, e, map[string]any{"console_sessions": n}, map[string]any{"console_sessions": 0})
	})
	return n, err
}

// EnsureBootstrapAdmin makes tokenHash the token hash of the bootstrap super admin id: created
// when missing, its hash replaced when it differs. A revoked bootstrap admin stays revoked.
func (s *CatalogStore) EnsureBootstrapAdmin(ctx context.Context, id string, tokenHash [32]byte) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO admins (id, name, role, token_hash, bootstrap)
		VALUES ($1, 'bootstrap', 'super_admin', $2, true)
		ON CONFLICT (id) DO UPDATE SET token_hash = EXCLUDED.token_hash
		WHERE admins.token_hash IS DISTINCT FROM EXCLUDED.token_hash`, id, tokenHash[:])
	if err != nil {
		return fmt.Errorf("store the bootstrap admin: %w", err)
	}
	return nil
}
