// Package upstream is Switchyard's client of OpenAI-compatible endpoints: the SSRF-safe dialer,
// per-provider transports with the provider's timeouts and CA bundle, the mapping of upstream
// answers to SPEC's error codes, provider verification and model probes, and embedding calls
// (Embed). What it sends and reads is OpenAI's wire format, as package wire encodes and reads it.
package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// Options configure a Client. The zero value is a cloud client: loopback refused, the system
// resolver, the real clock, logs discarded.
type Options struct {
	// AllowLoopback lets providers live on 127.0.0.0/8 and ::1 (local runs, tests).
	AllowLoopback bool
	Logger        *slog.Logger
	// Now is the clock for verification and probe times.
	Now func() time.Time
	// Resolver looks provider host names up; nil is net.DefaultResolver.
	Resolver Resolver
	// MaxIdleConnsPerHost bounds the pooled connections kept per provider host; 0 means 256.
	MaxIdleConnsPerHost int
	// UserAgent is sent on every call; empty means "switchyard".
	UserAgent string
}

// Client calls providers' endpoints. It is safe for concurrent use; create one per process.
type Client struct {
	opts Options
	log  *slog.Logger

	mu         sync.Mutex
	transports map[int64]*transportEntry

	floatsOnly sync.Map // provider identifier → true once it refused base64 embeddings
}

type transportEntry struct {
	updatedAt time.Time
	caBundle  string
	timeouts  catalog.Timeouts
	rt        *http.Transport
}

// New returns a Client.
func New(opts Options) *Client {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = 256
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "switchyard"
	}
	return &Client{opts: opts, log: opts.Logger, transports: map[int64]*transportEntry{}}
}

// Close releases the pooled connections of every provider.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.transports {
		e.rt.CloseIdleConnections()
		delete(c.transports, id)
	}
}

// CheckCABundle reports whether pem holds at least one certificate, so that the admin API can
// refuse a bundle that would never verify anything.
func CheckCABundle(pem string) error {
	if strings.TrimSpace(pem) == "" {
		return nil
	}
	if !x509.NewCertPool().AppendCertsFromPEM([]byte(pem)) {
		return errors.New("the CA bundle holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	return nil
}

// caBundleError is a CA bundle that does not parse; verification reports it as tls_error.
type caBundleError struct{ err error }

func (e *caBundleError) Error() string { return e.err.Error() }
func (e *caBundleError) Unwrap() error { return e.err }

// transport returns p's transport. Saved providers share one pooled transport per ID, replaced
// when the provider changes (UpdatedAt, CA bundle or timeouts differ), so an edit takes effect
// on the next call. An unsaved provider (ID 0, being verified before it is stored) gets a
// transport of its own without keep-alive, which leaves nothing behind.
func (c *Client) transport(p *catalog.Provider) (rt *http.Transport, err error) {
	if p.ID == 0 {
		rt, err := c.newTransport(p)
		if err != nil {
			return nil, err
		}
		rt.DisableKeepAlives = true
		return rt, nil
	}
	t := p.Timeouts.WithDefaults()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.transports[p.ID]; e != nil {
		if e.updatedAt.Equal(p.UpdatedAt) && e.caBundle == p.CABundle && e.timeouts == t {
			return e.rt, nil
		}
		// In-flight calls keep their connections; idle ones of the old settings go.
		e.rt.CloseIdleConnections()
	}
	rt, err = c.newTransport(p)
	if err != nil {
		delete(c.transports, p.ID)
		return nil, err
	}
	c.transports[p.ID] = &transportEntry{updatedAt: p.UpdatedAt, caBundle: p.CABundle, timeouts: t, rt: rt}
	return rt, nil
}

func (c *Client) newTransport(p *catalog.Provider) (*http.Transport, error) {
	t := p.Timeouts.WithDefaults()
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if strings.TrimSpace(p.CABundle) != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(p.CABundle)) {
			return nil, &caBundleError{errors.New("the provider's CA bundle holds no PEM certificate")}
		}
		tlsConf.RootCAs = pool
	}
	d := newDialer(c.opts.AllowLoopback, c.opts.Resolver, t.Connect)
	return &http.Transport{
		// No proxy: a proxy would be dialed instead of the provider, and the address checks
		// would guard the proxy, not the provider.
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   t.Connect,
		ResponseHeaderTimeout: t.FirstByte,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // no global cap: each provider has its own transport
		MaxIdleConnsPerHost:   c.opts.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		// The gateway passes bodies through; decompressing costs CPU for nothing on a LAN.
		DisableCompression: true,
	}, nil
}

// URL returns the address of route on p: the base URL with route appended.
func URL(p *catalog.Provider, route string) string {
	return strings.TrimRight(p.BaseURL, "/") + route
}

// droppedHeaders never travel from a caller's headers to an upstream: the caller's own
// credential, hop-by-hop headers, and Accept-Encoding (the gateway reads what it forwards:
// usage in SSE events, vector lengths, so it wants the body as the upstream's plain bytes).
var droppedHeaders = []string{"Authorization", "Connection", "Keep-Alive", "Proxy-Authorization",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Accept-Encoding", "Cookie"}

// maxErrorBody bounds what of an error answer is read for its message.
const maxErrorBody = 64 << 10

// Send calls route (e.g. "/chat/completions") on p with body, which has been read in full
// (streaming an inbound body into the upstream request races net/http under keep-alive).
//
// The provider's auth is set, replacing any Authorization or api-key header in hdr, so a
// caller's own key can never reach the upstream; hop-by-hop headers, cookies and
// Accept-Encoding in hdr are dropped too; hdr itself is not modified, so callers may share
// one. Redirects are not followed. The call is
// bounded by p's timeouts: connect (dial and TLS), first byte (request sent → headers), idle
// (the longest the upstream may stay silent while the body is read) and total (the whole call,
// body included; its timer is released when the body is closed).
//
// A 2xx answer is returned with its body open: the caller must close it. Body reads that fail
// return an *Error. Any other status, and any failure to get an answer, is returned as an
// *Error whose API field is the SPEC error to answer with; the error body is read and closed.
func (c *Client) Send(ctx context.Context, p *catalog.Provider, method, route string, body []byte, hdr http.Header) (*http.Response, error) {
	rt, err := c.transport(p)
	if err != nil {
		return nil, transportFailure(p.Identifier, p.Credential, err)
	}
	t := p.Timeouts.WithDefaults()
	// The total deadline is this call's own cause, so a timeout is told from the caller's.
	callCtx, cancel := context.WithTimeoutCause(ctx, t.Total, &timeoutError{phase: phaseTotal, limit: t.Total.String()})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body) // sets GetBody, so a retry on a stale pooled connection can resend
	}
	req, err := http.NewRequestWithContext(callCtx, method, URL(p, route), rd)
	if err != nil {
		cancel()
		return nil, transportFailure(p.Identifier, p.Credential, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	for _, h := range droppedHeaders {
		req.Header.Del(h)
	}
	if p.AuthHeader != "" {
		req.Header.Del(p.AuthHeader)
	}
	switch p.AuthMethod {
	case catalog.AuthBearer:
		req.Header.Set("Authorization", "Bearer "+p.Credential)
	case catalog.AuthAPIKey:
		req.Header.Set(p.AuthHeader, p.Credential)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}

	resp, err := rt.RoundTrip(req)
	if p.ID == 0 {
		defer rt.CloseIdleConnections()
	}
	if err != nil {
		cause := context.Cause(callCtx)
		cancel()
		if cause != nil && ctx.Err() == nil {
			err = errors.Join(cause, err) // our total timeout, not the caller's cancel
		} else if strings.Contains(err.Error(), "awaiting response headers") {
			err = errors.Join(&timeoutError{phase: phaseFirstByte, limit: t.FirstByte.String()}, err)
		}
		failure := transportFailure(p.Identifier, p.Credential, err)
		c.log.LogAttrs(ctx, slog.LevelWarn, "upstream call failed",
			slog.String("provider", p.Identifier), slog.String("route", route), slog.String("error", failure.Detail))
		return nil, failure
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		cancel()
		failure := classifyAnswer(p.Identifier, method+" "+route, resp.StatusCode, resp.Header, b, p.Credential)
		failure.Cause = errors.Join(fmt.Errorf("HTTP %d", resp.StatusCode), rerr)
		c.log.LogAttrs(ctx, slog.LevelInfo, "upstream answered an error",
			slog.String("provider", p.Identifier), slog.String("route", route), slog.Int("status", resp.StatusCode),
			slog.String("code", failure.API.Code), slog.String("detail", failure.Detail))
		return nil, failure
	}
	resp.Body = newWatchedBody(resp.Body, t.Idle, cancel, callCtx, ctx, p)
	return resp, nil
}

// watchedBody fails a read that waits longer than idle for the upstream, turns read failures
// into *Error, and releases the call's deadline when closed.
//
// A read costs two atomic stores of the monotonic clock rather than a timer reset and stop: one
// timer, armed at the first read, wakes up at most once per idle period and fails the call only
// when the read in progress then has been waiting for idle or longer.
type watchedBody struct {
	rc        io.ReadCloser
	idle      time.Duration
	timer     *time.Timer
	armed     bool         // the timer runs (from the first read on); the reader's own
	readSince atomic.Int64 // when the read in progress began (monotonic ns since epoch); 0 when none
	idleFired atomic.Bool
	cancel    context.CancelFunc
	callCtx   context.Context
	parentCtx context.Context
	provider  *catalog.Provider // names the failures, and its credential is redacted from them
	closed    atomic.Bool
}

// epoch anchors the monotonic clock that readSince counts from.
var epoch = time.Now()

// monotonic is nanoseconds since epoch, never 0.
func monotonic() int64 { return int64(time.Since(epoch)) + 1 }

func newWatchedBody(rc io.ReadCloser, idle time.Duration, cancel context.CancelFunc, callCtx, parent context.Context, provider *catalog.Provider) *watchedBody {
	b := &watchedBody{rc: rc, idle: idle, cancel: cancel, callCtx: callCtx, parentCtx: parent, provider: provider}
	// Created stopped so that check never sees it unset; the first read arms it.
	b.timer = time.AfterFunc(time.Hour, b.check)
	b.timer.Stop()
	return b
}

// check runs when the timer fires: it fails the call if the read in progress has waited for
// idle, and otherwise sleeps until the earliest moment that could be true.
func (b *watchedBody) check() {
	now := monotonic() // before the load: a read that began later cannot look old
	since := b.readSince.Load()
	waited := time.Duration(now - since)
	switch {
	case b.closed.Load():
	case since != 0 && waited >= b.idle:
		b.idleFired.Store(true)
		b.cancel() // unblocks the pending read: the transport watches the request's context
	case since != 0:
		b.timer.Reset(b.idle - waited)
	default:
		b.timer.Reset(b.idle)
	}
}

// Read measures only the time spent waiting inside Read: that is the upstream's silence, not
// the caller's own time between reads (e.g. writing to a slow client).
func (b *watchedBody) Read(p []byte) (int, error) {
	b.readSince.Store(monotonic())
	if !b.armed {
		b.armed = true
		b.timer.Reset(b.idle)
	}
	n, err := b.rc.Read(p)
	b.readSince.Store(0)
	if err == nil || err == io.EOF {
		return n, err
	}
	var cause error
	switch {
	case b.idleFired.Load():
		cause = &timeoutError{phase: phaseIdle, limit: b.idle.String()}
	case b.parentCtx.Err() == nil && context.Cause(b.callCtx) != nil && !b.closed.Load():
		cause = context.Cause(b.callCtx) // the total timeout
	}
	if cause != nil {
		err = errors.Join(cause, err)
	}
	return n, transportFailure(b.provider.Identifier, b.provider.Credential, err)
}

// Close closes the body and releases the call's deadline.
func (b *watchedBody) Close() error {
	b.closed.Store(true)
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel()
	return err
}

// APIError returns the SPEC error in err's chain, or classifies err as a transport failure.
// It lets callers answer any error Send or a body read returned.
func APIError(err error) *apierror.Error {
	if e, ok := apierror.As(err); ok {
		return e
	}
	return ClassifyTransport(err)
}
