package reembed

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
)

// The tests here work each job of a re-embed alone, with rivertest.Worker and no running River client:
// the test takes each queued job of a step, works it once, and checks what that step wrote. The
// end-to-end tests (run_test.go) show the steps together under a real worker.
//
// Every step commits its effects in one transaction with its job's completion, on the service's own
// pool. rivertest's transaction therefore has to commit as it goes (autocommit below): a transaction
// held open around Work would keep the job row locked against the step's own completion.

// autocommit is a pgx.Tx whose statements commit one by one on the pool: what rivertest writes (the
// job inserted, marked running, its outcome) is at once visible to the step, as River's own client
// makes it.
type autocommit struct{ *pgxpool.Pool }

func (autocommit) Commit(context.Context) error   { return nil }
func (autocommit) Rollback(context.Context) error { return nil }
func (autocommit) LargeObjects() pgx.LargeObjects { panic("autocommit: no large objects") }
func (autocommit) Conn() *pgx.Conn                { panic("autocommit: no single connection") }
func (autocommit) Prepare(context.Context, string, string) (*pgconn.StatementDescription, error) {
	panic("autocommit: no prepared statements")
}

// stepEnv is an env whose service works no job by itself (insert-only): the test works them one by one.
// Its fill slice is long enough that a fill job fills its whole shard in one go, its clock is Now plus
// clockOffset, and it splits runs into shards fill jobs.
func stepEnv(t *testing.T, shards int) (*env, *atomic.Int64) {
	t.Helper()
	cfg := testConfig()
	cfg.InsertOnly = true
	cfg.Shards = shards
	cfg.JobSlice = time.Hour
	cfg.Retention = time.Hour
	offset := new(atomic.Int64)
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	e := newEnvOn(t, pgtestURL(t), cfg)
	return e, offset
}

// queued is the jobs of kind not yet worked to an end, oldest first.
func (e *env) queued(kind string) []*rivertype.JobRow {
	e.t.Helper()
	rows, _ := e.pool.Query(e.ctx, `SELECT id FROM river_job WHERE kind = $1 AND state IN ('available', 'scheduled', 'retryable') ORDER BY id`, kind)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		e.t.Fatalf("list queued %s jobs: %v", kind, err)
	}
	jobs := make([]*rivertype.JobRow, len(ids))
	for i, id := range ids {
		if jobs[i], err = e.svc.Client().JobGet(e.ctx, id); err != nil {
			e.t.Fatalf("read job %d: %v", id, err)
		}
	}
	return jobs
}

// workOne works job with w through rivertest, once, and returns the outcome.
func workOne[T river.JobArgs](e *env, w river.Worker[T], job *rivertype.JobRow) *rivertest.WorkResult {
	e.t.Helper()
	tw := rivertest.NewWorker(e.t, riverpgxv5.New(nil), &river.Config{Logger: e.svc.cfg.Log}, w)
	res, err := tw.WorkJob(e.ctx, e.t, autocommit{e.pool}, job)
	if err != nil {
		e.t.Fatalf("work %s job %d: %v", job.Kind, job.ID, err)
	}
	return res
}

// workQueued works every queued job of w's kind once and fails unless each completed; it returns how
// many there were.
func workQueued[T river.JobArgs](e *env, w river.Worker[T]) int {
	e.t.Helper()
	var args T
	jobs := e.queued(args.Kind())
	for _, j := range jobs {
		if res := workOne(e, w, j); res.EventKind != river.EventKindJobCompleted {
			e.t.Fatalf("%s job %d ended %s (%v), want completed", j.Kind, j.ID, res.EventKind, res.Job.Errors)
		}
	}
	return len(jobs)
}

// wantQueued fails unless exactly n jobs of kind are queued, and returns them.
func (e *env) wantQueued(kind string, n int) []*rivertype.JobRow {
	e.t.Helper()
	jobs := e.queued(kind)
	if len(jobs) != n {
		e.t.Fatalf("%d %s jobs queued, want %d", len(jobs), kind, n)
	}
	return jobs
}

func (e *env) run(id int64) *corpus.Run {
	e.t.Helper()
	r, err := e.svc.Run(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) wantRunState(r *corpus.Run, run corpus.RunState, ix corpus.IndexState) {
	e.t.Helper()
	if r.State != run || len(r.Indexes) != 1 || r.Indexes[0].State != ix {
		states := make([]corpus.IndexState, len(r.Indexes))
		for i, x := range r.Indexes {
			states[i] = x.State
		}
		e.t.Fatalf("run %d is %s (%q) with indexes %v; want %s with one index %s", r.ID, r.State, r.Error, states, run, ix)
	}
}

func (e *env) vectors(ix *corpus.Index) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM `+pgx.Identifier{ix.Table}.Sanitize()).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// The steps of a run up to each one, as the worker takes them.
func (e *env) syncAll() int    { return workQueued(e, &syncWorker{s: e.svc}) }
func (e *env) fillAll() int    { return workQueued(e, &fillWorker{s: e.svc}) }
func (e *env) buildAll() int   { return workQueued(e, &buildWorker{s: e.svc}) }
func (e *env) verifyAll() int  { return workQueued(e, &verifyWorker{s: e.svc}) }
func (e *env) cutoverAll() int { return workQueued(e, &cutoverWorker{s: e.svc}) }
func (e *env) syncedCorpus(docs int) {
	e.t.Helper()
	e.createCorpus("handbook")
	e.put("handbook", 0, docs, 1)
	e.syncAll()
}

// builtRun is a step env with a synced corpus of docs documents and a run to ModelV2 whose fill and
// HNSW build are done; offset moves its clock.
func builtRun(t *testing.T, docs int) (e *env, run *corpus.Run, offset *atomic.Int64) {
	t.Helper()
	e, offset = stepEnv(t, 2)
	e.syncedCorpus(docs)
	run = e.startRun(reembedtest.ModelV2)
	e.fillAll()
	e.buildAll()
	return e, run, offset
}

// A document sync writes the current vector of each written document into each live index, removes the
// vectors of deleted ones, and embeds only texts that changed.
func TestStepSync(t *testing.T) {
	t.Parallel()
	e, _ := stepEnv(t, 1)
	e.createCorpus("handbook")
	e.put("handbook", 0, 300, 1)
	ix := e.activeIndex("handbook")
	if n := e.vectors(ix); n != 0 {
		t.Fatalf("%d vectors before any sync job was worked", n)
	}
	if n := e.syncAll(); n != 2 { // 300 documents, 256 a job
		t.Fatalf("%d sync jobs for 300 documents; want 2", n)
	}
	e.checkIndexExact(ix)
	if got := e.emb.Texts(); got != 300 {
		t.Fatalf("embedded %d texts for 300 new documents", got)
	}

	e.put("handbook", 0, 10, 2)  // rewritten
	e.put("handbook", 10, 20, 1) // written again unchanged: no sync needed
	for i := 20; i < 25; i++ {
		if err := e.svc.DeleteDocument(e.ctx, "handbook", all, fmt.Sprintf("doc-%06d", i)); err != nil {
			t.Fatal(err)
		}
	}
	e.syncAll()
	e.checkIndexExact(ix)
	if n := e.vectors(ix); n != 295 {
		t.Fatalf("%d vectors after deleting 5 of 300 documents", n)
	}
	if got := e.emb.Texts(); got != 310 {
		t.Fatalf("embedded %d texts in all; want 310 (300, then the 10 rewritten)", got)
	}
}

// Each fill job fills its shard of the new index and marks it done; the last one moves the run to
// indexing and queues the HNSW build, once.
func TestStepFill(t *testing.T) {
	t.Parallel()
	e, _ := stepEnv(t, 3)
	e.syncedCorpus(200)
	run := e.startRun(reembedtest.ModelV2)
	e.wantRunState(run, corpus.RunQueued, corpus.IndexBuilding)
	ix := run.Indexes[0]
	fills := e.wantQueued(FillArgs{}.Kind(), 3)
	filled := 0
	for i, j := range fills {
		if res := workOne(e, &fillWorker{s: e.svc}, j); res.EventKind != river.EventKindJobCompleted {
			t.Fatalf("fill job of shard %d ended %s (%v)", i, res.EventKind, res.Job.Errors)
		}
		var a FillArgs
		mustUnmarshal(t, j, &a)
		sh, err := e.svc.Store().Shard(e.ctx, e.pool, a.IndexID, a.Shard)
		if err != nil {
			t.Fatal(err)
		}
		filled += int(sh.Embedded)
		if !sh.Done || e.vectors(ix) != filled {
			t.Fatalf("after the fill of shard %d: shard %+v, %d vectors; want it done and %d vectors", a.Shard, sh, e.vectors(ix), filled)
		}
		r := e.run(run.ID)
		if last := i == len(fills)-1; !last {
			e.wantRunState(r, corpus.RunEmbedding, corpus.IndexBuilding)
			e.wantQueued(BuildArgs{}.Kind(), 0)
		} else {
			e.wantRunState(r, corpus.RunIndexing, corpus.IndexBuilding)
			e.wantQueued(BuildArgs{}.Kind(), 1)
		}
	}
	if r := e.run(run.ID); r.Embedded != 200 || filled != 200 {
		t.Fatalf("run embedded %d, shards %d; want 200", r.Embedded, filled)
	}
	e.checkIndexExact(ix)
}

// A fill job asked to hand back (the invocation ends) stops after the batch it is writing, its
// checkpoint committed; worked again, it continues from there, and the index ends exact.
func TestStepFillHandsBackAtItsCheckpoint(t *testing.T) {
	t.Parallel()
	e, _ := stepEnv(t, 1)
	e.syncedCorpus(200) // four batches of 50
	run := e.startRun(reembedtest.ModelV2)
	ix := run.Indexes[0]
	job := e.wantQueued(FillArgs{}.Kind(), 1)[0]

	e.svc.handBackNow()
	if res := workOne(e, &fillWorker{s: e.svc}, job); res.EventKind != river.EventKindJobSnoozed {
		t.Fatalf("fill asked to hand back ended %s, want snoozed", res.EventKind)
	}
	sh, err := e.svc.Store().Shard(e.ctx, e.pool, ix.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sh.Done || sh.Embedded != 50 || sh.Cursor == nil || e.vectors(ix) != 50 {
		t.Fatalf("after a hand-back: shard %+v, %d vectors; want one batch of 50 committed with its checkpoint", sh, e.vectors(ix))
	}
	e.wantRunState(e.run(run.ID), corpus.RunEmbedding, corpus.IndexBuilding)

	e.svc.mu.Lock()
	e.svc.handBack = make(chan struct{}) // the next invocation
	e.svc.mu.Unlock()
	job = e.wantQueued(FillArgs{}.Kind(), 1)[0]
	if res := workOne(e, &fillWorker{s: e.svc}, job); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("the fill continued ended %s (%v)", res.EventKind, res.Job.Errors)
	}
	if r := e.run(run.ID); r.Embedded != 200 || r.State != corpus.RunIndexing {
		t.Fatalf("run after the continued fill: %s, embedded %d; want indexing, 200 (none twice)", r.State, r.Embedded)
	}
	e.checkIndexExact(ix)
}

// The HNSW build indexes the filled table and moves the run and its indexes to verifying, queueing the
// verification.
func TestStepBuild(t *testing.T) {
	t.Parallel()
	e, _ := stepEnv(t, 2)
	e.syncedCorpus(100)
	run := e.startRun(reembedtest.ModelV2)
	e.fillAll()
	ix := run.Indexes[0]
	if e.hnswIndexes(ix) != 0 {
		t.Fatal("an HNSW index exists before the build")
	}
	e.wantQueued(VerifyArgs{}.Kind(), 0)
	if n := e.buildAll(); n != 1 {
		t.Fatalf("%d build jobs", n)
	}
	if n := e.hnswIndexes(ix); n != 1 {
		t.Fatalf("%d HNSW indexes on %s after the build, want 1", n, ix.Table)
	}
	e.wantRunState(e.run(run.ID), corpus.RunVerifying, corpus.IndexVerifying)
	e.wantQueued(VerifyArgs{}.Kind(), 1)
}

func (e *env) hnswIndexes(ix *corpus.Index) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef ILIKE '%USING hnsw%'`, ix.Table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// The verification first catches the index up with documents written while it filled, then records its
// counts and self-recall: passing, it moves the run to cutting_over and queues the cut-over; failing,
// it fails the run saying why, fails the new index and queues its drop, and the alias stays.
func TestStepVerify(t *testing.T) {
	t.Parallel()
	t.Run("passes", func(t *testing.T) {
		t.Parallel()
		e, run, _ := builtRun(t, 100)
		e.put("handbook", 100, 110, 1) // written after the fill; its sync jobs are not worked
		e.put("handbook", 0, 5, 2)
		if n := e.verifyAll(); n != 1 {
			t.Fatalf("%d verification jobs", n)
		}
		r := e.run(run.ID)
		e.wantRunState(r, corpus.RunCuttingOver, corpus.IndexVerifying)
		v := r.Verification
		if v == nil || !v.Passed || v.Documents != 110 || v.Vectors != 110 || v.Missing != 0 || v.Sampled != 50 || v.Found != 50 || v.SelfRecall != 1 {
			t.Fatalf("verification recorded: %+v", v)
		}
		e.checkIndexExact(r.Indexes[0])
		e.wantQueued(CutoverArgs{}.Kind(), 1)
		if got := e.aliasTarget(); got != reembedtest.ModelV1 {
			t.Fatalf("the verification moved the alias to %s", got)
		}
	})
	t.Run("fails on self-recall", func(t *testing.T) {
		t.Parallel()
		e, run, _ := builtRun(t, 100)
		e.emb.Noise(reembedtest.ModelV2) // its query embeddings find nothing
		e.verifyAll()
		r := e.run(run.ID)
		e.wantRunState(r, corpus.RunFailed, corpus.IndexFailed)
		v := r.Verification
		if v == nil || v.Passed || v.SelfRecall >= v.Threshold || v.Documents != 100 || v.Vectors != 100 || !strings.Contains(r.Error, "self-recall below the threshold") {
			t.Fatalf("failed run %q with verification %+v", r.Error, v)
		}
		e.wantQueued(CutoverArgs{}.Kind(), 0)
		retire := e.wantQueued(RetireArgs{}.Kind(), 1)
		var a RetireArgs
		mustUnmarshal(t, retire[0], &a)
		if a.IndexID != r.Indexes[0].ID {
			t.Fatalf("retirement queued for index %d, want the failed run's %d", a.IndexID, r.Indexes[0].ID)
		}
		if got := e.aliasTarget(); got != reembedtest.ModelV1 {
			t.Fatalf("a failed verification moved the alias to %s", got)
		}
	})
}

// The cut-over moves the alias, activates the new index, puts the old one on standby for the retention
// and schedules its retirement then; when the alias has moved since the run started, it fails the run
// instead and changes nothing else.
func TestStepCutover(t *testing.T) {
	t.Parallel()
	t.Run("cuts over", func(t *testing.T) {
		t.Parallel()
		e, run, _ := builtRun(t, 100)
		old := e.activeIndex("handbook")
		e.verifyAll()
		before := time.Now()
		if n := e.cutoverAll(); n != 1 {
			t.Fatalf("%d cut-over jobs", n)
		}
		r := e.run(run.ID)
		e.wantRunState(r, corpus.RunSucceeded, corpus.IndexActive)
		if got := e.aliasTarget(); got != reembedtest.ModelV2 {
			t.Fatalf("alias at %s after the cut-over", got)
		}
		if active := e.activeIndex("handbook"); active.ID != r.Indexes[0].ID {
			t.Fatalf("active index %d, want the run's %d", active.ID, r.Indexes[0].ID)
		}
		standby, err := e.svc.Store().Index(e.ctx, e.pool, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if standby.State != corpus.IndexStandby || standby.StandbyUntil == nil ||
			standby.StandbyUntil.Before(before.Add(time.Hour-time.Minute)) || standby.StandbyUntil.After(time.Now().Add(time.Hour+time.Minute)) {
			t.Fatalf("old index after the cut-over: %s until %v; want standby for the hour of retention", standby.State, standby.StandbyUntil)
		}
		retire := e.wantQueued(RetireArgs{}.Kind(), 1)[0]
		if d := retire.ScheduledAt.Sub(*standby.StandbyUntil); d > time.Second || d < -time.Second {
			t.Fatalf("standby's retirement scheduled at %v, its retention ends %v", retire.ScheduledAt, standby.StandbyUntil)
		}
		var actor string
		if err := e.pool.QueryRow(e.ctx, `SELECT actor FROM alias_history WHERE alias = $1 ORDER BY id DESC LIMIT 1`, reembedtest.Alias).Scan(&actor); err != nil || actor != fmt.Sprintf("reembed run %d", run.ID) {
			t.Fatalf("alias history's last actor %q (%v)", actor, err)
		}
	})
	t.Run("alias moved", func(t *testing.T) {
		t.Parallel()
		e, run, _ := builtRun(t, 100)
		e.verifyAll()
		if ok, err := reembedtest.MoveAlias(e.ctx, e.pool, reembedtest.Alias, reembedtest.ModelV1, reembedtest.ModelV3); err != nil || !ok {
			t.Fatalf("move alias: %v %v", ok, err)
		}
		e.cutoverAll()
		r := e.run(run.ID)
		e.wantRunState(r, corpus.RunFailed, corpus.IndexFailed)
		if !strings.Contains(r.Error, "was moved") {
			t.Fatalf("run failed with %q; want it to say the alias was moved", r.Error)
		}
		if got := e.aliasTarget(); got != reembedtest.ModelV3 {
			t.Fatalf("alias at %s; the cut-over must leave the move alone", got)
		}
		if active := e.activeIndex("handbook"); active.Model != reembedtest.ModelV1 {
			t.Fatalf("active index on %s", active.Model)
		}
		e.wantQueued(RetireArgs{}.Kind(), 1)
	})
}

// The retirement of a standby index waits for its retention (the job snoozes, the table stays); after
// it, it marks the index retired and drops its table.
func TestStepRetire(t *testing.T) {
	t.Parallel()
	e, _, offset := builtRun(t, 50)
	old := e.activeIndex("handbook")
	e.verifyAll()
	e.cutoverAll()
	job := e.wantQueued(RetireArgs{}.Kind(), 1)[0]

	if res := workOne(e, &retireWorker{s: e.svc}, job); res.EventKind != river.EventKindJobSnoozed {
		t.Fatalf("retirement within the retention ended %s, want snoozed", res.EventKind)
	}
	if ix, err := e.svc.Store().Index(e.ctx, e.pool, old.ID); err != nil || ix.State != corpus.IndexStandby || !e.tableExists(old.Table) {
		t.Fatalf("standby index within its retention: %+v %v, table there: %v", ix, err, e.tableExists(old.Table))
	}

	offset.Store(int64(2 * time.Hour))
	job = e.wantQueued(RetireArgs{}.Kind(), 1)[0]
	if res := workOne(e, &retireWorker{s: e.svc}, job); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("retirement after the retention ended %s (%v), want completed", res.EventKind, res.Job.Errors)
	}
	ix, err := e.svc.Store().Index(e.ctx, e.pool, old.ID)
	if err != nil || ix.State != corpus.IndexRetired || ix.RetiredAt == nil || e.tableExists(old.Table) {
		t.Fatalf("index after its retirement: %+v %v, table there: %v; want retired and dropped", ix, err, e.tableExists(old.Table))
	}
}

func mustUnmarshal(t *testing.T, job *rivertype.JobRow, args any) {
	t.Helper()
	if err := json.Unmarshal(job.EncodedArgs, args); err != nil {
		t.Fatalf("args of job %d: %v", job.ID, err)
	}
}
