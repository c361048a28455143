package gateway_test

import (
	"encoding/base64"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

// leakyCredential is the provider's credential in the attacks; its URL and base64 encodings differ
// from it, so each form is looked for on its own.
const leakyCredential = "sk-live/abc+def=ghi-1234567890"

// leakyMessage is an upstream error that echoes what an upstream should never tell a developer: the
// credential in every obvious form, an internal host name, a private address and an internal URL.
const leakyMessage = "This model's maximum context length is 8192 tokens. Key {credential} (Authorization: {authorization}; " +
	"{credential_base64}; {credential_urlencoded}) was checked by gpu-7.corp.internal at 10.1.2.3, see http://internal.example:8443/x"

// secrets are the strings no developer-facing answer may hold.
func secrets() []string {
	return []string{leakyCredential, base64.StdEncoding.EncodeToString([]byte(leakyCredential)), url.QueryEscape(leakyCredential),
		"gpu-7.corp.internal", "10.1.2.3", "internal.example", "http://internal.example:8443/x", "login.corp.internal"}
}

// credentialForms are the strings no request-log row may hold.
func credentialForms() []string { return secrets()[:3] }

// TestAttackUpstreamErrorTextReachesDevelopers has an upstream answer errors that echo the
// provider's credential, internal host names, a private address, an internal URL and a redirect
// target: the developer's answer holds none of them (the 400 about the request keeps its useful
// words), and the request-log row holds no credential and is bounded.
func TestAttackUpstreamErrorTextReachesDevelopers(t *testing.T) {
	e := newEnv(t)
	leaky := fakeupstream.Start(fakeupstream.Config{Token: leakyCredential})
	t.Cleanup(leaky.Close)
	store := &postgres.CatalogStore{Pool: e.pool, Sealer: e.app.Sealer}
	if _, err := store.CreateProvider(e.ctx, &catalog.Provider{Identifier: "leaky", DisplayName: "leaky", BaseURL: leaky.URL,
		AuthMethod: catalog.AuthBearer, Credential: leakyCredential}, nil); err != nil {
		t.Fatal(err)
	}
	e.model("leaky-v1", "leaky", "demo-chat", catalog.KindChat, 0, true, true, true)
	e.grant("leaky-v1", "search")
	e.refresh()

	long := leakyMessage + strings.Repeat(" and more", 600)
	tests := []struct {
		name   string
		faults fakeupstream.Faults
		stream bool
		code   string
		keeps  string // what of the upstream's words a developer still reads
	}{
		{"400 about the request", fakeupstream.Faults{Status: 400, Message: leakyMessage}, false, "invalid_request", "maximum context length is 8192 tokens"},
		{"422 in FastAPI's shape", fakeupstream.Faults{Status: 422, Shape: fakeupstream.ShapeFastAPI, Message: leakyMessage}, false, "invalid_request", "maximum context length"},
		{"401", fakeupstream.Faults{Status: 401, Message: leakyMessage}, false, "upstream_auth_error", ""},
		{"500", fakeupstream.Faults{Status: 500, Shape: fakeupstream.ShapeVLLM, Message: long}, false, "upstream_unavailable", ""},
		{"404 as text", fakeupstream.Faults{Status: 404, Shape: fakeupstream.ShapeText, Message: leakyMessage}, false, "unsupported_operation", ""},
		{"429", fakeupstream.Faults{Status: 429, Message: leakyMessage}, false, "rate_limited", ""},
		{"redirect", fakeupstream.Faults{Status: 302, Location: "https://login.corp.internal/sso?token={credential}", Message: leakyMessage}, false, "upstream_bad_response", ""},
		{"error event mid-stream", fakeupstream.Faults{StreamError: long}, true, "upstream_unavailable", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaky.SetFaults(tt.faults)
			body := `{"model": "leaky-v1", "messages": [{"role": "user", "content": "hi"}]}`
			if tt.stream {
				body = `{"model": "leaky-v1", "stream": true, "messages": [{"role": "user", "content": "hi"}]}`
			}
			resp := e.post("/v1/chat/completions", e.key, body)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := string(b)
			if !strings.Contains(got, `"code":"`+tt.code+`"`) {
				t.Fatalf("answer %d %s, want code %s", resp.StatusCode, got, tt.code)
			}
			for _, s := range secrets() {
				if strings.Contains(got, s) {
					t.Errorf("the developer's answer holds %q: %s", s, got)
				}
			}
			if !strings.Contains(got, tt.keeps) {
				t.Errorf("the developer's answer lost the upstream's %q: %s", tt.keeps, got)
			}
			r := e.lastRow(i + 1)
			if r.Outcome != tt.code {
				t.Errorf("row outcome %s, want %s", r.Outcome, tt.code)
			}
			for _, s := range credentialForms() {
				if strings.Contains(r.Detail, s) || strings.Contains(r.Message, s) {
					t.Errorf("the request log holds the credential as %q: detail %q message %q", s, r.Detail, r.Message)
				}
			}
			if len(r.Detail) > 1024 || len(r.Message) > 1024 {
				t.Errorf("the request log row is unbounded: detail %d bytes, message %d bytes", len(r.Detail), len(r.Message))
			}
			if r.Detail == "" {
				t.Errorf("the request log row lost the upstream's detail")
			}
		})
	}
}
