// Command worker is Switchyard's River worker: it keeps corpus indexes current and runs re-embeds. It
// runs as a long-lived process (this main), and as a bounded Lambda invocation (see the hook below).
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/upstream"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(log); err != nil {
		log.Error("worker stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	cfg := app.ConfigFromEnv()
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.PoolConfig{})
	if err != nil {
		return err
	}
	defer pool.Close()
	// The credential opener (package seal) is wired here once it lands on main; until then providers
	// with a credential are called without it.
	source := catalog.NewSource(&postgres.SnapshotLoader{Pool: pool}, cfg.SnapshotInterval, time.Now)
	up := upstream.New(upstream.Options{AllowLoopback: cfg.AllowLoopback, Logger: log})
	defer up.Close()
	rcfg := reembed.ConfigFromEnv()
	rcfg.Log = log
	svc, err := reembed.New(pool, source, reembed.NewUpstreamEmbedder(up), rcfg)
	if err != nil {
		return err
	}

	// LAMBDA HOOK: in a Lambda invocation (AWS_LAMBDA_RUNTIME_API set) the lambda package's adapter
	// calls, per invocation, svc.RunFor(ctx, deadline, 0) with the invocation's deadline: it stops
	// fetching before the deadline and running jobs hand back with JobSnooze(0).

	if err := svc.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	log.Info("worker started")
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return svc.Stop(stopCtx)
}
