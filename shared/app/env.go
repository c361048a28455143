package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/awsconf"
	"github.com/switchyard-ai/switchyard/shared/config"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/workerlambda"
)

// FromConfig builds the App a Lambda function or a standalone local binary runs, from the settings
// c (config.Load's): the database from DATABASE_URL, a Secrets Manager secret or RDS IAM auth;
// credentials sealed with KMS (required in Lambda) or a local key file. It does no network or
// database work: the pool connects on the first request that needs it.
//
// tweak, when given, changes the configuration before the App is built (the worker sets Worker).
func FromConfig(ctx context.Context, c config.Config, log *slog.Logger, tweak ...func(*Config)) (*App, error) {
	clients := awsconf.NewClients(c.AWS)
	pool, err := OpenDatabase(ctx, c.Database, clients, c.InLambda)
	if err != nil {
		return nil, err
	}
	sealer, err := awsconf.Sealer(c.KMSKeyID, c.SealKeyFile, clients, c.InLambda)
	if err != nil {
		pool.Close()
		return nil, err
	}
	cfg := Settings(c)
	for _, t := range tweak {
		t(&cfg)
	}
	a, err := New(cfg, log, pool, sealer)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if c.WorkerFunction != "" && c.InLambda {
		k := &kicker{invoker: clients.Lambda, function: c.WorkerFunction,
			interval: workerlambda.KickInterval, now: time.Now, log: log, busy: a.Corpora.WorkerFetching}
		a.Kick = k.kick
	}
	return a, nil
}

// OpenDatabase resolves the database d (see awsconf.ResolveDatabase) and opens a lazy pool on it: no
// connection is made before the first query.
func OpenDatabase(ctx context.Context, d config.Database, clients awsconf.Clients, inLambda bool) (*pgxpool.Pool, error) {
	db, err := awsconf.ResolveDatabase(ctx, d, clients)
	if err != nil {
		return nil, fmt.Errorf("resolve the database: %w", err)
	}
	pc := postgres.PoolConfig{Lazy: true}
	if inLambda {
		// An instance serves one request at a time; a few connections cover the usage flush and the
		// catalogue check beside it.
		pc.MaxConns = 4
	}
	if db.Password != nil {
		pc.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
			pw, err := db.Password(ctx)
			if err != nil {
				return fmt.Errorf("database password (%s): %w", db.Source, err)
			}
			cc.Password = pw
			return nil
		}
	}
	return postgres.Open(ctx, db.URL, pc)
}

// NewLogger is the binaries' logger: JSON lines (CloudWatch reads them) at level
// (SWITCHYARD_LOG_LEVEL).
func NewLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
