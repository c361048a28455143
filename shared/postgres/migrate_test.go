package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
)

// Migrating an already migrated database, from several processes at once, changes nothing and fails nothing.
func TestMigrateIsIdempotentAndSafeConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)

	var before int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if before < 2 {
		t.Fatalf("schema_migrations has %d rows; want every migration recorded", before)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- postgres.Migrate(ctx, pool, nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	var after int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("schema_migrations went from %d to %d rows", before, after)
	}
	// River's tables and pgvector are there.
	var riverJobs, vector bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('river_job') IS NOT NULL, EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')`).Scan(&riverJobs, &vector); err != nil {
		t.Fatal(err)
	}
	if !riverJobs || !vector {
		t.Fatalf("river_job present %v, vector extension present %v; want both", riverJobs, vector)
	}
}

// Each test's database is its own: a row written in one is absent from another.
func TestEachTestHasItsOwnDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := pgtest.NewPool(t), pgtest.NewPool(t)
	if _, err := a.Exec(ctx, `INSERT INTO teams (name) VALUES ('only-in-a')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, `SELECT count(*) FROM teams`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database b sees %d teams written in database a", n)
	}
}
