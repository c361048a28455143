package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// routeColumns read a route from aliases a joined with their target model m and routes r (left).
const routeColumns = `a.name, a.kind, m.name, a.updated_at, coalesce(r.version, 0), coalesce(r.rules, '[]'), r.plan,
	coalesce(b.name, ''), coalesce(r.updated_by, ''), coalesce(r.updated_at, a.updated_at)`

const routeFrom = `aliases a JOIN models m ON m.id = a.model_id LEFT JOIN routes r ON r.alias = a.name LEFT JOIN models b ON b.id = r.base_model_id`

// scanRoute reads one row of routeColumns as the route applies now (catalog.Route.Follow).
func scanRoute(row pgx.Row) (*catalog.Route, error) {
	var rt catalog.Route
	var target string
	var aliasUpdated time.Time
	var rules, plan []byte
	if err := row.Scan(&rt.Name, &rt.Kind, &target, &aliasUpdated, &rt.Version, &rules, &plan, &rt.Base, &rt.UpdatedBy, &rt.UpdatedAt); err != nil {
		return nil, err
	}
	if rt.Version == 0 {
		rt.Plan, rt.Base = catalog.SinglePlan(target), target
		return &rt, nil
	}
	if err := json.Unmarshal(rules, &rt.Rules); err != nil {
		return nil, fmt.Errorf("decode the rules of route %s: %w", rt.Name, err)
	}
	if err := json.Unmarshal(plan, &rt.Plan); err != nil {
		return nil, fmt.Errorf("decode the plan of route %s: %w", rt.Name, err)
	}
	return rt.Follow(target), nil
}

// loadRoutes reads every changed route into s (the snapshot's part; see SnapshotLoader.Load).
func loadRoutes(ctx context.Context, q Querier, s *catalog.Snapshot) error {
	routes, err := collect(ctx, q, "read routes", scanRoute, `SELECT `+routeColumns+` FROM `+routeFrom+` WHERE r.alias IS NOT NULL`)
	if err != nil {
		return err
	}
	s.Routes = make(map[string]*catalog.Route, len(routes))
	for _, rt := range routes {
		s.Routes[rt.Name] = rt
	}
	return nil
}

func routeNotFound(name string) error {
	return &catalog.NotFoundError{What: catalog.EntityRoute, Name: name, Param: "name"}
}

func readRoute(ctx context.Context, q Querier, name string) (*catalog.Route, error) {
	rt, err := scanRoute(q.QueryRow(ctx, `SELECT `+routeColumns+` FROM `+routeFrom+` WHERE a.name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, routeNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read route %s: %w", name, err)
	}
	return rt, nil
}

// Route reads the route of alias name as it applies now.
func (s *CatalogStore) Route(ctx context.Context, name string) (*catalog.Route, error) {
	return readRoute(ctx, s.Pool, name)
}

// Routes reads every alias's route, by name.
func (s *CatalogStore) Routes(ctx context.Context) ([]*catalog.Route, error) {
	return collect(ctx, s.Pool, "read routes", scanRoute, `SELECT `+routeColumns+` FROM `+routeFrom+` ORDER BY a.name`)
}

// RouteHistory lists a route's versions, newest first. A route never changed has none.
func (s *CatalogStore) RouteHistory(ctx context.Context, name string) ([]catalog.RouteVersion, error) {
	if _, err := readRoute(ctx, s.Pool, name); err != nil {
		return nil, err
	}
	return collect(ctx, s.Pool, "read the history of route "+name, func(r pgx.Row) (catalog.RouteVersion, error) {
		var v catalog.RouteVersion
		var rules, plan []byte
		if err := r.Scan(&v.Version, &rules, &plan, &v.Actor, &v.Reason, &v.At); err != nil {
			return v, err
		}
		if err := json.Unmarshal(rules, &v.Rules); err != nil {
			return v, err
		}
		return v, json.Unmarshal(plan, &v.Plan)
	}, `SELECT version, rules, plan, actor, reason, at FROM route_versions WHERE alias = $1 ORDER BY version DESC`, name)
}

// PutRoute replaces a route's rules and default plan, only if it is still at c.ExpectedVersion
// (409 route_changed otherwise, and nothing changes). The new version is validated
// (catalog.ValidateRoute) against the models as they are in the transaction, locked so none is
// disabled meanwhile; the rules' teams and keys must exist. When the default plan's primary target
// (catalog.Plan.Primary) is not where the alias points, the alias moves there by the one alias-move
// rule, with its history; an embedding route that corpora follow neither moves nor splits
// (409 reembed_required). The version, its history row and the audit entry commit together.
func (s *CatalogStore) PutRoute(ctx context.Context, name string, c catalog.RouteChange, e *audit.Entry) (*catalog.Route, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		cur, before, err := s.lockRoute(ctx, tx, name, c.ExpectedVersion)
		if err != nil {
			return err
		}
		return s.writeRoute(ctx, tx, name, cur, before, c.Rules, c.Plan, c.Reason, e)
	})
	if err != nil {
		return nil, err
	}
	return readRoute(ctx, s.Pool, name)
}

// RollbackRoute writes, as a new version, the route as it was before its latest version. With
// expectedVersion not negative it does so only if the route is still at that version.
func (s *CatalogStore) RollbackRoute(ctx context.Context, name string, expectedVersion int64, reason string, e *audit.Entry) (*catalog.Route, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		cur, before, err := s.lockRoute(ctx, tx, name, expectedVersion)
		if err != nil {
			return err
		}
		if before.Version == 0 {
			return catalog.Invalid("", "route %s has never been changed; there is nothing to roll back to", name)
		}
		var rules, plan []byte
		if err := tx.QueryRow(ctx, `SELECT rules, plan FROM route_versions WHERE alias = $1 AND version = $2`, name, before.Version-1).Scan(&rules, &plan); err != nil {
			return fmt.Errorf("read version %d of route %s: %w", before.Version-1, name, err)
		}
		var prev catalog.RouteVersion
		if err := json.Unmarshal(rules, &prev.Rules); err != nil {
			return fmt.Errorf("decode version %d of route %s: %w", before.Version-1, name, err)
		}
		if err := json.Unmarshal(plan, &prev.Plan); err != nil {
			return fmt.Errorf("decode version %d of route %s: %w", before.Version-1, name, err)
		}
		if reason == "" {
			reason = fmt.Sprintf("rollback to version %d", before.Version-1)
		}
		err = s.writeRoute(ctx, tx, name, cur, before, prev.Rules, prev.Plan, reason, e)
		if _, msg, ok := catalog.InvalidInput(err); ok {
			return catalog.Invalid("", "route %s cannot roll back to version %d: %s", name, before.Version-1, msg)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return readRoute(ctx, s.Pool, name)
}

// lockRoute locks the alias (as an alias move does, so a route change and a move never cross) and
// reads its route; expected, unless negative, must be its version.
func (s *CatalogStore) lockRoute(ctx context.Context, tx pgx.Tx, name string, expected int64) (*aliasRow, *catalog.Route, error) {
	cur, err := lockAlias(ctx, tx, name)
	if nf := (*catalog.NotFoundError)(nil); errors.As(err, &nf) {
		return nil, nil, routeNotFound(name)
	}
	if err != nil {
		return nil, nil, err
	}
	before, err := readRoute(ctx, tx, name)
	if err != nil {
		return nil, nil, err
	}
	if expected >= 0 && expected != before.Version {
		return nil, nil, &catalog.ConflictError{Code: apierror.CodeRouteChanged, Param: "expected_version", What: catalog.EntityRoute, Name: name,
			Message: fmt.Sprintf("route %s is at version %d, not %d: someone changed it meanwhile; nothing changed", name, before.Version, expected)}
	}
	return cur, before, nil
}

func (s *CatalogStore) writeRoute(ctx context.Context, tx pgx.Tx, name string, cur *aliasRow, before *catalog.Route,
	rules []catalog.Rule, plan catalog.Plan, reason string, e *audit.Entry) error {
	if rules == nil {
		rules = []catalog.Rule{}
	}
	models, err := lockRouteModels(ctx, tx, plan, rules)
	if err != nil {
		return err
	}
	primary := plan.Primary()
	dimension := 0
	if m := models[primary]; m != nil {
		dimension = m.Dimension
	}
	if verr := catalog.ValidateRoute(cur.kind, dimension, rules, plan, func(n string) *catalog.Model { return models[n] }); verr != nil {
		return &catalog.InvalidError{Param: verr.Param, Message: verr.Message}
	}
	if err := routeMatchesExist(ctx, tx, rules); err != nil {
		return err
	}
	next := &catalog.Route{Name: name, Kind: cur.kind, Rules: rules, Plan: plan}
	if err := s.checkRouteChange(ctx, tx, name, cur, next); err != nil {
		return err
	}
	actor := e.ActorString()
	if primary != cur.target {
		// The one alias-move rule (catalog.CheckAliasMove through moveAlias): history, and
		// reembed_required for followed embedding aliases. The route's own audit row covers the move.
		if err := moveAlias(ctx, tx, aliasMove{way: catalog.MoveByAdmin, alias: name, to: primary,
			actor: actor, reason: reason, followers: s.Followers}); err != nil {
			return err
		}
	}
	rj, err := json.Marshal(rules)
	if err != nil {
		return fmt.Errorf("encode the rules of route %s: %w", name, err)
	}
	pj, err := json.Marshal(plan)
	if err != nil {
		return fmt.Errorf("encode the plan of route %s: %w", name, err)
	}
	if before.Version == 0 {
		// Version 0 is the route as the alias had it, so that the first change can be rolled back.
		zr, _ := json.Marshal(before.Rules)
		if before.Rules == nil {
			zr = []byte("[]")
		}
		zp, _ := json.Marshal(before.Plan)
		if _, err := tx.Exec(ctx, `INSERT INTO route_versions (alias, version, rules, plan, actor, reason, at) VALUES ($1, 0, $2, $3, 'system', 'the alias before its route was first changed', $4)`,
			name, zr, zp, before.UpdatedAt); err != nil {
			return fmt.Errorf("record version 0 of route %s: %w", name, err)
		}
	}
	version := before.Version + 1
	if _, err := tx.Exec(ctx, `INSERT INTO routes (alias, version, rules, plan, base_model_id, updated_by, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, now())
		ON CONFLICT (alias) DO UPDATE SET version = $2, rules = $3, plan = $4, base_model_id = $5, updated_by = $6, updated_at = now()`,
		name, version, rj, pj, models[primary].ID, actor); err != nil {
		return fmt.Errorf("write route %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO route_versions (alias, version, rules, plan, actor, reason) VALUES ($1, $2, $3, $4, $5, $6)`,
		name, version, rj, pj, actor, reason); err != nil {
		return fmt.Errorf("record version %d of route %s: %w", version, name, err)
	}
	if e == nil {
		return nil
	}
	after, err := readRoute(ctx, tx, name)
	if err != nil {
		return err
	}
	return InsertAudit(ctx, tx, e, before, after)
}

// checkRouteChange is the part of the alias-move rule a route adds: an embedding route that
// corpora follow never splits (its vectors come from one model). Moving its primary target is the
// alias-move rule's own check (catalog.CheckAliasMove, through moveAlias).
func (s *CatalogStore) checkRouteChange(ctx context.Context, tx pgx.Tx, name string, cur *aliasRow, next *catalog.Route) error {
	if cur.kind != catalog.KindEmbedding || !next.Split() {
		return nil
	}
	followers, err := s.following(ctx, tx, name)
	if err != nil {
		return err
	}
	if len(followers) > 0 {
		return &catalog.ConflictError{Code: apierror.CodeReembedRequired, Param: "plan", What: catalog.EntityAlias, Name: name,
			Message: fmt.Sprintf("embedding alias %s is followed by corpora (%v) whose vectors come from one model; its route cannot split across models or carry rules. A re-embed moves it to a new model", name, followers)}
	}
	return nil
}

// following lists the corpora that follow alias name, inside tx.
func (s *CatalogStore) following(ctx context.Context, tx pgx.Tx, name string) ([]string, error) {
	var followers []string
	var err error
	if s.Followers != nil {
		followers, err = s.Followers.Following(ctx, tx, name)
	} else {
		followers, err = corporaFollowing(ctx, tx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("list the corpora following alias %s: %w", name, err)
	}
	return followers, nil
}

// lockRouteModels reads every model the plan and rules name, locked against being disabled until
// the transaction ends.
func lockRouteModels(ctx context.Context, tx pgx.Tx, plan catalog.Plan, rules []catalog.Rule) (map[string]*catalog.Model, error) {
	names := plan.Models()
	for _, r := range rules {
		for _, n := range r.Plan.Models() {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	ms, err := collect(ctx, tx, "look up the models of a route", ScanModel,
		`SELECT `+ModelColumns+` FROM models m JOIN providers p ON p.id = m.provider_id WHERE m.name = ANY($1) FOR SHARE OF m`, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*catalog.Model, len(ms))
	for _, m := range ms {
		out[m.Name] = m
	}
	return out, nil
}

// routeMatchesExist checks that the teams and keys rules name exist (a typo would match nobody).
func routeMatchesExist(ctx context.Context, tx pgx.Tx, rules []catalog.Rule) error {
	for i, r := range rules {
		for _, c := range []struct {
			field, query, what string
			values             []string
		}{
			{"teams", `SELECT EXISTS (SELECT 1 FROM teams WHERE name = $1)`, catalog.EntityTeam, r.Match.Teams},
			{"keys", `SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = $1)`, catalog.EntityKey, r.Match.Keys},
		} {
			for j, v := range c.values {
				var ok bool
				if err := tx.QueryRow(ctx, c.query, v).Scan(&ok); err != nil {
					return fmt.Errorf("look up %s %s: %w", c.field, v, err)
				}
				if !ok {
					return &catalog.NotFoundError{What: c.what, Name: catalog.Quote(v, catalog.QuoteLimit), Param: fmt.Sprintf("rules[%d].match.%s[%d]", i, c.field, j), Ref: true}
				}
			}
		}
	}
	return nil
}

// RouteSplit is RouteSplit on the request log of s.
func (s *UsageStore) RouteSplit(ctx context.Context, name string, since time.Time) ([]usage.RouteShare, error) {
	return RouteSplit(ctx, s.Pool, name, since)
}

// RouteSplit counts the requests that asked for name since since, by the model that served them
// (the request log's requested and model columns), busiest first. Requests refused before a model
// was chosen are left out.
func RouteSplit(ctx context.Context, q Querier, name string, since time.Time) ([]usage.RouteShare, error) {
	return collect(ctx, q, "count the requests of "+name+" by model", func(r pgx.Row) (usage.RouteShare, error) {
		var s usage.RouteShare
		err := r.Scan(&s.Model, &s.Requests, &s.Errors)
		return s, err
	}, `SELECT model, count(*), count(*) FILTER (WHERE outcome <> 'ok')
		FROM requests WHERE requested = $1 AND at >= $2 AND model <> ''
		GROUP BY model ORDER BY count(*) DESC, model`, name, since)
}
