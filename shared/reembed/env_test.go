package reembed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// quickRetry retries failed jobs after 20ms, so crash tests take milliseconds.
type quickRetry struct{}

func (quickRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(20 * time.Millisecond)
}

// testConfig is a Config for tests: small batches and shards, millisecond polling.
func testConfig() Config {
	return Config{
		BatchSize: 50,
		Shards:    3,
		Workers:   4,
		JobSlice:  200 * time.Millisecond,
		// A build or verification past its timeout is cancelled and started again from the start.
		// A test index builds in a second on a quiet machine but in tens of seconds on two cores
		// shared with other work, where 15s cut every attempt and the run never left indexing.
		BuildTimeout:      2 * time.Minute,
		Sample:            50,
		RetryBase:         time.Millisecond,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		RetryPolicy:       quickRetry{},
		Log:               slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

type env struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	emb  *reembedtest.Embedder
	svc  *Service
	snap func() *catalog.Snapshot
}

// newEnv gives a test its own seeded database and a started service.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return newEnvOn(t, pgtestURL(t), cfg)
}

func pgtestURL(t *testing.T) string { return pgtest.NewDB(t) }

// newEnvOn is newEnv on the database at url; an InsertOnly cfg starts no worker.
func newEnvOn(t *testing.T, url string, cfg Config) *env {
	t.Helper()
	pool, err := postgres.Open(context.Background(), url, postgres.PoolConfig{MaxConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	reembedtest.Seed(t, pool)
	if cfg.InsertOnly {
		cfg.Log = testConfig().Log
	}
	e := &env{t: t, ctx: context.Background(), pool: pool, emb: &reembedtest.Embedder{}}
	svc, err := New(pool, reembedtest.Catalog{Pool: pool}, e.emb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	if cfg.InsertOnly {
		return e.withSnap()
	}
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})
	return e.withSnap()
}

func (e *env) withSnap() *env {
	t, pool := e.t, e.pool
	e.snap = func() *catalog.Snapshot {
		s, err := reembedtest.Catalog{Pool: pool}.Get(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return e
}

func (e *env) keyAccess(secret string) Access {
	s := e.snap()
	k := s.Keys[catalog.HashSecret(secret)]
	if k == nil {
		e.t.Fatalf("no key %s", secret)
	}
	return KeyAccess(k, s)
}

func (e *env) createCorpus(name string) *corpus.Corpus {
	e.t.Helper()
	c, err := e.svc.CreateCorpus(e.ctx, name, reembedtest.Alias, nil, nil)
	if err != nil {
		e.t.Fatalf("create corpus: %v", err)
	}
	return c
}

// seedCorpus creates corpus name with documents [0, n) at version 1, synced into its active index by
// the worker (in the test process, or a worker process already started). The index's graph is built
// once its vectors are in, as a run builds a new index's, instead of growing by one insert per
// vector: the same graph at about a ninth of the database's time (3,000 vectors of 384 dimensions:
// 1.9 s against 17 s on two busy cores), which `make test` would otherwise spend setting up tests
// that are about what comes after. Writing into a live graph stays tested by the writes during runs.
func (e *env) seedCorpus(name string, n int) {
	e.t.Helper()
	e.createCorpus(name)
	ix := e.activeIndex(name)
	graph := pgx.Identifier{ix.Table + "_hnsw"}.Sanitize()
	if _, err := e.pool.Exec(e.ctx, `DROP INDEX `+graph); err != nil {
		e.t.Fatalf("drop the graph of a new corpus's index: %v", err)
	}
	e.put(name, 0, n, 1)
	e.waitSynced()
	if err := e.svc.Store().BuildHNSW(e.ctx, e.pool, ix, 64, -1); err != nil {
		e.t.Fatal(err)
	}
}

func docText(i, version int) string { return fmt.Sprintf("document %d, version %d", i, version) }

// put writes documents [from, to) at version v through the service.
func (e *env) put(name string, from, to, v int) {
	e.t.Helper()
	for start := from; start < to; start += corpus.MaxBatch {
		var docs []corpus.Document
		for i := start; i < min(start+corpus.MaxBatch, to); i++ {
			docs = append(docs, corpus.Document{ID: fmt.Sprintf("doc-%06d", i), Text: docText(i, v), Metadata: map[string]any{"n": i}})
		}
		if _, err := e.svc.PutDocuments(e.ctx, name, func(*corpus.Corpus) bool { return true }, docs); err != nil {
			e.t.Fatalf("put documents: %v", err)
		}
	}
}

// waitRun waits for run id to end and returns it.
func (e *env) waitRun(id int64, within time.Duration) *corpus.Run {
	e.t.Helper()
	return waittest.Eventually(e.t, within, fmt.Sprintf("run %d to end", id), func() (*corpus.Run, bool) {
		r, err := e.svc.Run(e.ctx, id)
		if err != nil {
			e.t.Fatal(err)
		}
		return r, r.State.Terminal()
	})
}

// waitSynced waits until no sync job is pending.
func (e *env) waitSynced() {
	e.t.Helper()
	reembedtest.WaitSynced(e.t, e.pool, 2*time.Minute) // generous: a worker process may be starting on 2 busy cores
}

// checkIndexExact fails unless ix holds exactly one vector per document of its corpus, each the
// model's embedding of the document's current text.
func (e *env) checkIndexExact(ix *corpus.Index) {
	e.t.Helper()
	rows, _ := e.pool.Query(e.ctx, `SELECT doc_id, text FROM documents WHERE corpus_id = $1`, ix.CorpusID)
	want := map[string]string{}
	var id, text string
	if _, err := pgx.ForEachRow(rows, []any{&id, &text}, func() error { want[id] = text; return nil }); err != nil {
		e.t.Fatal(err)
	}
	upstream := e.snap().Models[ix.Model].UpstreamName
	col := "embedding"
	if corpus.Half(ix.Dimension) {
		col = "embedding::vector"
	}
	rows, _ = e.pool.Query(e.ctx, fmt.Sprintf(`SELECT doc_id, %s::text FROM %s`, col, pgx.Identifier{ix.Table}.Sanitize()))
	got := 0
	var vec string
	if _, err := pgx.ForEachRow(rows, []any{&id, &vec}, func() error {
		got++
		t, ok := want[id]
		if !ok {
			e.t.Errorf("index %d (%s) holds a vector for %s, which is not a document", ix.ID, ix.Model, id)
			return nil
		}
		exp := reembedtest.Vector(upstream, t, ix.Dimension)
		var first float32
		fmt.Sscanf(vec[1:], "%g", &first)
		if d := first - exp[0]; d > 0.002 || d < -0.002 {
			e.t.Errorf("index %d: vector of %s is not %s's embedding of its current text %q", ix.ID, id, ix.Model, t)
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	if got != len(want) {
		e.t.Errorf("index %d (%s) holds %d vectors for %d documents", ix.ID, ix.Model, got, len(want))
	}
}

func (e *env) activeIndex(name string) *corpus.Index {
	e.t.Helper()
	_, ix, err := e.svc.Store().CorpusForSearch(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return ix
}

func (e *env) aliasTarget() string {
	var m string
	if err := e.pool.QueryRow(e.ctx, `SELECT m.name FROM aliases a JOIN models m ON m.id = a.model_id WHERE a.name = $1`,
		reembedtest.Alias).Scan(&m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) tableExists(table string) bool {
	var ok bool
	if err := e.pool.QueryRow(e.ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil {
		e.t.Fatal(err)
	}
	return ok
}

var all Access = func(*corpus.Corpus) bool { return true }
