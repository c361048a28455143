package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/config"
)

// TestStartFailureReturnsFromRun: when the worker cannot start (here, no database answers), run
// returns the error instead of exiting the process, so its deferred shutdown runs and main exits
// after it. Before, an os.Exit inside skipped the deferred shutdown (and would end this test's
// process).
func TestStartFailureReturnsFromRun(t *testing.T) {
	env := map[string]string{
		config.EnvDatabaseURL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
		config.EnvSealKeyFile: filepath.Join(t.TempDir(), "seal.key"),
	}
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run(c, slog.New(slog.DiscardHandler)) }()
	select {
	case err := <-done:
		if err == nil || !strings.HasPrefix(err.Error(), "start: ") {
			t.Fatalf("run = %v, want the start failure", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("run did not return within 2 minutes with no database")
	}
}
