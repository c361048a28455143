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

// CreateProvider stores p, sealing p.Credential. The identifier is unique: a taken one is
// 409 already_exists.
func (s *CatalogStore) CreateProvider(ctx context.Context, p *catalog.Provider, e *audit.Entry) (*catalog.Provider, error) {
	blob, err := s.seal(ctx, p)
	if err != nil {
		return nil, err
	}
	v, err := verificationJSON(p.Verification)
	if err != nil {
		return nil, err
	}
	var out *catalog.Provider
	err = s.tx(ctx, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `INSERT INTO providers (identifier, display_name, base_url, auth_method, auth_header,
				credential_sealed, credential_hint, ca_bundle, connect_ms, first_byte_ms, idle_ms, total_ms, verification)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (identifier) DO NOTHING
			RETURNING `+ProviderColumns,
			p.Identifier, p.DisplayName, p.BaseURL, p.AuthMethod, p.AuthHeader, blob, hint(p.Credential), p.CABundle,
			ms(p.Timeouts.Connect), ms(p.Timeouts.FirstByte), ms(p.Timeouts.Idle), ms(p.Timeouts.Total), v)
		var err error
		out, _, err = ScanProvider(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return &catalog.ConflictError{Code: apierror.CodeAlreadyExists, Param: "identifier", What: catalog.EntityProvider, Name: p.Identifier,
				Message: fmt.Sprintf("a provider named %s already exists", p.Identifier)}
		}
		if err != nil {
			return fmt.Errorf("create provider %s: %w", p.Identifier, err)
		}
		return InsertAudit(ctx, tx, e, nil, out)
	})
	return out, err
}

// UpdateProvider replaces the changeable fields of the provider p.Identifier names (display name,
// base URL, auth, CA bundle, timeouts, verification). The credential is sealed again only when
// newCredential is true; otherwise the stored one stays.
func (s *CatalogStore) UpdateProvider(ctx context.Context, p *catalog.Provider, newCredential bool, e *audit.Entry) (*catalog.Provider, error) {
	v, err := verificationJSON(p.Verification)
	if err != nil {
		return nil, err
	}
	var blob []byte
	if newCredential {
		if blob, err = s.seal(ctx, p); err != nil {
			return nil, err
		}
	}
	return s.changeProvider(ctx, p.Identifier, e, func(tx pgx.Tx) pgx.Row {
		return tx.QueryRow(ctx, `UPDATE providers SET display_name = $2, base_url = $3, auth_method = $4, auth_header = $5,
				credential_sealed = CASE WHEN $6 THEN $7 ELSE credential_sealed END,
				credential_hint = CASE WHEN $6 THEN $8 ELSE credential_hint END,
				ca_bundle = $9, connect_ms = $10, first_byte_ms = $11, idle_ms = $12, total_ms = $13, verification = $14,
				updated_at = now()
			WHERE identifier = $1
			RETURNING `+ProviderColumns,
			p.Identifier, p.DisplayName, p.BaseURL, p.AuthMethod, p.AuthHeader, newCredential, blob, hint(p.Credential),
			p.CABundle, ms(p.Timeouts.Connect), ms(p.Timeouts.FirstByte), ms(p.Timeouts.Idle), ms(p.Timeouts.Total), v)
	})
}

// changeProvider locks the provider, runs update (which returns the changed row) and records e
// with the provider before and after, in one transaction.
func (s *CatalogStore) changeProvider(ctx context.Context, identifier string, e *audit.Entry, update func(pgx.Tx) pgx.Row) (*catalog.Provider, error) {
	var out *catalog.Provider
	err := s.tx(ctx, func(tx pgx.Tx) error {
		before, err := lockProvider(ctx, tx, identifier)
		if err != nil {
			return err
		}
		if out, _, err = ScanProvider(update(tx)); err != nil {
			return fmt.Errorf("update provider %s: %w", identifier, err)
		}
		return InsertAudit(ctx, tx, e, before, out)
	})
	return out, err
}

// lockProvider reads a provider (without its credential) and locks it until tx ends.
func lockProvider(ctx context.Context, tx pgx.Tx, identifier string) (*catalog.Provider, error) {
	p, _, err := ScanProvider(tx.QueryRow(ctx, `SELECT `+ProviderColumns+` FROM providers WHERE identifier = $1 FOR UPDATE`, identifier))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, providerNotFound(identifier)
	}
	if err != nil {
		return nil, fmt.Errorf("lock provider %s: %w", identifier, err)
	}
	return p, nil
}

// SetVerification records the result of a verification.
func (s *CatalogStore) SetVerification(ctx context.Context, identifier string, ver catalog.Verification, e *audit.Entry) (*catalog.Provider, error) {
	v, err := verificationJSON(&ver)
	if err != nil {
		return nil, err
	}
	return s.changeProvider(ctx, identifier, e, func(tx pgx.Tx) pgx.Row {
		return tx.QueryRow(ctx, `UPDATE providers SET verification = $2 WHERE identifier = $1 RETURNING `+ProviderColumns, identifier, v)
	})
}

// Provider reads one provider; with withCredential its credential is unsealed into Credential.
func (s *CatalogStore) Provider(ctx context.Context, identifier string, withCredential bool) (*catalog.Provider, error) {
	p, blob, err := ScanProvider(s.Pool.QueryRow(ctx, `SELECT `+ProviderColumns+` FROM providers WHERE identifier = $1`, identifier))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, providerNotFound(identifier)
	}
	if err != nil {
		return nil, fmt.Errorf("read provider %s: %w", identifier, err)
	}
	if withCredential && len(blob) > 0 {
		if s.Sealer == nil {
			return nil, fmt.Errorf("unseal the credential of provider %s: no sealer configured", identifier)
		}
		plain, err := s.Sealer.Open(ctx, blob)
		if err != nil {
			return nil, fmt.Errorf("unseal the credential of provider %s: %w", identifier, err)
		}
		p.Credential = string(plain)
	}
	return p, nil
}

// Providers lists every provider by identifier, without credentials.
func (s *CatalogStore) Providers(ctx context.Context) ([]*catalog.Provider, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT `+ProviderColumns+` FROM providers ORDER BY identifier`)
	var out []*catalog.Provider
	for rows.Next() {
		p, _, err := ScanProvider(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list providers: %w", err)
	}
	return out, nil
}

// DeleteProvider deletes a provider no model uses; while models use it the answer is
// 409 provider_in_use naming them.
func (s *CatalogStore) DeleteProvider(ctx context.Context, identifier string, e *audit.Entry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		p, err := lockProvider(ctx, tx, identifier)
		if err != nil {
			return err
		}
		var names []string
		if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM models WHERE provider_id = $1`, p.ID).Scan(&names); err != nil {
			return fmt.Errorf("list the models of provider %s: %w", identifier, err)
		}
		if len(names) > 0 {
			return &catalog.ConflictError{Code: apierror.CodeProviderInUse, Param: "identifier", What: catalog.EntityProvider, Name: identifier,
				Message: fmt.Sprintf("provider %s is used by %d model(s): %s; models are never deleted, so the provider stays",
					identifier, len(names), strings.Join(names, ", "))}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM providers WHERE id = $1`, p.ID); err != nil {
			return fmt.Errorf("delete provider %s: %w", identifier, err)
		}
		return InsertAudit(ctx, tx, e, p, nil)
	})
}

func (s *CatalogStore) seal(ctx context.Context, p *catalog.Provider) ([]byte, error) {
	if p.Credential == "" {
		return nil, nil
	}
	if s.Sealer == nil {
		return nil, fmt.Errorf("seal the credential of provider %s: no sealer configured", p.Identifier)
	}
	blob, err := s.Sealer.Seal(ctx, []byte(p.Credential))
	if err != nil {
		return nil, fmt.Errorf("seal the credential of provider %s: %w", p.Identifier, err)
	}
	return blob, nil
}

func providerNotFound(identifier string) error {
	return &catalog.NotFoundError{What: catalog.EntityProvider, Name: identifier, Param: "identifier"}
}

// hint is the part of a credential that may be shown: its last 4 characters, and nothing for a
// credential shorter than 8, which the hint would half reveal.
func hint(cred string) string {
	r := []rune(cred)
	if len(r) < 8 {
		return ""
	}
	return string(r[len(r)-4:])
}

func ms(d time.Duration) int32 { return int32(d / time.Millisecond) }

func verificationJSON(v *catalog.Verification) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode verification: %w", err)
	}
	return b, nil
}
