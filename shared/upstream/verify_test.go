package upstream

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

// codes lists the diagnostics' codes.
func codes(ds []catalog.Diagnostic) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Code)
	}
	return out
}

// wantFailed checks a failed verification with exactly one diagnostic of code mentioning has.
func wantFailed(t *testing.T, v catalog.Verification, code string, has ...string) {
	t.Helper()
	if v.Status != catalog.Failed || len(v.Diagnostics) != 1 || v.Diagnostics[0].Code != code {
		t.Fatalf("verification %+v, want failed with one %s diagnostic", v, code)
	}
	t.Logf("%s: %s", code, v.Diagnostics[0].Message)
	for _, h := range has {
		if !strings.Contains(v.Diagnostics[0].Message, h) {
			t.Errorf("diagnostic %q lacks %q", v.Diagnostics[0].Message, h)
		}
	}
}

func TestVerifyVerified(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{Token: "secret"})
	defer up.Close()
	c := testClient(t, Options{})
	v := c.Verify(context.Background(), provider(up.URL))
	if v.Status != catalog.Verified || len(v.Diagnostics) != 0 {
		t.Fatalf("verification %+v", v)
	}
	if !slices.Equal(v.UpstreamModels, []string{"demo-chat", "demo-embed-large", "demo-embed-small"}) {
		t.Errorf("upstream models %v", v.UpstreamModels)
	}
	if !v.CheckedAt.Equal(fixedNow) {
		t.Errorf("checked at %v, want the injected clock's %v", v.CheckedAt, fixedNow)
	}

	// An api_key provider, not yet saved (ID 0), as on create.
	up2 := fakeupstream.Start(fakeupstream.Config{Token: "k2", APIKeyHeader: "X-Api-Key"})
	defer up2.Close()
	p := provider(up2.URL)
	p.ID, p.AuthMethod, p.AuthHeader, p.Credential = 0, catalog.AuthAPIKey, "X-Api-Key", "k2"
	if v := c.Verify(context.Background(), p); v.Status != catalog.Verified {
		t.Fatalf("api_key verification %+v", v)
	}
}

func TestVerifyWrongCredential(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{Token: "secret"})
	defer up.Close()
	c := testClient(t, Options{})
	p := provider(up.URL)
	p.Credential = "wrong"
	wantFailed(t, c.Verify(context.Background(), p), DiagAuthRejected, "HTTP 401", "Incorrect API key provided", "check the credential")

	p.AuthMethod = catalog.AuthNone
	wantFailed(t, c.Verify(context.Background(), p), DiagAuthRejected, "auth method is none")
}

func TestVerifyCredentialWhitespace(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	c := testClient(t, Options{})
	p := provider(up.URL)
	p.Credential = "secret\n"
	v := c.Verify(context.Background(), p)
	if !slices.Contains(codes(v.Diagnostics), DiagCredentialWhitespace) {
		t.Fatalf("diagnostics %v lack credential_whitespace", v.Diagnostics)
	}
}

func TestVerifyTLS(t *testing.T) {
	up := fakeupstream.StartTLS(fakeupstream.Config{})
	defer up.Close()
	c := testClient(t, Options{})
	p := provider(up.URL)
	wantFailed(t, c.Verify(context.Background(), p), DiagTLSError, "unknown authority", "CA bundle")

	p.CABundle = up.CAPEM
	p.UpdatedAt = p.UpdatedAt.Add(time.Second) // an edit, as the admin API would record it
	if v := c.Verify(context.Background(), p); v.Status != catalog.Verified {
		t.Fatalf("with the CA bundle: %+v", v)
	}

	p.CABundle = "not a certificate"
	p.UpdatedAt = p.UpdatedAt.Add(time.Second)
	wantFailed(t, c.Verify(context.Background(), p), DiagTLSError, "no PEM certificate")
	if CheckCABundle("not a certificate") == nil || CheckCABundle(up.CAPEM) != nil {
		t.Error("CheckCABundle misjudges bundles")
	}

	// Plain HTTP at an https:// base URL.
	plain := fakeupstream.Start(fakeupstream.Config{})
	defer plain.Close()
	wantFailed(t, c.Verify(context.Background(), provider(strings.Replace(plain.URL, "http://", "https://", 1))), DiagTLSError, "did not speak TLS")
}

func TestVerifyUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := testClient(t, Options{})
	wantFailed(t, c.Verify(context.Background(), provider("http://"+addr+"/v1")), DiagUnreachable, "refused the connection")

	c = testClient(t, Options{AllowLoopback: true, Resolver: mapResolver{}})
	wantFailed(t, c.Verify(context.Background(), provider("http://llm.nowhere.test/v1")), DiagUnreachable, "does not resolve")
}

func TestVerifyNotOpenAICompatible(t *testing.T) {
	htmlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<!doctype html><html><head><title>Welcome to nginx!</title></head><body></body></html>"))
	}))
	defer htmlSrv.Close()
	c := testClient(t, Options{})
	wantFailed(t, c.Verify(context.Background(), provider(htmlSrv.URL)), DiagNotOpenAICompatible, `an HTML page titled "Welcome to nginx!"`, "missing it: try "+htmlSrv.URL+"/v1")

	jsonSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"models":["a"]}`))
	}))
	defer jsonSrv.Close()
	wantFailed(t, c.Verify(context.Background(), provider(jsonSrv.URL+"/v1")), DiagNotOpenAICompatible, `without a "data" list`)

	// The fake serves /v1/models only: a base URL without /v1 gets a 404 and the hint.
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	root := strings.TrimSuffix(up.URL, "/v1")
	wantFailed(t, c.Verify(context.Background(), provider(root)), DiagNotOpenAICompatible, "HTTP 404", "try "+root+"/v1")
}

func TestVerifyBlockedAddress(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(up.URL, "/v1"), "http://"))
	r := mapResolver{
		"metadata.attacker.test": {"169.254.169.254"},
		"llm.attacker.test":      {"127.0.0.1"},
	}
	c := testClient(t, Options{AllowLoopback: false, Resolver: r})

	start := time.Now()
	wantFailed(t, c.Verify(context.Background(), provider("http://metadata.attacker.test:"+port+"/v1")), DiagBlockedAddress,
		"metadata.attacker.test resolves to 169.254.169.254", "cloud metadata")
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a refused dial took %v: it looks attempted", d)
	}
	// A name pointing at the loopback upstream: refused, and the upstream never hears of it.
	wantFailed(t, c.Verify(context.Background(), provider("http://llm.attacker.test:"+port+"/v1")), DiagBlockedAddress, "loopback")
	if n := up.Requests(); n != 0 {
		t.Fatalf("the upstream behind the blocked name received %d requests", n)
	}
	// A literal address is refused before any dial.
	wantFailed(t, c.Verify(context.Background(), provider("http://169.254.169.254/latest")), DiagBlockedAddress, "169.254.169.254")
}

func TestVerifyServerError(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	up.SetFaults(fakeupstream.Faults{Status: 503, Shape: fakeupstream.ShapeHTML})
	c := testClient(t, Options{})
	wantFailed(t, c.Verify(context.Background(), provider(up.URL)), DiagUnreachable, "503 Service Unavailable")
}

func TestProbeChat(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{Token: "secret", StrictModels: true, ChatModels: []string{"demo-chat", "demo-chat@no_stream,no_tools"}})
	defer up.Close()
	c := testClient(t, Options{})
	p := provider(up.URL)

	m := &catalog.Model{Name: "acme-chat-2026-06", UpstreamName: "demo-chat", Kind: catalog.KindChat, Capabilities: catalog.Capabilities{Streaming: true, Tools: true}}
	pr := c.Probe(context.Background(), p, m)
	if pr.Streaming == nil || !*pr.Streaming || pr.Tools == nil || !*pr.Tools || pr.Dimension != nil || len(pr.Diagnostics) != 0 {
		t.Fatalf("probe %+v", pr)
	}
	if !pr.CheckedAt.Equal(fixedNow) {
		t.Errorf("checked at %v", pr.CheckedAt)
	}

	// An endpoint that refuses streaming and tools, for a model that declares both.
	m.UpstreamName = "demo-chat@no_stream,no_tools"
	pr = c.Probe(context.Background(), p, m)
	if pr.Streaming == nil || *pr.Streaming || pr.Tools == nil || *pr.Tools {
		t.Fatalf("probe %+v", pr)
	}
	got := codes(pr.Diagnostics)
	if slices.Index(got, apierror.CodeUnsupportedOperation) < 0 || len(slices.DeleteFunc(slices.Clone(got), func(c string) bool { return c != DiagCapabilityMismatch })) != 2 {
		t.Errorf("diagnostics %v, want unsupported_operation and two capability_mismatch", pr.Diagnostics)
	}

	// An upstream name the endpoint does not know: nothing further is known.
	m.UpstreamName = "llama-9"
	pr = c.Probe(context.Background(), p, m)
	if pr.Streaming != nil || pr.Tools != nil || !slices.Equal(codes(pr.Diagnostics), []string{apierror.CodeUpstreamModelNotFound}) {
		t.Fatalf("probe %+v", pr)
	}
}

func TestProbeChatEndpointThatDoesNotStream(t *testing.T) {
	// Answers plain JSON whatever stream says, as some servers do.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":"OK"},"finish_reason":"stop"}]}`))
	}))
	defer srv.Close()
	c := testClient(t, Options{})
	pr := c.Probe(context.Background(), provider(srv.URL), &catalog.Model{UpstreamName: "x", Kind: catalog.KindChat})
	if pr.Streaming == nil || *pr.Streaming || !slices.Contains(codes(pr.Diagnostics), DiagNotOpenAICompatible) {
		t.Fatalf("probe %+v", pr)
	}
}

func TestProbeEmbedding(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{})
	defer up.Close()
	c := testClient(t, Options{})
	p := provider(up.URL)
	m := &catalog.Model{UpstreamName: "demo-embed-large", Kind: catalog.KindEmbedding, Dimension: 1024}
	pr := c.Probe(context.Background(), p, m)
	if pr.Dimension == nil || *pr.Dimension != 1024 || pr.Streaming != nil || len(pr.Diagnostics) != 0 {
		t.Fatalf("probe %+v", pr)
	}

	m.Dimension = 768 // recorded wrong
	pr = c.Probe(context.Background(), p, m)
	if pr.Dimension == nil || *pr.Dimension != 1024 || !slices.Equal(codes(pr.Diagnostics), []string{DiagDimensionMismatch}) ||
		!strings.Contains(pr.Diagnostics[0].Message, "1024-dimensional vectors, but the model records 768") {
		t.Fatalf("probe %+v", pr)
	}

	up.SetFaults(fakeupstream.Faults{Routes: map[string]int{"/v1/embeddings": 404}})
	pr = c.Probe(context.Background(), p, m)
	if pr.Dimension != nil || !slices.Equal(codes(pr.Diagnostics), []string{apierror.CodeUnsupportedOperation}) {
		t.Fatalf("probe %+v", pr)
	}
}
