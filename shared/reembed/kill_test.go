package reembed

import (
	"context"
	"flag"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/app/apptest"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// workerEnv, set in a child process of the test binary, makes it a worker on that database;
// buildTimeoutEnv sets its BuildTimeout, and slowBuildEnv makes its HNSW builds never end.
const (
	workerEnv       = "REEMBED_TEST_WORKER_DB"
	buildTimeoutEnv = "REEMBED_TEST_BUILD_TIMEOUT"
	slowBuildEnv    = "REEMBED_TEST_SLOW_BUILD"
)

func TestMain(m *testing.M) { apptest.Main(m, workerEnv, 8, runTestWorker) }

// runTestWorker works jobs on the child's database with the fake embedder until SIGTERM (or until it
// is killed).
func runTestWorker(ctx context.Context, pool *pgxpool.Pool) error {
	cfg := testConfig()
	cfg.RescueStuckJobsAfter = time.Second
	if d, err := time.ParseDuration(os.Getenv(buildTimeoutEnv)); err == nil {
		cfg.BuildTimeout = d
	}
	if os.Getenv(slowBuildEnv) != "" {
		cfg.beforeBuild = func(ctx context.Context, conn *pgxpool.Conn) error {
			_, err := conn.Exec(ctx, `SELECT pg_sleep(600)`) // a build statement longer than the test
			return err
		}
	}
	if os.Getenv("REEMBED_TEST_WORKER_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	svc, err := New(pool, reembedtest.Catalog{Pool: pool}, &reembedtest.Embedder{}, cfg)
	if err == nil {
		err = svc.Start(context.Background())
	}
	if err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = svc.Stop(sctx)
	return nil
}

// startWorker runs the test binary as a worker process on e's database, with vars added to its
// environment.
func (e *env) startWorker(url string, vars ...string) *exec.Cmd {
	e.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), workerEnv+"="+url), vars...)
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

// runOnWorkerProcess gives a test its own database with a corpus of docs documents, synced by a worker
// process started with vars in its environment, and a run of that corpus to ModelV2 started.
func runOnWorkerProcess(t *testing.T, docs int, vars ...string) (e *env, url string, w *exec.Cmd, run *corpus.Run) {
	t.Helper()
	url = pgtestURL(t)
	e = newEnvOn(t, url, Config{InsertOnly: true})
	w = e.startWorker(url, vars...)
	e.seedCorpus("handbook", docs)
	return e, url, w, e.startRun(reembedtest.ModelV2)
}

// killSeed replays the kill times of TestRunResumesAfterWorkerSIGKILL: -reembed.kill-seed=N, or
// REEMBED_TEST_KILL_SEED=N in the environment; unset (0), the test picks a seed and logs it.
var killSeed = flag.Uint64("reembed.kill-seed", 0, "seed of TestRunResumesAfterWorkerSIGKILL's kill times (0: a new one, logged)")

// killRand is the crash test's random source, seeded from -reembed.kill-seed, REEMBED_TEST_KILL_SEED or
// the clock, with the seed logged so a failure can be replayed.
func killRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := *killSeed
	if s := os.Getenv("REEMBED_TEST_KILL_SEED"); seed == 0 && s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("REEMBED_TEST_KILL_SEED=%q: %v", s, err)
		}
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("kill times seeded with %d; replay with -reembed.kill-seed=%d or REEMBED_TEST_KILL_SEED=%d", seed, seed, seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// TestRunResumesAfterWorkerSIGKILL kills worker processes with SIGKILL at random points of a run (a
// random time after each worker starts, from the seeded source); the next worker rescues their jobs and
// the index ends exact.
func TestRunResumesAfterWorkerSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills worker processes; takes about a minute")
	}
	rng := killRand(t)
	e, url, w, run := runOnWorkerProcess(t, 3000)
	kills := 0
	for kills < 2 {
		// The kill point is a time, not an event: the worker is killed wherever it has got to.
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
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
	done := e.waitRun(run.ID, 3*time.Minute) // the next worker puts the dead ones' jobs back as soon as it looks
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

// TestDeadBuilderIsPutBackAtOnce kills worker processes with SIGKILL in the middle of a run's HNSW build
// (a build statement running on the builder's connection), as Lambda kills an invocation at its
// timeout: each time the next worker takes the build up again within seconds, although the build's
// timeout is ten minutes, and after more kills the run still succeeds.
func TestDeadBuilderIsPutBackAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills worker processes")
	}
	slow := []string{buildTimeoutEnv + "=10m", slowBuildEnv + "=1"}
	e, url, w, run := runOnWorkerProcess(t, 300, slow...)
	const kills = 3
	const within = 30 * time.Second // generous on two busy cores; River alone would wait for the 10m timeout
	var attempt time.Time
	for kill := 1; kill <= kills; kill++ {
		if kill == 1 {
			attempt = e.waitBuilding(attempt, within)
		}
		_ = w.Process.Kill() // SIGKILL: the build statement's session is all that is left of it
		_ = w.Wait()
		killed := time.Now()
		if kill < kills {
			w = e.startWorker(url, slow...)
			attempt = e.waitBuilding(attempt, within)
			t.Logf("kill %d: the next worker building after %v", kill, time.Since(killed).Round(time.Millisecond))
			continue
		}
		w = e.startWorker(url, buildTimeoutEnv+"=10m")
		done := e.waitRun(run.ID, within)
		if done.State != corpus.RunSucceeded {
			t.Fatalf("run ended %s: %s", done.State, done.Error)
		}
		t.Logf("kill %d: the run succeeded %v later", kill, time.Since(killed).Round(time.Millisecond))
	}
	_ = w.Process.Signal(syscall.SIGTERM)
	_ = w.Wait()
	e.checkIndexExact(e.activeIndex("handbook"))
}

// waitBuilding waits until a worker holds the builder lock of a build attempt other than the one
// that started at after: a new attempt is building now. It returns when that attempt started.
func (e *env) waitBuilding(after time.Time, within time.Duration) time.Time {
	e.t.Helper()
	locks := &postgres.WorkerLocks{Pool: e.pool}
	started := waittest.Eventually(e.t, within, "a worker building a new attempt", func() ([]time.Time, bool) {
		type attempt struct {
			ID int64
			At time.Time
		}
		rows, _ := e.pool.Query(e.ctx, `SELECT j.id, j.attempted_at FROM river_job j WHERE j.kind = $1 AND j.state = 'running'
			AND j.attempted_at <> $2`, BuildArgs{}.Kind(), after)
		running, err := pgx.CollectRows(rows, pgx.RowToStructByPos[attempt])
		if err != nil {
			e.t.Fatal(err)
		}
		var started []time.Time
		for _, a := range running {
			held, err := locks.BuilderLockHeld(e.ctx, a.ID)
			if err != nil {
				e.t.Fatal(err)
			}
			if held {
				started = append(started, a.At)
			}
		}
		return started, len(started) > 0
	})
	return started[0]
}
