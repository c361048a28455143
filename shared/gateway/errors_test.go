package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// TestErrorsThroughTheSDK walks SPEC's error table: each case is one request through the official
// SDK, which must surface its status and code, and leave exactly one request-log row with the
// outcome (and, where one code has several causes, the detail that tells them apart).
func TestErrorsThroughTheSDK(t *testing.T) {
	e := newEnv(t)
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>Welcome to nginx!</body></html>")
	}))
	defer garbage.Close()
	e.provider("garbage", garbage.URL+"/v1", 0)
	e.provider("slow", e.fake.URL, 300)
	e.provider("gone", "http://"+unusedAddr(t)+"/v1", 0)
	chat := func(name, provider, upstream string) {
		e.model(name, provider, upstream, catalog.KindChat, 0, true, true, true)
		e.grant(name, "search")
	}
	chat("up-unknown-v1", "fake", "demo-chat@model_not_found")
	chat("up-auth-v1", "fake", "demo-chat@unauthorized")
	chat("up-down-v1", "fake", "demo-chat@status=503")
	chat("up-slow-v1", "slow", "demo-chat@delay=3s")
	chat("up-gone-v1", "gone", "demo-chat")
	chat("up-garbage-v1", "garbage", "demo-chat")
	chat("up-400-v1", "fake", "demo-chat@status=400,message=This model's maximum context length is 8192 tokens")
	chat("up-429-v1", "fake", "demo-chat@status=429,retry_after=7")
	chat("up-notools-v1", "fake", "demo-chat@no_tools")
	e.model("embed-wrong-v1", "fake", "demo-embed-768@dim=512", catalog.KindEmbedding, 768, false, false, true)
	e.grant("embed-wrong-v1", "search")
	limited := e.newKey("search", "embed")
	e.refresh()

	tools := func(p openai.ChatCompletionNewParams) openai.ChatCompletionNewParams {
		p.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "lookup"})}
		return p
	}
	embed := func(model string) openai.EmbeddingNewParams {
		return openai.EmbeddingNewParams{Model: model, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("text")}}
	}
	notFoundMsg := ""
	tests := []struct {
		name    string
		key     string
		call    func(c openai.Client) error
		status  int
		code    string
		detail  string // a substring of the row's detail
		message string // a substring of the error message
	}{
		{"unknown key", "sk-nope", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("chat", "hi"))
			return err
		},
			401, "invalid_api_key", "", "API key"},
		{"unknown model", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("nope", "hi"))
			return err
		},
			404, "model_not_found", "unknown_name", "`nope`"},
		{"disabled model", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("chat-old-v1", "hi"))
			return err
		}, 404, "model_not_found", "model_disabled", "`chat-old-v1`"},
		{"outside the audience", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("chat-secret-v1", "hi"))
			return err
		}, 404, "model_not_found", "not_granted", "`chat-secret-v1`"},
		{"outside the key's allow-list", limited, func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("chat", "hi"))
			return err
		}, 404, "model_not_found", "not_in_allowlist", "`chat`"},
		{"streaming not declared", "", func(c openai.Client) error {
			s := c.Chat.Completions.NewStreaming(e.ctx, chatParams("chat-basic-v1", "hi"))
			for s.Next() {
			}
			return s.Err()
		}, 400, "unsupported_operation", "streaming", "streaming"},
		{"tools not declared", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, tools(chatParams("chat-basic-v1", "hi")))
			return err
		}, 400, "unsupported_operation", "tools", "tools"},
		{"embeddings on a chat model", "", func(c openai.Client) error { _, err := c.Embeddings.New(e.ctx, embed("chat")); return err },
			400, "unsupported_operation", "chat model", "chat model"},
		{"chat on an embedding model", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("embed", "hi"))
			return err
		}, 400, "unsupported_operation", "embedding model", "embedding model"},
		{"upstream rejects tools", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, tools(chatParams("up-notools-v1", "hi")))
			return err
		}, 400, "unsupported_operation", "", "does not support tools"},
		{"upstream does not know the model", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("up-unknown-v1", "hi"))
			return err
		}, 502, "upstream_model_not_found", "", "upstream name"},
		{"upstream rejects the credential", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("up-auth-v1", "hi"))
			return err
		}, 502, "upstream_auth_error", "", "credential"},
		{"upstream fails", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("up-down-v1", "hi"))
			return err
		},
			502, "upstream_unavailable", "", ""},
		{"upstream times out", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("up-slow-v1", "hi"))
			return err
		},
			504, "upstream_unavailable", "", "timeout"},
		{"upstream unreachable", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("up-gone-v1", "hi"))
			return err
		},
			502, "upstream_unavailable", "", ""},
		{"upstream answers garbage", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("up-garbage-v1", "hi"))
			return err
		}, 502, "upstream_bad_response", "", "not a JSON object"},
		{"embedding of the wrong dimension", "", func(c openai.Client) error { _, err := c.Embeddings.New(e.ctx, embed("embed-wrong-v1")); return err },
			502, "upstream_bad_response", "dimension: got 512, want 768", "512"},
		{"upstream refuses the request", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("up-400-v1", "hi"))
			return err
		},
			400, "invalid_request", "", "maximum context length"},
		{"too large a body", "", func(c openai.Client) error {
			_, err := c.Embeddings.New(e.ctx, openai.EmbeddingNewParams{Model: "embed", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String(strings.Repeat("x", 9<<20))}})
			return err
		}, 400, "invalid_request", "body over", "larger than"},
		{"rate limited", "", func(c openai.Client) error {
			_, err := c.Chat.Completions.New(e.ctx, chatParams("up-429-v1", "hi"))
			return err
		},
			429, "rate_limited", "", "retry after 7"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == "" {
				key = e.key
			}
			err := tt.call(e.client(key))
			se := sdkError(t, err)
			if se.StatusCode != tt.status || se.Code != tt.code {
				t.Fatalf("got %d %s (%s), want %d %s", se.StatusCode, se.Code, se.Message, tt.status, tt.code)
			}
			if !strings.Contains(se.Message, tt.message) {
				t.Errorf("message %q does not say %q", se.Message, tt.message)
			}
			if tt.code == "rate_limited" {
				if ra := se.Response.Header.Get("Retry-After"); ra != "7" {
					t.Errorf("Retry-After = %q, want the upstream's 7", ra)
				}
			}
			if tt.code == "model_not_found" {
				// Every cause reads the same to the caller, the name aside.
				generic := strings.Replace(se.Message, "`"+strings.Split(se.Message, "`")[1]+"`", "`X`", 1)
				if notFoundMsg == "" {
					notFoundMsg = generic
				} else if generic != notFoundMsg {
					t.Errorf("model_not_found messages differ: %q vs %q", generic, notFoundMsg)
				}
				if se.Param != "model" {
					t.Errorf("param = %q", se.Param)
				}
			}
			r := e.lastRow(i + 1)
			if r.Outcome != tt.code || r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("request log row %+v, want outcome %s with detail containing %q", r, tt.code, tt.detail)
			}
		})
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		path, body, param string
	}{
		{"/v1/chat/completions", `{"model": "chat", "messages": [}`, ""},
		{"/v1/chat/completions", `{"messages": []}`, "model"},
		{"/v1/chat/completions", `{"model": "chat"}`, "messages"},
		{"/v1/chat/completions", `{"model": "chat", "model": "chat-secret-v1", "messages": []}`, "model"},
		{"/v1/chat/completions", `{"model": "chat", "mod\u0065l": "chat-secret-v1", "messages": []}`, "model"},
		{"/v1/chat/completions", `{"model": "chat", "messages": [], "stream": "yes"}`, "stream"},
		{"/v1/embeddings", `{"model": "embed", "input": 3}`, "input"},
		{"/v1/embeddings", `{"model": "embed", "input": "x", "encoding_format": "int8"}`, "encoding_format"},
		{"/v1/embeddings", `[1, 2]`, ""},
	}
	for i, tt := range tests {
		resp := e.post(tt.path, e.key, tt.body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var param string
		if i := strings.Index(string(b), `"param":`); i >= 0 {
			param = strings.Trim(strings.SplitN(string(b)[i+8:], "}", 2)[0], `"`)
		}
		if resp.StatusCode != 400 || !strings.Contains(string(b), `"code":"invalid_request"`) || (tt.param != "" && param != tt.param) {
			t.Errorf("%s %s: %d %s", tt.path, tt.body, resp.StatusCode, b)
		}
		if r := e.lastRow(i + 1); r.Outcome != "invalid_request" {
			t.Errorf("row %+v", r)
		}
	}
}
