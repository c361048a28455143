// Package postgres holds Switchyard's Postgres access: the pool (pgvector types registered on every
// connection), the migration runner, and the stores behind the catalogue, corpora and usage.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
)

// PoolConfig tunes Open. Zero values take defaults suited to a long-running server.
type PoolConfig struct {
	MaxConns int32
	// ExecMode overrides pgx's default query mode; behind RDS Proxy use pgx.QueryExecModeExec so
	// that no named prepared statement outlives a borrowed connection.
	ExecMode pgx.QueryExecMode
	// BeforeConnect may set a fresh password (an RDS IAM token) before each connection.
	BeforeConnect func(context.Context, *pgx.ConnConfig) error
	// Lazy skips the first connection: a Lambda function's cold start does no database work before
	// the first request that needs it.
	Lazy bool
}

// Open connects a pool to url and, unless cfg.Lazy, checks that the database answers. The vector types are
// registered on each connection when the extension exists (before the first migration it does not).
func Open(ctx context.Context, url string, cfg PoolConfig) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if cfg.ExecMode != 0 {
		pc.ConnConfig.DefaultQueryExecMode = cfg.ExecMode
	}
	pc.MaxConnIdleTime = 5 * time.Minute
	pc.BeforeConnect = cfg.BeforeConnect
	pc.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		var has bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'vector')`).Scan(&has); err != nil {
			return fmt.Errorf("look up the vector type: %w", err)
		}
		if !has {
			return nil
		}
		if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
			return fmt.Errorf("register pgvector types: %w", err)
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	if cfg.Lazy {
		return pool, nil
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reach the database: %w", err)
	}
	return pool, nil
}
