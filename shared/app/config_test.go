package app_test

import (
	"testing"

	"github.com/switchyard-ai/switchyard/shared/app"
)

// TestRDSProxyMakesRiverPollOnly: behind RDS Proxy (DATABASE_RDS_PROXY=true) the worker's River client
// must not LISTEN, so the configuration the binaries read from their environment asks for poll-only.
func TestRDSProxyMakesRiverPollOnly(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"true", true}, {"false", false}, {"", false}} {
		t.Setenv("DATABASE_RDS_PROXY", tc.value)
		if got := app.ConfigFromEnv().Reembed.PollOnly; got != tc.want {
			t.Errorf("DATABASE_RDS_PROXY=%q: Reembed.PollOnly = %v, want %v", tc.value, got, tc.want)
		}
	}
}
