// Package reqlog gives every request an id and a logger that carries it, and logs one line per request.
package reqlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"
)

type ctxKey struct{}

type info struct {
	id  string
	log *slog.Logger
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
		l := log.With("request_id", id)
		w.Header().Set(Header, id)
		ctx := context.WithValue(r.Context(), ctxKey{}, &info{id: id, log: l})
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(ctx))
		l.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	})
}

// ID returns the request's id, or "" outside a request.
func ID(ctx context.Context) string {
	if i, ok := ctx.Value(ctxKey{}).(*info); ok {
		return i.id
	}
	return ""
}

// Logger returns the request's logger, or fallback outside a request.
func Logger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if i, ok := ctx.Value(ctxKey{}).(*info); ok {
		return i.log
	}
	return fallback
}

// NewID returns a fresh random request id.
func NewID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "req_" + hex.EncodeToString(b)
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
