package app_test

import (
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/config"
)

func settings(t *testing.T, env map[string]string) app.Config {
	t.Helper()
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return app.Settings(c)
}

// TestRDSProxyMakesRiverPollOnly: behind RDS Proxy (DATABASE_RDS_PROXY=true) the worker's River client
// must not LISTEN, so the configuration the binaries read from their environment asks for poll-only.
func TestRDSProxyMakesRiverPollOnly(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"true", true}, {"false", false}, {"", false}} {
		if got := settings(t, map[string]string{"DATABASE_RDS_PROXY": tc.value}).Reembed.PollOnly; got != tc.want {
			t.Errorf("DATABASE_RDS_PROXY=%q: Reembed.PollOnly = %v, want %v", tc.value, got, tc.want)
		}
	}
}

// TestSettingsReachTheApp: every setting the App takes arrives where its component reads it.
func TestSettingsReachTheApp(t *testing.T) {
	got := settings(t, map[string]string{
		"DATABASE_URL":                     "postgres://u@h/db",
		"SWITCHYARD_LOCAL":                 "true",
		"SWITCHYARD_ALLOW_LOOPBACK":        "false",
		"SWITCHYARD_SNAPSHOT_INTERVAL_MS":  "250",
		"SWITCHYARD_MAX_REQUEST_BYTES":     "1024",
		"SWITCHYARD_PUBLIC_BASE_PATH":      "/prod",
		"SWITCHYARD_REEMBED_BATCH":         "100",
		"SWITCHYARD_REEMBED_SHARDS":        "2",
		"SWITCHYARD_REEMBED_WORKERS":       "3",
		"SWITCHYARD_REEMBED_RETENTION":     "1h",
		"SWITCHYARD_REEMBED_RESCUE_AFTER":  "5m",
		"SWITCHYARD_REEMBED_BUILD_TIMEOUT": "20m",
		"SWITCHYARD_REEMBED_THRESHOLD":     "0.9",
	})
	if got.DatabaseURL != "postgres://u@h/db" || !got.Local || got.AllowLoopback || got.SnapshotInterval != 250*time.Millisecond ||
		got.MaxRequestBytes != 1024 || got.PublicBasePath != "/prod" {
		t.Errorf("Settings = %+v", got)
	}
	r := got.Reembed
	if r.BatchSize != 100 || r.Shards != 2 || r.Workers != 3 || r.Retention != time.Hour || r.RescueStuckJobsAfter != 5*time.Minute ||
		r.BuildTimeout != 20*time.Minute || r.Threshold != 0.9 {
		t.Errorf("Settings.Reembed = %+v", r)
	}
	// In Lambda a local run's switch is off whatever it says: console cookies stay Secure.
	if settings(t, map[string]string{"SWITCHYARD_LOCAL": "true", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}).Local {
		t.Error("SWITCHYARD_LOCAL=true in Lambda made a local run")
	}
}
