// Package pgtest gives every test its own fresh, migrated Postgres database, cloned from a template
// that is migrated once per set of migrations, so tests run in parallel and never see each other's rows.
//
// It needs DATABASE_URL (set by `make test`, which starts the local cluster). Where it is missing or
// the server does not answer, tests fail loudly: they never skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/migrations"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// templateLock serialises template creation across test processes (go test runs packages in parallel).
const templateLock = 0x5357_5450_4c54 // "SWTPLT"

var (
	once     sync.Once
	tplName  string
	errSetup error
)

// BaseURL returns DATABASE_URL, failing the test when it is not set.
func BaseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		tb.Fatal("DATABASE_URL is not set: run the tests with `make test`, which starts a local Postgres with pgvector, " +
			"or set DATABASE_URL to a Postgres that has the vector extension")
	}
	return u
}

// NewDB creates a database for this test alone, migrated to the newest schema, and drops it when the
// test ends. It returns the database's URL.
func NewDB(tb testing.TB) string {
	tb.Helper()
	base := BaseURL(tb)
	once.Do(func() { tplName, errSetup = ensureTemplate(base) })
	if errSetup != nil {
		tb.Fatalf("prepare the template database: %v", errSetup)
	}
	ctx := context.Background()
	name := "t_" + randomHex(8)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", redact(base), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tplName)); err != nil {
		tb.Fatalf("create test database from %s: %v", tplName, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			tb.Logf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(base, name)
}

// NewPool is NewDB plus a pool on it, closed when the test ends (before the database is dropped).
func NewPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	u := NewDB(tb)
	pool, err := postgres.Open(context.Background(), u, postgres.PoolConfig{MaxConns: 10})
	if err != nil {
		tb.Fatalf("open test database: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// ensureTemplate migrates a template database once per set of migrations and River version; its
// name carries their hash, so a branch with other migrations gets a template of its own.
func ensureTemplate(base string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := "switchyard_tpl_" + schemaHash()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connect to %s (is Postgres running? `make test` starts it): %w", redact(base), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(templateLock)); err != nil {
		return "", fmt.Errorf("take the template lock: %w", err)
	}
	defer admin.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(templateLock)) //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up the template: %w", err)
	}
	if exists {
		return name, nil
	}
	building := name + "_new"
	if _, err := admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building)); err != nil {
		return "", fmt.Errorf("drop a half-built template: %w", err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		return "", fmt.Errorf("create the template: %w", err)
	}
	pool, err := postgres.Open(ctx, withDatabase(base, building), postgres.PoolConfig{MaxConns: 2})
	if err != nil {
		return "", err
	}
	err = postgres.Migrate(ctx, pool, nil)
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrate the template: %w", err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		return "", fmt.Errorf("publish the template: %w", err)
	}
	return name, nil
}

func schemaHash() string {
	h := sha256.New()
	files, _ := fs.Glob(migrations.FS, "*.sql")
	sort.Strings(files)
	for _, f := range files {
		b, _ := fs.ReadFile(migrations.FS, f)
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/riverqueue/river" || d.Path == "github.com/pgvector/pgvector-go" {
				fmt.Fprintf(h, "%s@%s\x00", d.Path, d.Version)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func withDatabase(base, db string) string {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		// A keyword/value connection string.
		return base + " dbname=" + db
	}
	u.Path = "/" + db
	return u.String()
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "DATABASE_URL"
	}
	return p.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
