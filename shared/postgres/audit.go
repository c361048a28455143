package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// InsertAudit writes e to the audit log through q, with the entity before and after the change
// (nil for none), each through e.Show. Call it inside the change's transaction, so that the two are
// committed or rolled back together. A nil e records nothing (callers that are not an admin: tests,
// benchmarks).
func InsertAudit(ctx context.Context, q Querier, e *audit.Entry, before, after any) error {
	if e == nil {
		return nil
	}
	b, err := auditJSON(e, before)
	if err != nil {
		return err
	}
	a, err := auditJSON(e, after)
	if err != nil {
		return err
	}
	var id, name, role *string
	if e.Actor != nil {
		r := string(e.Actor.Role)
		id, name, role = &e.Actor.ID, &e.Actor.Name, &r
	}
	_, err = q.Exec(ctx, `INSERT INTO audit_log (actor_id, actor_name, role, action, target, before, after, source_ip, user_agent, request_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		id, name, role, e.Action, e.Target, b, a, e.Origin.IP, e.Origin.UserAgent, e.Origin.RequestID)
	if err != nil {
		return fmt.Errorf("record %s %s in the audit log: %w", e.Action, e.Target, err)
	}
	return nil
}

// auditJSON encodes v as the log keeps it. Catalogue entities hold credentials and hashes, so they
// are recorded only through e.Show (the admin API's views).
func auditJSON(e *audit.Entry, v any) ([]byte, error) {
	if rv := reflect.ValueOf(v); !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil()) {
		return nil, nil // none, or a nil *T: nothing before a creation, nothing after a deletion
	}
	if e.Show != nil {
		v = e.Show(v)
	} else {
		switch v.(type) {
		case *catalog.Provider, *catalog.Key, *catalog.Admin:
			return nil, fmt.Errorf("record %s: a %T would be logged as it is; the audit entry needs Show", e.Action, v)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode the audit entry of %s: %w", e.Action, err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	return b, nil
}

// AuditLog lists a page of the audit log, newest first, and whether more entries lie beyond it in
// the direction asked for (older ones, or newer ones with Before). Actor matches the actor's id or
// name.
func (s *CatalogStore) AuditLog(ctx context.Context, q audit.Query) ([]audit.Row, bool, error) {
	if q.After != 0 && q.Before != 0 {
		return nil, false, errors.New("list the audit log: a page continues after an entry or before one, not both")
	}
	where := `($1 = '' OR actor_id = $1 OR actor_name = $1) AND ($2 = '' OR action = $2) AND ($3 = '' OR target = $3)
		AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)`
	order := `at DESC, id DESC`
	args := []any{q.Actor, q.Action, q.Target, timeOrNil(q.From), timeOrNil(q.To), q.Limit + 1}
	if cursor := max(q.After, q.Before); cursor != 0 {
		var at time.Time
		err := s.Pool.QueryRow(ctx, `SELECT at FROM audit_log WHERE id = $1`, cursor).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, fmt.Errorf("list the audit log from %d: %w", cursor, audit.ErrNotFound)
		}
		if err != nil {
			return nil, false, fmt.Errorf("find audit entry %d: %w", cursor, err)
		}
		where, order, args = pageFrom(where, args, at, cursor, q.Before != 0)
	}
	out, err := collect(ctx, s.Pool, "list the audit log", func(r pgx.Row) (audit.Row, error) {
		var e audit.Row
		err := r.Scan(&e.ID, &e.At, &e.ActorID, &e.ActorName, &e.Role, &e.Action, &e.Target, &e.Before, &e.After,
			&e.SourceIP, &e.UserAgent, &e.RequestID)
		return e, err
	}, `SELECT id, at, actor_id, actor_name, role, action, target, before, after, source_ip, user_agent, request_id
		FROM audit_log WHERE `+where+` ORDER BY `+order+` LIMIT $6`, args...)
	if err != nil {
		return nil, false, err
	}
	out, more := endPage(out, q.Limit, q.Before != 0)
	return out, more, nil
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
