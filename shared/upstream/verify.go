package upstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/wire"
)

// Diagnostic codes of provider verification (SPEC "provider verification diagnostics") and of
// model probes.
const (
	DiagCredentialWhitespace = "credential_whitespace"
	DiagUnreachable          = "unreachable"
	DiagTLSError             = "tls_error"
	DiagAuthRejected         = "auth_rejected"
	DiagNotOpenAICompatible  = "not_openai_compatible"
	DiagBlockedAddress       = "blocked_address"
	// Probe-only: the endpoint contradicts the model's record.
	DiagDimensionMismatch  = "dimension_mismatch"
	DiagCapabilityMismatch = "capability_mismatch"
)

// VerifyTimeout bounds a verification, whatever the provider's own total timeout: it runs while
// an operator waits for the admin API to answer.
const VerifyTimeout = 20 * time.Second

// maxListBody bounds the /models answer read.
const maxListBody = 8 << 20

// Verify checks p's endpoint as the gateway will call it: GET {base}/models with p's
// credential. It reports verified, with the upstream's model ids, or failed with diagnostics
// (unreachable, tls_error, auth_rejected, not_openai_compatible, blocked_address). A credential
// with whitespace around it is reported as credential_whitespace. It never returns an error:
// a provider that fails verification is still stored, with the failure. Diagnostics never hold
// p's credential, and each is at most MaxStoredText bytes.
func (c *Client) Verify(ctx context.Context, p *catalog.Provider) catalog.Verification {
	v := c.verify(ctx, p)
	redactDiagnostics(v.Diagnostics, p.Credential)
	return v
}

func (c *Client) verify(ctx context.Context, p *catalog.Provider) catalog.Verification {
	v := catalog.Verification{Status: catalog.Failed, CheckedAt: c.opts.Now().UTC(), Diagnostics: []catalog.Diagnostic{}, UpstreamModels: []string{}}
	add := func(code, format string, args ...any) {
		v.Diagnostics = append(v.Diagnostics, catalog.Diagnostic{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if p.AuthMethod != catalog.AuthNone && p.Credential != strings.TrimSpace(p.Credential) {
		add(DiagCredentialWhitespace, "the credential has whitespace around it, which the endpoint would likely refuse; store it trimmed")
	}
	if err := CheckBaseURLHost(p.BaseURL, c.opts.AllowLoopback); err != nil {
		add(DiagBlockedAddress, "%s", err.Error())
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, VerifyTimeout)
	defer cancel()
	modelsURL := URL(p, "/models")
	resp, err := c.Send(ctx, p, http.MethodGet, "/models", nil, http.Header{"Accept": {"application/json"}})
	if err != nil {
		c.diagnose(&v, p, modelsURL, err)
		return v
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListBody))
	if err != nil {
		c.diagnose(&v, p, modelsURL, err)
		return v
	}
	ids, ok := modelIDs(body)
	if !ok {
		what := "JSON without a \"data\" list"
		if m := ParseErrorBody(resp.Header, body); m.HTML {
			what = "an HTML page"
			if m.Message != "" {
				what += fmt.Sprintf(" titled %q", m.Message)
			}
		} else if len(bytes.TrimSpace(body)) == 0 {
			what = "an empty body"
		} else if !json.Valid(body) {
			what = "something that is not JSON"
		}
		add(DiagNotOpenAICompatible, "GET %s answered %s, not an OpenAI model list ({\"data\": [...]})%s", modelsURL, what, v1Hint(p.BaseURL))
		return v
	}
	v.UpstreamModels = ids
	v.Status = catalog.Verified
	return v
}

// diagnose turns a failed call into one of verification's diagnostics.
func (c *Client) diagnose(v *catalog.Verification, p *catalog.Provider, modelsURL string, err error) {
	add := func(code, format string, args ...any) {
		v.Diagnostics = append(v.Diagnostics, catalog.Diagnostic{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	var cbe *caBundleError
	if errors.As(err, &cbe) {
		add(DiagTLSError, "%s; paste the PEM of the certificate authority that signed the endpoint's certificate", cbe.Error())
		return
	}
	api := APIError(err)
	said := Detail(err) // api's message with what the upstream said, for operators
	var ue *Error
	cause := err
	if errors.As(err, &ue) && ue.Cause != nil {
		cause = ue.Cause
	}
	switch api.Code {
	case apierror.CodeUpstreamAuthError:
		hint := "check the credential"
		switch p.AuthMethod {
		case catalog.AuthNone:
			hint = "the endpoint wants a credential, but the provider's auth method is none"
		case catalog.AuthAPIKey:
			hint = fmt.Sprintf("check the credential, and that the endpoint reads it from the %s header (or use auth method bearer)", p.AuthHeader)
		case catalog.AuthBearer:
			hint = "check the credential, and whether the endpoint wants it in another header (auth method api_key)"
		}
		add(DiagAuthRejected, "%s; %s", strings.TrimSuffix(said, "; check the provider's credential and auth method"), hint)
		return
	}
	if ue != nil && ue.Status != 0 {
		d := detail(ue.Status, ue.Upstream)
		switch {
		case api.Code == apierror.CodeRateLimited:
			add(DiagUnreachable, "GET %s was rate limited (%s); verify again later", modelsURL, d)
		case ue.Status >= 500:
			add(DiagUnreachable, "%s", said) // reached, but failing
		case ue.Status >= 300 && ue.Status < 400:
			add(DiagNotOpenAICompatible, "GET %s: %s", modelsURL, said)
		default:
			add(DiagNotOpenAICompatible, "GET %s answered %s instead of an OpenAI model list%s", modelsURL, d, v1Hint(p.BaseURL))
		}
		return
	}
	switch describeTransport(cause).kind {
	case diagBlocked:
		var be *BlockedAddressError
		errors.As(cause, &be)
		add(DiagBlockedAddress, "%s", be.Error())
	case diagTLS:
		add(DiagTLSError, "%s", said)
	default:
		add(DiagUnreachable, "%s", said)
	}
}

// redactDiagnostics removes the credential from diagnostics and bounds their length.
func redactDiagnostics(ds []catalog.Diagnostic, credential string) {
	for i := range ds {
		ds[i].Message = ForOperator(ds[i].Message, credential)
	}
}

// v1Hint suggests /v1 when the base URL has no version segment, the usual mistake.
func v1Hint(base string) string {
	u, err := url.Parse(base)
	if err != nil || strings.Contains(u.Path, "/v1") {
		return ""
	}
	return fmt.Sprintf("; if the API lives under /v1, the base URL may be missing it: try %s/v1", strings.TrimRight(base, "/"))
}

// modelIDs reads an OpenAI model list; ok is false when body is not one.
func modelIDs(body []byte) ([]string, bool) {
	var list struct {
		Data *[]json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &list) != nil || list.Data == nil {
		return nil, false
	}
	ids := make([]string, 0, len(*list.Data))
	for _, raw := range *list.Data {
		var m struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &m) == nil && m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids, true
}

// ProbeTimeout bounds each call of a probe.
const ProbeTimeout = 60 * time.Second

// Probe checks what m's endpoint really does. For a chat model: a plain call (a few tokens), a
// streamed call (which must deliver SSE data: events) and a call with one trivial tool, filling
// Streaming and Tools; for an embedding model: one call whose vector length is Dimension. A
// call that fails for a reason other than the endpoint refusing the feature leaves the field
// nil (not known). Diagnostics explain every failure, and say where the endpoint contradicts
// the model's record (dimension_mismatch, capability_mismatch).
func (c *Client) Probe(ctx context.Context, p *catalog.Provider, m *catalog.Model) catalog.Probe {
	pr := catalog.Probe{CheckedAt: c.opts.Now().UTC(), Diagnostics: []catalog.Diagnostic{}}
	if m.Kind == catalog.KindEmbedding {
		c.probeEmbedding(ctx, p, m, &pr)
	} else {
		c.probeChat(ctx, p, m, &pr)
	}
	redactDiagnostics(pr.Diagnostics, p.Credential)
	return pr
}

func addDiag(pr *catalog.Probe, code, format string, args ...any) {
	pr.Diagnostics = append(pr.Diagnostics, catalog.Diagnostic{Code: code, Message: fmt.Sprintf(format, args...)})
}

func (c *Client) call(ctx context.Context, p *catalog.Provider, route string, body any) ([]byte, *http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	b, _ := json.Marshal(body)
	resp, err := c.Send(ctx, p, http.MethodPost, route, b, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxListBody))
	return out, resp, err
}

func (c *Client) probeChat(ctx context.Context, p *catalog.Provider, m *catalog.Model, pr *catalog.Probe) {
	msgs := []map[string]string{{"role": "user", "content": "Reply with OK."}}
	// 1. Plain: if this fails, the other two would only repeat its failure.
	body, _, err := c.call(ctx, p, "/chat/completions", map[string]any{"model": m.UpstreamName, "messages": msgs, "max_tokens": 5})
	if err != nil {
		addDiag(pr, APIError(err).Code, "a plain chat call failed: %s", Detail(err))
		return
	}
	if !isChatCompletion(body) {
		addDiag(pr, apierror.CodeUpstreamBadResponse, "a plain chat call answered something that is not a chat completion: %s", snippet(body))
		return
	}

	// 2. Streaming.
	streaming, ok := c.probeStream(ctx, p, m, msgs, pr)
	if ok {
		pr.Streaming = &streaming
		if streaming != m.Capabilities.Streaming {
			addDiag(pr, DiagCapabilityMismatch, "the model declares streaming %v, but the endpoint %s", m.Capabilities.Streaming, streamWords(streaming))
		}
	}

	// 3. Tools.
	tools := []map[string]any{{"type": "function", "function": map[string]any{
		"name": "get_current_time", "description": "Returns the current time.",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{}},
	}}}
	body, _, err = c.call(ctx, p, "/chat/completions", map[string]any{"model": m.UpstreamName, "messages": []map[string]string{{"role": "user", "content": "What time is it? Use the tool."}}, "tools": tools, "max_tokens": 20})
	var toolsOK *bool
	switch {
	case err == nil && isChatCompletion(body):
		t := true
		toolsOK = &t
	case err == nil:
		addDiag(pr, apierror.CodeUpstreamBadResponse, "a chat call with a tool answered something that is not a chat completion: %s", snippet(body))
	default:
		e := APIError(err)
		if refused(e) {
			f := false
			toolsOK = &f
			addDiag(pr, e.Code, "the endpoint refused a call with a tool: %s", Detail(err))
		} else {
			addDiag(pr, e.Code, "a chat call with a tool failed: %s", Detail(err))
		}
	}
	if toolsOK != nil {
		pr.Tools = toolsOK
		if *toolsOK != m.Capabilities.Tools {
			addDiag(pr, DiagCapabilityMismatch, "the model declares tools %v, but the endpoint %s", m.Capabilities.Tools, toolWords(*toolsOK))
		}
	}
}

func streamWords(ok bool) string {
	if ok {
		return "streams"
	}
	return "does not stream"
}

func toolWords(ok bool) string {
	if ok {
		return "accepts tools"
	}
	return "refuses them"
}

// refused reports whether the endpoint answered, refusing the feature (not failing).
func refused(e *apierror.Error) bool {
	return e.Code == apierror.CodeUnsupportedOperation || e.Code == apierror.CodeInvalidRequest
}

// probeStream makes a streamed call; ok is false when it could not tell.
func (c *Client) probeStream(ctx context.Context, p *catalog.Provider, m *catalog.Model, msgs any, pr *catalog.Probe) (streaming, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	b, _ := json.Marshal(map[string]any{"model": m.UpstreamName, "messages": msgs, "max_tokens": 5, "stream": true})
	resp, err := c.Send(ctx, p, http.MethodPost, "/chat/completions", b, http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		e := APIError(err)
		if refused(e) {
			addDiag(pr, e.Code, "the endpoint refused a streamed call: %s", Detail(err))
			return false, true
		}
		addDiag(pr, e.Code, "a streamed call failed: %s", Detail(err))
		return false, false
	}
	defer resp.Body.Close()
	events, done := 0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		data, isData := bytes.CutPrefix(line, []byte("data:"))
		if !isData {
			continue
		}
		data = bytes.TrimSpace(data)
		if string(data) == "[DONE]" {
			done = true
			break
		}
		if json.Valid(data) {
			events++
		}
	}
	if err := sc.Err(); err != nil {
		addDiag(pr, APIError(err).Code, "a streamed call broke off after %d events: %s", events, Detail(err))
		// Events that arrived show it streams; the break is reported above.
		return events > 0, events > 0
	}
	if events == 0 {
		ct := resp.Header.Get("Content-Type")
		addDiag(pr, DiagNotOpenAICompatible, "a streamed call (stream: true) answered no SSE data: events (Content-Type %q); the endpoint does not stream", ct)
		return false, true
	}
	if !done {
		addDiag(pr, apierror.CodeUpstreamBadResponse, "a streamed call sent %d events but no data: [DONE]", events)
	}
	return true, true
}

func isChatCompletion(body []byte) bool {
	var r struct {
		Choices *[]json.RawMessage `json:"choices"`
	}
	return json.Unmarshal(body, &r) == nil && r.Choices != nil && len(*r.Choices) > 0
}

func snippet(b []byte) string {
	m := ParseErrorBody(nil, b)
	if m.HTML {
		return "an HTML page"
	}
	if len(b) == 0 {
		return "an empty body"
	}
	return clean(string(b[:min(len(b), 200)]))
}

func (c *Client) probeEmbedding(ctx context.Context, p *catalog.Provider, m *catalog.Model, pr *catalog.Probe) {
	body, _, err := c.call(ctx, p, "/embeddings", map[string]any{"model": m.UpstreamName, "input": "Switchyard probe", "encoding_format": "float"})
	if err != nil {
		addDiag(pr, APIError(err).Code, "an embeddings call failed: %s", Detail(err))
		return
	}
	lengths, err := wire.EmbeddingLengths(body)
	if err != nil || len(lengths) != 1 {
		why := "it holds no vector"
		if err != nil {
			why = err.Error()
		} else if len(lengths) > 1 {
			why = fmt.Sprintf("it holds %d vectors for one input", len(lengths))
		}
		addDiag(pr, apierror.CodeUpstreamBadResponse, "an embeddings call answered something that is not an OpenAI embeddings list: %s", why)
		return
	}
	d := lengths[0]
	pr.Dimension = &d
	if m.Dimension != 0 && d != m.Dimension {
		addDiag(pr, DiagDimensionMismatch, "the endpoint returns %d-dimensional vectors, but the model records %d; the model cannot be enabled: create a model with dimension %d", d, m.Dimension, d)
	}
}
