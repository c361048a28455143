package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// aliasMove is one move of an alias, as moveAlias makes it.
type aliasMove struct {
	way          catalog.MoveWay
	alias        string
	to           string // the pinned model's name
	expectedFrom string // "" for no check
	actor        string // the history's "who"
	reason       string // the history's "why"
	audit        *audit.Entry
	followers    CorpusFollowers // nil: corporaFollowing
}

// moveAlias is the one way an alias moves, whichever route asks (catalog.MoveWay): in tx, it locks
// the alias row (FOR UPDATE) and the target model (FOR SHARE, so it cannot be disabled before tx
// commits), lists the corpora following an embedding alias, and applies catalog.CheckAliasMove.
// When the rule allows the move it points the alias at the target, records the move in the alias's
// history (from, to, who, why; when is the commit's time) and records m.audit (nil for none) with
// the alias before and after. A move to where the alias already points writes no history. A
// refusal is the rule's *catalog.MoveError, with nothing written; the admin API's edge turns it into
// its error (admin.APIError).
func moveAlias(ctx context.Context, tx pgx.Tx, m aliasMove) error {
	cur, err := lockAlias(ctx, tx, m.alias)
	if err != nil {
		return err
	}
	check := catalog.AliasMoveCheck{Way: m.way, ToName: m.to, ExpectedFrom: m.expectedFrom,
		Alias: catalog.Alias{Name: m.alias, Kind: cur.kind, Target: cur.target}}
	if check.To, check.ToIsAlias, err = lockTarget(ctx, tx, m.to); err != nil {
		return err
	}
	if cur.kind == catalog.KindEmbedding {
		if m.followers != nil {
			check.Followers, err = m.followers.Following(ctx, tx, m.alias)
		} else {
			check.Followers, err = corporaFollowing(ctx, tx, m.alias)
		}
		if err != nil {
			return fmt.Errorf("list the corpora following alias %s: %w", m.alias, err)
		}
	}
	if err := catalog.CheckAliasMove(check); err != nil {
		return err
	}
	if m.to != cur.target {
		if _, err := tx.Exec(ctx, `UPDATE aliases SET model_id = $2, updated_at = now() WHERE name = $1`, m.alias, check.To.ID); err != nil {
			return fmt.Errorf("move alias %s: %w", m.alias, err)
		}
		if err := recordMove(ctx, tx, m.alias, &cur.modelID, check.To.ID, m.actor, m.reason); err != nil {
			return err
		}
	}
	return auditAlias(ctx, tx, m.audit, m.alias, cur)
}

// lockTarget reads the model an alias is to point at and locks it against being disabled until tx
// ends. It returns nil when no model has the name, and then whether an alias has it.
func lockTarget(ctx context.Context, tx pgx.Tx, name string) (*catalog.Model, bool, error) {
	var m catalog.Model
	err := tx.QueryRow(ctx, `SELECT id, name, kind, dimension, enabled FROM models WHERE name = $1 FOR SHARE`, name).
		Scan(&m.ID, &m.Name, &m.Kind, &m.Dimension, &m.Enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		var isAlias bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM aliases WHERE name = $1)`, name).Scan(&isAlias); err != nil {
			return nil, false, fmt.Errorf("look up alias %s: %w", name, err)
		}
		return nil, isAlias, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("look up model %s: %w", name, err)
	}
	return &m, false, nil
}
