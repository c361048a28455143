package reqlog

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestMiddlewareLogsWithTheRequestID(t *testing.T) {
	tests := []struct {
		name    string
		inbound string // X-Request-Id sent by the caller
		wantID  string // "" means a fresh id
	}{
		{name: "the caller's id is kept", inbound: "req-from-the-caller", wantID: "req-from-the-caller"},
		{name: "no id: a fresh one"},
		{name: "an id too long: a fresh one", inbound: strings.Repeat("x", 129)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey || a.Key == "duration" {
						return slog.Attr{}
					}
					return a
				},
			}))
			h := Middleware(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				Logger(r.Context(), nil).Info("inside", "k", "v")
				Logger(r.Context(), nil).Info("again")
				w.WriteHeader(http.StatusTeapot)
			}))
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
			if tt.inbound != "" {
				req.Header.Set(Header, tt.inbound)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			id := rec.Header().Get(Header)
			if tt.wantID != "" && id != tt.wantID {
				t.Fatalf("answered id %q, want %q", id, tt.wantID)
			}
			if tt.wantID == "" && !regexp.MustCompile(`^req_[0-9a-f]{24}$`).MatchString(id) {
				t.Fatalf("answered id %q, want a fresh req_ id", id)
			}
			want := "level=INFO msg=inside request_id=" + id + " k=v\n" +
				"level=INFO msg=again request_id=" + id + "\n" +
				"level=INFO msg=request request_id=" + id + " method=POST path=/v1/chat/completions status=418\n"
			if out.String() != want {
				t.Errorf("log:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}

func TestLoggerOutsideARequest(t *testing.T) {
	fallback := slog.New(slog.DiscardHandler)
	if Logger(t.Context(), fallback) != fallback || ID(t.Context()) != "" {
		t.Fatal("outside a request: want the fallback logger and no id")
	}
}
