// Package postgres holds Switchyard's Postgres access: the pool (pgvector types registered on every
// connection), the migration runner, and the stores behind the catalogue, corpora and usage.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
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
	pc.AfterConnect = registerVectorTypes
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

// registerVectorTypes teaches a new connection pgvector's types when the database has them (before the
// migrations ran, it has none). It is the only work on a new connection, so on a cold start it is on
// the first request's path: one query in the simple protocol, one round trip, where looking the type up
// and then letting pgvector-go register it took two statements, each prepared first (four round trips).
func registerVectorTypes(ctx context.Context, conn *pgx.Conn) error {
	var oids [6]*uint32
	err := conn.QueryRow(ctx, `SELECT to_regtype('vector')::oid, to_regtype('_vector')::oid, to_regtype('halfvec')::oid,
		to_regtype('_halfvec')::oid, to_regtype('sparsevec')::oid, to_regtype('_sparsevec')::oid`,
		pgx.QueryExecModeSimpleProtocol).Scan(&oids[0], &oids[1], &oids[2], &oids[3], &oids[4], &oids[5])
	if err != nil {
		return fmt.Errorf("look up the pgvector types: %w", err)
	}
	tm := conn.TypeMap()
	for i, c := range []struct {
		name  string
		codec pgtype.Codec
	}{{"vector", &pgxvec.VectorCodec{}}, {"halfvec", &pgxvec.HalfVectorCodec{}}, {"sparsevec", &pgxvec.SparseVectorCodec{}}} {
		oid, arrayOID := oids[2*i], oids[2*i+1]
		if oid == nil {
			continue
		}
		t := &pgtype.Type{Name: c.name, OID: *oid, Codec: c.codec}
		tm.RegisterType(t)
		if arrayOID != nil {
			tm.RegisterType(&pgtype.Type{Name: "_" + c.name, OID: *arrayOID, Codec: &pgtype.ArrayCodec{ElementType: t}})
		}
	}
	return nil
}
