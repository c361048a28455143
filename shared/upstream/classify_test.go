package upstream

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/apierror"
)

func TestClassify(t *testing.T) {
	html := http.Header{"Content-Type": {"text/html"}}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		code       string
		httpStatus int
		detailHas  []string // in the operator's detail
		retryAfter string
		param      string
	}{
		{
			name: "openai 401", status: 401,
			body: `{"error":{"message":"Incorrect API key provided: sk-abc***. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			code: apierror.CodeUpstreamAuthError, httpStatus: 502,
			detailHas: []string{"acme-internal-llm rejected the provider's credential", "HTTP 401: Incorrect API key provided", "check the provider's credential"},
		},
		{
			name: "plain 403", status: 403, body: "Forbidden\n",
			code: apierror.CodeUpstreamAuthError, httpStatus: 502, detailHas: []string{"HTTP 403: Forbidden"},
		},
		{
			name: "openai model not found", status: 404,
			body: `{"error":{"message":"The model ` + "`gpt-9`" + ` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
			code: apierror.CodeUpstreamModelNotFound, httpStatus: 502,
			detailHas: []string{"does not know the model's upstream name", "does not exist"},
		},
		{
			name: "vllm model not found", status: 404,
			body: `{"object":"error","message":"The model ` + "`llama-3-70b`" + ` does not exist.","type":"NotFoundError","param":null,"code":404}`,
			code: apierror.CodeUpstreamModelNotFound, httpStatus: 502, detailHas: []string{"The model `llama-3-70b` does not exist."},
		},
		{
			name: "ollama model not found as error string", status: 404,
			body: `{"error":"model \"llama3:70b\" not found, try pulling it first"}`,
			code: apierror.CodeUpstreamModelNotFound, httpStatus: 502, detailHas: []string{`model "llama3:70b" not found`},
		},
		{
			name: "404 route, plain text", status: 404, body: "404 page not found\n",
			code: apierror.CodeUnsupportedOperation, httpStatus: 400, detailHas: []string{"does not serve", "404 page not found"},
		},
		{
			name: "404 route, FastAPI", status: 404, body: `{"detail":"Not Found"}`,
			code: apierror.CodeUnsupportedOperation, httpStatus: 400, detailHas: []string{"HTTP 404: Not Found"},
		},
		{
			name: "405", status: 405, body: `{"detail":"Method Not Allowed"}`,
			code: apierror.CodeUnsupportedOperation, httpStatus: 400, detailHas: []string{"Method Not Allowed"},
		},
		{
			name: "501", status: 501, body: "Not Implemented",
			code: apierror.CodeUnsupportedOperation, httpStatus: 400,
		},
		{
			name: "vllm streaming not supported", status: 400,
			body: `{"object":"error","message":"streaming is not supported by this model","type":"BadRequestError","param":"stream","code":400}`,
			code: apierror.CodeUnsupportedOperation, httpStatus: 400, detailHas: []string{"rejected the operation as unsupported", "streaming is not supported"}, param: "stream",
		},
		{
			name: "422 does not support tools", status: 422, body: `{"detail":"This model does not support tools"}`,
			code: apierror.CodeUnsupportedOperation, httpStatus: 400, detailHas: []string{"does not support tools"},
		},
		{
			name: "openai context too long", status: 400,
			body: `{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			code: apierror.CodeInvalidRequest, httpStatus: 400, param: "messages",
			detailHas: []string{"refused the request", "maximum context length is 8192 tokens"},
		},
		{
			name: "FastAPI validation list", status: 422,
			body: `{"detail":[{"type":"missing","loc":["body","messages"],"msg":"Field required","input":{}}]}`,
			code: apierror.CodeInvalidRequest, httpStatus: 400, param: "messages",
			detailHas: []string{"body.messages: Field required"},
		},
		{
			name: "error string 400", status: 400, body: `{"error":"Input validation error: inputs must have less than 4096 tokens","error_type":"validation"}`,
			code: apierror.CodeInvalidRequest, httpStatus: 400, detailHas: []string{"inputs must have less than 4096 tokens"},
		},
		{
			name: "429 with Retry-After", status: 429, header: http.Header{"Retry-After": {"7"}},
			body: `{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			code: apierror.CodeRateLimited, httpStatus: 429, retryAfter: "7", detailHas: []string{"retry after 7 seconds"},
		},
		{
			name: "429 with an HTTP date", status: 429, header: http.Header{"Retry-After": {"Wed, 21 Oct 2026 07:28:00 GMT"}},
			body: "Too Many Requests", code: apierror.CodeRateLimited, httpStatus: 429, retryAfter: "Wed, 21 Oct 2026 07:28:00 GMT",
		},
		{
			name: "429 with a junk Retry-After", status: 429, header: http.Header{"Retry-After": {"soon"}},
			body: "Too Many Requests", code: apierror.CodeRateLimited, httpStatus: 429, retryAfter: "",
		},
		{
			name: "500 vllm", status: 500,
			body: `{"object":"error","message":"CUDA out of memory","type":"InternalServerError","param":null,"code":500}`,
			code: apierror.CodeUpstreamUnavailable, httpStatus: 502, detailHas: []string{"failed (HTTP 500: CUDA out of memory)"},
		},
		{
			name: "502 nginx HTML page", status: 502, header: html,
			body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
			code: apierror.CodeUpstreamUnavailable, httpStatus: 502,
			detailHas: []string{`an HTML page titled "502 Bad Gateway"`},
		},
		{
			name: "HTML page without a title or content type", status: 503,
			body: "<!DOCTYPE html><html><body><p>down for maintenance</p></body></html>",
			code: apierror.CodeUpstreamUnavailable, httpStatus: 502, detailHas: []string{"HTTP 503, an HTML page"},
		},
		{
			name: "404 HTML page is a missing route", status: 404, header: html,
			body: "<html><head><title>404 Not Found</title></head><body></body></html>",
			code: apierror.CodeUnsupportedOperation, httpStatus: 400, detailHas: []string{`"404 Not Found"`},
		},
		{
			name: "504 is a timeout", status: 504, body: "upstream request timeout",
			code: apierror.CodeUpstreamUnavailable, httpStatus: 504, detailHas: []string{"timed out"},
		},
		{
			name: "empty 500", status: 500, body: "",
			code: apierror.CodeUpstreamUnavailable, httpStatus: 502, detailHas: []string{"HTTP 500 with no message"},
		},
		{
			name: "redirect", status: 301, header: http.Header{"Location": {"https://models.example/v1/models"}},
			code: apierror.CodeUpstreamBadResponse, httpStatus: 502, detailHas: []string{"redirect", "https://models.example/v1/models"},
		},
		{
			name: "message with control characters and newlines", status: 400, body: "bad\x00 input\r\n\r\nsecond line",
			code: apierror.CodeInvalidRequest, httpStatus: 400, detailHas: []string{"HTTP 400: bad input second line"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ue := classifyAnswer("acme-internal-llm", "POST /chat/completions", tt.status, tt.header, []byte(tt.body), "")
			e := ue.API
			if e.Code != tt.code || e.Status != tt.httpStatus {
				t.Fatalf("got %s %d (%s), want %s %d", e.Code, e.Status, e.Message, tt.code, tt.httpStatus)
			}
			if c := ClassifyFor("acme-internal-llm", "POST /chat/completions", tt.status, tt.header, []byte(tt.body)); c.Message != e.Message || c.Code != e.Code {
				t.Errorf("ClassifyFor differs from classifyAnswer's API")
			}
			for _, s := range tt.detailHas {
				if !strings.Contains(ue.Detail, s) {
					t.Errorf("detail %q lacks %q", ue.Detail, s)
				}
			}
			// Developers read the upstream's own words only when it refused their request.
			said := ParseErrorBody(tt.header, []byte(tt.body)).Message
			quoted := said != "" && strings.Contains(e.Message, said)
			if about := (tt.status == 400 || tt.status == 422) && tt.code != apierror.CodeUpstreamModelNotFound; quoted != about && said != "" {
				t.Errorf("developer message %q quotes the upstream's %q: %v, want %v", e.Message, said, quoted, about)
			}
			if loc := tt.header.Get("Location"); loc != "" && strings.Contains(e.Message, loc) {
				t.Errorf("developer message %q gives the redirect's target", e.Message)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %q, want %q", e.RetryAfter, tt.retryAfter)
			}
			gotParam := ""
			if e.Param != nil {
				gotParam = *e.Param
			}
			if gotParam != tt.param {
				t.Errorf("param = %q, want %q", gotParam, tt.param)
			}
			if strings.ContainsAny(e.Message, "\r\n\x00") {
				t.Errorf("message has control characters: %q", e.Message)
			}
		})
	}
}

func TestClassifyTruncatesHugeMessages(t *testing.T) {
	e := classifyAnswer("", "", 400, nil, []byte(strings.Repeat("x", 100000)), "")
	for _, m := range []string{e.API.Message, e.Detail} {
		if len(m) > maxMessage+200 {
			t.Fatalf("message is %d bytes long", len(m))
		}
		if !strings.Contains(m, "…") {
			t.Errorf("a cut message should say so: %q", m[len(m)-20:])
		}
	}
}

func TestClassifyTransport(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		msgHas string
	}{
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, 502, "refused the connection"},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, 502, "reset the connection"},
		{"dns", &net.DNSError{Err: "no such host", Name: "llm.nowhere", IsNotFound: true}, 502, "llm.nowhere does not resolve"},
		{"unexpected EOF", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), 502, "closed the connection"},
		{"deadline", context.DeadlineExceeded, 504, "timed out"},
		{"idle", &timeoutError{phase: phaseIdle, limit: "2s"}, 504, "sent nothing for 2s"},
		{"first byte", errors.Join(&timeoutError{phase: phaseFirstByte, limit: "1s"}, errors.New("net/http: timeout awaiting response headers")), 504, "did not start answering within 1s"},
		{"unknown authority", x509.UnknownAuthorityError{}, 502, "CA bundle"},
		{"blocked", &connectError{&BlockedAddressError{Host: "meta.test", Addr: netip.MustParseAddr("169.254.169.254"), Reason: "a cloud metadata address"}}, 502, "blocked_address"},
	}
	for _, tt := range tests {
		f := transportFailure("acme", "", tt.err)
		e := f.API
		if e.Code != apierror.CodeUpstreamUnavailable || e.Status != tt.status || !strings.Contains(f.Detail, tt.msgHas) {
			t.Errorf("%s: got %s %d %q; want upstream_unavailable %d mentioning %q", tt.name, e.Code, e.Status, f.Detail, tt.status, tt.msgHas)
		}
		if *e != *ClassifyTransportFor("acme", tt.err) {
			t.Errorf("%s: ClassifyTransportFor differs from transportFailure's API", tt.name)
		}
		// Host names and addresses are the operator's to read.
		for _, private := range []string{"llm.nowhere", "meta.test", "169.254.169.254"} {
			if strings.Contains(e.Message, private) {
				t.Errorf("%s: the developer's message %q names %s", tt.name, e.Message, private)
			}
		}
	}
}

func TestParseErrorBodyShapes(t *testing.T) {
	tests := []struct{ body, msg string }{
		{`{"error":{"message":"m1","type":"t","code":"c"}}`, "m1"},
		{`{"error":"m2"}`, "m2"},
		{`{"object":"error","message":"m3","type":"BadRequestError","param":null,"code":400}`, "m3"},
		{`{"detail":"m4"}`, "m4"},
		{`{"detail":[{"loc":["body","input"],"msg":"m5","type":"x"},{"loc":["query","q"],"msg":"m6"}]}`, "body.input: m5; query.q: m6"},
		{`{"message":"m7"}`, "m7"},
		{`plain m8`, "plain m8"},
		{`<html><head><title>Oops &amp; m9</title></head></html>`, "Oops & m9"},
		{`{"unrelated":true}`, `{"unrelated":true}`},
	}
	for _, tt := range tests {
		if got := ParseErrorBody(nil, []byte(tt.body)).Message; got != tt.msg {
			t.Errorf("ParseErrorBody(%s) = %q, want %q", tt.body, got, tt.msg)
		}
	}
}
