package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/awsconf"
	"github.com/switchyard-ai/switchyard/shared/basepath"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/workerlambda"
)

// FromEnv builds the App a Lambda function or a standalone local binary runs: the database from
// DATABASE_URL, a Secrets Manager secret or RDS IAM auth; credentials sealed with KMS (required in
// Lambda) or a local key file; loopback upstreams allowed only outside Lambda unless said otherwise.
// It does no network or database work: the pool connects on the first request that needs it.
//
// tweak, when given, changes the configuration before the App is built (the worker sets Worker).
func FromEnv(ctx context.Context, log *slog.Logger, inLambda bool, tweak ...func(*Config)) (*App, error) {
	var clients awsconf.Clients
	if inLambda || os.Getenv(awsconf.EnvKMSKeyID) != "" || os.Getenv(awsconf.EnvDatabaseSecretARN) != "" || os.Getenv(awsconf.EnvDatabaseIAM) != "" {
		var err error
		if clients, err = awsconf.NewClients(ctx); err != nil {
			return nil, err
		}
	}
	pool, err := OpenDatabase(ctx, clients, inLambda)
	if err != nil {
		return nil, err
	}
	sealer, err := awsconf.Sealer(os.Getenv, clients, inLambda)
	if err != nil {
		pool.Close()
		return nil, err
	}
	cfg := ConfigFromEnv()
	if cfg.AllowLoopback, err = awsconf.AllowLoopback(os.Getenv, inLambda); err != nil {
		pool.Close()
		return nil, err
	}
	cfg.Local = !inLambda && cfg.Local
	if _, err := basepath.Clean(cfg.PublicBasePath); err != nil {
		pool.Close()
		return nil, fmt.Errorf("SWITCHYARD_PUBLIC_BASE_PATH: %w", err)
	}
	for _, t := range tweak {
		t(&cfg)
	}
	a, err := New(cfg, log, pool, sealer)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if fn := strings.TrimSpace(os.Getenv(awsconf.EnvWorkerFunction)); fn != "" && inLambda {
		k := &kicker{invoker: clients.Lambda, function: fn,
			interval: workerlambda.KickInterval, now: time.Now, log: log, busy: a.Corpora.WorkerFetching}
		a.Kick = k.kick
	}
	return a, nil
}

// OpenDatabase resolves the database from the environment (see awsconf.DatabaseFromEnv) and opens a
// lazy pool on it: no connection is made before the first query.
func OpenDatabase(ctx context.Context, clients awsconf.Clients, inLambda bool) (*pgxpool.Pool, error) {
	db, err := awsconf.DatabaseFromEnv(ctx, os.Getenv, clients)
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

// Addr is SWITCHYARD_ADDR, or def when it is unset.
func Addr(def string) string {
	if a := strings.TrimSpace(os.Getenv("SWITCHYARD_ADDR")); a != "" {
		return a
	}
	return def
}

// NewLogger is the binaries' logger: JSON lines (CloudWatch reads them) at SWITCHYARD_LOG_LEVEL
// (debug, info, warn, error; info by default).
func NewLogger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.TrimSpace(os.Getenv(awsconf.EnvLogLevel)))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
