// Package app wires Switchyard's parts into HTTP handlers. The Lambda functions, the local dev server
// and the end-to-end tests all build their handlers here, so the same code serves all three.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
	"github.com/switchyard-ai/switchyard/shared/upstream"
)

// Config is what the binaries read from their environment. docs/deploy.md lists every variable.
type Config struct {
	DatabaseURL string // DATABASE_URL
	// Local marks a local run (make dev, tests): loopback upstreams are allowed and cookies are not Secure.
	Local bool // SWITCHYARD_LOCAL
	// AllowLoopback lets providers point at 127.0.0.0/8 and ::1 (SWITCHYARD_ALLOW_LOOPBACK; on when Local).
	AllowLoopback bool
	// SnapshotInterval is how often the catalogue version is checked (SWITCHYARD_SNAPSHOT_INTERVAL_MS).
	SnapshotInterval time.Duration
}

// ConfigFromEnv reads Config from the environment.
func ConfigFromEnv() Config {
	c := Config{
		DatabaseURL: os.Getenv("DATABASE_URL"),
		Local:       envBool("SWITCHYARD_LOCAL", false),
	}
	c.AllowLoopback = envBool("SWITCHYARD_ALLOW_LOOPBACK", c.Local)
	if ms, err := strconv.Atoi(os.Getenv("SWITCHYARD_SNAPSHOT_INTERVAL_MS")); err == nil && ms > 0 {
		c.SnapshotInterval = time.Duration(ms) * time.Millisecond
	}
	return c
}

func envBool(name string, def bool) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	if err != nil {
		return def
	}
	return v
}

// App holds the shared parts: the pool and the catalogue source.
type App struct {
	Config  Config
	Log     *slog.Logger
	Pool    *pgxpool.Pool
	Catalog *catalog.Source
	// Sealer seals and unseals provider credentials (package seal).
	Sealer postgres.Sealer
	// Upstream is the one OpenAI-compatible client: verification, probes and forwarding share its
	// connection pools.
	Upstream *upstream.Client
}

// New builds an App on an open pool; sealer seals credentials at rest and unseals them into the
// catalogue snapshot.
func New(cfg Config, log *slog.Logger, pool *pgxpool.Pool, sealer postgres.Sealer) *App {
	loader := &postgres.SnapshotLoader{Pool: pool, Opener: sealer}
	return &App{
		Config:   cfg,
		Log:      log,
		Pool:     pool,
		Catalog:  catalog.NewSource(loader, cfg.SnapshotInterval, time.Now),
		Sealer:   sealer,
		Upstream: upstream.New(upstream.Options{AllowLoopback: cfg.AllowLoopback, Logger: log}),
	}
}

// GatewayHandler serves what the gateway function answers behind API Gateway: /v1/* and /healthz.
func (a *App) GatewayHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	return reqlog.Middleware(a.Log, mux)
}

// AdminFunctionHandler serves what the admin function answers: /admin/*, /console/* and /healthz.
func (a *App) AdminFunctionHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("/admin/", a.AdminHandler())
	mux.Handle("/console/", a.consoleHandler())
	return reqlog.Middleware(a.Log, mux)
}

// Flush writes what the instance still holds (queued usage rows); Lambda calls it before an
// invocation returns.
func (a *App) Flush(ctx context.Context) {}

// Close flushes and releases the pool.
func (a *App) Close() {
	a.Flush(context.Background())
	a.Pool.Close()
}

// Handler serves every route on one address, as API Gateway does in the cloud.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("/admin/", a.AdminHandler())
	mux.Handle("/console/", a.consoleHandler())
	return reqlog.Middleware(a.Log, mux)
}

// healthz answers 200 when the database answers, 503 otherwise; it needs no credentials.
func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]string{"status": "ok", "database": "ok"}
	status := http.StatusOK
	if err := a.Pool.Ping(ctx); err != nil {
		status = http.StatusServiceUnavailable
		body["status"] = "degraded"
		body["database"] = fmt.Sprintf("unreachable: %v", err)
		reqlog.Logger(r.Context(), a.Log).Warn("health check: database unreachable", "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
