package capacity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/app/apptest"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// serverEnv, set in a child process of the test binary, makes it a gateway server on that database;
// leaseEnv is its slot lease.
const (
	serverEnv = "CAPACITY_TEST_SERVER_DB"
	leaseEnv  = "CAPACITY_TEST_LEASE"
)

func TestMain(m *testing.M) { apptest.Main(m, serverEnv, 20, runServer) }

// runServer serves the gateway (app.GatewayHandler, as the Lambda function does) on a free port,
// printed as the first line of stdout, until SIGTERM or until it is killed.
func runServer(ctx context.Context, pool *pgxpool.Pool) error {
	lease, _ := time.ParseDuration(os.Getenv(leaseEnv))
	return apptest.ServeApp(ctx, func() (*app.App, error) {
		return app.New(app.Config{Local: true, AllowLoopback: true, CapacityLease: lease}, slog.New(slog.DiscardHandler), pool, nil)
	}, (*app.App).GatewayHandler)
}

// env is one database with the demo catalogue on a fake upstream, and gateway processes serving it.
type env struct {
	t    *testing.T
	ctx  context.Context
	url  string
	pool *pgxpool.Pool
	a    *app.App // in the test process: the admin side
	fake *fakeupstream.Running
	key  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDB(t)
	pool, err := postgres.Open(ctx, url, postgres.PoolConfig{MaxConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	a, err := app.New(app.Config{Local: true, AllowLoopback: true}, slog.New(slog.DiscardHandler), pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Usage.Close(context.Background()) })
	fake := fakeupstream.Start(fakeupstream.Config{})
	t.Cleanup(fake.Close)
	key, err := admin.SeedDemo(ctx, a.AdminService(), admin.DemoConfig{UpstreamURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, url: url, pool: pool, a: a, fake: fake, key: key}
}

// limit sets the limits of a scope, as the admin API does.
func (e *env) limit(kind catalog.ScopeKind, name string, set func(*catalog.Limits)) {
	e.t.Helper()
	l := catalog.Unlimited()
	set(&l)
	if _, err := (&postgres.CapacityStore{Pool: e.pool}).SetLimits(e.ctx, catalog.Scope{Kind: kind, Name: name}, &l, nil, nil); err != nil {
		e.t.Fatal(err)
	}
}

// server is a gateway process.
type server struct {
	cmd  *exec.Cmd
	base string
}

// start runs a gateway process on the env's database with slot leases of lease.
func (e *env) start(lease time.Duration) *server {
	e.t.Helper()
	c := apptest.Start(e.t, serverEnv+"="+e.url, leaseEnv+"="+lease.String())
	return &server{cmd: c.Cmd, base: c.Base}
}

// answer is one developer request's answer.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	err    error
}

func (a answer) code() string {
	if e, ok := a.body["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

func (a answer) message() string {
	if e, ok := a.body["error"].(map[string]any); ok {
		s, _ := e["message"].(string)
		return s
	}
	return ""
}

func (a answer) tokens() int64 {
	u, _ := a.body["usage"].(map[string]any)
	n, _ := u["total_tokens"].(float64)
	return int64(n)
}

var client = &http.Client{Timeout: 2 * time.Minute}

func post(ctx context.Context, base, key, route string, body any) answer {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+route, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, err: err}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func chatBody(model string) map[string]any {
	return map[string]any{"model": model, "max_tokens": 5, "messages": []map[string]any{{"role": "user", "content": "hello there"}}}
}

func embedBody(model string) map[string]any {
	return map[string]any{"model": model, "input": "hello"}
}

// burst sends n requests at once to each server and returns every answer.
func burst(ctx context.Context, servers []*server, n int, key, route string, body any) []answer {
	var mu sync.Mutex
	var out []answer
	var wg sync.WaitGroup
	for _, s := range servers {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := post(ctx, s.base, key, route, body)
				mu.Lock()
				out = append(out, a)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return out
}

// A concurrency cap holds across two gateway processes: the upstream never serves more than the cap
// at once, a request that finds the cap full waits its queue time and then gets 503
// capacity_exceeded with Retry-After, a cap of 0 refuses everything with a message that says so, a
// stream longer than the lease keeps its slot, and the slots of a SIGKILLed process come back when
// their lease runs out.
func TestConcurrencyCapAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills gateway processes")
	}
	e := newEnv(t)
	const lease = 3 * time.Second
	const chatCap = 3
	e.limit(catalog.ScopeModel, admin.DemoChatModel, func(l *catalog.Limits) { l.MaxConcurrency, l.Queue = chatCap, 30*time.Second })
	e.limit(catalog.ScopeModel, admin.DemoEmbedSmall, func(l *catalog.Limits) { l.MaxConcurrency = 1 })
	e.limit(catalog.ScopeModel, admin.DemoEmbedLarge, func(l *catalog.Limits) { l.MaxConcurrency = 0 })
	a, b := e.start(lease), e.start(lease)
	servers := []*server{a, b}

	t.Run("the cap is never passed, and waiting requests are served", func(t *testing.T) {
		e.fake.SetFaults(fakeupstream.Faults{FirstByteDelay: 200 * time.Millisecond})
		defer e.fake.SetFaults(fakeupstream.Faults{})
		e.fake.ResetMaxInFlight()
		answers := burst(e.ctx, servers, 8, e.key, "/v1/chat/completions", chatBody(admin.DemoChatAlias))
		for _, ans := range answers {
			if ans.err != nil || ans.status != http.StatusOK {
				t.Fatalf("a request within the queue time failed: %d %v %v", ans.status, ans.body, ans.err)
			}
		}
		if most := e.fake.MaxInFlight(); most > chatCap {
			t.Fatalf("the upstream served %d requests at once; the cap is %d", most, chatCap)
		} else {
			t.Logf("16 requests from two processes, the upstream's most at once: %d (cap %d)", most, chatCap)
		}
	})

	t.Run("at the cap without a queue: 503 capacity_exceeded with Retry-After", func(t *testing.T) {
		e.fake.SetFaults(fakeupstream.Faults{FirstByteDelay: 500 * time.Millisecond})
		defer e.fake.SetFaults(fakeupstream.Faults{})
		e.fake.ResetMaxInFlight()
		answers := burst(e.ctx, servers, 3, e.key, "/v1/embeddings", embedBody(admin.DemoEmbedAlias))
		ok, refused := 0, 0
		for _, ans := range answers {
			switch {
			case ans.status == http.StatusOK:
				ok++
			case ans.status == http.StatusServiceUnavailable && ans.code() == "capacity_exceeded":
				refused++
				if ans.header.Get("Retry-After") != "1" {
					t.Errorf("Retry-After = %q; want 1", ans.header.Get("Retry-After"))
				}
				if typ := ans.body["error"].(map[string]any)["type"]; typ != "rate_limit_error" {
					t.Errorf("type = %v; want rate_limit_error", typ)
				}
			default:
				t.Fatalf("unexpected answer %d %v %v", ans.status, ans.body, ans.err)
			}
		}
		if ok == 0 || refused == 0 || e.fake.MaxInFlight() > 1 {
			t.Fatalf("%d served, %d refused, %d at once at the upstream; want some of each and at most 1 at once", ok, refused, e.fake.MaxInFlight())
		}
	})

	t.Run("a cap of 0 refuses everything and says so", func(t *testing.T) {
		before := e.fake.Requests()
		for _, s := range servers {
			ans := post(e.ctx, s.base, e.key, "/v1/embeddings", embedBody(admin.DemoEmbedLarge))
			if ans.status != http.StatusServiceUnavailable || ans.code() != "capacity_exceeded" || !strings.Contains(ans.message(), "limit to 0") {
				t.Fatalf("a cap of 0 answered %d %q: %q", ans.status, ans.code(), ans.message())
			}
			if ans.header.Get("Retry-After") != "" {
				t.Errorf("a cap of 0 sent Retry-After %q: retrying does not help", ans.header.Get("Retry-After"))
			}
		}
		if e.fake.Requests() != before {
			t.Fatal("a request refused by a cap of 0 reached the upstream")
		}
	})

	t.Run("a SIGKILLed process's slots come back within the lease", func(t *testing.T) {
		e.fake.SetFaults(fakeupstream.Faults{FirstByteDelay: time.Hour})
		// The last subtest's slot is released just after its answer went out, so the first try through B
		// may still find it taken and be refused at once: send again until one reaches the upstream.
		var held chan answer
		waittest.Eventually(t, 10*time.Second, "the request through B to reach the upstream", func() (string, bool) {
			if held == nil {
				held = make(chan answer, 1)
				go func(ch chan answer) {
					ch <- post(e.ctx, b.base, e.key, "/v1/embeddings", embedBody(admin.DemoEmbedAlias))
				}(held)
			}
			select {
			case ans := <-held:
				if ans.status != http.StatusServiceUnavailable || ans.code() != "capacity_exceeded" {
					t.Fatalf("the request through B answered %d %v before reaching the upstream", ans.status, ans.body)
				}
				held = nil
				return "a try through B refused with capacity_exceeded", false
			default:
				n := e.fake.InFlight()
				return fmt.Sprintf("%d requests in flight at the upstream", n), n == 1
			}
		})
		// Let more than a lease pass (nothing to wait for: the point is the time): B renews its slot,
		// so A is still refused.
		time.Sleep(lease + lease/2)
		if ans := post(e.ctx, a.base, e.key, "/v1/embeddings", embedBody(admin.DemoEmbedAlias)); ans.status != http.StatusServiceUnavailable {
			t.Fatalf("with B's request past its first lease, A got %d %v; want 503 (the slot is renewed)", ans.status, ans.body)
		}
		_ = b.cmd.Process.Kill() // SIGKILL: nothing is released
		_ = b.cmd.Wait()
		<-held
		killed := time.Now()
		e.fake.SetFaults(fakeupstream.Faults{})
		var recovered time.Duration
		waittest.Eventually(t, 3*lease, "A to be served again", func() (string, bool) {
			ans := post(e.ctx, a.base, e.key, "/v1/embeddings", embedBody(admin.DemoEmbedAlias))
			recovered = time.Since(killed)
			return fmt.Sprintf("%d %v", ans.status, ans.body), ans.status == http.StatusOK
		})
		t.Logf("the killed process's slot came back %v after the kill (lease %v)", recovered.Round(time.Millisecond), lease)
		if recovered > lease+time.Second {
			t.Fatalf("the slot came back %v after the kill; the lease is %v", recovered, lease)
		}
	})
}

// A token quota holds across two gateway processes within one reservation: every request reserves
// its estimate up front and settles its true usage when it ends, so a burst from both processes uses
// at most the quota, later requests get 429 rate_limited with Retry-After and the x-ratelimit
// headers, and the window ends holding exactly the tokens the served requests used.
func TestTokenQuotaAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	e := newEnv(t)
	const quota = 400
	e.limit(catalog.ScopeTeam, admin.DemoTeam, func(l *catalog.Limits) { l.Rates[1].Tokens = quota }) // per day
	servers := []*server{e.start(time.Minute), e.start(time.Minute)}
	e.fake.SetFaults(fakeupstream.Faults{FirstByteDelay: 100 * time.Millisecond})
	var used int64
	served, limited := 0, 0
	for round := 0; round < 10 && limited == 0; round++ {
		for _, ans := range burst(e.ctx, servers, 6, e.key, "/v1/chat/completions", chatBody(admin.DemoChatAlias)) {
			switch {
			case ans.status == http.StatusOK:
				served++
				used += ans.tokens()
				if ans.header.Get("x-ratelimit-limit-tokens") != strconv.Itoa(quota) {
					t.Errorf("x-ratelimit-limit-tokens = %q on a served request; want %d", ans.header.Get("x-ratelimit-limit-tokens"), quota)
				}
			case ans.status == http.StatusTooManyRequests && ans.code() == "rate_limited":
				limited++
				checkRateHeaders(t, ans, quota)
			default:
				t.Fatalf("unexpected answer %d %v %v", ans.status, ans.body, ans.err)
			}
		}
	}
	if limited == 0 {
		t.Fatalf("%d requests using %d tokens were all served; the quota is %d", served, used, quota)
	}
	if used > quota {
		t.Fatalf("served requests used %d tokens; the quota is %d", used, quota)
	}
	// A request's answer goes out before its settlement, so the last settlements may still be on
	// their way.
	var counted int64
	waittest.Eventually(t, 5*time.Second, fmt.Sprintf("the window to hold the %d tokens the served requests used", used), func() (int64, bool) {
		if err := e.pool.QueryRow(e.ctx, `SELECT tokens FROM rate_windows WHERE scope = $1 AND period = 'day'`,
			catalog.Scope{Kind: catalog.ScopeTeam, Name: admin.DemoTeam}.String()).Scan(&counted); err != nil {
			t.Fatal(err)
		}
		return counted, counted == used
	})
	t.Logf("%d served using %d tokens, %d refused; the day's window counts %d of %d", served, used, limited, counted, quota)
	// Every refusal is in the request log as Switchyard's own, told apart from an upstream's 429.
	e.a.Flush(e.ctx)
	waittest.Eventually(t, 5*time.Second, fmt.Sprintf("the %d refusals in the request log", limited), func() (int, bool) {
		var n int
		_ = e.pool.QueryRow(e.ctx, `SELECT count(*) FROM requests WHERE outcome = 'rate_limited_local' AND status = 429`).Scan(&n)
		return n, n == limited
	})
}

func checkRateHeaders(t *testing.T, ans answer, quota int) {
	t.Helper()
	ra, err := strconv.Atoi(ans.header.Get("Retry-After"))
	untilMidnight := time.Until(time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour))
	if err != nil || ra < 1 || time.Duration(ra)*time.Second > untilMidnight+2*time.Second {
		t.Errorf("Retry-After = %q; want the seconds until the day's window ends (%v)", ans.header.Get("Retry-After"), untilMidnight)
	}
	if got := ans.header.Get("x-ratelimit-limit-tokens"); got != strconv.Itoa(quota) {
		t.Errorf("x-ratelimit-limit-tokens = %q; want %d", got, quota)
	}
	rem, err := strconv.Atoi(ans.header.Get("x-ratelimit-remaining-tokens"))
	if err != nil || rem < 0 || rem > quota {
		t.Errorf("x-ratelimit-remaining-tokens = %q", ans.header.Get("x-ratelimit-remaining-tokens"))
	}
	if reset, err := time.ParseDuration(ans.header.Get("x-ratelimit-reset-tokens")); err != nil || reset <= 0 || reset > untilMidnight+2*time.Second {
		t.Errorf("x-ratelimit-reset-tokens = %q; want a duration until the window ends", ans.header.Get("x-ratelimit-reset-tokens"))
	}
	if ans.header.Get("x-ratelimit-limit-requests") != "" {
		t.Errorf("x-ratelimit-limit-requests = %q with no request limit set", ans.header.Get("x-ratelimit-limit-requests"))
	}
}

// A key's request limit per minute answers the request past it with 429 rate_limited, Retry-After
// until the minute ends and OpenAI's x-ratelimit-*-requests headers; served requests carry the
// headers too, counting down.
func TestRequestsPerMinuteHeaders(t *testing.T) {
	e := newEnv(t)
	k, err := e.a.AdminService().Store.ActiveKeyByHash(e.ctx, catalog.HashSecret(e.key))
	if err != nil || k == nil {
		t.Fatalf("the demo key: %v", err)
	}
	e.limit(catalog.ScopeKey, k.ID, func(l *catalog.Limits) { l.Rates[0].Requests = 2 })
	if err := e.a.Catalog.Refresh(e.ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.a.GatewayHandler())
	t.Cleanup(srv.Close)
	// Three requests within one minute: start them early enough in one.
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 5*time.Second {
		time.Sleep(left)
	}
	for i, wantRemaining := range []string{"1", "0"} {
		ans := post(e.ctx, srv.URL, e.key, "/v1/chat/completions", chatBody(admin.DemoChatAlias))
		if ans.status != http.StatusOK {
			t.Fatalf("request %d: %d %v", i+1, ans.status, ans.body)
		}
		if ans.header.Get("x-ratelimit-limit-requests") != "2" || ans.header.Get("x-ratelimit-remaining-requests") != wantRemaining {
			t.Fatalf("request %d: x-ratelimit-limit-requests %q, remaining %q; want 2 and %s", i+1,
				ans.header.Get("x-ratelimit-limit-requests"), ans.header.Get("x-ratelimit-remaining-requests"), wantRemaining)
		}
	}
	ans := post(e.ctx, srv.URL, e.key, "/v1/chat/completions", chatBody(admin.DemoChatAlias))
	untilMinute := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute))
	if ans.status != http.StatusTooManyRequests || ans.code() != "rate_limited" || ans.body["error"].(map[string]any)["type"] != "rate_limit_error" {
		t.Fatalf("the third request in a minute: %d %v; want 429 rate_limited", ans.status, ans.body)
	}
	if !strings.Contains(ans.message(), "2 requests per minute") {
		t.Errorf("the message does not name the limit: %q", ans.message())
	}
	ra, err := strconv.Atoi(ans.header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 || time.Duration(ra)*time.Second < untilMinute-time.Second {
		t.Errorf("Retry-After = %q; want the seconds left in the minute (%v)", ans.header.Get("Retry-After"), untilMinute)
	}
	reset, err := time.ParseDuration(ans.header.Get("x-ratelimit-reset-requests"))
	if err != nil || reset <= 0 || reset > time.Minute || !strings.HasSuffix(ans.header.Get("x-ratelimit-reset-requests"), "s") {
		t.Errorf("x-ratelimit-reset-requests = %q; want OpenAI's duration until the minute ends, like 42s", ans.header.Get("x-ratelimit-reset-requests"))
	}
	if ans.header.Get("x-ratelimit-limit-requests") != "2" || ans.header.Get("x-ratelimit-remaining-requests") != "0" {
		t.Errorf("x-ratelimit-*-requests = %q, %q; want 2 and 0", ans.header.Get("x-ratelimit-limit-requests"), ans.header.Get("x-ratelimit-remaining-requests"))
	}
}
