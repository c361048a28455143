package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The console is served wherever the admin API is: make dev's one address and the admin function.
func TestConsoleIsServedWithTheAdminAPI(t *testing.T) {
	t.Parallel()
	a, srv := newApp(t)
	fn := httptest.NewServer(a.AdminFunctionHandler())
	t.Cleanup(fn.Close)
	for _, base := range []string{srv.URL, fn.URL} {
		resp, err := http.Get(base + "/console/signin")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s/console/signin = %d %s; want the sign-in page", base, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
