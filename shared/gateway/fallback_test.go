package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/gateway"
	"github.com/switchyard-ai/switchyard/shared/health"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

// poolRoute registers n streaming chat models fb-0 … fb-n-1, each on a provider and a fake upstream
// of its own (first-byte timeout firstByteMS, 0 for the default), and the alias "pool" routed
// through them as n tiers of one target each, so its candidates are fb-0, fb-1, … in that order.
// The alias and every model are granted to team search.
func (e *env) poolRoute(n, firstByteMS int) []*fakeupstream.Running {
	e.t.Helper()
	fakes := make([]*fakeupstream.Running, n)
	var tiers []string
	for i := range fakes {
		name := fmt.Sprintf("fb-%d", i)
		fakes[i] = fakeupstream.Start(fakeupstream.Config{})
		e.t.Cleanup(fakes[i].Close)
		e.provider(name, fakes[i].URL, firstByteMS)
		e.model(name, name, "demo-chat", catalog.KindChat, 0, true, false, true)
		e.grant(name, "search")
		tiers = append(tiers, `{"targets":[{"model":"`+name+`","weight":100}]}`)
	}
	e.alias("pool", "fb-0")
	e.grant("pool", "search")
	e.exec(`INSERT INTO routes (alias, version, plan, base_model_id, updated_by)
		SELECT 'pool', 1, $1::jsonb, id, 'test' FROM models WHERE name = 'fb-0'`, `{"tiers":[`+strings.Join(tiers, ",")+`]}`)
	e.refresh()
	return fakes
}

func (e *env) chat(model string, stream bool) *http.Response {
	e.t.Helper()
	return e.post("/v1/chat/completions", e.key, fmt.Sprintf(`{"model":%q,"stream":%t,"messages":[{"role":"user","content":"hello there"}]}`, model, stream))
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func errorCode(body string) string {
	var v struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &v)
	return v.Error.Code
}

// quiet is a health policy that never cools a model down within a test, so cases are independent.
var quiet = app.Config{Health: health.Policy{Failures: 1 << 30}}

// TestFallbackMovesOnOnlyForItsClasses: a first candidate that cannot answer (no connection, no
// first byte in time, a reset, 429, 5xx) hands the request to the second; one that refuses the
// request itself (400, 422), its credential (401, 403), or does not know the model or the route
// (404, 501) answers the caller, and the second candidate is never called.
func TestFallbackMovesOnOnlyForItsClasses(t *testing.T) {
	e := newEnvWith(t, quiet)
	fakes := e.poolRoute(2, 300)
	a, b := fakes[0], fakes[1]
	cases := []struct {
		name   string
		faults fakeupstream.Faults
		down   bool // a's address has no listener
		reason string
		status int    // the answer when it does not move on
		code   string // its error code
	}{
		{name: "connect refused", down: true, reason: "upstream_unavailable:connect"},
		{name: "reset before answering", faults: fakeupstream.Faults{BreakBeforeAnswer: true}, reason: "upstream_unavailable:connect"},
		{name: "first-byte timeout", faults: fakeupstream.Faults{FirstByteDelay: 3 * time.Second}, reason: "upstream_unavailable:timeout"},
		{name: "429", faults: fakeupstream.Faults{Status: 429, RetryAfter: "3"}, reason: "rate_limited:429"},
		{name: "500", faults: fakeupstream.Faults{Status: 500}, reason: "upstream_unavailable:500"},
		{name: "502 html", faults: fakeupstream.Faults{Status: 502, Shape: fakeupstream.ShapeHTML}, reason: "upstream_unavailable:502"},
		{name: "503", faults: fakeupstream.Faults{Status: 503}, reason: "upstream_unavailable:503"},
		{name: "504", faults: fakeupstream.Faults{Status: 504}, reason: "upstream_unavailable:504"},
		{name: "body cut", faults: fakeupstream.Faults{BreakAfter: 1}, reason: "upstream_unavailable:broken"},
		{name: "400", faults: fakeupstream.Faults{Status: 400, Message: "messages: too long"}, status: 400, code: "invalid_request"},
		{name: "422", faults: fakeupstream.Faults{Status: 422, Shape: fakeupstream.ShapeFastAPIList}, status: 400, code: "invalid_request"},
		{name: "401 credential", faults: fakeupstream.Faults{Unauthorized: true}, status: 502, code: "upstream_auth_error"},
		{name: "403", faults: fakeupstream.Faults{Status: 403}, status: 502, code: "upstream_auth_error"},
		{name: "404 model unknown", faults: fakeupstream.Faults{ModelNotFound: true}, status: 502, code: "upstream_model_not_found"},
		{name: "404 route", faults: fakeupstream.Faults{Routes: map[string]int{"/v1/chat/completions": 404}}, status: 400, code: "unsupported_operation"},
		{name: "501", faults: fakeupstream.Faults{Status: 501}, status: 400, code: "unsupported_operation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.SetFaults(tc.faults)
			t.Cleanup(func() { a.SetFaults(fakeupstream.Faults{}) })
			if tc.down {
				e.exec(`UPDATE providers SET base_url = $1 WHERE identifier = 'fb-0'`, "http://"+unusedAddr(t)+"/v1")
				e.refresh()
				t.Cleanup(func() { e.exec(`UPDATE providers SET base_url = $1 WHERE identifier = 'fb-0'`, a.URL); e.refresh() })
			}
			before := b.Requests()
			resp := e.chat("pool", false)
			body := readBody(t, resp)
			h := resp.Header
			if tc.reason != "" {
				if resp.StatusCode != 200 || !strings.Contains(body, `"model":"fb-1"`) {
					t.Fatalf("want fb-1's answer, got %d %s", resp.StatusCode, body)
				}
				if got := h.Get(gateway.HeaderModel); got != "fb-1" {
					t.Errorf("%s = %q, want fb-1", gateway.HeaderModel, got)
				}
				if got := h.Get(gateway.HeaderAttempts); got != "2" {
					t.Errorf("%s = %q, want 2", gateway.HeaderAttempts, got)
				}
				if got := h.Get(gateway.HeaderFallbackReason); got != tc.reason {
					t.Errorf("%s = %q, want %q", gateway.HeaderFallbackReason, got, tc.reason)
				}
				return
			}
			if resp.StatusCode != tc.status || errorCode(body) != tc.code {
				t.Fatalf("want %d %s, got %d %s", tc.status, tc.code, resp.StatusCode, body)
			}
			if n := b.Requests() - before; n != 0 {
				t.Errorf("the second candidate was called %d times; a %s must not move on", n, tc.name)
			}
			if h.Get(gateway.HeaderModel) != "fb-0" || h.Get(gateway.HeaderAttempts) != "1" || h.Get(gateway.HeaderFallbackReason) != "" {
				t.Errorf("headers %v, want fb-0, 1 attempt, no reason", h)
			}
		})
	}
}

// TestFallbackAttemptBoundAndChainRows: with four failing candidates a request makes three attempts
// (the bound), answers the last failure, says so in its headers, and leaves one request-log row
// per attempt, sharing the chain id the caller was told.
func TestFallbackAttemptBoundAndChainRows(t *testing.T) {
	e := newEnvWith(t, quiet)
	fakes := e.poolRoute(4, 0)
	for _, f := range fakes {
		f.SetFaults(fakeupstream.Faults{Status: 503})
	}
	resp := e.chat("pool", false)
	body := readBody(t, resp)
	if resp.StatusCode != 502 || errorCode(body) != "upstream_unavailable" {
		t.Fatalf("want 502 upstream_unavailable, got %d %s", resp.StatusCode, body)
	}
	if fakes[3].Requests() != 0 {
		t.Errorf("the fourth candidate was called: the bound is %d attempts", gateway.DefaultMaxAttempts)
	}
	h := resp.Header
	if h.Get(gateway.HeaderAttempts) != "3" || h.Get(gateway.HeaderModel) != "fb-2" ||
		h.Get(gateway.HeaderFallbackReason) != "upstream_unavailable:503, upstream_unavailable:503" {
		t.Errorf("headers: model %q attempts %q reasons %q", h.Get(gateway.HeaderModel), h.Get(gateway.HeaderAttempts), h.Get(gateway.HeaderFallbackReason))
	}
	id := h.Get("X-Request-Id")
	e.lastRow(3)
	rows, err := e.pool.Query(e.ctx, `SELECT request_id, chain_id, attempt, model, outcome, status, detail FROM requests ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var rid, chain, model, outcome, detail string
		var attempt, status int
		if err := rows.Scan(&rid, &chain, &attempt, &model, &outcome, &status, &detail); err != nil {
			t.Fatal(err)
		}
		if chain != id {
			t.Errorf("row %s has chain %q, want the request id %q", rid, chain, id)
		}
		got = append(got, fmt.Sprintf("%s %d %s %s %d", strings.TrimPrefix(rid, id), attempt, model, outcome, status))
		if attempt < 3 && !strings.Contains(detail, fmt.Sprintf("fell back to fb-%d (upstream_unavailable:503)", attempt)) {
			t.Errorf("attempt %d's detail %q does not say where it fell back to", attempt, detail)
		}
	}
	want := []string{"/1 1 fb-0 upstream_unavailable 502", "/2 2 fb-1 upstream_unavailable 502", " 3 fb-2 upstream_unavailable 502"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFallbackDeadline: the request's deadline bounds every attempt together: a first candidate
// that never answers (its own first-byte timeout is long) uses up the budget, and no second
// attempt starts.
func TestFallbackDeadline(t *testing.T) {
	cfg := quiet
	cfg.RequestDeadline = 700 * time.Millisecond
	e := newEnvWith(t, cfg)
	fakes := e.poolRoute(2, 30_000)
	fakes[0].SetFaults(fakeupstream.Faults{FirstByteDelay: 20 * time.Second})
	start := time.Now()
	resp := e.chat("pool", false)
	body := readBody(t, resp)
	took := time.Since(start)
	if resp.StatusCode != 504 || errorCode(body) != "upstream_unavailable" || !strings.Contains(body, "deadline") {
		t.Fatalf("want 504 upstream_unavailable naming the deadline, got %d %s", resp.StatusCode, body)
	}
	if took > 5*time.Second {
		t.Errorf("the answer took %v; the deadline is 700ms", took)
	}
	if fakes[1].Requests() != 0 {
		t.Error("a second attempt started after the deadline")
	}
}

// TestCapacityRefusalMovesOn: a target refused by Switchyard's own limiter (gateway.ErrAtCapacity)
// hands the request on like a 429; as the last candidate, the limiter's refusal is the answer.
func TestCapacityRefusalMovesOn(t *testing.T) {
	e := newEnvWith(t, quiet)
	fakes := e.poolRoute(2, 0)
	full := map[string]bool{"fb-0": true}
	gw := gateway.New(gateway.Config{Catalog: e.app.Catalog, Upstream: capacity{e.app.Upstream, full}, Usage: e.app.Usage})
	srv := httptest.NewServer(reqlog.Middleware(e.app.Log, gw))
	t.Cleanup(srv.Close)
	send := func() *http.Response {
		return e.send(http.MethodPost, srv.URL+"/v1/chat/completions", e.key, `{"model":"pool","messages":[{"role":"user","content":"hi"}]}`)
	}
	resp := send()
	body := readBody(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get(gateway.HeaderFallbackReason) != "at_capacity" || resp.Header.Get(gateway.HeaderModel) != "fb-1" {
		t.Fatalf("want fb-1's answer after at_capacity, got %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if fakes[0].Requests() != 0 {
		t.Error("a target at capacity was called")
	}
	full["fb-1"] = true
	resp = send()
	body = readBody(t, resp)
	if resp.StatusCode != 503 || errorCode(body) != "capacity_exceeded" {
		t.Fatalf("every target at capacity: want 503 capacity_exceeded, got %d %s", resp.StatusCode, body)
	}
}

// capacity stands in for f-capacity's limiter: providers named in full refuse with ErrAtCapacity.
type capacity struct {
	gateway.Upstream
	full map[string]bool
}

func (c capacity) Send(ctx context.Context, p *catalog.Provider, method, route string, body []byte, hdr http.Header) (*http.Response, error) {
	if c.full[p.Identifier] {
		return nil, fmt.Errorf("provider %s: all slots taken: %w", p.Identifier, gateway.ErrAtCapacity)
	}
	return c.Upstream.Send(ctx, p, method, route, body, hdr)
}

// TestStreamFailsOverBeforeItsFirstEvent: a stream that breaks off after its headers but before its
// first event has shown the caller nothing, so the request moves on; the SDK reads one whole
// answer, from the second candidate.
func TestStreamFailsOverBeforeItsFirstEvent(t *testing.T) {
	e := newEnvWith(t, quiet)
	fakes := e.poolRoute(2, 0)
	fakes[0].SetFaults(fakeupstream.Faults{BreakAfterHeaders: true})
	c := e.client(e.key)
	stream := c.Chat.Completions.NewStreaming(e.ctx, chatParams("pool", "one two three"))
	var text strings.Builder
	for stream.Next() {
		ch := stream.Current()
		if ch.Model != "fb-1" {
			t.Errorf("chunk from %q, want fb-1", ch.Model)
		}
		if len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("the stream failed: %v", err)
	}
	if text.String() != "You said: one two three" {
		t.Errorf("text %q", text.String())
	}
	if fakes[0].Requests() != 1 {
		t.Errorf("the first candidate got %d requests, want 1", fakes[0].Requests())
	}
	resp := e.chat("pool", true)
	body := readBody(t, resp)
	if resp.Header.Get(gateway.HeaderFallbackReason) != "upstream_unavailable:stream_broken" || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Errorf("reason %q, body %q", resp.Header.Get(gateway.HeaderFallbackReason), body)
	}
}

// TestStreamCutAfterItsFirstEventEndsWithAnError: once an event has reached the caller, a stream that
// breaks off, sends an error, or just stops before its end ends with an error event and no
// [DONE]: never a silent 200 with half an answer. No other candidate is tried.
func TestStreamCutAfterItsFirstEventEndsWithAnError(t *testing.T) {
	e := newEnvWith(t, quiet)
	fakes := e.poolRoute(2, 0)
	// An upstream that sends one chunk and closes the stream cleanly, without [DONE].
	stops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"half"},"finish_reason":null}]}`+"\n\n")
	}))
	t.Cleanup(stops.Close)
	cases := []struct {
		name   string
		faults fakeupstream.Faults
		url    string
	}{
		{name: "connection reset", faults: fakeupstream.Faults{BreakAfter: 2}},
		{name: "error event", faults: fakeupstream.Faults{StreamError: "CUDA out of memory"}},
		{name: "clean close without [DONE]", url: stops.URL + "/v1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fakes[0].SetFaults(tc.faults)
			t.Cleanup(func() { fakes[0].SetFaults(fakeupstream.Faults{}) })
			if tc.url != "" {
				e.exec(`UPDATE providers SET base_url = $1 WHERE identifier = 'fb-0'`, tc.url)
				e.refresh()
				t.Cleanup(func() {
					e.exec(`UPDATE providers SET base_url = $1 WHERE identifier = 'fb-0'`, fakes[0].URL)
					e.refresh()
				})
			}
			before := fakes[1].Requests()
			resp := e.chat("pool", true)
			body := readBody(t, resp)
			if resp.StatusCode != 200 || !strings.Contains(body, `data: {"error":{`) || !strings.Contains(body, `"code":"upstream_unavailable"`) {
				t.Fatalf("want a 200 stream ending with an error event, got %d %q", resp.StatusCode, body)
			}
			if strings.Contains(body, "[DONE]") {
				t.Errorf("a broken stream ended with [DONE]: %q", body)
			}
			if !strings.HasSuffix(body, "}}\n\n") {
				t.Errorf("the error event is not the last: %q", body)
			}
			if fakes[1].Requests() != before {
				t.Error("a stream that had begun moved to another candidate")
			}
			// The SDK reports it as an error, not as a finished answer.
			c := e.client(e.key)
			stream := c.Chat.Completions.NewStreaming(e.ctx, chatParams("pool", "one two three"))
			for stream.Next() {
			}
			if stream.Err() == nil {
				t.Error("the SDK read the broken stream without an error")
			}
		})
	}
}
