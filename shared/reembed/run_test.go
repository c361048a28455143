package reembed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// TestRunWithWritesAndSearchesThroughout re-embeds a corpus onto a model of another dimension while
// documents are written, rewritten and deleted, and while searches run: no search fails or mixes
// models, and the new index ends with exactly the right vectors.
func TestRunWithWritesAndSearchesThroughout(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Retention = time.Hour
	e := newEnv(t, cfg)
	e.seedCorpus("handbook", 3000)

	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	var searches, badSearches atomic.Int64
	seen := sync.Map{}
	newModelAnswered := make(chan struct{}, 1) // a search was answered by the new model
	access := e.keyAccess(reembedtest.Key)
	// Two searchers, each paced to one search every 20 ms: searches land in every phase of the run
	// without taking the database's cores from the run itself (unpaced, three searchers at the graph's
	// beam kept a two-core machine busy enough to stall the HNSW build past the deadline below).
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace := time.NewTicker(20 * time.Millisecond)
			defer pace.Stop()
			for ctx.Err() == nil {
				select {
				case <-ctx.Done():
					return
				case <-pace.C:
				}
				i := rand.IntN(100) + 2000 // documents nobody writes during the run
				res, err := e.svc.Search(e.ctx, "handbook", access, docText(i, 1), 3)
				searches.Add(1)
				if err != nil {
					badSearches.Add(1)
					t.Errorf("search during the run: %v", err)
					return
				}
				seen.Store(res.Index.Model, true)
				if res.Index.Model == reembedtest.ModelV2 {
					select {
					case newModelAnswered <- struct{}{}:
					default:
					}
				}
				// A query embedded with another model than the index's finds nothing near 1.
				if len(res.Hits) == 0 || res.Hits[0].ID != fmt.Sprintf("doc-%06d", i) || res.Hits[0].Score < 0.99 {
					badSearches.Add(1)
					t.Errorf("search on %s (index %d) for document %d: %+v", res.Index.Model, res.Index.ID, i, res.Hits)
					return
				}
			}
		}()
	}

	run := e.startRun(reembedtest.ModelV2)
	if run.State.Terminal() || run.Total != 3000 || run.ExpectedFrom != reembedtest.ModelV1 {
		t.Fatalf("new run: %+v", run)
	}
	// Writes while it fills: new documents, rewrites, deletes.
	e.put("handbook", 3000, 3300, 1)
	e.put("handbook", 0, 500, 2)
	for i := 500; i < 600; i++ {
		if err := e.svc.DeleteDocument(e.ctx, "handbook", all, fmt.Sprintf("doc-%06d", i)); err != nil {
			t.Fatal(err)
		}
	}
	e.put("handbook", 1000, 1100, 3)

	// A hang detector, not a speed check: the run builds a 3,000-document graph (m 32,
	// ef_construction 128) and writes 900 documents into both indexes while two searchers run, and
	// `make test` runs it beside the other packages on two cores (alone, the whole test takes ~30 s).
	done := e.waitRun(run.ID, 3*time.Minute)
	if done.State == corpus.RunSucceeded {
		waittest.Receive(t, newModelAnswered, 10*time.Second, "a search answered by the new model after the cut-over")
	}
	stop()
	wg.Wait()
	if done.State != corpus.RunSucceeded {
		t.Fatalf("run ended %s: %s (%+v)", done.State, done.Error, done.Verification)
	}
	if v := done.Verification; v == nil || !v.Passed || v.Missing != 0 || v.Documents != 3200 || v.SelfRecall < 0.95 {
		t.Fatalf("verification: %+v", done.Verification)
	}
	if badSearches.Load() > 0 || searches.Load() < 10 {
		t.Fatalf("%d of %d searches failed", badSearches.Load(), searches.Load())
	}
	if _, ok := seen.Load(reembedtest.ModelV2); !ok {
		t.Fatalf("no search was answered by the new model")
	}
	if got := e.aliasTarget(); got != reembedtest.ModelV2 {
		t.Fatalf("alias points at %s after the cut-over", got)
	}
	var actor string
	if err := e.pool.QueryRow(e.ctx, `SELECT actor FROM alias_history WHERE alias = $1 ORDER BY id DESC LIMIT 1`, reembedtest.Alias).Scan(&actor); err != nil || actor != fmt.Sprintf("reembed run %d", run.ID) {
		t.Fatalf("alias history's last actor %q (%v)", actor, err)
	}

	// Documents written after the cut-over reach both the new active and the standby index.
	e.put("handbook", 0, 50, 4)
	e.waitSynced()
	c, err := e.svc.Store().Corpus(e.ctx, "handbook")
	if err != nil {
		t.Fatal(err)
	}
	states := map[corpus.IndexState]*corpus.Index{}
	for _, ix := range c.Indexes {
		states[ix.State] = ix
	}
	if states[corpus.IndexActive].Model != reembedtest.ModelV2 || states[corpus.IndexStandby].Model != reembedtest.ModelV1 {
		t.Fatalf("indexes after the cut-over: %+v", c.Indexes)
	}
	e.checkIndexExact(states[corpus.IndexActive])
	e.checkIndexExact(states[corpus.IndexStandby])
}

// TestRunResumesAfterPanics crashes fill jobs at random points between batches; River retries them from
// their checkpoints and the index ends exact.
func TestRunResumesAfterPanics(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	var crashes atomic.Int64
	cfg.afterBatch = func(int64, int64, int) {
		if rand.IntN(4) == 0 {
			crashes.Add(1)
			panic("injected crash between batches")
		}
	}
	e := newEnv(t, cfg)
	e.seedCorpus("handbook", 2000)
	run := e.startRun(reembedtest.ModelV2)
	e.put("handbook", 0, 300, 2)
	done := e.waitRun(run.ID, 60*time.Second)
	if done.State != corpus.RunSucceeded {
		t.Fatalf("run ended %s: %s", done.State, done.Error)
	}
	if crashes.Load() == 0 {
		t.Fatal("no crash was injected")
	}
	e.checkIndexExact(e.activeIndex("handbook"))
	if done.Embedded < done.Total {
		t.Fatalf("embedded %d of %d", done.Embedded, done.Total)
	}
	t.Logf("%d crashes", crashes.Load())
}

// TestVerificationMendsWhatAFillRaceLeaves gives a filling index what a fill batch racing a document
// write can leave in it (fill batches do not lock documents): a vector embedded from text that has
// since changed, and a vector of a document deleted since. The run still cuts over to an exact index.
func TestVerificationMendsWhatAFillRaceLeaves(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	var once sync.Once
	var e *env
	cfg.afterBatch = func(_, indexID int64, _ int) {
		once.Do(func() {
			ix, err := e.svc.Store().Index(e.ctx, e.pool, indexID)
			if err != nil {
				t.Error(err)
				return
			}
			table := pgx.Identifier{ix.Table}.Sanitize()
			// Any committed row becomes stale (another text's vector and hash), and a row of a document
			// that no longer exists appears.
			_, err = e.pool.Exec(e.ctx, fmt.Sprintf(`UPDATE %[1]s SET content_hash = '\x00', embedding = (SELECT embedding FROM %[1]s ORDER BY doc_id DESC LIMIT 1)
				WHERE doc_id = (SELECT min(doc_id) FROM %[1]s);
				INSERT INTO %[1]s (doc_id, content_hash, embedding) SELECT 'deleted-meanwhile', '\x01', embedding FROM %[1]s LIMIT 1`, table))
			if err != nil {
				t.Error(err)
			}
		})
	}
	e = newEnv(t, cfg)
	e.seedCorpus("handbook", 500)
	run := e.startRun(reembedtest.ModelV2)
	done := e.waitRun(run.ID, 60*time.Second)
	if done.State != corpus.RunSucceeded {
		t.Fatalf("run ended %s: %s", done.State, done.Error)
	}
	if v := done.Verification; v == nil || v.Documents != 500 || v.Missing != 0 {
		t.Fatalf("verification: %+v", done.Verification)
	}
	e.checkIndexExact(e.activeIndex("handbook"))
}

// A run that cannot succeed ends failed, saying why, instead of waiting for a job River has given up on.
// A model whose answers can never be written (vectors of another dimension than the catalogue records,
// values pgvector refuses) fails it at once, in one attempt; a step that fails every attempt (the fill,
// its upstream rate-limiting it for good; the HNSW build, refused a setting by Postgres) fails it with
// the step's name and last error.
func TestRunFailsSayingWhy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		setup    func(*Config)
		fault    func(*reembedtest.Embedder)
		want     []string // in the run's error
		attempts int      // of the fill jobs, when it matters
	}{
		{"wrong dimension", func(*Config) {}, func(e *reembedtest.Embedder) { e.WrongDimension(reembedtest.ModelV2, 768) },
			[]string{"768 dimensions", "1024"}, 1},
		{"NaN", func(*Config) {}, func(e *reembedtest.Embedder) { e.NaN(reembedtest.ModelV2) },
			[]string{"NaN", reembedtest.ModelV2}, 1},
		{"fill out of attempts", func(*Config) {}, func(e *reembedtest.Embedder) { e.Throttle(1 << 30) },
			[]string{"the fill failed 10 times", "slow down"}, 0},
		{"HNSW build out of attempts", func(c *Config) { c.HNSWWorkers = 5000 }, // max_parallel_maintenance_workers is at most 1024
			func(*reembedtest.Embedder) {}, []string{"the HNSW build failed 5 times", "max_parallel_maintenance_workers"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			tt.setup(&cfg)
			e := newEnv(t, cfg)
			e.createCorpus("handbook")
			e.put("handbook", 0, 200, 1)
			e.waitSynced()
			tt.fault(e.emb)
			run := e.startRun(reembedtest.ModelV2)
			done := e.waitRun(run.ID, 30*time.Second)
			for _, w := range tt.want {
				if done.State != corpus.RunFailed || !strings.Contains(done.Error, w) {
					t.Fatalf("run ended %s with %q; want failed naming %q", done.State, done.Error, w)
				}
			}
			if tt.attempts > 0 {
				var attempts int
				if err := e.pool.QueryRow(e.ctx, `SELECT coalesce(max(attempt), 0) FROM river_job WHERE kind = 'reembed_fill'`).Scan(&attempts); err != nil || attempts != tt.attempts {
					t.Fatalf("fill jobs made %d attempts (%v), want %d: an answer that cannot be written is not worth retrying", attempts, err, tt.attempts)
				}
			}
			e.emb.Throttle(0) // the upstream recovers: the old index answers again
			e.expectUntouched(done)
		})
	}
}

func TestRunFailingVerificationNeverCutsOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	e.createCorpus("handbook")
	e.put("handbook", 0, 200, 1)
	e.waitSynced()
	e.emb.Noise(reembedtest.ModelV2)
	run := e.startRun(reembedtest.ModelV2)
	done := e.waitRun(run.ID, 30*time.Second)
	v := done.Verification
	if done.State != corpus.RunFailed || v == nil || v.Passed || v.SelfRecall >= v.Threshold || v.Documents != 200 || v.Vectors != 200 {
		t.Fatalf("run ended %s (%s) with report %+v; want failed on self-recall", done.State, done.Error, v)
	}
	e.expectUntouched(done)
}

// expectUntouched checks that a failed run left the alias and the active index as they were and
// dropped its own table.
// startRun starts a re-embed of the corpus "handbook"'s alias to model.
func (e *env) startRun(model string) *corpus.Run {
	e.t.Helper()
	run, err := e.svc.StartRun(e.ctx, "handbook", model, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return run
}

func (e *env) expectUntouched(run *corpus.Run) {
	e.t.Helper()
	if got := e.aliasTarget(); got != reembedtest.ModelV1 {
		e.t.Fatalf("alias moved to %s by a failed run", got)
	}
	if ix := e.activeIndex("handbook"); ix.Model != reembedtest.ModelV1 {
		e.t.Fatalf("active index is on %s after a failed run", ix.Model)
	}
	if _, err := e.svc.Search(e.ctx, "handbook", all, docText(1, 1), 3); err != nil {
		e.t.Fatalf("search after a failed run: %v", err)
	}
	for _, ix := range run.Indexes {
		e.waitDropped(ix.Table, "table "+ix.Table+" of the failed run dropped")
	}
}

// waitDropped waits up to 10 s for table to be dropped.
func (e *env) waitDropped(table, what string) {
	e.t.Helper()
	waittest.Eventually(e.t, 10*time.Second, what, func() (string, bool) {
		if e.tableExists(table) {
			return "table " + table + " exists", false
		}
		return "", true
	})
}

// TestRunAfterAliasMovedDoesNotCutOver moves the alias while the run fills: the cut-over refuses, and
// racing moves against cut-overs always leave the alias and the active index agreeing.
func TestRunAfterAliasMovedDoesNotCutOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	e.seedCorpus("handbook", 500)
	run := e.startRun(reembedtest.ModelV2)
	if ok, err := reembedtest.MoveAlias(e.ctx, e.pool, reembedtest.Alias, reembedtest.ModelV1, reembedtest.ModelV3); err != nil || !ok {
		t.Fatalf("move alias: %v %v", ok, err)
	}
	done := e.waitRun(run.ID, 30*time.Second)
	if done.State != corpus.RunFailed || !strings.Contains(done.Error, "was moved") {
		t.Fatalf("run ended %s: %q; want failed because the alias moved", done.State, done.Error)
	}
	if ix := e.activeIndex("handbook"); ix.Model != reembedtest.ModelV1 {
		t.Fatalf("active index on %s", ix.Model)
	}
}

func TestRunRacingAliasMoves(t *testing.T) {
	t.Parallel()
	for round := 0; round < 3; round++ {
		e := newEnv(t, testConfig())
		e.createCorpus("handbook")
		e.put("handbook", 0, 100, 1)
		e.waitSynced()
		run := e.startRun(reembedtest.ModelV2)
		// A mover flips the alias v1 → v3 → v1 as fast as it can until the run ends.
		ctx, stop := context.WithCancel(e.ctx)
		moverDone := make(chan struct{})
		go func() {
			defer close(moverDone)
			for ctx.Err() == nil {
				_, _ = reembedtest.MoveAlias(ctx, e.pool, reembedtest.Alias, reembedtest.ModelV1, reembedtest.ModelV3)
				_, _ = reembedtest.MoveAlias(ctx, e.pool, reembedtest.Alias, reembedtest.ModelV3, reembedtest.ModelV1)
			}
		}()
		done := e.waitRun(run.ID, 30*time.Second)
		stop()
		<-moverDone
		active := e.activeIndex("handbook")
		switch done.State {
		case corpus.RunSucceeded:
			if active.Model != reembedtest.ModelV2 || e.aliasTarget() != reembedtest.ModelV2 {
				t.Fatalf("succeeded run: alias %s, active %s", e.aliasTarget(), active.Model)
			}
		case corpus.RunFailed:
			if active.Model != reembedtest.ModelV1 || e.aliasTarget() == reembedtest.ModelV2 {
				t.Fatalf("failed run (%s): alias %s, active %s", done.Error, e.aliasTarget(), active.Model)
			}
		default:
			t.Fatalf("run ended %s", done.State)
		}
		t.Logf("round %d: %s %s", round, done.State, done.Error)
	}
}

func TestOneRunPerAliasAndCancel(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	release := make(chan struct{})
	filling := make(chan struct{}, 1) // a fill batch was committed: the run is in the middle of its fill
	cfg.afterBatch = func(int64, int64, int) {
		select {
		case filling <- struct{}{}:
		default:
		}
		<-release
	}
	e := newEnv(t, cfg)
	var releaseOnce sync.Once
	releaseFills := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseFills) // before the service stops, should the test end early
	e.seedCorpus("handbook", 500)
	run := e.startRun(reembedtest.ModelV2)
	_, err := e.svc.StartRun(e.ctx, "handbook", reembedtest.ModelV3, nil)
	if ce := (*catalog.ConflictError)(nil); !errors.As(err, &ce) || ce.Code != apierror.CodeRunInProgress {
		t.Fatalf("second run on the alias: %v; want the run_in_progress conflict", err)
	}
	if _, err := e.svc.CreateCorpus(e.ctx, "another", reembedtest.Alias, nil, nil); err == nil {
		t.Fatal("a corpus was created on an alias with a run in progress")
	}
	waittest.Receive(t, filling, 30*time.Second, "a fill batch committed")
	r, err := e.svc.CancelRun(e.ctx, run.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	releaseFills()
	if r.State != corpus.RunCancelled || r.Indexes[0].State != corpus.IndexFailed {
		t.Fatalf("cancelled run: %s, index %s", r.State, r.Indexes[0].State)
	}
	e.expectUntouched(r)
	if _, err := e.svc.CancelRun(e.ctx, run.ID, nil); err == nil {
		t.Fatal("cancelling an ended run succeeded")
	}
	// The alias is free for a new run, which succeeds.
	run2 := e.startRun(reembedtest.ModelV3)
	if done := e.waitRun(run2.ID, 30*time.Second); done.State != corpus.RunSucceeded {
		t.Fatalf("run after a cancel: %s %s", done.State, done.Error)
	}
	e.checkIndexExact(e.activeIndex("handbook")) // 2048 dimensions: halfvec
}

// TestRollbackAndRetire rolls a cut-over back (instant, nothing lost), then lets the retention pass so
// the standby index is retired and its table dropped.
func TestRollbackAndRetire(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Retention = time.Hour
	var offset atomic.Int64
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	e := newEnv(t, cfg)
	e.seedCorpus("handbook", 300)
	run := e.startRun(reembedtest.ModelV2)
	if done := e.waitRun(run.ID, 30*time.Second); done.State != corpus.RunSucceeded {
		t.Fatalf("run: %s %s", done.State, done.Error)
	}
	e.put("handbook", 0, 20, 2) // written after the cut-over: must survive the rollback
	e.waitSynced()
	c, err := e.svc.Rollback(e.ctx, "handbook", nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.aliasTarget() != reembedtest.ModelV1 || e.activeIndex("handbook").Model != reembedtest.ModelV1 {
		t.Fatalf("after rollback: alias %s, indexes %+v", e.aliasTarget(), c.Indexes)
	}
	e.checkIndexExact(e.activeIndex("handbook"))
	res, err := e.svc.Search(e.ctx, "handbook", all, docText(5, 2), 1)
	if err != nil || res.Index.Model != reembedtest.ModelV1 || res.Hits[0].ID != "doc-000005" {
		t.Fatalf("search after rollback: %+v %v", res, err)
	}
	var standby *corpus.Index
	for _, ix := range c.Indexes {
		if ix.State == corpus.IndexStandby {
			standby = ix
		}
	}
	if standby == nil || standby.Model != reembedtest.ModelV2 {
		t.Fatalf("no v2 standby after rollback: %+v", c.Indexes)
	}
	// Within retention the standby stays; after it, the retire job drops it.
	if !e.tableExists(standby.Table) {
		t.Fatal("standby table dropped within retention")
	}
	offset.Store(int64(2 * time.Hour))
	if _, err := e.pool.Exec(e.ctx, `UPDATE river_job SET scheduled_at = now() WHERE kind = 'corpus_retire' AND state = 'scheduled'`); err != nil {
		t.Fatal(err)
	}
	e.waitDropped(standby.Table, "the standby table dropped after its retention")
	ix, err := e.svc.Store().Index(e.ctx, e.pool, standby.ID)
	if err != nil || ix.State != corpus.IndexRetired {
		t.Fatalf("retired index: %+v %v", ix, err)
	}
	if _, err := e.svc.Rollback(e.ctx, "handbook", nil); err == nil {
		t.Fatal("rollback without a standby index succeeded")
	}
}
