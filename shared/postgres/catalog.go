package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
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
// for none) and records it in the change's transaction, with the entity before and after. Errors a caller should see are *apierror.Error (not found,
// conflicts, references to things that do not exist); any other error is an internal failure.
type CatalogStore struct {
	Pool      *pgxpool.Pool
	Sealer    Sealer
	Followers CorpusFollowers
}

// Error codes beyond SPEC's fixed list (SPEC allows more).
const (
	CodeAlreadyExists  = "already_exists"   // a create whose name is taken
	CodeModelInUse     = "model_in_use"     // disabling a model an alias points at
	CodeLastSuperAdmin = "last_super_admin" // revoking the last active super admin
)

func (s *CatalogStore) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{}, fn)
}

// ---- providers

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
			return apierror.Conflict(CodeAlreadyExists, "identifier", "a provider named %s already exists; pick another identifier or PATCH /admin/providers/%s", p.Identifier, p.Identifier)
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
			return apierror.Conflict(apierror.CodeProviderInUse, "identifier",
				"provider %s is used by %d model(s): %s; models are never deleted, so the provider stays (point it at a new base URL with PATCH instead)",
				identifier, len(names), strings.Join(names, ", "))
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

func providerNotFound(identifier string) *apierror.Error {
	return apierror.NotFound("identifier", "no provider named %s; GET /admin/providers lists them", identifier)
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

// ---- models

// CreateModel stores a model, claiming its name in the namespace models and aliases share. The
// provider must exist (400 naming provider otherwise).
func (s *CatalogStore) CreateModel(ctx context.Context, m *catalog.Model, e *audit.Entry) (*catalog.Model, error) {
	var out *catalog.Model
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var pid int64
		err := tx.QueryRow(ctx, `SELECT id FROM providers WHERE identifier = $1 FOR SHARE`, m.Provider).Scan(&pid)
		if errors.Is(err, pgx.ErrNoRows) {
			return apierror.Invalid("provider", "no provider named %s; create it first with POST /admin/providers", m.Provider)
		}
		if err != nil {
			return fmt.Errorf("look up provider %s: %w", m.Provider, err)
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
		return apierror.Conflict(apierror.CodeAliasExists, "name",
			"the alias %s already exists; move it with POST /admin/aliases/%s/move", name, name)
	}
	return apierror.Conflict(CodeAlreadyExists, "name",
		"the name %s is already taken by a %s (models and aliases share one namespace); pick another name", name, holder)
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

func modelNotFound(name string) *apierror.Error {
	return apierror.NotFound("name", "no model named %s; GET /admin/models lists them", name)
}

// ModelUpdate holds the fields of a model that may change; nil fields stay as they are.
type ModelUpdate struct {
	Enabled       *bool
	ContextWindow *int
	DisplayName   *string
	Description   *string
	Streaming     *bool
	Tools         *bool
	// Price, when set, is the new price per million input tokens as a decimal; "" clears it.
	Price *string
}

// UpdateModel changes what may change of a model. Enabling an embedding model whose last probe
// found another dimension is refused (400 enabled); disabling a model an alias points at is
// 409 model_in_use naming the aliases, since an alias always points at an enabled model.
func (s *CatalogStore) UpdateModel(ctx context.Context, name string, u ModelUpdate, e *audit.Entry) (*catalog.Model, error) {
	var out *catalog.Model
	err := s.tx(ctx, func(tx pgx.Tx) error {
		m, err := lockModel(ctx, tx, name)
		if err != nil {
			return err
		}
		if u.Enabled != nil && *u.Enabled && !m.Enabled {
			if m.Kind == catalog.KindEmbedding && m.Probe != nil && m.Probe.Dimension != nil && *m.Probe.Dimension != m.Dimension {
				return apierror.Invalid("enabled",
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
				return apierror.Conflict(CodeModelInUse, "enabled",
					"model %s cannot be disabled while aliases point at it: %s; move them first", name, strings.Join(aliases, ", "))
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

// ---- aliases

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
		return nil, moveAPIError(err)
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
		return nil, moveAPIError(err)
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
			return apierror.Invalid("", "alias %s has not moved since it was created; there is nothing to roll back to", name)
		}
		if reason == "" {
			reason = "rollback"
		}
		return moveAlias(ctx, tx, aliasMove{way: catalog.RollbackByAdmin, alias: name, to: *prev, expectedFrom: expectedFrom,
			actor: e.ActorString(), reason: reason, audit: e, followers: s.Followers})
	})
	if err != nil {
		return nil, moveAPIError(err)
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
		return nil, apierror.NotFound("name", "no alias named %s; GET /admin/aliases lists them", name)
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
	rows, _ := s.Pool.Query(ctx, `SELECT coalesce(fm.name, ''), tm.name, h.actor, h.reason, h.at
		FROM alias_history h LEFT JOIN models fm ON fm.id = h.from_model_id JOIN models tm ON tm.id = h.to_model_id
		WHERE h.alias = $1 ORDER BY h.at DESC, h.id DESC`, name)
	a.History, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (catalog.AliasMove, error) {
		var m catalog.AliasMove
		err := r.Scan(&m.From, &m.To, &m.Actor, &m.Reason, &m.At)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the history of alias %s: %w", name, err)
	}
	return a, nil
}

// readAlias reads one alias, without its history.
func readAlias(ctx context.Context, q Querier, name string) (*catalog.Alias, error) {
	var a catalog.Alias
	err := q.QueryRow(ctx, `SELECT a.name, a.kind, m.name, a.created_at, a.updated_at FROM aliases a JOIN models m ON m.id = a.model_id
		WHERE a.name = $1`, name).Scan(&a.Name, &a.Kind, &a.Target, &a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apierror.NotFound("name", "no alias named %s; GET /admin/aliases lists them", name)
	}
	if err != nil {
		return nil, fmt.Errorf("read alias %s: %w", name, err)
	}
	return &a, nil
}

// Aliases lists every alias by name, without history.
func (s *CatalogStore) Aliases(ctx context.Context) ([]*catalog.Alias, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT a.name, a.kind, m.name, a.created_at, a.updated_at FROM aliases a JOIN models m ON m.id = a.model_id ORDER BY a.name`)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*catalog.Alias, error) {
		var a catalog.Alias
		err := r.Scan(&a.Name, &a.Kind, &a.Target, &a.CreatedAt, &a.UpdatedAt)
		return &a, err
	})
	if err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	return out, nil
}

// ---- teams

// CreateTeam creates a team; a taken name is 409 already_exists.
func (s *CatalogStore) CreateTeam(ctx context.Context, name string, e *audit.Entry) (*catalog.Team, error) {
	var t catalog.Team
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO teams (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id, name, created_at`, name).
			Scan(&t.ID, &t.Name, &t.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return apierror.Conflict(CodeAlreadyExists, "name", "a team named %s already exists", name)
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

// TeamInfo is a team with what it holds.
type TeamInfo struct {
	catalog.Team
	Keys   int      // active keys
	Grants []string // names the team may call
}

// Teams lists every team by name.
func (s *CatalogStore) Teams(ctx context.Context) ([]*TeamInfo, error) {
	return s.teams(ctx, "")
}

// Team reads one team.
func (s *CatalogStore) Team(ctx context.Context, name string) (*TeamInfo, error) {
	ts, err := s.teams(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, apierror.NotFound("name", "no team named %s; GET /admin/teams lists them", name)
	}
	return ts[0], nil
}

func (s *CatalogStore) teams(ctx context.Context, name string) ([]*TeamInfo, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT t.id, t.name, t.created_at,
			(SELECT count(*) FROM api_keys k WHERE k.team_id = t.id AND k.revoked_at IS NULL),
			(SELECT coalesce(array_agg(g.name ORDER BY g.name), '{}') FROM grants g WHERE g.team_id = t.id)
		FROM teams t WHERE $1 = '' OR t.name = $1 ORDER BY t.name`, name)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*TeamInfo, error) {
		var t TeamInfo
		err := r.Scan(&t.ID, &t.Name, &t.CreatedAt, &t.Keys, &t.Grants)
		return &t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	return out, nil
}

// ---- keys

// CreateKey stores a key (its hash only) for k.Team; the team and every name of the allow-list
// must exist (400 naming team or models[i]).
func (s *CatalogStore) CreateKey(ctx context.Context, k *catalog.Key, e *audit.Entry) (*catalog.Key, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var teamID int64
		err := tx.QueryRow(ctx, `SELECT id FROM teams WHERE name = $1 FOR SHARE`, k.Team).Scan(&teamID)
		if errors.Is(err, pgx.ErrNoRows) {
			return apierror.Invalid("team", "no team named %s; create it first with POST /admin/teams", k.Team)
		}
		if err != nil {
			return fmt.Errorf("look up team %s: %w", k.Team, err)
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
			return apierror.Invalid(fmt.Sprintf("%s[%d]", param, i), "no model or alias named %s; GET /admin/models and GET /admin/aliases list them", n)
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
		return nil, apierror.NotFound("id", "no key with id %s; GET /admin/keys lists them", id)
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
	rows, _ := s.Pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys k JOIN teams t ON t.id = k.team_id
		WHERE $1 = '' OR t.name = $1 ORDER BY k.created_at DESC, k.id`, team)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*catalog.Key, error) { return scanKey(r) })
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
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

// ---- audience

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
			var id int64
			err := tx.QueryRow(ctx, `SELECT id FROM teams WHERE name = $1 FOR SHARE`, t).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return apierror.Invalid(fmt.Sprintf("teams[%d]", i), "no team named %s; create it first with POST /admin/teams", t)
			}
			if err != nil {
				return fmt.Errorf("look up team %s: %w", t, err)
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
		return InsertAudit(ctx, tx, e, &Audience{Name: name, Teams: before}, &Audience{Name: name, Teams: after})
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

// Audience is the teams that may call a model or an alias, as the audit log records it.
type Audience struct {
	Name  string
	Teams []string
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

func audienceNotFound(name string) *apierror.Error {
	return apierror.NotFound("name", "no model or alias named %s; GET /admin/models and GET /admin/aliases list them", name)
}

// ---- admins

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
		return nil, apierror.NotFound("id", "no admin with id %s; GET /admin/admins lists them", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read admin %s: %w", id, err)
	}
	return a, nil
}

// Admins lists every admin, oldest first.
func (s *CatalogStore) Admins(ctx context.Context) ([]*catalog.Admin, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT `+adminColumns+` FROM admins ORDER BY created_at, id`)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*catalog.Admin, error) { return scanAdmin(r) })
	if err != nil {
		return nil, fmt.Errorf("list admins: %w", err)
	}
	return out, nil
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
			return apierror.NotFound("id", "no admin with id %s; GET /admin/admins lists them", id)
		}
		if err != nil {
			return fmt.Errorf("lock admin %s: %w", id, err)
		}
		if a.RevokedAt == nil {
			if a.Role == catalog.RoleSuperAdmin && len(supers) == 1 && supers[0] == id {
				return apierror.New(http.StatusConflict, apierror.ConflictError, CodeLastSuperAdmin, "id",
					"admin %s (%s) is the last active super admin; create another super admin before revoking this one", id, a.Name)
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
			return apierror.NotFound("id", "no admin with id %s; GET /admin/admins lists them", id)
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
