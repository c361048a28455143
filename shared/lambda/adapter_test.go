package lambda

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func restEvent(method, path string) *events.APIGatewayProxyRequest {
	return &events.APIGatewayProxyRequest{
		HTTPMethod: method,
		Path:       path,
		Resource:   "/v1/{proxy+}",
		Headers:    map[string]string{"Host": "abc123.execute-api.eu-west-1.amazonaws.com"},
		MultiValueHeaders: map[string][]string{
			"Host": {"abc123.execute-api.eu-west-1.amazonaws.com"},
		},
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "req-1",
			Stage:     "prod",
			Path:      "/prod" + path,
			Identity:  events.APIGatewayRequestIdentity{SourceIP: "203.0.113.9"},
		},
	}
}

func TestNewRequest(t *testing.T) {
	tests := []struct {
		name  string
		event func() *events.APIGatewayProxyRequest
		check func(t *testing.T, r *http.Request, body string)
	}{
		{
			name: "method, path, multi-value query and headers",
			event: func() *events.APIGatewayProxyRequest {
				e := restEvent(http.MethodGet, "/admin/usage")
				e.QueryStringParameters = map[string]string{"team": "b"}
				e.MultiValueQueryStringParameters = map[string][]string{"team": {"a", "b"}, "q": {"a b&c"}}
				e.MultiValueHeaders["Accept"] = []string{"text/html", "application/json"}
				e.MultiValueHeaders["Authorization"] = []string{"Bearer tok"}
				return e
			},
			check: func(t *testing.T, r *http.Request, body string) {
				if r.Method != http.MethodGet || r.URL.Path != "/admin/usage" {
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				}
				if got := r.URL.Query()["team"]; strings.Join(got, ",") != "a,b" {
					t.Errorf("team = %v, want [a b]", got)
				}
				if got := r.URL.Query().Get("q"); got != "a b&c" {
					t.Errorf("q = %q, want %q", got, "a b&c")
				}
				if got := r.Header.Values("Accept"); len(got) != 2 {
					t.Errorf("Accept = %v, want both values", got)
				}
				if r.Header.Get("Authorization") != "Bearer tok" {
					t.Errorf("Authorization lost: %v", r.Header)
				}
				if r.Host != "abc123.execute-api.eu-west-1.amazonaws.com" {
					t.Errorf("Host = %q", r.Host)
				}
				if r.RequestURI != "/admin/usage?q=a+b%26c&team=a&team=b" {
					t.Errorf("RequestURI = %q", r.RequestURI)
				}
			},
		},
		{
			name: "single-value fields when the event has no multi-value ones",
			event: func() *events.APIGatewayProxyRequest {
				e := restEvent(http.MethodGet, "/v1/models")
				e.MultiValueHeaders = nil
				e.Headers["X-Thing"] = "1"
				e.QueryStringParameters = map[string]string{"limit": "5"}
				return e
			},
			check: func(t *testing.T, r *http.Request, body string) {
				if r.Header.Get("X-Thing") != "1" || r.URL.Query().Get("limit") != "5" {
					t.Errorf("headers %v, query %v", r.Header, r.URL.Query())
				}
			},
		},
		{
			name: "base64 body, request id, source address, stage prefix",
			event: func() *events.APIGatewayProxyRequest {
				e := restEvent(http.MethodPost, "/v1/embeddings")
				e.Body = "eyJtb2RlbCI6ImEifQ==" // {"model":"a"}
				e.IsBase64Encoded = true
				e.MultiValueHeaders["X-Request-Id"] = []string{"spoofed"}
				e.MultiValueHeaders["Content-Length"] = []string{"999"}
				return e
			},
			check: func(t *testing.T, r *http.Request, body string) {
				if body != `{"model":"a"}` {
					t.Errorf("body = %q", body)
				}
				if r.ContentLength != int64(len(body)) {
					t.Errorf("ContentLength = %d, want %d", r.ContentLength, len(body))
				}
				if got := r.Header.Get(HeaderRequestID); got != "req-1" {
					t.Errorf("X-Request-Id = %q, want API Gateway's req-1", got)
				}
				if r.RemoteAddr != "203.0.113.9:0" {
					t.Errorf("RemoteAddr = %q", r.RemoteAddr)
				}
				if got := r.Header.Get(HeaderForwardedPrefix); got != "/prod" {
					t.Errorf("X-Forwarded-Prefix = %q, want /prod", got)
				}
			},
		},
		{
			name: "plain text body, no prefix on a custom domain without base path",
			event: func() *events.APIGatewayProxyRequest {
				e := restEvent(http.MethodPost, "/v1/chat/completions")
				e.Body = `{"stream":true}`
				e.RequestContext.Path = "/v1/chat/completions"
				return e
			},
			check: func(t *testing.T, r *http.Request, body string) {
				if body != `{"stream":true}` {
					t.Errorf("body = %q", body)
				}
				if _, ok := r.Header[HeaderForwardedPrefix]; ok {
					t.Errorf("X-Forwarded-Prefix set without a prefix: %q", r.Header.Get(HeaderForwardedPrefix))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRequest(context.Background(), tt.event())
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r, string(b))
		})
	}
}

// streamed is an invocation's response as API Gateway reads it.
type streamed struct {
	Status            int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	body              *bufio.Reader
}

// invoke runs one synthetic invocation and parses the prelude, leaving the body to be read.
func invoke(t *testing.T, ctx context.Context, h http.Handler, ev *events.APIGatewayProxyRequest, opts ...Option) (*streamed, io.Closer) {
	t.Helper()
	resp, err := Handler(h, opts...)(ctx, ev)
	if err != nil {
		t.Fatalf("handler returned error: %v", err)
	}
	if ct := resp.ContentType(); ct != "application/vnd.awslambda.http-integration-response" {
		t.Errorf("content type = %q", ct)
	}
	r := bufio.NewReader(resp)
	raw, err := r.ReadBytes(0)
	if err != nil {
		t.Fatalf("reading the prelude: %v", err)
	}
	sep := make([]byte, 7)
	if _, err := io.ReadFull(r, sep); err != nil || !bytes.Equal(sep, make([]byte, 7)) {
		t.Fatalf("prelude not followed by 8 NUL bytes: %q, %v", sep, err)
	}
	var s streamed
	if err := json.Unmarshal(raw[:len(raw)-1], &s); err != nil {
		t.Fatalf("prelude %q: %v", raw, err)
	}
	s.body = r
	return &s, resp
}

func (s *streamed) header(k string) string {
	if v, ok := s.Headers[k]; ok {
		return v
	}
	return strings.Join(s.MultiValueHeaders[k], ",")
}

func TestPlainResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
		w.Header().Set("Content-Length", "999") // wrong on purpose: the adapter must not forward it
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"path":%q,"id":%q}`, r.URL.Path, r.Header.Get(HeaderRequestID))
	})
	s, _ := invoke(t, context.Background(), h, restEvent(http.MethodPost, "/admin/teams"))
	if s.Status != http.StatusCreated {
		t.Errorf("status = %d, want 201", s.Status)
	}
	if got := s.MultiValueHeaders["Set-Cookie"]; len(got) != 2 {
		t.Errorf("Set-Cookie = %v, want two cookies", got)
	}
	if s.header("Content-Length") != "" {
		t.Errorf("Content-Length forwarded: %q", s.header("Content-Length"))
	}
	if ct := s.header("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("sniffed Content-Type = %q", ct)
	}
	b, _ := io.ReadAll(s.body)
	if string(b) != `{"path":"/admin/teams","id":"req-1"}` {
		t.Errorf("body = %s", b)
	}
}

func TestNoContent(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
			t.Errorf("Write after 204 = %v, want ErrBodyNotAllowed", err)
		}
	})
	s, _ := invoke(t, context.Background(), h, restEvent(http.MethodDelete, "/v1/corpora/c/documents/d"))
	if s.Status != http.StatusNoContent {
		t.Errorf("status = %d", s.Status)
	}
	if b, _ := io.ReadAll(s.body); len(b) != 0 {
		t.Errorf("body = %q, want none", b)
	}
}

func TestStreamingReachesTheReaderEventByEvent(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "data: {\"n\":%d}\n\n", i)
			w.(http.Flusher).Flush()
			<-release // the next event is written only after the reader saw this one
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	s, _ := invoke(t, context.Background(), h, restEvent(http.MethodPost, "/v1/chat/completions"))
	if s.Status != 200 || s.header("Content-Type") != "text/event-stream" {
		t.Fatalf("prelude = %+v", s)
	}
	for i := 1; i <= 3; i++ {
		got := readLineWithin(t, s.body, 5*time.Second)
		if want := fmt.Sprintf("data: {\"n\":%d}\n", i); got != want {
			t.Fatalf("event %d = %q, want %q", i, got, want)
		}
		readLineWithin(t, s.body, time.Second) // the blank line
		release <- struct{}{}
	}
	rest, err := io.ReadAll(s.body)
	if err != nil || string(rest) != "data: [DONE]\n\n" {
		t.Errorf("rest = %q, %v", rest, err)
	}
}

func readLineWithin(t *testing.T, r *bufio.Reader, d time.Duration) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	c := make(chan res, 1)
	go func() {
		s, err := r.ReadString('\n')
		c <- res{s, err}
	}()
	select {
	case got := <-c:
		if got.err != nil {
			t.Fatalf("reading the stream: %v", got.err)
		}
		return got.s
	case <-time.After(d):
		t.Fatal("a flushed event did not reach the reader: the adapter buffered it")
		return ""
	}
}

func TestPanics(t *testing.T) {
	t.Run("before the headers: 500 in SPEC's shape", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Half", "done")
			w.Write([]byte("partial"))
			panic("boom")
		})
		s, _ := invoke(t, context.Background(), h, restEvent(http.MethodGet, "/admin/models"))
		if s.Status != http.StatusInternalServerError {
			t.Fatalf("status = %d, want 500", s.Status)
		}
		if s.header("X-Half") != "" {
			t.Error("headers of the abandoned response leaked into the 500")
		}
		var body struct {
			Error struct{ Message, Code string }
		}
		b, _ := io.ReadAll(s.body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		if body.Error.Code != "internal_error" || !strings.Contains(body.Error.Message, "req-1") {
			t.Errorf("error = %+v, want internal_error quoting the request id", body.Error)
		}
	})
	t.Run("after the headers: the stream breaks", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("data: 1\n\n"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		})
		s, _ := invoke(t, context.Background(), h, restEvent(http.MethodPost, "/v1/chat/completions"))
		_, err := io.ReadAll(s.body)
		if err == nil {
			t.Fatal("stream ended cleanly after a panic; Lambda would report success")
		}
	})
}

func TestBadBase64Body(t *testing.T) {
	called := false
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true })
	ev := restEvent(http.MethodPost, "/v1/embeddings")
	ev.Body, ev.IsBase64Encoded = "%%%", true
	s, _ := invoke(t, context.Background(), h, ev)
	io.ReadAll(s.body)
	if s.Status != http.StatusBadRequest || called {
		t.Errorf("status = %d, handler called = %v; want 400 without calling the handler", s.Status, called)
	}
}

func TestClientGoneCancelsTheRequest(t *testing.T) {
	cancelled := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("data: 1\n\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		_, err := w.Write(bytes.Repeat([]byte("x"), flushThreshold))
		cancelled <- err
	})
	s, closer := invoke(t, context.Background(), h, restEvent(http.MethodPost, "/v1/chat/completions"))
	readLineWithin(t, s.body, 5*time.Second)
	closer.Close() // Lambda stops reading
	select {
	case err := <-cancelled:
		if err == nil {
			t.Error("writes after the client went away succeed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request context not cancelled when Lambda stopped reading")
	}
}

func TestBeforeReturnRunsBeforeTheStreamEnds(t *testing.T) {
	var order []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		order = append(order, "handler")
		w.Write([]byte("ok"))
	})
	flushed := BeforeReturn(func(ctx context.Context) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("hook context lost the invocation's deadline")
		}
		order = append(order, "flush usage")
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, _ := invoke(t, ctx, h, restEvent(http.MethodGet, "/healthz"), flushed)
	io.ReadAll(s.body) // EOF only after the hook ran
	order = append(order, "stream ended")
	if got := strings.Join(order, " < "); got != "handler < flush usage < stream ended" {
		t.Errorf("order = %s", got)
	}
}

func TestRunLocalServesPlainHTTP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- RunLocalOrLambda(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("local"))
		}), false, "127.0.0.1:0", func(a net.Addr) { addr <- a.String() })
	}()
	var base string
	select {
	case base = <-addr:
	case err := <-done:
		t.Fatalf("RunLocalOrLambda: %v", err)
	}
	resp, err := http.Get("http://" + base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "local" {
		t.Errorf("body = %q", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunLocalOrLambda after shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop when its context ended")
	}
}
