package admin

import (
	"context"
	"time"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/capacity"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/health"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// The stores the services read and write, as the services use them: only the methods they call, so
// that a test can run a service over a small fake. shared/app wires the Postgres stores
// (postgres.CatalogStore, UsageStore, HealthStore, CapacityStore), and stores_test.go checks that
// they satisfy these. Every write takes the audit entry it records in its own transaction.

// CatalogStore keeps the catalogue: providers, models, aliases and their routes, teams, keys,
// audience grants, admins, and the audit log. Errors are the catalogue's domain errors
// (*catalog.NotFoundError, *catalog.ConflictError, ...), which APIError maps to the contract's shape.
type CatalogStore interface {
	Provider(ctx context.Context, identifier string, withCredential bool) (*catalog.Provider, error)
	Providers(ctx context.Context) ([]*catalog.Provider, error)
	CreateProvider(ctx context.Context, p *catalog.Provider, e *audit.Entry) (*catalog.Provider, error)
	UpdateProvider(ctx context.Context, p *catalog.Provider, newCredential bool, e *audit.Entry) (*catalog.Provider, error)
	DeleteProvider(ctx context.Context, identifier string, e *audit.Entry) error
	SetVerification(ctx context.Context, identifier string, ver catalog.Verification, e *audit.Entry) (*catalog.Provider, error)

	Model(ctx context.Context, name string) (*catalog.Model, error)
	Models(ctx context.Context) ([]*catalog.Model, error)
	CreateModel(ctx context.Context, m *catalog.Model, e *audit.Entry) (*catalog.Model, error)
	UpdateModel(ctx context.Context, name string, u catalog.ModelUpdate, e *audit.Entry) (*catalog.Model, error)
	SetProbe(ctx context.Context, name string, p catalog.Probe, e *audit.Entry) (*catalog.Model, error)

	Alias(ctx context.Context, name string, withHistory bool) (*catalog.Alias, error)
	Aliases(ctx context.Context) ([]*catalog.Alias, error)
	CreateAlias(ctx context.Context, name, target, reason string, e *audit.Entry) (*catalog.Alias, error)
	MoveAlias(ctx context.Context, name, to, expectedFrom, reason string, e *audit.Entry) (*catalog.Alias, error)
	RollbackAlias(ctx context.Context, name, expectedFrom, reason string, e *audit.Entry) (*catalog.Alias, error)

	Route(ctx context.Context, name string) (*catalog.Route, error)
	Routes(ctx context.Context) ([]*catalog.Route, error)
	RouteHistory(ctx context.Context, name string) ([]catalog.RouteVersion, error)
	PutRoute(ctx context.Context, name string, c catalog.RouteChange, e *audit.Entry) (*catalog.Route, error)
	RollbackRoute(ctx context.Context, name string, expectedVersion int64, reason string, e *audit.Entry) (*catalog.Route, error)

	Team(ctx context.Context, name string) (*catalog.TeamInfo, error)
	Teams(ctx context.Context) ([]*catalog.TeamInfo, error)
	CreateTeam(ctx context.Context, name string, e *audit.Entry) (*catalog.Team, error)
	Audience(ctx context.Context, name string) ([]string, error)
	SetAudience(ctx context.Context, name string, teams []string, e *audit.Entry) ([]string, error)

	Key(ctx context.Context, id string) (*catalog.Key, error)
	Keys(ctx context.Context, team string) ([]*catalog.Key, error)
	ActiveKeyByHash(ctx context.Context, hash [32]byte) (*catalog.Key, error)
	CreateKey(ctx context.Context, k *catalog.Key, e *audit.Entry) (*catalog.Key, error)
	RevokeKey(ctx context.Context, id string, e *audit.Entry) (*catalog.Key, error)

	Admin(ctx context.Context, id string) (*catalog.Admin, error)
	Admins(ctx context.Context) ([]*catalog.Admin, error)
	CreateAdmin(ctx context.Context, a *catalog.Admin, e *audit.Entry) (*catalog.Admin, error)
	RevokeAdmin(ctx context.Context, id string, e *audit.Entry) (*catalog.Admin, error)
	EndAdminSessions(ctx context.Context, id string, e *audit.Entry) (int64, error)

	AuditLog(ctx context.Context, q audit.Query) ([]audit.Row, bool, error)
}

// UsageStore reads the request log.
type UsageStore interface {
	Totals(ctx context.Context, by usage.GroupBy, from, to time.Time) ([]usage.Total, error)
	Requests(ctx context.Context, q usage.RequestQuery) ([]usage.RequestRow, bool, error)
	// RouteSplit counts the requests for name since since, by the model that served them.
	RouteSplit(ctx context.Context, name string, since time.Time) ([]usage.RouteShare, error)
}

// HealthStore reads a model's cooldown.
type HealthStore interface {
	Model(ctx context.Context, model string) (*health.Record, error)
}

// LimitsStore keeps the concurrency caps, rate limits and quotas of each scope, and reads what is
// in use against them.
type LimitsStore interface {
	Limits(ctx context.Context, sc catalog.Scope) (*catalog.Limits, error)
	// SetScopeLimits replaces sc's limits; a scope naming nothing in the catalogue is refused.
	SetScopeLimits(ctx context.Context, sc catalog.Scope, l *catalog.Limits, e *audit.Entry) (*catalog.Limits, error)
	Usage(ctx context.Context, now time.Time) ([]*capacity.ScopeUsage, error)
}
