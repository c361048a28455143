// Package app wires Switchyard's parts into HTTP handlers. The Lambda functions, the local dev server
// and the end-to-end tests all build their handlers here, so the same code serves all three.
package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/capacity"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/config"
	"github.com/switchyard-ai/switchyard/shared/corpusapi"
	"github.com/switchyard-ai/switchyard/shared/gateway"
	"github.com/switchyard-ai/switchyard/shared/health"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
	"github.com/switchyard-ai/switchyard/shared/throttle"
	"github.com/switchyard-ai/switchyard/shared/upstream"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// Config is how an App is built. The binaries take it from the environment through package config
// (Settings); tests build it directly.
type Config struct {
	DatabaseURL string // DATABASE_URL
	// Local marks a local run (make dev, tests): loopback upstreams are allowed and cookies are not Secure.
	Local bool // SWITCHYARD_LOCAL
	// AllowLoopback lets providers point at 127.0.0.0/8 and ::1 (SWITCHYARD_ALLOW_LOOPBACK).
	AllowLoopback bool
	// SnapshotInterval is how often the catalogue version is checked (SWITCHYARD_SNAPSHOT_INTERVAL_MS).
	SnapshotInterval time.Duration
	// Worker makes this process work River jobs (document embeddings, re-embed runs); API processes
	// only insert them.
	Worker bool
	// Reembed tunes the corpus and re-embed jobs (SWITCHYARD_REEMBED_*).
	Reembed reembed.Config
	// MaxRequestBytes bounds a developer request body (SWITCHYARD_MAX_REQUEST_BYTES; 8 MiB when 0).
	MaxRequestBytes int64
	// PublicBasePath is SWITCHYARD_PUBLIC_BASE_PATH: the path in front of /console/ in the browser
	// when the request cannot tell ("/" for none). Locally the server serves everything under it.
	PublicBasePath string
	// CapacityLease is how long a concurrency slot stays held without renewal: the longest a killed
	// instance's slots stay taken (SWITCHYARD_CAPACITY_LEASE_MS; capacity.DefaultLease when 0).
	CapacityLease time.Duration
	// FallbackAttempts bounds a developer request's upstream attempts across its candidates
	// (SWITCHYARD_FALLBACK_ATTEMPTS; 3 when 0); RequestDeadline bounds them together
	// (SWITCHYARD_REQUEST_DEADLINE_MS; 10 minutes when 0).
	FallbackAttempts int
	RequestDeadline  time.Duration
	// Health is when a failing model is cooled down (SWITCHYARD_COOLDOWN_FAILURES,
	// SWITCHYARD_COOLDOWN_WINDOW_MS, SWITCHYARD_COOLDOWN_MS; 5 failures in 30 s, for 30 s).
	Health health.Policy
}

// Settings is the Config the settings c ask for. A local run's switch (SWITCHYARD_LOCAL) is off in
// Lambda whatever it says.
func Settings(c config.Config) Config {
	return Config{
		DatabaseURL:      c.Database.URL,
		Local:            c.Local && !c.InLambda,
		AllowLoopback:    c.AllowLoopback,
		SnapshotInterval: c.SnapshotInterval,
		MaxRequestBytes:  c.MaxRequestBytes,
		CapacityLease:    c.CapacityLease,
		FallbackAttempts: c.FallbackAttempts,
		RequestDeadline:  c.RequestDeadline,
		Health:           health.Policy{Failures: c.CooldownFailures, Window: c.CooldownWindow, Cooldown: c.Cooldown},
		PublicBasePath:   c.PublicBasePath,
		Reembed: reembed.Config{
			BatchSize:            c.Reembed.Batch,
			Shards:               c.Reembed.Shards,
			Workers:              c.Reembed.Workers,
			Retention:            c.Reembed.Retention,
			RescueStuckJobsAfter: c.Reembed.RescueAfter,
			BuildTimeout:         c.Reembed.BuildTimeout,
			Threshold:            c.Reembed.Threshold,
			// RDS Proxy multiplexes sessions, so River's LISTEN connection would pin one database
			// connection per worker instance (or miss notifications): poll instead.
			PollOnly: c.Database.RDSProxy,
		},
	}
}

// App holds the shared parts: the pool, the catalogue source, the upstream client, the request
// log and the developer API built on them.
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
	// Usage is the batching request logger; Lambda calls Flush before an invocation returns.
	Usage *usage.Logger
	// Health is the shared record of failing models that the gateway skips (package health);
	// Flush writes its pending failures too.
	Health  *health.Tracker
	Gateway *gateway.Gateway
	// Corpora writes documents, searches and runs re-embeds; it works jobs only when Config.Worker.
	Corpora *reembed.Service
	// Kick, when set, starts the worker at once after jobs were queued (the worker function in Lambda).
	Kick func(ctx context.Context, reason string)
	// Throttle counts failed admin tokens and console sign-ins per source address in Postgres and
	// refuses a source that failed too often (package throttle). Handlers built after a change to it
	// use the new one.
	Throttle *throttle.Guard
}

// New builds an App on an open pool and starts its request logger; Close stops it. sealer seals
// credentials at rest and unseals them into the catalogue snapshot.
func New(cfg Config, log *slog.Logger, pool *pgxpool.Pool, sealer postgres.Sealer) (*App, error) {
	loader := &postgres.SnapshotLoader{Pool: pool, Opener: sealer, Log: log}
	a := &App{
		Config:   cfg,
		Log:      log,
		Pool:     pool,
		Catalog:  catalog.NewSource(loader, cfg.SnapshotInterval, time.Now),
		Sealer:   sealer,
		Upstream: upstream.New(upstream.Options{AllowLoopback: cfg.AllowLoopback, Logger: log}),
		Usage:    usage.New(&postgres.RequestLogStore{Pool: pool}, usage.Options{Log: log}),
		Throttle: throttle.New(&postgres.AuthFailureStore{Pool: pool}, throttle.Options{Log: log}),
		Health:   health.New(&postgres.HealthStore{Pool: pool}, cfg.Health, log, time.Now),
	}
	rc := cfg.Reembed
	rc.InsertOnly = !cfg.Worker
	if rc.Log == nil {
		rc.Log = log
	}
	var err error
	if a.Corpora, err = reembed.New(pool, a.Catalog, reembed.NewUpstreamEmbedder(a.Upstream), rc); err != nil {
		return nil, err
	}
	a.Usage.Start()
	a.Health.Start()
	a.Gateway = gateway.New(gateway.Config{
		Catalog: a.Catalog, Upstream: a.Upstream, Usage: a.Usage, Log: log, MaxRequestBytes: cfg.MaxRequestBytes,
		Limiter:     capacity.New(capacity.Config{Store: &postgres.CapacityStore{Pool: pool}, Lease: cfg.CapacityLease, Log: log}),
		MaxAttempts: cfg.FallbackAttempts, RequestDeadline: cfg.RequestDeadline, Health: a.Health,
	})
	return a, nil
}

// corpusHandlers serves the corpus routes over a.Corpora.
func (a *App) corpusHandlers() *corpusapi.Handlers {
	return &corpusapi.Handlers{Service: a.Corpora, Log: a.Log, Kick: a.Kick, Usage: a.Usage}
}

// mountDeveloper mounts the developer API: /v1/* and the corpus routes under it.
func (a *App) mountDeveloper(mux *http.ServeMux) {
	mux.Handle("/v1/", a.Gateway)
	a.corpusHandlers().RegisterDeveloper(mux, a.Gateway.AuthenticateKey)
}

// GatewayHandler serves what the gateway function answers behind API Gateway: /v1/* and /healthz.
func (a *App) GatewayHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	a.mountDeveloper(mux)
	return reqlog.Middleware(a.Log, mux)
}

// AdminFunctionHandler serves what the admin function answers: /admin/*, /console/* and /healthz.
func (a *App) AdminFunctionHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("/admin/", a.AdminHandler())
	a.mountConsole(mux)
	return reqlog.Middleware(a.Log, mux)
}

// Flush writes the request log's queued rows; Lambda calls it before an invocation returns, so a
// request shows up in usage even when the instance is frozen afterwards.
func (a *App) Flush(ctx context.Context) {
	if err := a.Usage.Flush(ctx); err != nil {
		a.Log.ErrorContext(ctx, "flush the request log", "err", err)
	}
	if err := a.Health.Flush(ctx); err != nil {
		a.Log.WarnContext(ctx, "flush model failures", "err", err)
	}
}

// Close writes the request log's queued rows, releases upstream connections and the pool. Call it
// once the server has stopped taking requests, so a graceful shutdown loses no row.
func (a *App) Close(ctx context.Context) error {
	err := a.Usage.Close(ctx)
	_ = a.Health.Close(ctx) // advice: a lost failure is counted again by the next one
	a.Upstream.Close()
	a.Pool.Close()
	return err
}

// Shutdown is Close bounded by ten seconds, for a main's defer.
func (a *App) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		a.Log.Error("shut down", "err", err)
	}
}

// Handler serves every route on one address, as API Gateway does in the cloud.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("/admin/", a.AdminHandler())
	a.mountConsole(mux)
	a.mountDeveloper(mux)
	return reqlog.Middleware(a.Log, mux)
}

// healthz answers 200 when the database answers, 503 with "database": "unreachable" otherwise; it
// needs no credentials, so it never says why (the log does).
func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]string{"status": "ok", "database": "ok"}
	status := http.StatusOK
	if err := a.Pool.Ping(ctx); err != nil {
		status = http.StatusServiceUnavailable
		body["status"] = "degraded"
		// The cause (host names, users, TLS details) goes to the log only: /healthz needs no credentials.
		body["database"] = "unreachable"
		reqlog.Logger(r.Context(), a.Log).Warn("health check: database unreachable", "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
