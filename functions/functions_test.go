// Package functions_test runs the real Lambda bootstraps, built as `sam build` builds them, under AWS's
// Runtime Interface Emulator, with KMS played by local-kms and a real Postgres behind them.
package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/lambda/lambdatest"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/seal/sealtest"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

// The four bootstraps, built once before any test runs (see TestMain).
var bootstraps struct {
	bins map[string]string
	err  error
}

// TestMain builds every bootstrap in one go build before the tests start: a cold build on a loaded
// 2-core machine takes minutes, which used to be counted against the invocations' deadlines, so the
// bootstraps then seemed never to answer. Building once also compiles the dependencies they share once.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchyard-bootstraps-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	bootstraps.bins, bootstraps.err = lambdatest.BuildMains(dir, "./functions/migrate", "./functions/admin", "./functions/gateway", "./worker")
	root, err := lambdatest.FindModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if bootstraps.err == nil {
		// The emulator and local-kms are tools in go.mod, built on first use: build them now too.
		for _, tool := range []string{"aws-lambda-rie", "local-kms"} {
			if _, err := lambdatest.ToolIn(root, tool); err != nil {
				bootstraps.err = err
			}
		}
	}
	fmt.Fprintf(os.Stderr, "functions: built the bootstraps in %v\n", time.Since(start).Round(100*time.Millisecond))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bootstrap returns pkg's bootstrap, built by TestMain.
func bootstrap(t *testing.T, pkg string) string {
	t.Helper()
	if bootstraps.err != nil {
		t.Fatalf("building the bootstraps: %v", bootstraps.err)
	}
	return bootstraps.bins[pkg]
}

var apiEvent = lambdatest.APIEvent

// env is a deployed function's environment, with the test's database and local-kms.
type env struct {
	vars  []string
	db    string
	token string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	kms := sealtest.Start(t)
	key := kms.CreateKey(ctx, t)
	e := &env{db: db, token: "sya-8a3a0a03731cd4321358874aa8d5ec74cc7ca0b1"}
	e.vars = append(kms.Env(),
		"DATABASE_URL="+db,
		"SWITCHYARD_KMS_KEY_ID="+key,
		"SWITCHYARD_ALLOW_LOOPBACK=true",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60",
	)
	return e
}

// TestMigrateAdminAndGatewayUnderTheEmulator deploys as CloudFormation would: the migrate function runs
// first (as a custom resource), then the admin and gateway functions answer API Gateway events.
func TestFunctionsUnderTheEmulator(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The migrate function applies migrations (already there: idempotent) and the bootstrap admin,
	// then reports to CloudFormation's presigned URL; the emulator has none, so only the database
	// effect is checked.
	migrate := lambdatest.Start(t, bootstrap(t, "./functions/migrate"), append(e.vars, "SWITCHYARD_ADMIN_TOKEN="+e.token)...)
	if _, err := migrate.Invoke(ctx, map[string]any{
		"RequestType": "Create", "ResponseURL": "http://127.0.0.1:9/unused", "StackId": "stack",
		"RequestId": "req", "LogicalResourceId": "Migrations", "ResourceType": "Custom::Migrations",
	}); err != nil {
		t.Fatalf("invoke migrate: %v\n%s", err, migrate.Logs())
	}
	pool, err := postgres.Open(ctx, e.db, postgres.PoolConfig{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var admins int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM admins WHERE id = $1`, app.BootstrapAdminID).Scan(&admins); err != nil || admins != 1 {
		t.Fatalf("bootstrap admins after the migrate function = %d (%v); want 1\n%s", admins, err, migrate.Logs())
	}

	admin := lambdatest.Start(t, bootstrap(t, "./functions/admin"), e.vars...)
	start := time.Now()
	health, err := admin.InvokeStream(ctx, apiEvent("GET", "/healthz", "", nil))
	if err != nil {
		t.Fatalf("admin /healthz: %v\n%s", err, admin.Logs())
	}
	t.Logf("admin function: first answer %v after the first event (process start included)", time.Since(start).Round(100*time.Microsecond))
	if health.StatusCode != 200 || !strings.Contains(string(health.Body), `"database":"ok"`) {
		t.Fatalf("admin /healthz = %d %s\n%s", health.StatusCode, health.Body, admin.Logs())
	}
	if got := health.Header("X-Request-Id"); got != "apigw--healthz" {
		t.Errorf("X-Request-Id = %q; want API Gateway's request id", got)
	}

	auth := map[string]string{"Authorization": "Bearer " + e.token}
	created, err := admin.InvokeStream(ctx, apiEvent("POST", "/admin/teams", `{"name": "search"}`, auth))
	if err != nil || created.StatusCode != 201 {
		t.Fatalf("POST /admin/teams = %v %v %s\n%s", created, err, created.Body, admin.Logs())
	}
	denied, err := admin.InvokeStream(ctx, apiEvent("GET", "/admin/teams", "", map[string]string{"Authorization": "Bearer wrong"}))
	if err != nil || denied.StatusCode != 401 {
		t.Fatalf("GET /admin/teams with a wrong token = %v %v; want 401", denied, err)
	}
	var errBody struct {
		Error struct{ Code string } `json:"error"`
	}
	if json.Unmarshal(denied.Body, &errBody) != nil || errBody.Error.Code != "invalid_admin_token" {
		t.Errorf("401 body = %s; want SPEC's error shape with invalid_admin_token", denied.Body)
	}

	// The operator registers a provider whose credential the admin function seals with KMS, a model,
	// an alias, a team grant and a key; the gateway function unseals the credential to call it.
	fake := fakeupstream.Start(fakeupstream.Config{Token: "upstream-secret-4321"})
	defer fake.Close()
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/admin/providers", `{"identifier": "acme", "base_url": "` + fake.URL + `", "auth": {"method": "bearer", "credential": "upstream-secret-4321"}}`},
		{"POST", "/admin/models", `{"name": "acme-chat-2026-01", "provider": "acme", "upstream_name": "demo-chat", "kind": "chat", "capabilities": {"streaming": true}, "enabled": true}`},
		{"PUT", "/admin/aliases/acme-chat", `{"target": "acme-chat-2026-01"}`},
		{"PUT", "/admin/audience/acme-chat", `{"teams": ["search"]}`},
	} {
		r, err := admin.InvokeStream(ctx, apiEvent(c.method, c.path, c.body, auth))
		if err != nil || r.StatusCode >= 300 {
			t.Fatalf("%s %s = %v %v %s\n%s", c.method, c.path, r, err, r.Body, admin.Logs())
		}
	}
	keyResp, err := admin.InvokeStream(ctx, apiEvent("POST", "/admin/keys", `{"team": "search"}`, auth))
	if err != nil || keyResp.StatusCode != 201 {
		t.Fatalf("POST /admin/keys = %v %v", keyResp, err)
	}
	var key struct{ Key string }
	if err := json.Unmarshal(keyResp.Body, &key); err != nil || key.Key == "" {
		t.Fatalf("key answer %s", keyResp.Body)
	}
	var sealed []byte
	if err := pool.QueryRow(ctx, `SELECT credential_sealed FROM providers WHERE identifier = 'acme'`).Scan(&sealed); err != nil || strings.Contains(string(sealed), "upstream-secret-4321") {
		t.Fatalf("stored credential %q (%v); want it sealed", sealed, err)
	}

	gwBin := bootstrap(t, "./functions/gateway")
	gw := lambdatest.Start(t, gwBin, e.vars...)
	start = time.Now()
	health, err = gw.InvokeStream(ctx, apiEvent("GET", "/healthz", "", nil))
	if err != nil || health.StatusCode != 200 {
		t.Fatalf("gateway /healthz = %v %v\n%s", health, err, gw.Logs())
	}
	t.Logf("gateway function: first answer %v after the first event (process start included)", time.Since(start).Round(100*time.Microsecond))

	dev := map[string]string{"Authorization": "Bearer " + key.Key}
	chat, err := gw.InvokeStream(ctx, apiEvent("POST", "/v1/chat/completions", `{"model": "acme-chat", "messages": [{"role": "user", "content": "hi"}]}`, dev))
	if err != nil || chat.StatusCode != 200 || !strings.Contains(string(chat.Body), `"model":"acme-chat-2026-01"`) {
		t.Fatalf("chat through the gateway function = %v %v %s\n%s", chat, err, chat.Body, gw.Logs())
	}
	stream, err := gw.InvokeStream(ctx, apiEvent("POST", "/v1/chat/completions", `{"model": "acme-chat", "stream": true, "messages": [{"role": "user", "content": "hi"}]}`, dev))
	if err != nil || stream.StatusCode != 200 || !strings.HasPrefix(stream.Header("Content-Type"), "text/event-stream") {
		t.Fatalf("streamed chat = %v %v", stream, err)
	}
	if events := strings.Count(string(stream.Body), "data: "); events < 3 || !strings.HasSuffix(strings.TrimSpace(string(stream.Body)), "data: [DONE]") {
		t.Errorf("streamed body has %d events: %s", events, stream.Body)
	}
	if strings.Contains(string(stream.Body), `"usage"`) {
		t.Errorf("the usage chunk the client did not ask for reached it: %s", stream.Body)
	}
	// Both requests are in the request log once the invocations returned (flushed before returning).
	var logged int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM requests WHERE model = 'acme-chat-2026-01' AND outcome = 'ok'`).Scan(&logged); err != nil || logged != 2 {
		t.Errorf("request log rows = %d (%v); want 2 written before the invocations returned", logged, err)
	}
}

// Every bootstrap that sam build makes (linux/arm64, the template's default architecture, built as the
// Makefile's build-<LogicalId> targets build it) fits the 20 MB budget.
func TestBootstrapSizes(t *testing.T) {
	t.Parallel()
	root := lambdatest.ModuleRoot(t)
	for _, target := range []string{"GatewayFunction", "AdminFunction", "MigrateFunction", "WorkerFunction"} {
		dir := t.TempDir()
		cmd := exec.Command("make", "-s", "-C", root, "build-"+target, "LAMBDA_ARCH=arm64", "ARTIFACTS_DIR="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make build-%s: %v\n%s", target, err, out)
		}
		fi, err := os.Stat(filepath.Join(dir, "bootstrap"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.1f MiB (linux/arm64)", target, float64(fi.Size())/(1<<20))
		if fi.Size() > 20<<20 {
			t.Errorf("%s bootstrap is %.1f MiB, over the 20 MB budget", target, float64(fi.Size())/(1<<20))
		}
	}
}

// The worker function, invoked as Lambda's schedule invokes it, embeds written documents and carries a
// re-embed run through fill, HNSW build, verification and cut-over within its bounded invocations.
func TestWorkerFunctionReembedsUnderTheEmulator(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fake := fakeupstream.Start(fakeupstream.Config{}) // demo-embed-small: 384 dimensions, demo-embed-large: 1024
	defer fake.Close()
	pool, err := postgres.Open(ctx, e.db, postgres.PoolConfig{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, s := range []string{
		`INSERT INTO providers (identifier, base_url, auth_method) VALUES ('fake', '` + fake.URL + `', 'none')`,
		`INSERT INTO catalog_names (name, what) VALUES ('embed-v1', 'model'), ('embed-v2', 'model'), ('embed', 'alias')`,
		`INSERT INTO models (name, provider_id, upstream_name, kind, dimension, enabled) SELECT 'embed-v1', id, 'demo-embed-small', 'embedding', 384, true FROM providers`,
		`INSERT INTO models (name, provider_id, upstream_name, kind, dimension, enabled) SELECT 'embed-v2', id, 'demo-embed-large', 'embedding', 1024, true FROM providers`,
		`INSERT INTO aliases (name, kind, model_id) SELECT 'embed', 'embedding', id FROM models WHERE name = 'embed-v1'`,
	} {
		if _, err := pool.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	// What the admin and gateway functions do for these requests, without a worker of their own.
	svc, err := reembed.New(pool, nil, nil, reembed.Config{InsertOnly: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateCorpus(ctx, "handbook", "embed", nil, nil); err != nil {
		t.Fatal(err)
	}
	docs := make([]corpus.Document, 300)
	for i := range docs {
		docs[i] = corpus.Document{ID: fmt.Sprintf("doc-%03d", i), Text: fmt.Sprintf("paragraph %d of the handbook", i)}
	}
	if _, err := svc.PutDocuments(ctx, "handbook", func(*corpus.Corpus) bool { return true }, docs); err != nil {
		t.Fatal(err)
	}
	run, err := svc.StartRun(ctx, "handbook", "embed-v2", nil)
	if err != nil {
		t.Fatal(err)
	}

	// A 36-second invocation works for ~6 s: the worker stops fetching 30 s before its deadline.
	worker := lambdatest.Start(t, bootstrap(t, "./worker"), append(e.vars, "AWS_LAMBDA_FUNCTION_TIMEOUT=36")...)
	worker.InvokeTimeout = 36*time.Second + lambdatest.DefaultInvokeTimeout
	for invocation := 1; ; invocation++ {
		if _, err := worker.Invoke(ctx, map[string]any{"source": "aws.events", "detail-type": "Scheduled Event"}); err != nil {
			t.Fatalf("invoke the worker: %v\n%s", err, worker.Logs())
		}
		if run, err = svc.Run(ctx, run.ID); err != nil {
			t.Fatal(err)
		}
		if run.State.Terminal() || invocation == 5 {
			break
		}
	}
	if run.State != corpus.RunSucceeded || run.Embedded != 300 || run.Verification == nil || !run.Verification.Passed {
		t.Fatalf("run after the worker's invocations: %s, %d embedded, %+v, %q\n%s", run.State, run.Embedded, run.Verification, run.Error, worker.Logs())
	}
	c, err := svc.Store().Corpus(ctx, "handbook")
	if err != nil {
		t.Fatal(err)
	}
	var vectors int
	active := &corpus.Index{}
	for _, ix := range c.Indexes {
		if ix.State == corpus.IndexActive {
			active = ix
		}
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{active.Table}.Sanitize()).Scan(&vectors); err != nil || active.Model != "embed-v2" || vectors != 300 {
		t.Fatalf("active index %s on %s with %d vectors (%v); want embed-v2 with 300", active.Table, active.Model, vectors, err)
	}
}
