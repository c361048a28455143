package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
)

// When the database fails while a rollback looks up the model it returns to (here: the model row is
// locked by an edit longer than the connection's lock_timeout), the rollback answers an error and
// changes nothing; it used to panic on a nil *apierror.Error.
func TestRollbackAliasDatabaseErrorIsAnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, err := url.Parse(pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("lock_timeout", "200ms") // a startup parameter: every connection of the pool waits at most this long for a lock
	u.RawQuery = q.Encode()
	pool, err := postgres.Open(ctx, u.String(), postgres.PoolConfig{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	for _, s := range []string{
		`INSERT INTO providers (identifier, base_url, auth_method) VALUES ('acme', 'http://127.0.0.1:1/v1', 'none')`,
		`INSERT INTO catalog_names (name, what) VALUES ('llm-v1', 'model'), ('llm-v2', 'model')`,
		`INSERT INTO models (name, provider_id, upstream_name, kind, enabled) SELECT n, p.id, n, 'chat', true
			FROM providers p, unnest(ARRAY['llm-v1', 'llm-v2']) n`,
	} {
		if _, err := pool.Exec(ctx, s); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	store := &postgres.CatalogStore{Pool: pool}
	if _, err := store.CreateAlias(ctx, "llm", "llm-v1", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := store.MoveAlias(ctx, "llm", "llm-v2", "llm-v1", "try v2", nil); err != nil {
		t.Fatal(err)
	}

	edit, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = edit.Rollback(ctx) }) // before the pool closes, should the test end early
	if _, err := edit.Exec(ctx, `SELECT 1 FROM models WHERE name = 'llm-v1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	_, err = store.RollbackAlias(ctx, "llm", "", "", nil)
	var pgErr *pgconn.PgError
	if _, isAPI := apierror.As(err); err == nil || isAPI || !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
		t.Fatalf("rollback while the lookup fails = %v; want the database's lock_not_available error, as an internal error", err)
	}
	if err := edit.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if a, err := store.Alias(ctx, "llm", true); err != nil || a.Target != "llm-v2" || len(a.History) != 2 {
		t.Fatalf("after the failed rollback: %+v %v; want llm-v2 and two history entries", a, err)
	}
	// Once the database answers, the same rollback works.
	if a, err := store.RollbackAlias(ctx, "llm", "llm-v2", "", nil); err != nil || a.Target != "llm-v1" {
		t.Fatalf("rollback: %+v %v", a, err)
	}
}
