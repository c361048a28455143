package basepath

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClean(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "", "/prod": "/prod", "/prod/": "/prod", "/ai/gw-1.v2_x~": "/ai/gw-1.v2_x~"} {
		if got, err := Clean(in); err != nil || got != want {
			t.Errorf("Clean(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"prod", "//evil.example", "/a//b", "/a/../b", "/.", `/x"><script>`, "/x;Domain=evil", "/x\r\nSet-Cookie: a=b", "/a b", "/é", "/a?b", "/a#b", `/a\b`} {
		if got, err := Clean(in); err == nil {
			t.Errorf("Clean(%q) = %q; want it refused", in, got)
		}
	}
}

// Strip serves a handler under a prefix as a stage does: the handler sees the path without it and
// the prefix as the base path; other paths never reach it.
func TestStrip(t *testing.T) {
	h := Strip("/prod", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, From(r.Context())+" "+r.URL.Path+" "+r.RequestURI)
	}))
	for path, want := range map[string]string{
		"/prod/console/teams?x=1": "/prod /console/teams /console/teams?x=1",
		"/prod":                   "/prod / /",
		"/prod/":                  "/prod / /",
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusOK || w.Body.String() != want {
			t.Errorf("GET %s = %d %q; want 200 %q", path, w.Code, w.Body.String(), want)
		}
	}
	for _, path := range []string{"/console/", "/production/console/", "/"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d %q; want 404 outside the prefix", path, w.Code, w.Body.String())
		}
	}
}
