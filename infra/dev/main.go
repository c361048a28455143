// Command dev is what `make dev` runs: Switchyard's every route on one address, as API Gateway serves
// them in the cloud, on a local Postgres with pgvector, with the worker in-process.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(log); err != nil {
		log.Error("switchyard dev stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := app.ConfigFromEnv()
	cfg.Local = true
	cfg.AllowLoopback = true
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set: start this with `make dev`, which starts a local Postgres")
	}
	addr := os.Getenv("SWITCHYARD_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.PoolConfig{})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool, log); err != nil {
		return err
	}
	token, err := adminToken()
	if err != nil {
		return err
	}
	if err := app.EnsureBootstrapAdmin(ctx, pool, token); err != nil {
		return err
	}

	a := app.New(cfg, log, pool)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set SWITCHYARD_ADDR=host:port to use another): %w", addr, err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		// In-flight requests have ended: write their request-log rows before exiting.
		if err := a.Close(shutdown); err != nil {
			log.Error("flush the request log", "err", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	fmt.Printf(`
Switchyard is running (local development mode).

  API base URL (OpenAI SDKs): %s/v1
  Admin API:                  %s/admin   (OpenAPI: %s/admin/openapi.json)
  Console:                    %s/console/
  Health:                     %s/healthz

  Admin token:                %s

Press Ctrl-C to stop.
`, base, base, base, base, base, token)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped
	return nil
}

// adminToken is SWITCHYARD_ADMIN_TOKEN when set; otherwise one generated on the first start and kept
// in infra/dev/.local, so that every `make dev` prints a token that works.
func adminToken() (string, error) {
	if t := strings.TrimSpace(os.Getenv("SWITCHYARD_ADMIN_TOKEN")); t != "" {
		return t, nil
	}
	dir := filepath.Join("infra", "dev", ".local")
	path := filepath.Join(dir, "admin-token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	t := "sya-" + hex.EncodeToString(b)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("keep the admin token: %w", err)
	}
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the admin token: %w", err)
	}
	return t, nil
}
