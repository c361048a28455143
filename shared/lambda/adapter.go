// Package lambda serves a net/http handler as an AWS Lambda function behind an API Gateway REST API
// whose Lambda proxy integrations stream their responses (responseTransferMode STREAM, the
// .../response-streaming-invocations URI), and runs the same handler as a plain HTTP server outside
// Lambda.
//
// Requests arrive as API Gateway v1 proxy events and become *http.Request values; the handler's
// response goes back as aws-lambda-go's APIGatewayProxyStreamingResponse: a JSON prelude with the
// status and headers, eight NUL bytes, then the body, which leaves the function as the handler
// flushes it. An SSE handler that calls Flush after each event therefore reaches the client event by
// event. Binaries must be built with -tags lambda.norpc.
package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/basepath"
)

// Headers the adapter sets on every request it builds.
const (
	// HeaderRequestID carries API Gateway's request id (requestContext.requestId), replacing any value
	// the client sent, so logs and error messages quote the id API Gateway's own logs know.
	HeaderRequestID = "X-Request-Id"
	// HeaderForwardedPrefix carries the path prefix API Gateway removed before the function saw the
	// path: "/prod" for https://id.execute-api.region.amazonaws.com/prod/v1/models, or a custom
	// domain's base path. Absent when nothing was removed. The request's context carries the same
	// prefix as its base path (package basepath), which is what the console's links use.
	HeaderForwardedPrefix = "X-Forwarded-Prefix"
)

// flushThreshold is how much unflushed body the adapter holds before sending it on by itself, as
// net/http's own buffer does.
const flushThreshold = 32 << 10

// Option changes how Handler serves requests.
type Option func(*options)

type options struct {
	beforeReturn []func(context.Context)
	logger       *slog.Logger
}

// BeforeReturn runs fn after each request's handler has returned and its body has been sent, but
// before the invocation ends. Lambda may freeze the instance as soon as an invocation ends, so work
// that must not wait for the next request (writing queued usage rows) belongs here. fn gets the
// invocation's context, which still has the invocation's deadline.
func BeforeReturn(fn func(ctx context.Context)) Option {
	return func(o *options) { o.beforeReturn = append(o.beforeReturn, fn) }
}

// WithLogger sets where the adapter reports handler panics; slog.Default() otherwise.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// Handler returns the function aws-lambda-go runs for each API Gateway REST API proxy event: it builds
// an *http.Request from the event, serves it with h, and returns as soon as h has committed its status
// and headers (first Flush, a body larger than 32 KiB, or return), streaming the rest of the body as h
// flushes it.
//
// The request's context is the invocation's (it carries Lambda's deadline) and is cancelled when
// Lambda stops reading the response (the client went away). A panic before the headers are committed
// answers 500 in SPEC's error shape; a panic after that cuts the stream, which Lambda reports as a
// function error. Panics with http.ErrAbortHandler are not logged, as in net/http.
func Handler(h http.Handler, opts ...Option) func(context.Context, *events.APIGatewayProxyRequest) (*events.APIGatewayProxyStreamingResponse, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return func(ctx context.Context, ev *events.APIGatewayProxyRequest) (*events.APIGatewayProxyStreamingResponse, error) {
		reqCtx, cancel := context.WithCancel(ctx)
		serveWith := h
		req, err := NewRequest(reqCtx, ev)
		if err != nil {
			// The event itself is broken (an undecodable body): answer without bothering h.
			serveWith = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				apierror.Write(w, apierror.Invalid("body", "the request could not be read: %v", err))
			})
			req = httpRequestStub(reqCtx)
		}
		pr, pw := io.Pipe()
		w := &responseWriter{
			header:    make(http.Header),
			pipe:      pw,
			committed: make(chan prelude, 1),
		}
		go serve(ctx, serveWith, w, req, ev.RequestContext.RequestID, o)
		p := <-w.committed
		return &events.APIGatewayProxyStreamingResponse{
			StatusCode:        p.status,
			Headers:           p.single,
			MultiValueHeaders: p.multi,
			Body:              &body{PipeReader: pr, cancel: cancel},
		}, nil
	}
}

// serve runs h and ends the response stream, whatever h does.
func serve(ctx context.Context, h http.Handler, w *responseWriter, req *http.Request, requestID string, o options) {
	defer func() {
		var broken error
		if v := recover(); v == nil {
			w.finish()
		} else {
			if v != http.ErrAbortHandler {
				o.logger.ErrorContext(ctx, "handler panicked", "panic", v, "path", req.URL.Path, "request_id", requestID)
			}
			if w.isCommitted() {
				broken = fmt.Errorf("handler panicked after the response started: %v", v)
			} else {
				w.reset()
				apierror.Write(w, apierror.Internal(requestID))
				w.finish()
			}
		}
		for _, fn := range o.beforeReturn {
			runBeforeReturn(ctx, fn, o.logger)
		}
		if broken != nil {
			w.abort(broken)
		} else {
			w.pipe.Close()
		}
	}()
	h.ServeHTTP(w, req)
}

func runBeforeReturn(ctx context.Context, fn func(context.Context), logger *slog.Logger) {
	defer func() {
		if v := recover(); v != nil {
			logger.ErrorContext(ctx, "BeforeReturn hook panicked", "panic", v)
		}
	}()
	fn(ctx)
}

// body is the response body Lambda reads; closing it (Lambda stopped reading) cancels the request.
type body struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (b *body) Close() error {
	b.cancel()
	return b.PipeReader.Close()
}

// NewRequest builds the *http.Request an API Gateway REST API (v1) proxy event describes: method,
// path, query (multi-value when present), headers (multi-value when present), body (decoded from
// base64 when the event says so), Host, RemoteAddr from the caller's source IP (port 0: API Gateway
// does not say), X-Request-Id from API Gateway's request id, and X-Forwarded-Prefix and the context's
// base path (package basepath) when API Gateway removed a stage or base path: the stage is the part of
// requestContext.path in front of path; a custom domain's base path, which API Gateway leaves in path,
// is moved from the path to the prefix.
func NewRequest(ctx context.Context, ev *events.APIGatewayProxyRequest) (*http.Request, error) {
	var payload []byte
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("decoding the base64 request body: %w", err)
		}
		payload = b
	} else {
		payload = []byte(ev.Body)
	}

	path := routedPath(ev)
	prefix := ""
	if full := ev.RequestContext.Path; full != "" && full != path && strings.HasSuffix(full, path) {
		prefix = strings.TrimSuffix(full, path)
	}
	// Pages put the base path into links and cookies; one that could break out of them is dropped
	// (the links then miss the prefix, which is safer than injecting it).
	if p, err := basepath.Clean(prefix); err == nil && p != "" {
		ctx = basepath.With(ctx, p)
	}
	u := &url.URL{Path: path, RawQuery: query(ev).Encode()}
	method := ev.HTTPMethod
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("building the request for %s %q: %w", method, path, err)
	}
	req.RequestURI = u.RequestURI()
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1

	if len(ev.MultiValueHeaders) > 0 {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.Headers {
			req.Header.Set(k, v)
		}
	}
	req.Host = req.Header.Get("Host")
	if req.Host == "" {
		req.Host = ev.RequestContext.DomainName
	}
	req.URL.Host = req.Host
	req.Header.Del("Content-Length")
	req.ContentLength = int64(len(payload))
	if len(payload) == 0 {
		req.Body = http.NoBody
	}

	if ip := ev.RequestContext.Identity.SourceIP; ip != "" {
		req.RemoteAddr = net.JoinHostPort(ip, "0")
	}
	if id := ev.RequestContext.RequestID; id != "" {
		req.Header.Set(HeaderRequestID, id)
	}
	req.Header.Del(HeaderForwardedPrefix)
	if prefix != "" {
		req.Header.Set(HeaderForwardedPrefix, prefix)
	}
	return req, nil
}

// routedPath is the path the API's resources routed: ev.Path, less the base path a custom domain's
// base path mapping leaves in it (there ev.Path is "/switchyard/console/teams" for the resource
// "/console/{proxy+}", while the stage URL gives "/console/teams"). The resource with its path
// parameters filled in says which part was routed; when it cannot, ev.Path is kept as it is.
func routedPath(ev *events.APIGatewayProxyRequest) string {
	path := ev.Path
	if path == "" {
		return "/"
	}
	var routed strings.Builder
	rest := ev.Resource
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			routed.WriteString(rest)
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return path
		}
		v, ok := ev.PathParameters[strings.TrimSuffix(rest[open+1:open+end], "+")]
		if !ok {
			return path
		}
		routed.WriteString(rest[:open])
		routed.WriteString(v)
		rest = rest[open+end+1:]
	}
	r := routed.String()
	if strings.HasSuffix(path, "/") && !strings.HasSuffix(r, "/") {
		r += "/" // API Gateway routes /console/ to the resource /console and keeps the slash in ev.Path
	}
	if !strings.HasPrefix(r, "/") || r == path || !strings.HasSuffix(path, r) {
		return path
	}
	return r
}

func query(ev *events.APIGatewayProxyRequest) url.Values {
	q := url.Values{}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			q[k] = append(q[k], vs...)
		}
		return q
	}
	for k, v := range ev.QueryStringParameters {
		q.Set(k, v)
	}
	return q
}

func httpRequestStub(ctx context.Context) *http.Request {
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", http.NoBody)
	return r
}

// prelude is the status and headers that go out before the body.
type prelude struct {
	status int
	single map[string]string
	multi  map[string][]string
}

// responseWriter buffers the body until the handler flushes, then writes it to the pipe Lambda reads.
// Like any http.ResponseWriter it is used by one goroutine, the handler's.
type responseWriter struct {
	header      http.Header
	status      int
	wroteHeader bool
	buf         bytes.Buffer
	pipe        *io.PipeWriter
	committed   chan prelude
	sent        bool  // the prelude went out
	err         error // the first failed write to the pipe (Lambda stopped reading)
}

var _ http.Flusher = (*responseWriter)(nil)

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(status int) {
	if w.wroteHeader || (status >= 100 && status < 200) {
		return // informational answers are not forwarded
	}
	if status < 100 || status > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", status))
	}
	w.status, w.wroteHeader = status, true
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	w.buf.Write(p)
	if w.buf.Len() >= flushThreshold {
		if err := w.FlushError(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush sends the status, headers and everything written so far on to API Gateway.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush that reports a client that went away; http.ResponseController uses it.
func (w *responseWriter) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.commit()
	if w.err != nil {
		return w.err
	}
	if w.buf.Len() == 0 {
		return nil
	}
	_, err := w.pipe.Write(w.buf.Bytes())
	w.buf.Reset()
	if err != nil {
		w.err = fmt.Errorf("sending the response body: %w", err)
	}
	return w.err
}

func (w *responseWriter) isCommitted() bool { return w.sent }

// reset forgets an uncommitted response, so a panic can answer 500 instead.
func (w *responseWriter) reset() {
	w.header = make(http.Header)
	w.status, w.wroteHeader = 0, false
	w.buf.Reset()
}

// finish commits and sends what is left once the handler returned.
func (w *responseWriter) finish() { _ = w.FlushError() }

// abort cuts the stream; aws-lambda-go reports the error to Lambda as the invocation's error.
func (w *responseWriter) abort(err error) { w.pipe.CloseWithError(err) }

// commit fixes the status and headers and hands them to the Lambda goroutine, once.
func (w *responseWriter) commit() {
	if w.sent {
		return
	}
	w.sent = true
	if _, ok := w.header["Content-Type"]; !ok && bodyAllowed(w.status) && w.buf.Len() > 0 {
		w.header.Set("Content-Type", http.DetectContentType(w.buf.Bytes()))
	}
	p := prelude{status: w.status}
	for k, vs := range w.header {
		k = http.CanonicalHeaderKey(k)
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection", "Trailer":
			continue // the stream's framing belongs to Lambda and API Gateway
		}
		if len(vs) == 1 {
			if p.single == nil {
				p.single = make(map[string]string)
			}
			p.single[k] = vs[0]
		} else if len(vs) > 1 {
			if p.multi == nil {
				p.multi = make(map[string][]string)
			}
			p.multi[k] = vs
		}
	}
	w.committed <- p
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}
