package upstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

const leakyCredential = "sk-live/abc+def=ghi-1234567890"

// echoedForms are the credential as a leaky upstream echoes it.
var echoedForms = []string{leakyCredential, base64.StdEncoding.EncodeToString([]byte(leakyCredential)),
	base64.RawURLEncoding.EncodeToString([]byte(leakyCredential)), url.QueryEscape(leakyCredential), url.PathEscape(leakyCredential),
	strings.ToLower(url.QueryEscape(leakyCredential))}

const leakyMessage = "Key {credential} (Authorization: {authorization}; {credential_base64}; {credential_urlencoded}) " +
	"was refused by gpu-7.corp.internal at 10.1.2.3, see http://internal.example:8443/x"

// lockedBuffer collects a logger's output from the client's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAttackVerificationStoresEchoedCredential has an upstream answer verification's GET /models
// with errors that echo the credential: the diagnostics (stored, shown in the console) and the
// server log hold none of its forms, and each diagnostic is bounded.
func TestAttackVerificationStoresEchoedCredential(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{Token: leakyCredential})
	defer up.Close()
	var logged lockedBuffer
	c := testClient(t, Options{Logger: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	p := provider(up.URL)
	p.Credential = leakyCredential
	long := leakyMessage + strings.Repeat(" and more", 500)
	for _, f := range []fakeupstream.Faults{
		{Status: 401, Message: leakyMessage},
		{Status: 403, Shape: fakeupstream.ShapeText, Message: long},
		{Status: 500, Shape: fakeupstream.ShapeVLLM, Message: leakyMessage},
		{Status: 404, Shape: fakeupstream.ShapeFastAPI, Message: leakyMessage},
		{Status: 400, Message: leakyMessage},
		{Status: 429, Message: leakyMessage},
		{Status: 302, Location: "https://login.corp.internal/sso?key={credential_urlencoded}", Message: leakyMessage},
	} {
		up.SetFaults(f)
		v := c.Verify(context.Background(), p)
		if v.Status != catalog.Failed || len(v.Diagnostics) == 0 {
			t.Fatalf("HTTP %d: verification %+v, want failed with a diagnostic", f.Status, v)
		}
		for _, d := range v.Diagnostics {
			for _, form := range echoedForms {
				if strings.Contains(d.Message, form) {
					t.Errorf("HTTP %d: diagnostic %s holds the credential as %q: %s", f.Status, d.Code, form, d.Message)
				}
			}
			if len(d.Message) > MaxStoredText {
				t.Errorf("HTTP %d: diagnostic %s is %d bytes long", f.Status, d.Code, len(d.Message))
			}
		}
		// What the operator needs stays: the upstream's own words, redacted.
		if f.Status == 401 && !strings.Contains(v.Diagnostics[0].Message, "was refused by gpu-7.corp.internal") {
			t.Errorf("the auth diagnostic lost the upstream's words: %s", v.Diagnostics[0].Message)
		}
		// A developer calling through the gateway sees Switchyard's message only.
		_, err := c.Send(context.Background(), p, http.MethodGet, "/models", nil, nil)
		if msg := APIError(err).Message; strings.Contains(msg, "gpu-7") || strings.Contains(msg, "sk-live") {
			t.Errorf("HTTP %d: the developer's message quotes the upstream: %s", f.Status, msg)
		}
	}
	log := logged.String()
	for _, form := range echoedForms {
		if strings.Contains(log, form) {
			t.Errorf("the server log holds the credential as %q:\n%s", form, log)
		}
	}
	if !strings.Contains(log, "[redacted]") {
		t.Errorf("the server log should keep the upstream's detail, redacted:\n%s", log)
	}
}

// TestAttackForDeveloperScrubs checks what of an upstream's 400 message reaches a developer.
func TestAttackForDeveloperScrubs(t *testing.T) {
	tests := []struct{ in, gone, kept string }{
		{"bad key " + leakyCredential, leakyCredential, "bad key"},
		{"header Authorization: Bearer abc.def.ghi was refused", "abc.def.ghi", "was refused"},
		{"basic auth Basic dXNlcjpwYXNz failed", "dXNlcjpwYXNz", "failed"},
		{"key sk-proj-1234567890abcdef is invalid", "sk-proj-1234567890abcdef", "is invalid"},
		{"token eyJhbGciOiJIUzI1NiJ9eyJzdWIiOiIxMjM0NTY3ODkwIn0 expired", "eyJhbGciOiJIUzI1NiJ9", "expired"},
		{"see http://internal.example:8443/x for help", "internal.example", "for help"},
		{"fetch from s3://bucket/key failed", "bucket", "failed"},
		{"worker 10.1.2.3:8000 is busy", "10.1.2.3", "is busy"},
		{"worker fd00:ec2::254 is busy", "fd00:ec2::254", "is busy"},
		{"worker [2001:db8::1]:443 is busy", "2001:db8::1", "is busy"},
		{"node gpu-7.corp.internal is full", "gpu-7.corp.internal", "is full"},
		{"node triton.svc is full", "triton.svc", "is full"},
		{"node vllm.default.svc.cluster.local is full", "vllm.default.svc.cluster.local", "is full"},
		{"backend llm-box:8080 refused", "llm-box:8080", "refused"},
		{"body.messages.0.content: Field required", "", "body.messages.0.content: Field required"},
		{"gpt-3.5-turbo supports 4096 tokens at 12:30:45", "", "gpt-3.5-turbo supports 4096 tokens at 12:30:45"},
		{"This model's maximum context length is 8192 tokens. Please reduce the length.", "", "maximum context length is 8192 tokens. Please reduce"},
		{"use Foo::Bar instead", "", "Foo::Bar"},
	}
	for _, tt := range tests {
		got := ForDeveloper(tt.in, leakyCredential)
		if tt.gone != "" && strings.Contains(got, tt.gone) {
			t.Errorf("ForDeveloper(%q) = %q keeps %q", tt.in, got, tt.gone)
		}
		if !strings.Contains(got, tt.kept) {
			t.Errorf("ForDeveloper(%q) = %q lost %q", tt.in, got, tt.kept)
		}
	}
}

// TestRedactForms checks each form of the credential an upstream may echo is redacted, and that a
// credential too short to look for leaves the text alone.
func TestRedactForms(t *testing.T) {
	for _, form := range echoedForms {
		if got := Redact("it said "+form+" twice: "+form, leakyCredential); strings.Contains(got, form) || strings.Count(got, Redacted) != 2 {
			t.Errorf("Redact left %q in %q", form, got)
		}
	}
	if got := Redact("a b c", "b"); got != "a b c" {
		t.Errorf("a one-letter credential garbled the text: %q", got)
	}
	if got := ForOperator(strings.Repeat("é", 2000), ""); len(got) > MaxStoredText || !strings.HasSuffix(got, "…") {
		t.Errorf("ForOperator did not bound the text: %d bytes", len(got))
	}
}
