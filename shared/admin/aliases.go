package admin

import (
	"context"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// AliasInput is the body of PUT /admin/aliases/{name}.
type AliasInput struct {
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// AliasMoveInput is the body of POST /admin/aliases/{name}/move: the alias moves to To only if it
// still points at ExpectedFrom.
type AliasMoveInput struct {
	To           string `json:"to"`
	ExpectedFrom string `json:"expected_from"`
	Reason       string `json:"reason"`
}

// AliasRollbackInput is the optional body of POST /admin/aliases/{name}/rollback.
type AliasRollbackInput struct {
	ExpectedFrom string `json:"expected_from"` // optional: roll back only if the alias points here
	Reason       string `json:"reason"`
}

// AliasView is an alias; history (newest first) is given by GET of one alias and by changes.
type AliasView struct {
	Name      string              `json:"name"`
	Kind      catalog.Kind        `json:"kind"`
	Target    string              `json:"target"`
	CreatedAt time.Time           `json:"created_at"`
	UpdatedAt time.Time           `json:"updated_at"`
	History   []catalog.AliasMove `json:"history,omitempty"`
}

func aliasView(a *catalog.Alias) *AliasView {
	return &AliasView{Name: a.Name, Kind: a.Kind, Target: a.Target, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, History: a.History}
}

// CreateAlias creates an alias pointing at an enabled model; the alias takes the model's kind. An
// existing alias is 409 alias_exists: move it instead.
func (s *Service) CreateAlias(ctx context.Context, by *catalog.Admin, name string, in AliasInput) (*AliasView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if err := checkName("name", name); err != nil {
		return nil, err
	}
	if in.Target == "" {
		return nil, apierror.Invalid("target", "target is required: the pinned model the alias points at")
	}
	if err := checkText("reason", in.Reason, false, true); err != nil {
		return nil, err
	}
	return shown(aliasView)(s.Store.CreateAlias(ctx, name, in.Target, in.Reason, s.entry(ctx, by, audit.AliasCreate, name)))
}

// MoveAlias points an alias at another enabled model of its kind in one atomic step, if it still
// points at ExpectedFrom (409 alias_moved otherwise). The previous target stays enabled.
func (s *Service) MoveAlias(ctx context.Context, by *catalog.Admin, name string, in AliasMoveInput) (*AliasView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if in.To == "" {
		return nil, apierror.Invalid("to", "to is required: the pinned model the alias should point at")
	}
	if in.ExpectedFrom == "" {
		return nil, apierror.Invalid("expected_from", "expected_from is required: the model the alias points at now (GET /admin/aliases/%s), so that two moves never cross", name)
	}
	if err := checkText("reason", in.Reason, false, true); err != nil {
		return nil, err
	}
	return shown(aliasView)(s.Store.MoveAlias(ctx, name, in.To, in.ExpectedFrom, in.Reason, s.entry(ctx, by, audit.AliasMove, name)))
}

// RollbackAlias moves an alias back to where its last move took it from.
func (s *Service) RollbackAlias(ctx context.Context, by *catalog.Admin, name string, in AliasRollbackInput) (*AliasView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if err := checkText("reason", in.Reason, false, true); err != nil {
		return nil, err
	}
	return shown(aliasView)(s.Store.RollbackAlias(ctx, name, in.ExpectedFrom, in.Reason, s.entry(ctx, by, audit.AliasRollback, name)))
}

// GetAlias reads one alias with its history.
func (s *Service) GetAlias(ctx context.Context, by *catalog.Admin, name string) (*AliasView, error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	return shown(aliasView)(s.Store.Alias(ctx, name, true))
}

// ListAliases lists every alias by name.
func (s *Service) ListAliases(ctx context.Context, by *catalog.Admin) (*List[*AliasView], error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	return listed(aliasView)(s.Store.Aliases(ctx))
}
