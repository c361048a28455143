package reembed

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
)

// workerEnv, set in a child process of the test binary, makes it a worker on that database.
const workerEnv = "REEMBED_TEST_WORKER_DB"

func TestMain(m *testing.M) {
	if url := os.Getenv(workerEnv); url != "" {
		os.Exit(runTestWorker(url))
	}
	os.Exit(m.Run())
}

// runTestWorker works jobs on url with the fake embedder until SIGTERM (or until it is killed).
func runTestWorker(url string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool, err := postgres.Open(ctx, url, postgres.PoolConfig{MaxConns: 8})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := testConfig()
	cfg.RescueStuckJobsAfter = time.Second
	if os.Getenv("REEMBED_TEST_WORKER_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	svc, err := New(pool, reembedtest.Catalog{Pool: pool}, &reembedtest.Embedder{}, cfg)
	if err == nil {
		err = svc.Start(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = svc.Stop(sctx)
	return 0
}

// startWorker runs the test binary as a worker process on e's database.
func (e *env) startWorker(url string) *exec.Cmd {
	e.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+url)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// TestRunResumesAfterWorkerSIGKILL kills worker processes with SIGKILL at random points of a run; the
// next worker rescues their jobs and the index ends exact.
func TestRunResumesAfterWorkerSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills worker processes; takes about a minute")
	}
	url := pgtestURL(t)
	e := newEnvOn(t, url, Config{InsertOnly: true})
	e.createCorpus("handbook")
	e.put("handbook", 0, 3000, 1)
	w := e.startWorker(url)
	e.waitSynced()
	run := e.startRun(reembedtest.ModelV2)
	kills := 0
	for kills < 2 {
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		r, _ := e.svc.Run(e.ctx, run.ID)
		if r.State.Terminal() {
			break
		}
		_ = w.Process.Kill() // SIGKILL: no hand-back, jobs left running
		_ = w.Wait()
		kills++
		t.Logf("killed worker %d at %s, %d of %d embedded", kills, r.State, r.Embedded, r.Total)
		e.put("handbook", kills*100, kills*100+50, 10+kills) // writes while no worker runs
		w = e.startWorker(url)
	}
	done := e.waitRun(run.ID, 3*time.Minute) // River rescues after leadership passes (~15s) and its rescuer ticks
	_ = w.Process.Signal(syscall.SIGTERM)
	_ = w.Wait()
	if done.State != corpus.RunSucceeded {
		t.Fatalf("run ended %s: %s", done.State, done.Error)
	}
	if kills == 0 {
		t.Fatal("the run ended before any worker was killed")
	}
	e.checkIndexExact(e.activeIndex("handbook"))
}
