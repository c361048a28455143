package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/shared/apierror"
)

// Error is a failed upstream call: API is the SPEC error to answer a developer with, Cause what
// went wrong. errors.As finds both the *apierror.Error and the cause's types in its chain, so a
// caller may write API unchanged or look at the cause (e.g. errors.Is(err, context.Canceled)).
//
// API's message is one Switchyard wrote: it never quotes the upstream, except for an upstream's
// 400/422 about the request itself, and then only with credentials, URLs, host names and IP
// addresses removed (ForDeveloper). Detail is the failure as operators see it (request log,
// server log, diagnostics): with what the upstream said, the provider's credential redacted, at
// most MaxStoredText bytes. Error() is Detail, so a logged or stored error never carries the
// credential either.
type Error struct {
	API   *apierror.Error
	Cause error
	// Status is the upstream's HTTP status when it answered one (0 when it did not answer),
	// and Upstream what its error body said, the credential redacted.
	Status   int
	Upstream UpstreamMessage
	Detail   string
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return e.API.Code + ": " + e.Detail
	}
	return e.API.Error()
}

// Unwrap exposes both the classification and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.API}
	}
	return []error{e.API, e.Cause}
}

// Detail is err as operators may see it: an *Error's Detail, a SPEC error's message, or err's
// text, at most MaxStoredText bytes. It never holds a provider credential that Send redacted.
func Detail(err error) string {
	var ue *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ue) && ue.Detail != "":
		return ue.Detail
	}
	if e, ok := apierror.As(err); ok {
		return Cap(e.Message, MaxStoredText)
	}
	return Cap(err.Error(), MaxStoredText)
}

// UpstreamMessage is what an upstream said in an error body, whatever shape it used.
type UpstreamMessage struct {
	Message string // human text; empty when there was none
	Type    string // OpenAI's error.type or vLLM's type, when given
	Code    string // the upstream's own code (string or number), when given
	Param   string // the upstream's param, when given
	HTML    bool   // the body was an HTML page
}

// maxMessage bounds what of an upstream's message reaches a caller or a log.
const maxMessage = 400

// ParseErrorBody extracts the message of an upstream error body in any of the shapes upstreams
// use: OpenAI's {"error": {"message", "type", "code", "param"}}, {"error": "text"}, vLLM's
// {"object": "error", "message", "code"}, FastAPI's {"detail": "text"} and
// {"detail": [{"loc", "msg"}]}, {"message": "text"}, an HTML page (its <title>) or plain text.
func ParseErrorBody(header http.Header, body []byte) UpstreamMessage {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return UpstreamMessage{}
	}
	if b[0] == '{' {
		if m, ok := parseJSONError(b); ok {
			m.Message = clean(m.Message)
			return m
		}
	}
	if isHTML(header, b) {
		t := htmlTitle(b)
		return UpstreamMessage{Message: clean(t), HTML: true}
	}
	return UpstreamMessage{Message: clean(string(b))}
}

func parseJSONError(b []byte) (UpstreamMessage, bool) {
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return UpstreamMessage{}, false
	}
	var m UpstreamMessage
	if e, ok := raw["error"]; ok {
		var s string
		if json.Unmarshal(e, &s) == nil {
			m.Message = s
			m.Type = jsonString(raw["error_type"]) // TGI
		} else {
			var obj map[string]json.RawMessage
			if json.Unmarshal(e, &obj) == nil {
				m.Message = jsonString(obj["message"])
				m.Type = jsonString(obj["type"])
				m.Code = jsonString(obj["code"])
				m.Param = jsonString(obj["param"])
			}
		}
		if m.Message != "" {
			return m, true
		}
	}
	if d, ok := raw["detail"]; ok {
		var s string
		if json.Unmarshal(d, &s) == nil {
			return UpstreamMessage{Message: s}, true
		}
		var items []struct {
			Loc []any  `json:"loc"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal(d, &items) == nil && len(items) > 0 {
			parts := make([]string, 0, len(items))
			for _, it := range items {
				p := it.Msg
				if len(it.Loc) > 0 {
					loc := make([]string, len(it.Loc))
					for i, l := range it.Loc {
						loc[i] = fmt.Sprint(l)
					}
					p = strings.Join(loc, ".") + ": " + p
				}
				parts = append(parts, p)
			}
			return UpstreamMessage{Message: strings.Join(parts, "; "), Param: locParam(items[0].Loc)}, true
		}
	}
	if msg := jsonString(raw["message"]); msg != "" { // vLLM and many others
		return UpstreamMessage{Message: msg, Type: jsonString(raw["type"]), Code: jsonString(raw["code"]), Param: jsonString(raw["param"])}, true
	}
	return UpstreamMessage{}, false
}

// locParam turns FastAPI's ["body", "messages", 0] into "messages".
func locParam(loc []any) string {
	if len(loc) >= 2 && fmt.Sprint(loc[0]) == "body" {
		return fmt.Sprint(loc[1])
	}
	return ""
}

// jsonString reads a JSON string or number as text; anything else is "".
func jsonString(r json.RawMessage) string {
	if len(r) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(r, &n) == nil {
		return n.String()
	}
	return ""
}

func isHTML(h http.Header, b []byte) bool {
	if h != nil && strings.Contains(strings.ToLower(h.Get("Content-Type")), "html") {
		return true
	}
	head := strings.ToLower(string(b[:min(len(b), 512)]))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html") ||
		strings.Contains(head, "<head>") || strings.Contains(head, "<body")
}

func htmlTitle(b []byte) string {
	lower := bytes.ToLower(b)
	i := bytes.Index(lower, []byte("<title"))
	if i < 0 {
		if j := bytes.Index(lower, []byte("<h1")); j >= 0 {
			i = j
		} else {
			return ""
		}
	}
	gt := bytes.IndexByte(lower[i:], '>')
	if gt < 0 {
		return ""
	}
	start := i + gt + 1
	end := bytes.IndexByte(lower[start:], '<')
	if end < 0 {
		return ""
	}
	return html.UnescapeString(string(b[start : start+end]))
}

// clean makes an upstream's text safe and short enough to quote: valid UTF-8, one line, no
// control characters, at most maxMessage bytes.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "?")
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' || r == ' ' {
			space = true
			continue
		}
		if r < 0x20 || r == 0x7f {
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
		if b.Len() >= maxMessage {
			break
		}
	}
	out := b.String()
	if len(out) > maxMessage {
		out = out[:maxMessage]
		for !utf8.ValidString(out) {
			out = out[:len(out)-1]
		}
	}
	if len(out) < len(strings.TrimSpace(s)) && b.Len() >= maxMessage {
		out += "…"
	}
	return out
}

func upstreamName(provider string) string {
	if provider == "" {
		return "the upstream"
	}
	return "the upstream " + provider
}

// detail renders "HTTP 401: invalid token" or "HTTP 502, an HTML page" for messages.
func detail(status int, m UpstreamMessage) string {
	switch {
	case m.HTML && m.Message != "":
		return fmt.Sprintf("HTTP %d, an HTML page titled %q", status, m.Message)
	case m.HTML:
		return fmt.Sprintf("HTTP %d, an HTML page", status)
	case m.Message == "":
		return fmt.Sprintf("HTTP %d with no message", status)
	}
	return fmt.Sprintf("HTTP %d: %s", status, m.Message)
}

var (
	modelMissingPhrases = []string{"does not exist", "not found", "no such model", "unknown model", "not exist", "invalid model", "model not available", "is not available", "not served"}
	unsupportedPhrases  = []string{"not supported", "does not support", "unsupported", "not support", "not implemented", "is not enabled"}
)

func modelMissing(m UpstreamMessage) bool {
	if m.Code == "model_not_found" || m.Type == "model_not_found" {
		return true
	}
	low := strings.ToLower(m.Message)
	if !strings.Contains(low, "model") {
		return false
	}
	for _, p := range modelMissingPhrases {
		if strings.Contains(low, p) {
			return true
		}
	}
	return false
}

func saysUnsupported(m UpstreamMessage) bool {
	low := strings.ToLower(m.Message)
	for _, p := range unsupportedPhrases {
		if strings.Contains(low, p) {
			return true
		}
	}
	return false
}

// Classify maps an upstream's non-2xx answer to SPEC's error codes. See ClassifyFor.
func Classify(status int, header http.Header, body []byte) *apierror.Error {
	return ClassifyFor("", "", status, header, body)
}

// ClassifyFor maps an upstream's non-2xx answer to the SPEC error a developer is answered with,
// naming the provider and the route in its message:
//
//	401, 403                                  → upstream_auth_error 502
//	400, 404, 422 saying the model is unknown → upstream_model_not_found 502
//	404, 405, 501; 400/422 "not supported"    → unsupported_operation 400
//	400, 413, 422                             → invalid_request 400
//	429                                       → rate_limited 429 with its Retry-After
//	408, 504                                  → upstream_unavailable 504
//	5xx and other 4xx                         → upstream_unavailable 502
//	1xx, 3xx                                  → upstream_bad_response 502
//
// Only the 400/422 answers about the request quote the upstream's message (ForDeveloper), and its
// param when it looks like a field name; every other message is Switchyard's own.
func ClassifyFor(provider, route string, status int, header http.Header, body []byte) *apierror.Error {
	return classifyAnswer(provider, route, status, header, body, "").API
}

// classifyAnswer is ClassifyFor with the operator's side: Upstream and Detail quote what the
// upstream said, credential redacted.
func classifyAnswer(provider, route string, status int, header http.Header, body []byte, credential string) *Error {
	m := ParseErrorBody(header, body)
	m.Message, m.Type, m.Code, m.Param = Redact(m.Message, credential), Redact(m.Type, credential), Redact(m.Code, credential), Redact(m.Param, credential)
	loc := ""
	if header != nil {
		loc = clean(Redact(header.Get("Location"), credential))
	}
	dev := m
	dev.Message = ForDeveloper(m.Message, credential)
	if !fieldName().MatchString(dev.Param) {
		dev.Param = ""
	}
	d := detail(status, m)
	op := classify(provider, route, status, header, m, quoted{all: d, request: d, location: loc})
	api := classify(provider, route, status, header, dev, quoted{request: detail(status, dev), hasLocation: loc != ""})
	return &Error{API: api, Status: status, Upstream: m, Detail: Cap(op.Message, MaxStoredText)}
}

// fieldName is what an upstream's param must look like to reach a developer.
var fieldName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\[\]-]{0,63}$`) })

// quoted is what of the upstream's answer a message quotes: all of it (operators), the detail of
// a 400/422 about the request (developers too), the redirect's target.
type quoted struct {
	all, request, location string
	hasLocation            bool
}

func classify(provider, route string, status int, header http.Header, m UpstreamMessage, q quoted) *apierror.Error {
	up := upstreamName(provider)
	shown := q.all // what the upstream said, or only its status
	if shown == "" {
		shown = fmt.Sprintf("HTTP %d", status)
	}
	d := " (" + shown + ")"
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamAuthError, "",
			"%s rejected the provider's credential%s; check the provider's credential and auth method", up, d)
	case (status == 400 || status == 404 || status == 422) && modelMissing(m):
		return apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamModelNotFound, "",
			"%s does not know the model's upstream name%s; the catalogue entry's upstream name must match a model the endpoint serves", up, d)
	case status == 404 || status == 405 || status == 501:
		what := "this operation"
		if route != "" {
			what = route
		}
		return apierror.New(http.StatusBadRequest, apierror.InvalidRequestError, apierror.CodeUnsupportedOperation, "",
			"%s does not serve %s%s; the model does not support it, or the provider's base URL is wrong", up, what, d)
	case (status == 400 || status == 422) && saysUnsupported(m):
		e := apierror.New(http.StatusBadRequest, apierror.InvalidRequestError, apierror.CodeUnsupportedOperation, "",
			"%s rejected the operation as unsupported (%s)", up, q.request)
		if m.Param != "" {
			e.Param = &m.Param
		}
		return e
	case status == 400 || status == 413 || status == 422:
		req := q.request
		if status == 413 {
			req = shown // too large: the status says it all
		}
		e := apierror.New(http.StatusBadRequest, apierror.InvalidRequestError, apierror.CodeInvalidRequest, "",
			"%s refused the request (%s)", up, req)
		if m.Param != "" {
			e.Param = &m.Param
		}
		return e
	case status == http.StatusTooManyRequests:
		e := apierror.New(http.StatusTooManyRequests, apierror.RateLimitError, apierror.CodeRateLimited, "",
			"%s is rate limiting requests%s; retry later", up, d)
		e.RetryAfter = retryAfter(header)
		if e.RetryAfter != "" {
			e.Message = fmt.Sprintf("%s is rate limiting requests%s; retry after %s", up, d, e.RetryAfter)
			if isDigits(e.RetryAfter) {
				e.Message += " seconds"
			}
		}
		return e
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return apierror.New(http.StatusGatewayTimeout, apierror.UpstreamError, apierror.CodeUpstreamUnavailable, "",
			"%s timed out%s", up, d)
	case status >= 400 && status <= 599:
		e := apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamUnavailable, "",
			"%s failed%s", up, d)
		if status == http.StatusServiceUnavailable {
			e.RetryAfter = retryAfter(header)
		}
		return e
	case status >= 300 && status <= 399:
		switch {
		case q.location != "":
			return apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamBadResponse, "",
				"%s answered a redirect (HTTP %d to %s); the gateway does not follow redirects: set the provider's base URL to where it points", up, status, q.location)
		case q.hasLocation:
			return apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamBadResponse, "",
				"%s answered a redirect (HTTP %d); the gateway does not follow redirects: the provider's base URL must be where it points", up, status)
		}
		return apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamBadResponse, "",
			"%s answered a redirect (HTTP %d) without a location", up, status)
	}
	return apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamBadResponse, "",
		"%s answered an unexpected HTTP status%s", up, d)
}

// retryAfter copies a Retry-After header when it is a plausible value (seconds or an HTTP date).
func retryAfter(h http.Header) string {
	if h == nil {
		return ""
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" || len(v) > 64 {
		return ""
	}
	if isDigits(v) {
		return v
	}
	if _, err := http.ParseTime(v); err == nil {
		return v
	}
	return ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// BadResponse is upstream_bad_response 502: the upstream answered something that is not the
// protocol (garbage on a 2xx, a stream without events, an embedding of the wrong dimension).
func BadResponse(provider, format string, args ...any) *apierror.Error {
	return apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamBadResponse, "",
		"%s answered something that is not the OpenAI protocol: %s", upstreamName(provider), fmt.Sprintf(format, args...))
}

// Timeout kinds, as failures name them.
const (
	phaseConnect   = "connect"
	phaseFirstByte = "first byte"
	phaseIdle      = "idle"
	phaseTotal     = "total"
)

// timeoutError is a timeout of one of the provider's bounds.
type timeoutError struct {
	phase string
	limit string // e.g. "30s"
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%s timeout after %s", e.phase, e.limit)
}
func (e *timeoutError) Timeout() bool { return true }

// ClassifyTransport maps a failure to get an answer (DNS, refused, reset, TLS, timeouts, a
// blocked address) to upstream_unavailable: 504 for timeouts, 502 otherwise.
func ClassifyTransport(err error) *apierror.Error {
	return ClassifyTransportFor("", err)
}

// ClassifyTransportFor is ClassifyTransport naming the provider. Its message is Switchyard's own:
// host names, addresses and certificate details are left to transportFailure's Detail.
func ClassifyTransportFor(provider string, err error) *apierror.Error {
	return transportFailure(provider, "", err).API
}

// transportFailure is a failure to get an answer as an *Error: the developer's SPEC error and
// the operator's detail, credential redacted.
func transportFailure(provider, credential string, err error) *Error {
	up := upstreamName(provider)
	t := describeTransport(err)
	status := http.StatusBadGateway
	if t.kind == diagTimeout {
		status = http.StatusGatewayTimeout
	}
	api := apierror.New(status, apierror.UpstreamError, apierror.CodeUpstreamUnavailable, "", "%s %s", up, t.public)
	return &Error{API: api, Cause: err, Detail: ForOperator(up+" "+t.msg, credential)}
}

// Transport failure kinds; Verify turns them into diagnostics.
const (
	diagBlocked     = "blocked_address"
	diagTLS         = "tls_error"
	diagUnreachable = "unreachable"
	diagTimeout     = "timeout"
	diagCanceled    = "canceled"
)

// transportFault is a failure to get an answer: its kind, what it was in words that follow "the
// upstream X" for operators (msg: host names, addresses, certificate details) and for developers
// (public: Switchyard's words only).
type transportFault struct{ kind, msg, public string }

// describeTransport says what kind of failure err is.
func describeTransport(err error) transportFault {
	var (
		be   *BlockedAddressError
		te   *timeoutError
		dns  *net.DNSError
		ua   x509.UnknownAuthorityError
		he   x509.HostnameError
		ci   x509.CertificateInvalidError
		cve  *tls.CertificateVerificationError
		rhe  tls.RecordHeaderError
		ce   *connectError
		nerr net.Error
	)
	same := func(kind, msg string) transportFault { return transportFault{kind, msg, msg} }
	const tlsPublic = "failed the TLS handshake: its certificate does not verify; the provider's CA bundle or base URL must change"
	connecting := errors.As(err, &ce)
	switch {
	case errors.As(err, &be):
		return transportFault{diagBlocked, "was not called: " + be.Error(),
			"was not called: its address is one this gateway never dials (blocked_address); the provider's base URL must change"}
	case errors.As(err, &te):
		switch te.phase {
		case phaseIdle:
			return same(diagTimeout, fmt.Sprintf("sent nothing for %s while answering (idle timeout)", te.limit))
		case phaseTotal:
			return same(diagTimeout, fmt.Sprintf("did not finish within %s (total timeout)", te.limit))
		case phaseFirstByte:
			return same(diagTimeout, fmt.Sprintf("did not start answering within %s (first-byte timeout)", te.limit))
		}
		return same(diagTimeout, fmt.Sprintf("could not be connected to within %s (connect timeout)", te.limit))
	case errors.As(err, &ua):
		return transportFault{diagTLS, fmt.Sprintf("presented a certificate signed by an unknown authority (%s); if it uses a private certificate authority, give the provider its CA bundle (PEM)", certName(ua.Cert)), tlsPublic}
	case errors.As(err, &he):
		return transportFault{diagTLS, fmt.Sprintf("presented a certificate for another host (%v); the base URL's host must match the certificate", he.Error()), tlsPublic}
	case errors.As(err, &ci):
		return transportFault{diagTLS, fmt.Sprintf("presented an invalid certificate (%v)", ci.Error()), tlsPublic}
	case errors.As(err, &cve):
		return transportFault{diagTLS, fmt.Sprintf("presented a certificate that does not verify (%v); check the CA bundle", cve.Err), tlsPublic}
	case errors.As(err, &rhe):
		return same(diagTLS, "did not speak TLS; if it serves plain HTTP, use an http:// base URL")
	case strings.Contains(errText(err), "server gave HTTP response to HTTPS client"):
		return same(diagTLS, "did not speak TLS; if it serves plain HTTP, use an http:// base URL")
	case strings.Contains(errText(err), "tls:") || strings.Contains(errText(err), "x509:"):
		return transportFault{diagTLS, "failed the TLS handshake (" + clean(errText(err)) + ")", "failed the TLS handshake"}
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return transportFault{diagUnreachable, fmt.Sprintf("could not be found: the host name %s does not resolve", dns.Name),
				"could not be found: the provider's host name does not resolve"}
		}
		return transportFault{diagUnreachable, fmt.Sprintf("could not be looked up (%s)", clean(dns.Error())),
			"could not be looked up: resolving the provider's host name failed"}
	case errors.Is(err, syscall.ECONNREFUSED):
		return same(diagUnreachable, "refused the connection: nothing listens at the base URL's host and port")
	case errors.Is(err, context.Canceled):
		return same(diagCanceled, "was not waited for: the request was cancelled")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()):
		if connecting {
			return same(diagTimeout, "could not be connected to in time (connect timeout)")
		}
		if strings.Contains(errText(err), "awaiting response headers") {
			return same(diagTimeout, "did not start answering in time (first-byte timeout)")
		}
		if strings.Contains(errText(err), "TLS handshake timeout") {
			return same(diagTimeout, "did not complete the TLS handshake in time (connect timeout)")
		}
		return same(diagTimeout, "timed out")
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return same(diagUnreachable, "reset the connection")
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return same(diagUnreachable, "could not be reached: no route to host")
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return same(diagUnreachable, "closed the connection before answering in full")
	case connecting:
		return transportFault{diagUnreachable, "could not be connected to (" + clean(errText(err)) + ")", "could not be connected to"}
	}
	return transportFault{diagUnreachable, "failed (" + clean(errText(err)) + ")", "failed before answering"}
}

func certName(c *x509.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	return "issuer " + c.Issuer.String()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
