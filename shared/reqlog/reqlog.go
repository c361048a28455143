// Package reqlog gives every request an id and a logger that carries it, and logs one line per request.
package reqlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

type ctxKey struct{}

// info is what a request carries: its id, and its logger, built on first use because most
// requests never log anything but their one line. One allocation holds it and the status recorder.
type info struct {
	id   string
	ip   string // the caller's address, for the audit log
	ua   string
	base *slog.Logger
	log  atomic.Pointer[slog.Logger]
	rec  statusRecorder
}

func (i *info) logger() *slog.Logger {
	if l := i.log.Load(); l != nil {
		return l
	}
	i.log.CompareAndSwap(nil, i.base.With("request_id", i.id))
	return i.log.Load()
}

// Header carries the request id in and out. The Lambda adapter sets it from API Gateway's request id.
const Header = "X-Request-Id"

// Middleware assigns the request id (kept from the inbound header when it is a sane length, else
// random), echoes it in the response, and logs the request's method, path, status and duration.
func Middleware(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(Header)
		if id == "" || len(id) > 128 {
			id = NewID()
		}
		w.Header().Set(Header, id)
		i := &info{id: id, ip: clientIP(r.RemoteAddr), ua: r.UserAgent(), base: log, rec: statusRecorder{ResponseWriter: w, status: http.StatusOK}}
		ctx := context.WithValue(r.Context(), ctxKey{}, i)
		start := time.Now()
		next.ServeHTTP(&i.rec, r.WithContext(ctx))
		// The same line as Logger(ctx) would write, without building that logger when the
		// level is off.
		if log.Enabled(ctx, slog.LevelInfo) {
			log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("request_id", id), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", i.rec.status), slog.Duration("duration", time.Since(start)))
		}
	})
}

// ID returns the request's id, or "" outside a request.
func ID(ctx context.Context) string {
	if i, ok := ctx.Value(ctxKey{}).(*info); ok {
		return i.id
	}
	return ""
}

// Client returns the request's caller address and user agent, or "" outside a request. The address
// is the connection's peer (the Lambda adapter sets it from API Gateway's source IP); a forwarded
// header is not trusted, since any caller can write one.
func Client(ctx context.Context) (ip, userAgent string) {
	if i, ok := ctx.Value(ctxKey{}).(*info); ok {
		return i.ip, i.ua
	}
	return "", ""
}

func clientIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// Logger returns the request's logger, or fallback outside a request.
func Logger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if i, ok := ctx.Value(ctxKey{}).(*info); ok {
		return i.logger()
	}
	return fallback
}

// NewID returns a fresh random request id.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	var s [4 + 24]byte
	copy(s[:], "req_")
	hex.Encode(s[4:], b[:])
	return string(s[:])
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Flush passes flushes through, so streamed answers are not held back.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
