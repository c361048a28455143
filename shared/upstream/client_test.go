package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

var fixedNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func testClient(t *testing.T, opts Options) *Client {
	t.Helper()
	opts.AllowLoopback = opts.AllowLoopback || opts.Resolver == nil
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	c := New(opts)
	t.Cleanup(c.Close)
	return c
}

func provider(base string) *catalog.Provider {
	return &catalog.Provider{
		ID: 1, Identifier: "acme-internal-llm", BaseURL: base,
		AuthMethod: catalog.AuthBearer, Credential: "secret",
		Timeouts:  catalog.Timeouts{Connect: time.Second, FirstByte: 2 * time.Second, Idle: 2 * time.Second, Total: 5 * time.Second},
		UpdatedAt: fixedNow,
	}
}

const chatBody = `{"model":"demo-chat","messages":[{"role":"user","content":"hello"}]}`

func TestSendAuthReplacesTheCallersCredential(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := testClient(t, Options{})
	inbound := http.Header{"Authorization": {"Bearer sk-developer-key"}, "X-Api-Key": {"sk-developer-key"}, "X-Request-Id": {"r1"}, "Cookie": {"session=1"}, "Accept-Encoding": {"gzip"}}

	tests := []struct {
		method            catalog.AuthMethod
		header            string
		wantAuth, wantKey string
		wantRequestIDKept bool
	}{
		{catalog.AuthBearer, "", "Bearer secret", "", true},
		{catalog.AuthAPIKey, "X-Api-Key", "", "secret", true},
		{catalog.AuthNone, "", "", "", true},
	}
	for _, tt := range tests {
		p := provider(srv.URL)
		p.AuthMethod, p.AuthHeader = tt.method, tt.header
		if tt.method != catalog.AuthAPIKey {
			inbound.Del("X-Api-Key") // only the configured header is the provider's to own
		}
		sent := inbound.Clone()
		resp, err := c.Send(context.Background(), p, http.MethodPost, "/chat/completions", []byte(chatBody), sent)
		if err != nil {
			t.Fatalf("%s: %v", tt.method, err)
		}
		resp.Body.Close()
		// Callers share one header map between requests (the gateway does).
		if !reflect.DeepEqual(sent, inbound) {
			t.Errorf("%s: Send modified the caller's header: %v, was %v", tt.method, sent, inbound)
		}
		mu.Lock()
		if a := got.Get("Authorization"); a != tt.wantAuth {
			t.Errorf("%s: Authorization %q, want %q", tt.method, a, tt.wantAuth)
		}
		if tt.header != "" && got.Get(tt.header) != tt.wantKey {
			t.Errorf("%s: %s %q, want %q", tt.method, tt.header, got.Get(tt.header), tt.wantKey)
		}
		if strings.Contains(strings.Join(got.Values("Authorization"), ""), "sk-developer-key") {
			t.Errorf("%s: the developer's key reached the upstream", tt.method)
		}
		if got.Get("Content-Type") != "application/json" || got.Get("X-Request-Id") != "r1" || got.Get("Cookie") != "" || got.Get("Accept-Encoding") != "" {
			t.Errorf("%s: headers %v", tt.method, got)
		}
		mu.Unlock()
	}
}

func TestSendAgainstFakeUpstream(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{Token: "secret"})
	defer up.Close()
	c := testClient(t, Options{})
	p := provider(up.URL)

	resp, err := c.Send(context.Background(), p, http.MethodPost, "/chat/completions", []byte(chatBody), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "You said: hello") {
		t.Fatalf("answer %s", b)
	}

	up.SetFaults(fakeupstream.Faults{Status: 429, RetryAfter: "7"})
	_, err = c.Send(context.Background(), p, http.MethodPost, "/chat/completions", []byte(chatBody), nil)
	e, ok := apierror.As(err)
	if !ok || e.Code != apierror.CodeRateLimited || e.Status != 429 || e.RetryAfter != "7" {
		t.Fatalf("429: %v", err)
	}
	var ue *Error
	if !errors.As(err, &ue) || ue.Cause == nil {
		t.Fatalf("the error should carry its cause: %#v", err)
	}

	up.SetFaults(fakeupstream.Faults{})
	p.Credential = "wrong"
	p.UpdatedAt = p.UpdatedAt.Add(time.Second)
	_, err = c.Send(context.Background(), p, http.MethodPost, "/chat/completions", []byte(chatBody), nil)
	if e := APIError(err); e.Code != apierror.CodeUpstreamAuthError || !strings.Contains(e.Message, "acme-internal-llm rejected the provider's credential (HTTP 401)") {
		t.Fatalf("401: %v", err)
	}
	if d := Detail(err); !strings.Contains(d, "acme-internal-llm rejected the provider's credential (HTTP 401: Incorrect API key provided.)") {
		t.Fatalf("401 detail for operators: %q", d)
	}
}

func TestSendReusesConnections(t *testing.T) {
	up := fakeupstream.New(fakeupstream.Config{})
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(up)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	c := testClient(t, Options{})
	p := provider(srv.URL + "/v1")
	p.AuthMethod = catalog.AuthNone
	for range 5 {
		resp, err := c.Send(context.Background(), p, http.MethodPost, "/chat/completions", []byte(chatBody), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Fatalf("5 sequential calls opened %d connections, want 1 (keep-alive)", conns)
	}
}

func TestTransportRenewedWhenTheProviderChanges(t *testing.T) {
	c := testClient(t, Options{})
	p := provider("http://10.0.0.1/v1")
	a, _ := c.transport(p)
	b, _ := c.transport(p)
	if a != b {
		t.Fatal("an unchanged provider got a new transport")
	}
	p2 := *p
	p2.UpdatedAt = p.UpdatedAt.Add(time.Minute)
	p2.Timeouts.FirstByte = 9 * time.Second
	d, _ := c.transport(&p2)
	if d == a || d.ResponseHeaderTimeout != 9*time.Second {
		t.Fatal("an edited provider kept its old transport")
	}
	p3 := *p
	p3.ID = 0
	e1, _ := c.transport(&p3)
	e2, _ := c.transport(&p3)
	if e1 == e2 || !e1.DisableKeepAlives {
		t.Fatal("an unsaved provider should get a throwaway transport")
	}
}

func TestFirstByteTimeout(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	up.SetFaults(fakeupstream.Faults{FirstByteDelay: 2 * time.Second})
	c := testClient(t, Options{})
	p := provider(up.URL)
	p.AuthMethod = catalog.AuthNone
	p.Timeouts.FirstByte = 150 * time.Millisecond
	start := time.Now()
	_, err := c.Send(context.Background(), p, http.MethodPost, "/chat/completions", []byte(chatBody), nil)
	e := APIError(err)
	if e.Code != apierror.CodeUpstreamUnavailable || e.Status != 504 || !strings.Contains(e.Message, "first-byte timeout") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the first-byte timeout of 150ms fired after %v", d)
	}
}

func streamBody(model string) []byte {
	return []byte(`{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"a b c d e f"}]}`)
}

func TestIdleTimeoutFailsAStalledStream(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	c := testClient(t, Options{})
	p := provider(up.URL)
	p.Timeouts.Idle = 100 * time.Millisecond
	p.AuthMethod = catalog.AuthNone

	resp, err := c.Send(context.Background(), p, http.MethodPost, "/chat/completions", streamBody("demo-chat@stall=1s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	b, err := io.ReadAll(resp.Body)
	e := APIError(err)
	if err == nil || e.Status != 504 || !strings.Contains(e.Message, "sent nothing for 100ms") {
		t.Fatalf("read %q, err %v", b, err)
	}
	if !strings.Contains(string(b), "data: ") {
		t.Error("the events before the stall should have arrived")
	}
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Fatalf("idle timeout fired after %v", d)
	}
}

func TestIdleTimeoutSparesASteadyStream(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	c := testClient(t, Options{})
	p := provider(up.URL)
	p.Timeouts.Idle = 250 * time.Millisecond
	p.AuthMethod = catalog.AuthNone
	// 9 events 60ms apart: longer in total than the idle timeout, never silent that long.
	resp, err := c.Send(context.Background(), p, http.MethodPost, "/chat/completions", streamBody("demo-chat@stall=60ms"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
		t.Fatalf("read %q, err %v", b, err)
	}
}

func TestTotalTimeoutCoversTheBody(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	c := testClient(t, Options{})
	p := provider(up.URL)
	p.Timeouts.Total = 200 * time.Millisecond
	p.AuthMethod = catalog.AuthNone
	resp, err := c.Send(context.Background(), p, http.MethodPost, "/chat/completions", streamBody("demo-chat@stall=80ms"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if e := APIError(err); err == nil || e.Status != 504 || !strings.Contains(e.Message, "total timeout") {
		t.Fatalf("err %v", err)
	}
}

func TestBrokenStreamIsUpstreamUnavailable(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	c := testClient(t, Options{})
	p := provider(up.URL)
	p.AuthMethod = catalog.AuthNone
	resp, err := c.Send(context.Background(), p, http.MethodPost, "/chat/completions", streamBody("demo-chat@break_after=2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if e := APIError(err); err == nil || e.Code != apierror.CodeUpstreamUnavailable || e.Status != 502 {
		t.Fatalf("err %v", err)
	}

	// A reset before any answer is the same failure, reported by Send.
	_, err = c.Send(context.Background(), p, http.MethodPost, "/chat/completions", []byte(`{"model":"demo-chat@break_after=0","messages":[{"role":"user","content":"x"}]}`), nil)
	if e := APIError(err); err == nil || e.Code != apierror.CodeUpstreamUnavailable {
		t.Fatalf("reset before answering: %v", err)
	}
}

func TestSendRefusesLoopbackInTheCloud(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	c := New(Options{}) // cloud defaults: no loopback
	defer c.Close()
	_, err := c.Send(context.Background(), provider(up.URL), http.MethodPost, "/chat/completions", []byte(chatBody), nil)
	if e := APIError(err); e.Code != apierror.CodeUpstreamUnavailable || !strings.Contains(e.Message, "blocked_address") {
		t.Fatalf("err %v", err)
	}
	if up.Requests() != 0 {
		t.Fatalf("the loopback upstream received %d requests", up.Requests())
	}
}

// The caller ending its request, by cancelling it once the upstream has it or by its own deadline,
// is not reported as the provider's total timeout.
func TestCallerCancelIsNotATimeout(t *testing.T) {
	for _, how := range []string{"cancelled while the upstream holds it", "the caller's deadline"} {
		t.Run(how, func(t *testing.T) {
			fake := fakeupstream.New(fakeupstream.Config{})
			fake.SetFaults(fakeupstream.Faults{FirstByteDelay: 2 * time.Second})
			arrived := make(chan struct{}, 1)
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case arrived <- struct{}{}:
				default:
				}
				fake.ServeHTTP(w, r)
			}))
			defer up.Close()
			c := testClient(t, Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if how == "the caller's deadline" {
				ctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
			} else {
				go func() {
					select {
					case <-arrived:
						cancel()
					case <-ctx.Done():
					}
				}()
			}
			_, err := c.Send(ctx, provider(up.URL), http.MethodPost, "/chat/completions", []byte(chatBody), nil)
			if err == nil {
				t.Fatal("the request succeeded although the caller ended it")
			}
			if e := APIError(err); strings.Contains(e.Message, "total timeout") {
				t.Fatalf("the caller's end was reported as the provider's total timeout: %v", err)
			}
		})
	}
}
