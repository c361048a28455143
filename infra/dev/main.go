// Command dev is what `make dev` runs: Switchyard's every route on one address, as API Gateway serves
// them in the cloud, on a local Postgres with pgvector, with the worker in-process.
package main

import (
	"cmp"
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

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/basepath"
	"github.com/switchyard-ai/switchyard/shared/config"
	"github.com/switchyard-ai/switchyard/shared/lambda"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/seal"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
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

	c, err := config.FromEnvironment()
	if err != nil {
		return err
	}
	cfg := app.Settings(c)
	cfg.Local = true
	cfg.AllowLoopback = true
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set: start this with `make dev`, which starts a local Postgres")
	}
	// SWITCHYARD_PUBLIC_BASE_PATH=/prod serves everything under /prod, as API Gateway's stage URL
	// does, to try the console behind a prefix.
	prefix, _ := basepath.Clean(cfg.PublicBasePath) // config.Load checked it
	addr := cmp.Or(c.Addr, "127.0.0.1:8080")
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.PoolConfig{})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool, log); err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", stateDir, err)
	}
	token, err := adminToken(c.AdminToken)
	if err != nil {
		return err
	}
	if err := app.EnsureBootstrapAdmin(ctx, pool, token); err != nil {
		return err
	}

	sealer, err := seal.LocalFromFile(filepath.Join(stateDir, "seal.key"))
	if err != nil {
		return err
	}
	cfg.Worker = true
	a, err := app.New(cfg, log, pool, sealer)
	if err != nil {
		return err
	}
	// A long-running server refreshes the catalogue in the background, so no request waits for a check.
	go a.Catalog.Run(ctx)
	// The worker runs in-process: documents become searchable and re-embeds run without another program.
	if err := a.Corpora.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}

	// The demo upstream: an OpenAI-compatible fake, in-process, registered with a chat model and two
	// embedding models behind aliases granted to the demo team.
	demo, demoLn, err := fakeupstream.Listen("127.0.0.1:0", fakeupstream.New(fakeupstream.Config{}))
	if err != nil {
		return fmt.Errorf("start the demo upstream: %w", err)
	}
	defer demo.Close()
	demoURL := "http://" + demoLn.Addr().String() + "/v1"
	devKey, err := admin.SeedDemo(ctx, a.AdminService(), admin.DemoConfig{
		UpstreamURL: demoURL,
		KeyFile:     filepath.Join(stateDir, "demo-key"),
	})
	if err != nil {
		return fmt.Errorf("register the demo catalogue: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set SWITCHYARD_ADDR=host:port to use another): %w", addr, err)
	}
	srv := lambda.NewServer(basepath.Strip(prefix, a.Handler()), lambda.LocalTimeouts)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		// Running jobs hand back to the queue; the next start picks them up.
		if err := a.Corpora.Stop(shutdown); err != nil {
			log.Error("stop the worker", "err", err)
		}
		// In-flight requests have ended: write their request-log rows before exiting.
		if err := a.Close(shutdown); err != nil {
			log.Error("flush the request log", "err", err)
		}
	}()
	base := "http://" + ln.Addr().String() + prefix
	fmt.Printf(`
Switchyard is running (local development mode).

  API base URL (OpenAI SDKs): %s/v1
  Admin API:                  %s/admin   (OpenAPI: %s/admin/openapi.json)
  Console:                    %s/console/
  Health:                     %s/healthz

  Admin token:                %s
  Developer key (team demo):  %s
  Demo upstream:              %s  (models demo-chat, demo-embed; pinned demo-chat-2026-01, demo-embed-small-v1, demo-embed-large-v2)

Try it:
  curl -s %s/v1/chat/completions -H "Authorization: Bearer %s" \
    -H "Content-Type: application/json" -d '{"model": "demo-chat", "messages": [{"role": "user", "content": "Hello"}]}'

Press Ctrl-C to stop.
`, base, base, base, base, base, token, devKey, demoURL, base, devKey)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped
	return nil
}

// stateDir keeps what make dev must remember between starts: the admin token, the local sealing key
// and the demo developer key. It is ignored by git.
var stateDir = filepath.Join("infra", "dev", ".local")

// adminToken is given, SWITCHYARD_ADMIN_TOKEN, when set (app.EnsureBootstrapAdmin refuses a weak one,
// saying why); otherwise one generated on the first start (192 random bits) and kept in
// infra/dev/.local, so that every `make dev` prints a token that works. A kept token that is not
// strong is replaced.
func adminToken(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	dir := stateDir
	path := filepath.Join(dir, "admin-token")
	if b, err := os.ReadFile(path); err == nil && app.CheckAdminToken(strings.TrimSpace(string(b))) == nil {
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
