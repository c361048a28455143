package gateway_test

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"testing"

	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// setRoute stores a route for alias as the admin API would (version 1, written against the
// alias's current target) and refreshes the snapshot.
func (e *env) setRoute(alias string, rules []catalog.Rule, plan catalog.Plan) {
	e.t.Helper()
	rj, _ := json.Marshal(rules)
	pj, _ := json.Marshal(plan)
	e.exec(`INSERT INTO routes (alias, version, rules, plan, base_model_id, updated_by)
		SELECT $1, 1, $2, $3, model_id, 'test' FROM aliases WHERE name = $1`, alias, rj, pj)
	e.refresh()
}

func (e *env) keyID(secret string) string {
	e.t.Helper()
	h := catalog.HashSecret(secret)
	var id string
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM api_keys WHERE key_hash = $1`, h[:]).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// chatVia sends one chat request through the OpenAI SDK and returns the answer's model and the
// X-Switchyard-Model header, which must agree.
func (e *env) chatVia(key, model string, opts ...option.RequestOption) string {
	e.t.Helper()
	var raw *http.Response
	c := e.client(key)
	resp, err := c.Chat.Completions.New(e.ctx, chatParams(model, "hi"), append(opts, option.WithResponseInto(&raw))...)
	if err != nil {
		e.t.Fatal(err)
	}
	if h := raw.Header.Get("X-Switchyard-Model"); h != resp.Model {
		e.t.Fatalf("X-Switchyard-Model %q but the body's model %q", h, resp.Model)
	}
	return resp.Model
}

// A weighted route splits real SDK traffic by its weights, a session stays on one model, and a
// rule gives one key (or a tagged request) its own plan while everyone else stays.
func TestRouteSplitsTrafficEndToEnd(t *testing.T) {
	e := newEnv(t)
	pilot := e.newKey("search")
	e.setRoute("chat",
		[]catalog.Rule{
			{Name: "pilot", Match: catalog.Match{Keys: []string{e.keyID(pilot)}}, Plan: catalog.SinglePlan("chat-basic-v1")},
			{Name: "beta", Match: catalog.Match{Tags: []string{"beta"}}, Plan: catalog.SinglePlan("chat-basic-v1")},
		},
		catalog.Plan{Tiers: []catalog.Tier{{Targets: []catalog.Target{{Model: "chat-v1", Weight: 70}, {Model: "chat-basic-v1", Weight: 30}}}}})

	const n = 200
	basic := 0
	for i := 0; i < n; i++ {
		if e.chatVia(e.key, "chat") == "chat-basic-v1" {
			basic++
		}
	}
	// 30% of 200 has a standard deviation of 3.2 points; 10 points is three of them.
	if pct := 100 * float64(basic) / n; math.Abs(pct-30) > 10 {
		t.Errorf("chat-basic-v1 served %.1f%% of %d requests; the route gives it 30%%", pct, n)
	}
	// The request log names the model that served each request, under the name asked for.
	var logged int
	if err := e.app.Usage.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM requests WHERE requested = 'chat' AND model = 'chat-basic-v1'`).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if logged != basic {
		t.Errorf("the request log has %d requests served by chat-basic-v1; the answers said %d", logged, basic)
	}

	for _, session := range []string{"conv-1", "conv-2", "conv-3", "conv-4"} {
		first := e.chatVia(e.key, "chat", option.WithHeader("X-Session-Id", session))
		for i := 0; i < 10; i++ {
			if got := e.chatVia(e.key, "chat", option.WithHeader("X-Session-Id", session)); got != first {
				t.Fatalf("session %s went to %s, then %s", session, first, got)
			}
		}
	}

	for i := 0; i < 20; i++ {
		if got := e.chatVia(pilot, "chat"); got != "chat-basic-v1" {
			t.Fatalf("the pilot key's rule sends it to chat-basic-v1; request %d went to %s", i, got)
		}
		if got := e.chatVia(e.key, "chat", option.WithHeader("X-Switchyard-Tag", "beta")); got != "chat-basic-v1" {
			t.Fatalf("a request tagged beta went to %s", got)
		}
	}
	// A pinned name is not routed.
	if got := e.chatVia(e.key, "chat-v1"); got != "chat-v1" {
		t.Errorf("the pinned chat-v1 was answered by %s", got)
	}
	// A key outside the alias's audience learns nothing from the route.
	other := e.newKey("other")
	if r := e.post("/v1/chat/completions", other, `{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}`); r.StatusCode != 404 || r.Header.Get("X-Switchyard-Model") != "" {
		t.Errorf("another team: %d, X-Switchyard-Model %q", r.StatusCode, r.Header.Get("X-Switchyard-Model"))
	}
}

// A route's rule can match the body's OpenAI "user" field.
func TestRouteMatchesUserField(t *testing.T) {
	e := newEnv(t)
	e.setRoute("chat", []catalog.Rule{{Match: catalog.Match{Users: []string{"tester-" + strconv.Itoa(7)}}, Plan: catalog.SinglePlan("chat-basic-v1")}},
		catalog.SinglePlan("chat-v1"))
	for _, tc := range []struct{ body, want string }{
		{`{"model": "chat", "user": "tester-7", "messages": [{"role": "user", "content": "hi"}]}`, "chat-basic-v1"},
		{`{"model": "chat", "user": "someone", "messages": [{"role": "user", "content": "hi"}]}`, "chat-v1"},
		{`{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}`, "chat-v1"},
	} {
		r := e.post("/v1/chat/completions", e.key, tc.body)
		r.Body.Close()
		if got := r.Header.Get("X-Switchyard-Model"); r.StatusCode != 200 || got != tc.want {
			t.Errorf("%s: %d %s; want %s", tc.body, r.StatusCode, got, tc.want)
		}
	}
}
