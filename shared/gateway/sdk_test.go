package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

func chatParams(model, text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}

func TestChatThroughAlias(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	resp, err := c.Chat.Completions.New(e.ctx, chatParams("chat", "hello there switchyard"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "chat-v1" {
		t.Errorf("answer's model = %q, want the pinned chat-v1", resp.Model)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" {
		t.Errorf("answer has no text: %+v", resp.Choices)
	}
	r := e.lastRow(1)
	if r.Outcome != "ok" || r.Requested != "chat" || r.Model != "chat-v1" || r.Provider != "fake" || r.Team != "search" || r.Status != 200 {
		t.Errorf("request log row = %+v", r)
	}
	if r.Prompt == 0 || r.Total != resp.Usage.TotalTokens {
		t.Errorf("logged tokens %d/%d, answer says total %d", r.Prompt, r.Total, resp.Usage.TotalTokens)
	}
}

func TestChatStreamRemovesTheUsageChunkItAskedFor(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	stream := c.Chat.Completions.NewStreaming(e.ctx, chatParams("chat", "one two three four"))
	var text strings.Builder
	chunks := 0
	for stream.Next() {
		ch := stream.Current()
		chunks++
		if ch.Model != "chat-v1" {
			t.Errorf("chunk model = %q, want chat-v1", ch.Model)
		}
		if len(ch.Choices) == 0 || strings.Contains(ch.RawJSON(), `"usage"`) {
			t.Errorf("the client did not ask for usage but got %s", ch.RawJSON())
		}
		if len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if chunks < 3 || text.Len() == 0 {
		t.Fatalf("%d chunks, text %q", chunks, text.String())
	}
	r := e.lastRow(1)
	if r.Outcome != "ok" || !r.Stream || r.Prompt == 0 || r.Completion == 0 || r.Total != r.Prompt+r.Completion {
		t.Errorf("a stream's usage must be logged even when the client did not ask: %+v", r)
	}
}

func TestChatStreamKeepsTheUsageChunkTheClientAskedFor(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	p := chatParams("chat-v1", "one two three")
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := c.Chat.Completions.NewStreaming(e.ctx, p)
	var usage openai.CompletionUsage
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) == 0 {
			usage = ch.Usage
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if usage.TotalTokens == 0 {
		t.Fatal("the usage chunk the client asked for did not arrive")
	}
	if r := e.lastRow(1); r.Total != usage.TotalTokens {
		t.Errorf("logged %d tokens, the usage chunk says %d", r.Total, usage.TotalTokens)
	}
}

// TestStreamIsWhatTheUpstreamSent compares the bytes a client receives through Switchyard with
// those it receives from the upstream directly: only "model" (and the fake's sequence id) differ.
func TestStreamIsWhatTheUpstreamSent(t *testing.T) {
	e := newEnv(t)
	body := `{"model":%q,"messages":[{"role":"user","content":"alpha beta gamma"}],"stream":true,"x_vendor_extension":{"keep":[1,2]}}`
	direct, err := http.Post(e.fake.URL+"/chat/completions", "application/json", strings.NewReader(strings.Replace(body, "%q", `"demo-chat"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(direct.Body)
	direct.Body.Close()
	resp := e.post("/v1/chat/completions", e.key, strings.Replace(body, "%q", `"chat"`, 1))
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	ids := regexp.MustCompile(`"chatcmpl-fake-\d+"`)
	norm := func(b []byte, model string) string {
		s := ids.ReplaceAllString(string(b), `"ID"`)
		return strings.ReplaceAll(s, `"model":"`+model+`"`, `"model":"M"`)
	}
	if norm(got, "chat-v1") != norm(want, "demo-chat") {
		t.Errorf("through Switchyard:\n%s\ndirect:\n%s", got, want)
	}
}

// heldUpstream sends the first event of a stream, then waits for release before the rest, so a
// test can prove the first event reached the client before the upstream finished.
type heldUpstream struct {
	release chan struct{}
}

func (h *heldUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	chunk := `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"held","choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}` + "\n\n"
	_, _ = io.WriteString(w, strings.Replace(chunk, "%s", "first", 1))
	fl.Flush()
	select {
	case <-h.release:
	case <-r.Context().Done():
		return
	case <-time.After(10 * time.Second):
	}
	_, _ = io.WriteString(w, strings.Replace(chunk, "%s", "second", 1))
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
}

func TestStreamEventsArriveAsTheyCome(t *testing.T) {
	e := newEnv(t)
	h := &heldUpstream{release: make(chan struct{})}
	up := httptest.NewServer(h)
	defer up.Close()
	e.streamingModel("held-v1", up.URL+"/v1", "held")

	c := e.client(e.key)
	stream := c.Chat.Completions.NewStreaming(e.ctx, chatParams("held-v1", "hi"))
	if !stream.Next() {
		t.Fatalf("no first event before the upstream finished: %v", stream.Err())
	}
	if got := stream.Current().Choices[0].Delta.Content; got != "first" {
		t.Fatalf("first event content %q", got)
	}
	close(h.release)
	if !stream.Next() || stream.Current().Choices[0].Delta.Content != "second" {
		t.Fatalf("second event missing: %v", stream.Err())
	}
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
}

// watched wraps an upstream and reports when a request's context ended before its handler did.
type watched struct {
	next      http.Handler
	mu        sync.Mutex
	cancelled chan struct{}
}

func (w *watched) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.next.ServeHTTP(rw, r)
	if r.Context().Err() != nil {
		w.mu.Lock()
		select {
		case <-w.cancelled:
		default:
			close(w.cancelled)
		}
		w.mu.Unlock()
	}
}

// slowStream registers a streaming chat model (name) on the fake upstream behind a watched server,
// its events spaced by stall.
func (e *env) slowStream(name, stall string) *watched {
	wt := &watched{next: e.fake.Server, cancelled: make(chan struct{})}
	up := httptest.NewServer(wt)
	e.t.Cleanup(up.Close)
	e.streamingModel(name, up.URL+"/v1", "demo-chat@stall="+stall)
	return wt
}

func TestClientCancelCancelsTheUpstream(t *testing.T) {
	e := newEnv(t)
	// 300ms between events: the whole answer would take seconds.
	wt := e.slowStream("slow-stream-v1", "300ms")

	ctx, cancel := context.WithCancel(e.ctx)
	c := e.client(e.key)
	stream := c.Chat.Completions.NewStreaming(ctx, chatParams("slow-stream-v1", strings.Repeat("word ", 40)))
	if !stream.Next() {
		t.Fatalf("no first event: %v", stream.Err())
	}
	cancel()
	select {
	case <-wt.cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("the upstream call was not cancelled when the client went away")
	}
	stream.Close()
	if r := e.lastRow(1); r.Outcome != "client_closed" || r.Status != 499 {
		t.Errorf("row = %+v, want outcome client_closed", r)
	}
}

func TestEmbeddingsFloatAndBase64(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	inputs := []string{"first text", "second text", "third"}
	for i, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		resp, err := c.Embeddings.New(e.ctx, openai.EmbeddingNewParams{
			Model: "embed", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs}, EncodingFormat: format,
		})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if resp.Model != "embed-v1" || len(resp.Data) != len(inputs) {
			t.Fatalf("%s: model %q, %d vectors", format, resp.Model, len(resp.Data))
		}
		for _, d := range resp.Data {
			if len(d.Embedding) != 768 {
				t.Fatalf("%s: vector of %d dimensions", format, len(d.Embedding))
			}
		}
		r := e.lastRow(i + 1)
		if r.Outcome != "ok" || r.Model != "embed-v1" || r.Prompt == 0 || r.Total != resp.Usage.TotalTokens {
			t.Errorf("%s: row %+v, answer usage %+v", format, r, resp.Usage)
		}
	}
	// A single string and token arrays pass through as sent.
	for _, input := range []string{`"just one"`, `[[1,2,3],[4,5]]`, `[7,8,9]`} {
		resp := e.post("/v1/embeddings", e.key, `{"model":"embed","input":`+input+`}`)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"model":"embed-v1"`) {
			t.Errorf("input %s: %d %s", input, resp.StatusCode, b)
		}
	}
}

func TestModelsListAndGet(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	page, err := c.Models.List(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if want := "chat chat-basic-v1 chat-v1 embed embed-v1"; strings.Join(ids, " ") != want {
		t.Errorf("listed %v, want exactly what the key may call: %s", ids, want)
	}
	m, err := c.Models.Get(e.ctx, "embed")
	if err != nil {
		t.Fatal(err)
	}
	var extra struct {
		Kind          string               `json:"kind"`
		Dimension     int                  `json:"dimension"`
		ContextWindow int                  `json:"context_window"`
		Capabilities  catalog.Capabilities `json:"capabilities"`
		ResolvesTo    string               `json:"resolves_to"`
	}
	if err := json.Unmarshal([]byte(m.RawJSON()), &extra); err != nil {
		t.Fatal(err)
	}
	if m.ID != "embed" || extra.Kind != "embedding" || extra.Dimension != 768 || extra.ResolvesTo != "embed-v1" || extra.ContextWindow != 8192 {
		t.Errorf("GET /v1/models/embed = %s", m.RawJSON())
	}
	m, err = c.Models.Get(e.ctx, "chat-v1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.RawJSON(), `"capabilities":{"streaming":true,"tools":true}`) || strings.Contains(m.RawJSON(), "resolves_to") {
		t.Errorf("GET /v1/models/chat-v1 = %s", m.RawJSON())
	}
	// Outside the audience reads exactly like unknown.
	_, errSecret := c.Models.Get(e.ctx, "chat-secret-v1")
	_, errUnknown := c.Models.Get(e.ctx, "chat-secret-v2")
	a, b := sdkError(t, errSecret), sdkError(t, errUnknown)
	if a.StatusCode != 404 || a.Code != "model_not_found" || strings.ReplaceAll(a.Message, "chat-secret-v1", "chat-secret-v2") != b.Message {
		t.Errorf("ungranted: %d %s %q; unknown: %q", a.StatusCode, a.Code, a.Message, b.Message)
	}
	rs := e.rows()
	if len(rs) != 5 || rs[3].Detail != string(catalog.NotGranted) || rs[4].Detail != string(catalog.UnknownName) {
		t.Errorf("log: %+v", rs)
	}
}

func sdkError(t *testing.T, err error) *openai.Error {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("want the SDK's API error, got %v", err)
	}
	return apiErr
}

func TestRevokedKeyRefusedWithinOneSecond(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.key)
	if _, err := c.Models.List(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.exec(`UPDATE api_keys SET revoked_at = now()`)
	revoked := time.Now()
	// The promise is about when a request is made, not about how long a loaded machine takes to
	// answer it: no request sent a second or more after the revocation is served (Eventually's bound is
	// on when a look begins).
	waittest.Eventually(t, time.Second-time.Since(revoked), "the revoked key to be refused (a second after the revocation at most)", func() (string, bool) {
		sent := time.Since(revoked)
		_, err := c.Models.List(e.ctx)
		if err != nil {
			if se := sdkError(t, err); se.StatusCode != 401 || se.Code != "invalid_api_key" {
				t.Fatalf("after revocation: %d %s", se.StatusCode, se.Code)
			}
			return "", true
		}
		return fmt.Sprintf("a request sent %v after the revocation was still served", sent.Round(time.Millisecond)), false
	})
}

// TestBrokenStreamEndsWithAnErrorEvent: the status has gone out, so the failure reaches the
// client as an error event the SDK raises, and the log keeps the cause.
func TestBrokenStreamEndsWithAnErrorEvent(t *testing.T) {
	e := newEnv(t)
	e.model("broken-v1", "fake", "demo-chat@break_after=2", catalog.KindChat, 0, true, false, true)
	e.grant("broken-v1", "search")
	e.refresh()
	c := e.client(e.key)
	stream := c.Chat.Completions.NewStreaming(e.ctx, chatParams("broken-v1", "a b c d e f"))
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Fatal("a broken stream ended without an error")
	}
	if r := e.lastRow(1); r.Outcome != "upstream_unavailable" || r.Status != 200 {
		t.Errorf("row %+v", r)
	}
}

// unusedAddr is a loopback address nothing listens on.
func unusedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
