package main

// The re-embed part of `make bench` (issue 6; docs/benchmarks.md, "Re-embed"). In a database of its
// own per run, with the fake upstream on loopback in this process:
//
//  1. seed a corpus following an alias on model A (the documents with COPY, its active index empty:
//     a run reads documents, never the old vectors), then time a bare COPY of the target model's
//     vectors for the same documents, computed beforehand, into a table like an index's;
//  2. start the worker alone in a child process (this binary with -reembed-worker), start a real
//     re-embed run to model B through shared/reembed, and wait for it to succeed; the fill, build
//     and end times come from the database (River's job rows and the run's row);
//  3. drop the run's HNSW index and time a bare CREATE INDEX on the same table;
//  4. for each size of -reembed-mem-docs, the same run in a fresh database, reading the worker's
//     VmHWM from /proc/self/status when it stops.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/config"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/seal"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

type reembedOptions struct {
	docs          int    // documents of the throughput and HNSW run
	dim           int    // its target dimension
	memDocs       string // comma-separated sizes of the peak-memory runs
	fillOnly      bool   // measure the fill alone: no HNSW build, verification or memory runs
	memDim        int
	maxRun        time.Duration // bound on each run
	workerProfile string
	// upstreamComputes leaves the fake upstream computing each vector on request; otherwise its answers
	// for the throughput run are primed beforehand, as the raw COPY's vectors are.
	upstreamComputes bool
}

// Names of the re-embed fixtures. Model A is small: its index stays empty, only its name matters.
const (
	rbAlias  = "bench-embed"
	rbCorpus = "bench-corpus"
	rbModelA = "bench-a"
	rbModelB = "bench-b"
	rbDimA   = 384
	// rbThreshold is the self-recall the bench's runs need to cut over, unless
	// SWITCHYARD_REEMBED_THRESHOLD says otherwise. The fake's embeddings are uniformly random unit
	// vectors, HNSW's hardest case: even with verification's ef_search of 200, self-recall at 10 was
	// 0.985–0.995 at 100,000 documents but 0.935 at 200,000, under the product's 0.95.
	rbThreshold = "0.9"
)

func rbUpstream(dim int) string { return fmt.Sprintf("bench-b-%d", dim) }

func reembedBench(ctx context.Context, base string, o reembedOptions) error {
	if base == "" {
		return fmt.Errorf("DATABASE_URL is not set: run `make bench`, which starts a local Postgres")
	}
	if o.fillOnly {
		o.memDocs = ""
	}
	var memSizes []int
	for _, f := range strings.Split(o.memDocs, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return fmt.Errorf("-reembed-mem-docs: %q is not a number of documents", f)
		}
		memSizes = append(memSizes, n)
	}
	fake := fakeupstream.New(fakeupstream.Config{StrictModels: true, Dimensions: map[string]int{
		"bench-a-384": rbDimA, rbUpstream(o.dim): o.dim, rbUpstream(o.memDim): o.memDim}})
	srv, ln, err := fakeupstream.Listen("127.0.0.1:0", fake)
	if err != nil {
		return err
	}
	defer srv.Close()
	upstreamBase := "http://" + ln.Addr().String() + "/v1"

	host, _ := os.Hostname()
	fmt.Printf("# Switchyard re-embed benchmark — %s, %s, %d CPUs, load average %s\n\n", time.Now().Format(time.RFC3339), host, numCPU(), loadAvg())
	t0 := time.Now()

	// 1–3: throughput and HNSW.
	var res rbRun
	err = withBenchDB(ctx, base, upstreamBase, o.dim, func(pool *pgxpool.Pool, url string) error {
		corpusID, err := rbCorpusOf(ctx, pool, o.docs)
		if err != nil {
			return err
		}
		copyTime, err := rawCopy(ctx, pool, fake, corpusID, o.docs, o.dim)
		if err != nil {
			return err
		}
		fmt.Printf("raw COPY of %d vectors of %d dimensions (one COPY, one transaction, into vector(%d)): %v, %.0f rows/s\n",
			o.docs, o.dim, o.dim, copyTime.Round(time.Millisecond), float64(o.docs)/copyTime.Seconds())
		upstreamNote := "the fake upstream computing each vector when asked, on these cores"
		if !o.upstreamComputes {
			primeUpstream(fake, o.docs, o.dim)
			upstreamNote = "the fake upstream's answers primed beforehand, as the raw COPY's vectors are"
		}
		fmt.Printf("re-embed run with %s\n", upstreamNote)
		if res, err = runReembed(ctx, pool, url, o.maxRun, o.workerProfile, o.fillOnly); err != nil {
			return err
		}
		fillRate := float64(res.embedded) / res.fill.Seconds()
		rawRate := float64(o.docs) / copyTime.Seconds()
		if o.fillOnly {
			fmt.Printf("re-embed run of %d documents to %d dimensions: filled in %v (%.0f docs/s, %.0f%% of raw COPY; goal ≥ 70%%); the first fill job started %v after the run\n",
				res.embedded, o.dim, res.fill.Round(time.Millisecond), fillRate, 100*fillRate/rawRate, res.pickUp.Round(time.Millisecond))
			fmt.Printf("  (-reembed-fill-only: the build, verification and memory figures are skipped)\n")
			return nil
		}
		fmt.Printf("re-embed run of %d documents to %d dimensions: filled in %v (%.0f docs/s, %.0f%% of raw COPY; goal ≥ 70%%), succeeded after %v (%.0f docs/s end to end); the first fill job started %v after the run\n",
			res.embedded, o.dim, res.fill.Round(time.Millisecond), fillRate, 100*fillRate/rawRate, res.total.Round(time.Millisecond),
			float64(res.embedded)/res.total.Seconds(), res.pickUp.Round(time.Millisecond))
		fmt.Printf("  of which: HNSW build %v, verification %v (self-recall at 10 %.3f); worker peak memory (VmHWM) %.1f MB\n",
			res.build.Round(time.Millisecond), res.verify.Round(time.Millisecond), res.recall, float64(res.hwmKB)/1024)
		bare, settings, err := bareBuild(ctx, pool, res.table)
		if err != nil {
			return err
		}
		fmt.Printf("HNSW build: the service's step %v (maintenance_work_mem %s, max_parallel_maintenance_workers %s as the service sets them);"+
			" bare CREATE INDEX on the same table %v (server defaults: %s); ratio %.2f (goal ≤ 1.2)\n",
			res.build.Round(time.Millisecond), res.buildMem, res.buildWorkers, bare.Round(time.Millisecond), settings, res.build.Seconds()/bare.Seconds())
		return nil
	})
	if err != nil {
		return err
	}

	// 4: the worker's peak memory against corpus size.
	var hwm []int64
	for _, n := range memSizes {
		err := withBenchDB(ctx, base, upstreamBase, o.memDim, func(pool *pgxpool.Pool, url string) error {
			if _, err := rbCorpusOf(ctx, pool, n); err != nil {
				return err
			}
			r, err := runReembed(ctx, pool, url, o.maxRun, "", false)
			if err != nil {
				return err
			}
			hwm = append(hwm, r.hwmKB)
			fmt.Printf("worker peak memory, %d documents at %d dimensions: VmHWM %.1f MB (run succeeded after %v; fill %v, build %v)\n",
				n, o.memDim, float64(r.hwmKB)/1024, r.total.Round(time.Millisecond), r.fill.Round(time.Millisecond), r.build.Round(time.Millisecond))
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(hwm) >= 2 {
		lo, hi := hwm[0], hwm[0]
		for _, h := range hwm {
			lo, hi = min(lo, h), max(hi, h)
		}
		fmt.Printf("worker peak memory: largest ÷ smallest %.2f (goal ≤ 1.2)\n", float64(hi)/float64(lo))
	}
	fmt.Printf("\nre-embed part took %v; load average at the end %s\n", time.Since(t0).Round(time.Second), loadAvg())
	return nil
}

// withBenchDB runs fn on a fresh database with the re-embed fixtures (a provider on the fake upstream,
// model A, model B of dimension dimB, the alias on A), and drops the database after.
func withBenchDB(ctx context.Context, base, upstreamBase string, dimB int, fn func(pool *pgxpool.Pool, url string) error) error {
	pool, name, err := newDatabase(ctx, base)
	if err != nil {
		return err
	}
	defer dropDatabase(base, name)
	defer pool.Close()
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO providers (identifier, base_url, auth_method) VALUES ('fake', $1, 'none')`, []any{upstreamBase}},
		{`INSERT INTO catalog_names (name, what) VALUES ($1, 'model'), ($2, 'model'), ($3, 'alias')`, []any{rbModelA, rbModelB, rbAlias}},
		{`INSERT INTO models (name, provider_id, upstream_name, kind, dimension, enabled)
			SELECT $1, id, 'bench-a-384', 'embedding', $2, true FROM providers`, []any{rbModelA, rbDimA}},
		{`INSERT INTO models (name, provider_id, upstream_name, kind, dimension, enabled)
			SELECT $1, id, $2, 'embedding', $3, true FROM providers`, []any{rbModelB, rbUpstream(dimB), dimB}},
		{`INSERT INTO aliases (name, kind, model_id) SELECT $1, 'embedding', id FROM models WHERE name = $2`, []any{rbAlias, rbModelA}},
	}
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("re-embed fixture %q: %w", s.sql, err)
		}
	}
	return fn(pool, databaseURL(base, name))
}

func rbDocID(i int) string { return fmt.Sprintf("doc-%07d", i) }

func rbDocText(i int) string {
	return fmt.Sprintf("document %d: a paragraph of an operator's runbook about rotating credentials, section %d, revision %d", i, i%97, i%13)
}

// rbCorpusOf creates the corpus through the service (so its first index, on model A, is active) and
// writes n documents into it with COPY.
func rbCorpusOf(ctx context.Context, pool *pgxpool.Pool, n int) (int64, error) {
	svc, err := reembed.New(pool, nil, nil, reembed.Config{InsertOnly: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, err
	}
	c, err := svc.CreateCorpus(ctx, rbCorpus, rbAlias, nil, nil)
	if err != nil {
		return 0, fmt.Errorf("create the corpus: %w", err)
	}
	i := -1
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"documents"}, []string{"corpus_id", "doc_id", "text", "content_hash"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i++; i >= n {
				return nil, nil
			}
			t := rbDocText(i)
			return []any{c.ID, rbDocID(i), t, corpus.ContentHash(t)}, nil
		}))
	if err != nil {
		return 0, fmt.Errorf("seed %d documents: %w", n, err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE documents`); err != nil {
		return 0, fmt.Errorf("analyze documents: %w", err)
	}
	return c.ID, nil
}

// rawCopy times one COPY of the target model's vectors of every document, computed beforehand, into a
// table made as an index's table is (doc_id text PRIMARY KEY, content_hash, embedding vector(dim)).
func rawCopy(ctx context.Context, pool *pgxpool.Pool, fake *fakeupstream.Server, corpusID int64, n, dim int) (time.Duration, error) {
	if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE bench_raw_copy (doc_id text PRIMARY KEY, content_hash bytea NOT NULL,
		embedding vector(%d) NOT NULL)`, dim)); err != nil {
		return 0, fmt.Errorf("create the raw COPY table: %w", err)
	}
	rows := make([][]any, n)
	for i := range rows {
		t := rbDocText(i)
		rows[i] = []any{rbDocID(i), corpus.ContentHash(t), pgvector.NewVector(fake.Vector(rbUpstream(dim), t))}
	}
	start := time.Now()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_raw_copy"}, []string{"doc_id", "content_hash", "embedding"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("raw COPY: %w", err)
	}
	return time.Since(start), nil
}

// primeUpstream has fake encode the target model's answers for the n documents beforehand: an upstream
// at zero latency whose own work stays off the two cores the worker and Postgres share, as a model
// server on other machines would.
func primeUpstream(fake *fakeupstream.Server, n, dim int) {
	texts := make([]string, n)
	for i := range texts {
		texts[i] = rbDocText(i)
	}
	fake.Prime(rbUpstream(dim), texts)
}

// rbRun is what one re-embed run measured.
type rbRun struct {
	embedded               int64
	fill, total, build     time.Duration // from the run's start (its row's created_at)
	verify                 time.Duration
	pickUp                 time.Duration // until the worker started the first fill job
	hwmKB                  int64
	recall                 float64
	table                  string
	buildMem, buildWorkers string
}

// runReembed starts the worker in a child process, starts a run of the corpus's alias to model B, waits
// (at most maxRun) for it to succeed, stops the worker and reads the figures.
// With fillOnly it returns once the fill is complete (the run has moved on to indexing), with the fill's
// figures alone: the worker is killed mid-build and the database is dropped after.
func runReembed(ctx context.Context, pool *pgxpool.Pool, url string, maxRun time.Duration, cpuProfile string, fillOnly bool) (rbRun, error) {
	var r rbRun
	self, err := os.Executable()
	if err != nil {
		return r, err
	}
	rctx, cancel := context.WithTimeout(ctx, maxRun+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, self, "-reembed-worker", url)
	cmd.Env = os.Environ()
	if os.Getenv("SWITCHYARD_REEMBED_THRESHOLD") == "" {
		cmd.Env = append(cmd.Env, "SWITCHYARD_REEMBED_THRESHOLD="+rbThreshold)
	}
	if cpuProfile != "" {
		cmd.Env = append(cmd.Env, "BENCH_WORKER_CPUPROFILE="+cpuProfile)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return r, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("start the worker: %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }() // after a clean stop, a no-op
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		return r, fmt.Errorf("the worker did not start (said %q)", lines.Text())
	}

	svc, err := reembed.New(pool, nil, nil, reembed.Config{InsertOnly: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return r, err
	}
	run, err := svc.StartRun(ctx, rbCorpus, rbModelB, nil)
	if err != nil {
		return r, fmt.Errorf("start the run: %w", err)
	}
	deadline := time.Now().Add(maxRun)
	for !run.State.Terminal() && !(fillOnly && filled(run.State)) {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("run %d still %s after %v (embedded %d of %d)", run.ID, run.State, maxRun, run.Embedded, run.Total)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if run, err = svc.Run(ctx, run.ID); err != nil {
			return r, err
		}
	}
	if fillOnly && filled(run.State) {
		r.embedded, r.table = run.Embedded, run.Indexes[0].Table
		var created, fillEnd, fillStart time.Time
		err = pool.QueryRow(ctx, `SELECT r.created_at,
				(SELECT max(finalized_at) FROM river_job WHERE kind = 'reembed_fill'),
				(SELECT min(attempted_at) FROM river_job WHERE kind = 'reembed_fill')
			FROM reembed_runs r WHERE r.id = $1`, run.ID).Scan(&created, &fillEnd, &fillStart)
		if err != nil {
			return r, fmt.Errorf("read the run's fill times: %w", err)
		}
		r.fill, r.pickUp = fillEnd.Sub(created), fillStart.Sub(created)
		if cpuProfile != "" { // let the worker write its profile before it is killed
			_ = stdin.Close()
			lines.Scan()
		}
		return r, nil
	}
	if run.Verification != nil {
		r.recall = run.Verification.SelfRecall
	}
	if run.State != corpus.RunSucceeded {
		return r, fmt.Errorf("run %d ended %s: %s (self-recall %.3f)", run.ID, run.State, run.Error, r.recall)
	}
	r.embedded, r.table = run.Embedded, run.Indexes[0].Table

	// The worker stops when its stdin closes and answers its peak memory.
	_ = stdin.Close()
	if cpuProfile != "" {
		lines.Scan() // "profiled"
	}
	if !lines.Scan() {
		return r, fmt.Errorf("the worker stopped without reporting its memory: %v", lines.Err())
	}
	if _, err := fmt.Sscanf(lines.Text(), "vmhwm_kb %d", &r.hwmKB); err != nil {
		return r, fmt.Errorf("the worker said %q: %w", lines.Text(), err)
	}
	if err := cmd.Wait(); err != nil {
		return r, fmt.Errorf("the worker: %w", err)
	}

	var created, finished, fillEnd, fillStart, buildStart, buildEnd, verifyStart, verifyEnd time.Time
	err = pool.QueryRow(ctx, `SELECT r.created_at, r.finished_at,
			(SELECT max(finalized_at) FROM river_job WHERE kind = 'reembed_fill'),
			(SELECT min(attempted_at) FROM river_job WHERE kind = 'reembed_fill'),
			(SELECT attempted_at FROM river_job WHERE kind = 'reembed_build' ORDER BY id DESC LIMIT 1),
			(SELECT finalized_at FROM river_job WHERE kind = 'reembed_build' ORDER BY id DESC LIMIT 1),
			(SELECT attempted_at FROM river_job WHERE kind = 'reembed_verify' ORDER BY id DESC LIMIT 1),
			(SELECT finalized_at FROM river_job WHERE kind = 'reembed_verify' ORDER BY id DESC LIMIT 1)
		FROM reembed_runs r WHERE r.id = $1`, run.ID).Scan(&created, &finished, &fillEnd, &fillStart, &buildStart, &buildEnd, &verifyStart, &verifyEnd)
	if err != nil {
		return r, fmt.Errorf("read the run's times: %w", err)
	}
	r.fill, r.total, r.pickUp = fillEnd.Sub(created), finished.Sub(created), fillStart.Sub(created)
	r.build, r.verify = buildEnd.Sub(buildStart), verifyEnd.Sub(verifyStart)
	rc, err := reembedSettings()
	if err != nil {
		return r, err
	}
	cfg := rc.WithDefaults()
	r.buildMem, r.buildWorkers = fmt.Sprintf("%dMB", cfg.HNSWMemoryMB), strconv.Itoa(cfg.HNSWWorkers)
	return r, nil
}

// filled reports whether a run in state st has completed its fill.
func filled(st corpus.RunState) bool {
	return st == corpus.RunIndexing || st == corpus.RunVerifying || st == corpus.RunCuttingOver || st == corpus.RunSucceeded
}

// bareBuild drops the HNSW index of table and times a bare CREATE INDEX of the same graph on it, on a
// fresh connection with the server's own settings (which it returns).
func bareBuild(ctx context.Context, pool *pgxpool.Pool, table string) (time.Duration, string, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, "", err
	}
	defer conn.Release()
	var mem, workers string
	if err := conn.QueryRow(ctx, `SELECT current_setting('maintenance_work_mem'), current_setting('max_parallel_maintenance_workers')`).Scan(&mem, &workers); err != nil {
		return 0, "", err
	}
	settings := fmt.Sprintf("maintenance_work_mem %s, max_parallel_maintenance_workers %s", mem, workers)
	if _, err := conn.Exec(ctx, `DROP INDEX `+pgx.Identifier{table + "_hnsw"}.Sanitize()); err != nil {
		return 0, settings, fmt.Errorf("drop the run's HNSW index: %w", err)
	}
	start := time.Now()
	// The same graph as the service builds (postgres.HNSWM, HNSWEFConstruction): only the settings differ.
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE INDEX ON %s USING hnsw (embedding vector_cosine_ops) WITH (m = %d, ef_construction = %d)`,
		pgx.Identifier{table}.Sanitize(), postgres.HNSWM, postgres.HNSWEFConstruction)); err != nil {
		return 0, settings, fmt.Errorf("bare CREATE INDEX: %w", err)
	}
	return time.Since(start), settings, nil
}

// reembedWorker is the child process: the worker alone, as worker/main.go runs it long-lived (app.New
// with Worker, the default pool, SWITCHYARD_REEMBED_* tunables), on the database at url. It says
// "ready" once started, works until its stdin closes, stops, and says its peak resident memory.
func reembedWorker(url, cpuProfile string) error {
	ctx := context.Background()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	profiled := func() {
		if cpuProfile != "" {
			pprof.StopCPUProfile()
			fmt.Println("profiled") // a fill-only parent kills the worker once it reads this
		}
	}
	pc := postgres.PoolConfig{}
	if n, err := strconv.Atoi(os.Getenv("BENCH_WORKER_MAXCONNS")); err == nil {
		pc.MaxConns = int32(n)
	}
	pool, err := postgres.Open(ctx, url, pc)
	if err != nil {
		return err
	}
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	sealer, err := seal.LocalFromFile(filepath.Join(os.TempDir(), "switchyard-bench-seal.key"))
	if err != nil {
		return err
	}
	rc, err := reembedSettings()
	if err != nil {
		return err
	}
	a, err := app.New(app.Config{Local: true, AllowLoopback: true, Worker: true, Reembed: rc}, log, pool, sealer)
	if err != nil {
		return err
	}
	if err := a.Corpora.Start(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes it when the run has ended (or dies)
	profiled()
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.Corpora.Stop(stopCtx); err != nil {
		return err
	}
	_ = a.Close(stopCtx)
	hwm, err := vmHWM()
	if err != nil {
		return err
	}
	fmt.Printf("vmhwm_kb %d\n", hwm)
	return nil
}

// vmHWM reads this process's peak resident set size, in kB, from /proc/self/status.
func vmHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// reembedSettings are the re-embed tunables of the environment (SWITCHYARD_REEMBED_*), as the worker
// reads them.
func reembedSettings() (reembed.Config, error) {
	c, err := config.FromEnvironment()
	if err != nil {
		return reembed.Config{}, err
	}
	return app.Settings(c).Reembed, nil
}
