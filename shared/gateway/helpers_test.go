package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/seal"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// env is a Switchyard (app.App's handler on a real listener) on its own database, in front of a
// fake upstream, with a catalogue set up by plain SQL (the admin API is not needed).
type env struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	app  *app.App
	fake *fakeupstream.Running
	srv  *httptest.Server
	key  string // a key of team "search", which holds every grant below
}

// newEnv builds the standard catalogue:
//
//	provider fake (auth none) → the fake upstream
//	chat-v1 (streaming, tools)             alias chat      upstream demo-chat
//	chat-basic-v1 (no streaming, no tools)                 upstream demo-chat
//	chat-old-v1 (disabled)
//	chat-secret-v1 (not granted to search)
//	embed-v1 (768)                          alias embed     upstream demo-embed-768
//	team search: grants on all of the above but chat-secret-v1; key e.key
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, app.Config{})
}

// newEnvWith is newEnv with cfg's settings (Local and AllowLoopback are always on).
func newEnvWith(t *testing.T, cfg app.Config) *env {
	t.Helper()
	cfg.Local, cfg.AllowLoopback = true, true
	pool := pgtest.NewPool(t)
	fake := fakeupstream.Start(fakeupstream.Config{Dimensions: map[string]int{"demo-embed-768": 768}})
	t.Cleanup(fake.Close)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sealer, err := seal.LocalFromFile(filepath.Join(t.TempDir(), "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, log, pool, sealer)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	})
	e := &env{t: t, ctx: context.Background(), pool: pool, app: a, fake: fake, srv: srv}
	e.provider("fake", fake.URL, 0)
	e.model("chat-v1", "fake", "demo-chat", catalog.KindChat, 0, true, true, true)
	e.model("chat-basic-v1", "fake", "demo-chat", catalog.KindChat, 0, false, false, true)
	e.model("chat-old-v1", "fake", "demo-chat", catalog.KindChat, 0, true, true, false)
	e.model("chat-secret-v1", "fake", "demo-chat", catalog.KindChat, 0, true, true, true)
	e.model("embed-v1", "fake", "demo-embed-768", catalog.KindEmbedding, 768, false, false, true)
	e.alias("chat", "chat-v1")
	e.alias("embed", "embed-v1")
	e.team("search")
	e.team("other")
	for _, n := range []string{"chat", "chat-v1", "chat-basic-v1", "chat-old-v1", "embed", "embed-v1"} {
		e.grant(n, "search")
	}
	e.grant("chat-secret-v1", "other")
	e.key = e.newKey("search")
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.pool.Exec(e.ctx, sql, args...); err != nil {
		e.t.Fatalf("fixture %q: %v", sql, err)
	}
}

// provider registers an endpoint without credentials; firstByteMS > 0 sets its first-byte timeout.
func (e *env) provider(identifier, baseURL string, firstByteMS int) {
	e.exec(`INSERT INTO providers (identifier, display_name, base_url, auth_method, first_byte_ms, idle_ms)
		VALUES ($1, $1, $2, 'none', $3, $3)`, identifier, baseURL, firstByteMS)
}

func (e *env) model(name, provider, upstreamName string, kind catalog.Kind, dim int, streaming, tools, enabled bool) {
	e.exec(`INSERT INTO catalog_names (name, what) VALUES ($1, 'model')`, name)
	e.exec(`INSERT INTO models (name, provider_id, upstream_name, kind, context_window, dimension, cap_streaming, cap_tools, enabled)
		SELECT $1, id, $3, $4, 8192, $5, $6, $7, $8 FROM providers WHERE identifier = $2`,
		name, provider, upstreamName, string(kind), dim, streaming, tools, enabled)
}

func (e *env) alias(name, target string) {
	e.exec(`INSERT INTO catalog_names (name, what) VALUES ($1, 'alias')`, name)
	e.exec(`INSERT INTO aliases (name, kind, model_id) SELECT $1, kind, id FROM models WHERE name = $2`, name, target)
}

func (e *env) team(name string) { e.exec(`INSERT INTO teams (name) VALUES ($1)`, name) }

func (e *env) grant(name, team string) {
	e.exec(`INSERT INTO grants (name, team_id) SELECT $1, id FROM teams WHERE name = $2`, name, team)
}

// newKey creates a key of team (restricted to models when given) and returns its secret.
func (e *env) newKey(team string, models ...string) string {
	e.t.Helper()
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	secret := "sk-" + hex.EncodeToString(b)
	h := catalog.HashSecret(secret)
	if models == nil {
		models = []string{}
	}
	e.exec(`INSERT INTO api_keys (id, team_id, name, key_hash, prefix, models) SELECT $1, id, 'test', $2, $3, $4 FROM teams WHERE name = $5`,
		"key_"+hex.EncodeToString(b[:6]), h[:], secret[:7], models, team)
	return secret
}

// streamingModel registers a streaming chat model (name) on a provider of its own at baseURL,
// granted to team search, and refreshes the snapshot.
func (e *env) streamingModel(name, baseURL, upstreamName string) {
	e.provider(name, baseURL, 0)
	e.model(name, name, upstreamName, catalog.KindChat, 0, true, false, true)
	e.grant(name, "search")
	e.refresh()
}

// refresh makes the gateway see fixture changes at once.
func (e *env) refresh() {
	e.t.Helper()
	if err := e.app.Catalog.Refresh(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// client is the official OpenAI SDK pointed at Switchyard, retries off so each call is one request.
func (e *env) client(key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.srv.URL+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// logRow is a request-log row as a test reads it.
type logRow struct {
	RequestID, Route, KeyID, Team, Requested, Model, Provider, Outcome, Detail, Message string
	Status                                                                              int
	Stream                                                                              bool
	Prompt, Completion, Total                                                           int64
}

// rows flushes the request log and reads it, oldest first.
func (e *env) rows() []logRow {
	e.t.Helper()
	if err := e.app.Usage.Flush(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	rs, err := e.pool.Query(e.ctx, `SELECT request_id, route, coalesce(key_id, ''), coalesce(team, ''), requested, model, provider,
		outcome, detail, message, status, stream, prompt_tokens, completion_tokens, total_tokens FROM requests ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []logRow
	for rs.Next() {
		var r logRow
		if err := rs.Scan(&r.RequestID, &r.Route, &r.KeyID, &r.Team, &r.Requested, &r.Model, &r.Provider, &r.Outcome, &r.Detail,
			&r.Message, &r.Status, &r.Stream, &r.Prompt, &r.Completion, &r.Total); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// lastRow is the newest request-log row; the test fails unless there are exactly want rows.
func (e *env) lastRow(want int) logRow {
	e.t.Helper()
	// A streamed request's row is logged when its handler returns, which may be just after the
	// client has read the last event; SPEC allows two seconds.
	rs := waittest.Eventually(e.t, 2*time.Second, fmt.Sprintf("%d rows in the request log", want), func() ([]logRow, bool) {
		rs := e.rows()
		return rs, len(rs) >= want
	})
	if len(rs) != want {
		e.t.Fatalf("request log has %d rows, want %d: %+v", len(rs), want, rs)
	}
	return rs[len(rs)-1]
}

// send sends a raw request to url with key as the bearer credential and, when there is a body, a
// JSON Content-Type, as a client would.
func (e *env) send(method, url, key, body string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// post sends a raw POST to Switchyard.
func (e *env) post(path, key, body string) *http.Response {
	e.t.Helper()
	return e.send(http.MethodPost, e.srv.URL+path, key, body)
}
