package app

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// BootstrapAdminID is the id of the super admin whose token comes from SWITCHYARD_ADMIN_TOKEN.
const BootstrapAdminID = "adm_bootstrap"

// EnsureBootstrapAdmin makes token the bootstrap super admin's token: created on first start, its
// hash replaced when a restart brings another token. A revoked bootstrap admin stays revoked.
func EnsureBootstrapAdmin(ctx context.Context, pool *pgxpool.Pool, token string) error {
	if len(token) < 16 {
		return fmt.Errorf("the bootstrap admin token must have at least 16 characters")
	}
	h := catalog.HashSecret(token)
	_, err := pool.Exec(ctx, `INSERT INTO admins (id, name, role, token_hash, bootstrap)
		VALUES ($1, 'bootstrap', 'super_admin', $2, true)
		ON CONFLICT (id) DO UPDATE SET token_hash = EXCLUDED.token_hash
		WHERE admins.token_hash IS DISTINCT FROM EXCLUDED.token_hash`, BootstrapAdminID, h[:])
	if err != nil {
		return fmt.Errorf("store the bootstrap admin: %w", err)
	}
	return nil
}
