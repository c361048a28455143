package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// Opener unseals provider credentials (see package seal).
type Opener interface {
	Open(ctx context.Context, sealed []byte) ([]byte, error)
}

// SnapshotLoader reads the catalogue for catalog.Source.
type SnapshotLoader struct {
	Pool   *pgxpool.Pool
	Opener Opener // nil: credentials stay empty (tests of resolution only)
	// Log hears of credentials that cannot be unsealed (nil: discarded).
	Log *slog.Logger
}

// Version reads the catalogue's version.
func (l *SnapshotLoader) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := l.Pool.QueryRow(ctx, `SELECT version FROM catalog_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read catalog_version: %w", err)
	}
	return v, nil
}

// Load reads the whole catalogue in one repeatable-read transaction, so the snapshot is consistent
// with the version it carries.
func (l *SnapshotLoader) Load(ctx context.Context) (*catalog.Snapshot, error) {
	s := &catalog.Snapshot{
		Providers: map[string]*catalog.Provider{},
		Models:    map[string]*catalog.Model{},
		Aliases:   map[string]*catalog.Alias{},
		Teams:     map[string]*catalog.Team{},
		Keys:      map[[32]byte]*catalog.Key{},
		Admins:    map[[32]byte]*catalog.Admin{},
		Grants:    map[string]map[string]bool{},
	}
	type sealed struct {
		p    *catalog.Provider
		blob []byte
	}
	var toOpen []sealed
	err := pgx.BeginTxFunc(ctx, l.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT version FROM catalog_version`).Scan(&s.Version); err != nil {
			return fmt.Errorf("read catalog_version: %w", err)
		}
		rows, _ := tx.Query(ctx, `SELECT `+ProviderColumns+` FROM providers`)
		for rows.Next() {
			p, blob, err := ScanProvider(rows)
			if err != nil {
				return err
			}
			s.Providers[p.Identifier] = p
			if len(blob) > 0 {
				toOpen = append(toOpen, sealed{p, blob})
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read providers: %w", err)
		}
		rows, _ = tx.Query(ctx, `SELECT `+ModelColumns+` FROM models m JOIN providers p ON p.id = m.provider_id`)
		for rows.Next() {
			m, err := ScanModel(rows)
			if err != nil {
				return err
			}
			s.Models[m.Name] = m
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read models: %w", err)
		}
		rows, _ = tx.Query(ctx, `SELECT a.name, a.kind, m.name, a.created_at, a.updated_at FROM aliases a JOIN models m ON m.id = a.model_id`)
		for rows.Next() {
			var a catalog.Alias
			if err := rows.Scan(&a.Name, &a.Kind, &a.Target, &a.CreatedAt, &a.UpdatedAt); err != nil {
				return fmt.Errorf("scan alias: %w", err)
			}
			s.Aliases[a.Name] = &a
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read aliases: %w", err)
		}
		if err := loadRoutes(ctx, tx, s); err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT id, name, created_at FROM teams`)
		for rows.Next() {
			var t catalog.Team
			if err := rows.Scan(&t.ID, &t.Name, &t.CreatedAt); err != nil {
				return fmt.Errorf("scan team: %w", err)
			}
			s.Teams[t.Name] = &t
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read teams: %w", err)
		}
		rows, _ = tx.Query(ctx, `SELECT k.id, t.name, k.name, k.models, k.prefix, k.key_hash, k.created_at
			FROM api_keys k JOIN teams t ON t.id = k.team_id WHERE k.revoked_at IS NULL`)
		for rows.Next() {
			var k catalog.Key
			var hash []byte
			if err := rows.Scan(&k.ID, &k.Team, &k.Name, &k.Models, &k.Prefix, &hash, &k.CreatedAt); err != nil {
				return fmt.Errorf("scan key: %w", err)
			}
			copy(k.Hash[:], hash)
			s.Keys[k.Hash] = &k
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read keys: %w", err)
		}
		rows, _ = tx.Query(ctx, `SELECT g.name, t.name FROM grants g JOIN teams t ON t.id = g.team_id`)
		for rows.Next() {
			var name, team string
			if err := rows.Scan(&name, &team); err != nil {
				return fmt.Errorf("scan grant: %w", err)
			}
			if s.Grants[name] == nil {
				s.Grants[name] = map[string]bool{}
			}
			s.Grants[name][team] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read grants: %w", err)
		}
		rows, _ = tx.Query(ctx, `SELECT id, name, role, token_hash, created_at FROM admins WHERE revoked_at IS NULL`)
		for rows.Next() {
			var a catalog.Admin
			var hash []byte
			if err := rows.Scan(&a.ID, &a.Name, &a.Role, &hash, &a.CreatedAt); err != nil {
				return fmt.Errorf("scan admin: %w", err)
			}
			copy(a.Hash[:], hash)
			s.Admins[a.Hash] = &a
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read admins: %w", err)
		}
		return loadLimits(ctx, tx, s)
	})
	if err != nil {
		return nil, err
	}
	for _, o := range toOpen {
		if l.Opener == nil {
			continue
		}
		plain, err := l.Opener.Open(ctx, o.blob)
		if err != nil {
			// One provider whose credential cannot be opened (a lost local key, a KMS key disabled)
			// must not take the whole catalogue down: its calls go out without a credential and
			// fail as upstream_auth_error, while this line says why.
			if l.Log != nil {
				l.Log.ErrorContext(ctx, "cannot unseal a provider's credential; re-enter it (PATCH /admin/providers/{identifier})",
					"provider", o.p.Identifier, "err", err)
			}
			continue
		}
		o.p.Credential = string(plain)
	}
	return s, nil
}

// ProviderColumns are the columns ScanProvider reads, in order.
const ProviderColumns = `id, identifier, display_name, base_url, auth_method, auth_header, credential_sealed,
	credential_hint, ca_bundle, connect_ms, first_byte_ms, idle_ms, total_ms, verification, created_at, updated_at`

// ScanProvider reads one row of ProviderColumns; the sealed credential is returned beside it.
func ScanProvider(row pgx.Row) (*catalog.Provider, []byte, error) {
	var p catalog.Provider
	var blob, verification []byte
	var connect, first, idle, total int32
	if err := row.Scan(&p.ID, &p.Identifier, &p.DisplayName, &p.BaseURL, &p.AuthMethod, &p.AuthHeader, &blob,
		&p.CredentialHint, &p.CABundle, &connect, &first, &idle, &total, &verification, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, nil, fmt.Errorf("scan provider: %w", err)
	}
	p.Timeouts = catalog.Timeouts{
		Connect:   time.Duration(connect) * time.Millisecond,
		FirstByte: time.Duration(first) * time.Millisecond,
		Idle:      time.Duration(idle) * time.Millisecond,
		Total:     time.Duration(total) * time.Millisecond,
	}
	if len(verification) > 0 {
		p.Verification = new(catalog.Verification)
		if err := json.Unmarshal(verification, p.Verification); err != nil {
			return nil, nil, fmt.Errorf("decode verification of provider %s: %w", p.Identifier, err)
		}
	}
	return &p, blob, nil
}

// ModelColumns are the columns ScanModel reads, from models m joined with providers p.
const ModelColumns = `m.id, m.name, p.identifier, m.upstream_name, m.kind, m.context_window, m.dimension,
	m.cap_streaming, m.cap_tools, m.enabled, m.display_name, m.description, m.probe, m.created_at, m.updated_at,
	coalesce(trim_scale(m.price_per_million_tokens)::text, '')`

// ScanModel reads one row of ModelColumns.
func ScanModel(row pgx.Row) (*catalog.Model, error) {
	var m catalog.Model
	var probe []byte
	if err := row.Scan(&m.ID, &m.Name, &m.Provider, &m.UpstreamName, &m.Kind, &m.ContextWindow, &m.Dimension,
		&m.Capabilities.Streaming, &m.Capabilities.Tools, &m.Enabled, &m.DisplayName, &m.Description, &probe,
		&m.CreatedAt, &m.UpdatedAt, &m.PricePerMillionTokens); err != nil {
		return nil, fmt.Errorf("scan model: %w", err)
	}
	if len(probe) > 0 {
		m.Probe = new(catalog.Probe)
		if err := json.Unmarshal(probe, m.Probe); err != nil {
			return nil, fmt.Errorf("decode probe of model %s: %w", m.Name, err)
		}
	}
	return &m, nil
}

var _ catalog.HashChecker = (*SnapshotLoader)(nil)

// ActiveHash reports whether hash belongs to an active key or admin: one query on a unique index.
func (l *SnapshotLoader) ActiveHash(ctx context.Context, kind catalog.SecretKind, hash [32]byte) (bool, error) {
	q := `SELECT EXISTS (SELECT 1 FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL)`
	if kind == catalog.SecretAdmin {
		q = `SELECT EXISTS (SELECT 1 FROM admins WHERE token_hash = $1 AND revoked_at IS NULL)`
	}
	var ok bool
	if err := l.Pool.QueryRow(ctx, q, hash[:]).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up a secret's hash: %w", err)
	}
	return ok, nil
}
