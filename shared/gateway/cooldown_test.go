package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/app/apptest"
	"github.com/switchyard-ai/switchyard/shared/gateway"
	"github.com/switchyard-ai/switchyard/shared/health"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/seal"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// serveEnv, set in a child process of the test binary, makes it a Switchyard server on that
// database (cooldownEnv: its cooldown in milliseconds); it prints its address and serves until
// SIGTERM.
const (
	serveEnv    = "GATEWAY_TEST_SERVE_DB"
	cooldownEnv = "GATEWAY_TEST_COOLDOWN_MS"
)

func TestMain(m *testing.M) { apptest.Main(m, serveEnv, 4, serveChild) }

// serveChild is the second Switchyard process: the whole app on the child's database, with the
// cooldown cooldownEnv sets.
func serveChild(ctx context.Context, pool *pgxpool.Pool) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	dir, _ := os.MkdirTemp("", "gateway-child")
	defer os.RemoveAll(dir)
	sealer, err := seal.LocalFromFile(filepath.Join(dir, "seal.key"))
	if err != nil {
		return err
	}
	ms, _ := strconv.Atoi(os.Getenv(cooldownEnv))
	return apptest.ServeApp(ctx, func() (*app.App, error) {
		return app.New(cooldownConfig(time.Duration(ms)*time.Millisecond), log, pool, sealer)
	}, (*app.App).Handler)
}

// cooldownConfig is both processes' configuration: 3 failures within 30 s cool a model down.
func cooldownConfig(cooldown time.Duration) app.Config {
	return app.Config{Local: true, AllowLoopback: true, Health: health.Policy{Failures: 3, Window: 30 * time.Second, Cooldown: cooldown}}
}

// startServer runs the test binary as a second Switchyard process on e's database and returns its
// base URL. It shares nothing in memory with the test's own server.
func (e *env) startServer(cooldown time.Duration) string {
	e.t.Helper()
	return apptest.Start(e.t, serveEnv+"="+e.pool.Config().ConnString(), cooldownEnv+"="+strconv.Itoa(int(cooldown.Milliseconds()))).Base
}

// served is who answered one chat request sent to base: the model and the number of attempts.
func (e *env) served(base string) (string, string) {
	e.t.Helper()
	resp := e.send(http.MethodPost, base+"/v1/chat/completions", e.key, `{"model":"pool","messages":[{"role":"user","content":"hi"}]}`)
	body := readBody(e.t, resp)
	if resp.StatusCode != 200 {
		e.t.Fatalf("%s answered %d %s", base, resp.StatusCode, body)
	}
	return resp.Header.Get(gateway.HeaderModel), resp.Header.Get(gateway.HeaderAttempts)
}

// firstTry is a waittest probe: it sends one request for the pool through base and reports which
// model answered it in how many attempts, done when model answered at the first.
func (e *env) firstTry(base, model string) func() (string, bool) {
	return func() (string, bool) {
		m, n := e.served(base)
		return fmt.Sprintf("answered from %s in %s attempts", m, n), m == model && n == "1"
	}
}

func (e *env) modelHealth(name string) *health.Record {
	e.t.Helper()
	h, err := (&postgres.HealthStore{Pool: e.pool}).Model(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// TestCooldownIsSharedByTwoProcesses: a model that keeps failing on one server is cooled down; a
// second server process on the same database skips it within a second; operators see the cooldown
// and why in GET /admin/models/{name}; a request that has nothing else still tries it; when the
// cooldown ends, the first call is its probe, and its success brings the model back everywhere.
func TestCooldownIsSharedByTwoProcesses(t *testing.T) {
	const cooldown = 3 * time.Second
	e := newEnvWith(t, cooldownConfig(cooldown))
	fakes := e.poolRoute(2, 0)
	other := e.startServer(cooldown)
	if m, n := e.served(other); m != "fb-0" || n != "1" {
		t.Fatalf("before any failure the second server answered from %s in %s attempts, want fb-0 in 1", m, n)
	}

	fakes[0].SetFaults(fakeupstream.Faults{Status: 503})
	for i := 0; i < 3; i++ {
		if m, n := e.served(e.srv.URL); m != "fb-1" || n != "2" {
			t.Fatalf("failure %d: answered from %s in %s attempts, want fb-1 in 2", i+1, m, n)
		}
	}
	if err := e.app.Health.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	cooled := time.Now()
	h := e.modelHealth("fb-0")
	if h.State != health.StateCoolingDown || h.CooldownUntil == nil || !strings.Contains(h.CooldownReason, "3 failures") {
		t.Fatalf("after 3 failures: %+v", h)
	}
	if m, n := e.served(e.srv.URL); m != "fb-1" || n != "1" {
		t.Errorf("this server still tries fb-0 first: answered from %s in %s attempts", m, n)
	}

	// The second server's view catches up within the one-second rule.
	waittest.Eventually(t, 2*time.Second-time.Since(cooled), "the second server to skip fb-0 (2s after the cooldown began at most)",
		e.firstTry(other, "fb-1"))
	seen := time.Since(cooled)
	t.Logf("the second server skipped fb-0 %v after the cooldown began", seen)
	if seen > time.Second {
		t.Errorf("the second server skipped fb-0 after %v, want within 1s", seen)
	}

	// Operators see it.
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	token := "sya-" + hex.EncodeToString(random)
	if err := app.EnsureBootstrapAdmin(e.ctx, e.pool, token); err != nil {
		t.Fatal(err)
	}
	e.refresh()
	resp := e.send(http.MethodGet, e.srv.URL+"/admin/models/fb-0", token, "")
	var view struct {
		Health struct {
			State          string     `json:"state"`
			CooldownUntil  *time.Time `json:"cooldown_until"`
			CooldownReason string     `json:"cooldown_reason"`
		} `json:"health"`
	}
	if err := json.Unmarshal([]byte(readBody(t, resp)), &view); err != nil {
		t.Fatal(err)
	}
	if view.Health.State != "cooling_down" || view.Health.CooldownUntil == nil || !view.Health.CooldownUntil.Equal(*h.CooldownUntil) ||
		!strings.Contains(view.Health.CooldownReason, "upstream_unavailable:503") {
		t.Errorf("GET /admin/models/fb-0 health = %+v", view.Health)
	}

	// Nothing else left: the cooled-down model is still tried, not refused.
	before := fakes[0].Requests()
	resp = e.chat("fb-0", false)
	if body := readBody(t, resp); resp.StatusCode != 502 || errorCode(body) != "upstream_unavailable" || fakes[0].Requests() != before+1 {
		t.Errorf("a request for fb-0 alone: %d %s, fb-0 called %d times", resp.StatusCode, body, fakes[0].Requests()-before)
	}

	// It comes back: after the cooldown the first call is the probe, and it succeeds.
	fakes[0].SetFaults(fakeupstream.Faults{})
	waittest.Eventually(t, time.Until(h.CooldownUntil.Add(2*time.Second)), "fb-0 to be called again (2s after its cooldown ended at most)",
		e.firstTry(other, "fb-0"))
	if time.Now().Before(*h.CooldownUntil) {
		t.Error("fb-0 was tried first before its cooldown ended")
	}
	waittest.Eventually(t, time.Second, "the probe's success to be recorded (fb-0 ok, recovered_at set)", func() (*health.Record, bool) {
		h := e.modelHealth("fb-0")
		return h, h.State == health.StateOK && h.RecoveredAt != nil
	})
	waittest.Eventually(t, time.Second, "this server to send to fb-0 first again (a second after its recovery at most)",
		e.firstTry(e.srv.URL, "fb-0"))
}
