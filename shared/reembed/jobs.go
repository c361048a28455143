package reembed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// SyncArgs brings the vectors of some documents in one index up to date with the documents: embeds
// new or changed texts, deletes the vectors of deleted documents. It is idempotent and order-free, so
// a write commits one per live index and any number may run in any order.
type SyncArgs struct {
	IndexID int64    `json:"index_id"`
	DocIDs  []string `json:"doc_ids"`
}

// Kind is River's job kind.
func (SyncArgs) Kind() string { return "corpus_sync" }

// InsertOpts puts syncs on the corpus queue.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueCorpus, MaxAttempts: 20}
}

// FillArgs fills one shard of a run's index, a slice of time at a time, from its checkpoint.
type FillArgs struct {
	RunID   int64 `json:"run_id"`
	IndexID int64 `json:"index_id"`
	Shard   int   `json:"shard"`
}

// Kind is River's job kind.
func (FillArgs) Kind() string { return "reembed_fill" }

// InsertOpts puts fills on the reembed queue.
func (FillArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueReembed, MaxAttempts: 10}
}

// BuildArgs builds the HNSW indexes of a run whose shards are all filled.
type BuildArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind is River's job kind.
func (BuildArgs) Kind() string { return "reembed_build" }

// InsertOpts puts builds on the reembed queue.
func (BuildArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueReembed, MaxAttempts: 5}
}

// VerifyArgs verifies a run's built indexes and either cuts over or fails the run.
type VerifyArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind is River's job kind.
func (VerifyArgs) Kind() string { return "reembed_verify" }

// InsertOpts puts verifications on the reembed queue.
func (VerifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueReembed, MaxAttempts: 5}
}

// CutoverArgs moves the alias and activates a verified run's indexes in one transaction.
type CutoverArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind is River's job kind.
func (CutoverArgs) Kind() string { return "reembed_cutover" }

// InsertOpts puts cut-overs on the reembed queue.
func (CutoverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueReembed, MaxAttempts: 5}
}

// RetireArgs drops an index's table once it is done with: a standby index after its retention, or a
// failed one at once.
type RetireArgs struct {
	IndexID int64 `json:"index_id"`
}

// Kind is River's job kind.
func (RetireArgs) Kind() string { return "corpus_retire" }

// InsertOpts puts retirements on the corpus queue.
func (RetireArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueCorpus, MaxAttempts: 20}
}

// lastAttempts is River's error handler: when a step of a run (fill, build, verification, cut-over)
// fails its last attempt, by an error or a panic, it fails the run with the reason, so that the run
// ends rather than waiting for a job River has discarded. Failing an ended run changes nothing. A
// document sync's last failure is logged as an error, naming the index and the documents.
type lastAttempts struct{ s *Service }

func (h *lastAttempts) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	h.failRun(ctx, job, err.Error())
	return nil
}

func (h *lastAttempts) HandlePanic(ctx context.Context, job *rivertype.JobRow, v any, _ string) *river.ErrorHandlerResult {
	h.failRun(ctx, job, fmt.Sprintf("panic: %v", v))
	return nil
}

func (h *lastAttempts) failRun(ctx context.Context, job *rivertype.JobRow, what string) {
	if job.Attempt < job.MaxAttempts {
		return // River retries it
	}
	var step string
	switch job.Kind {
	case SyncArgs{}.Kind():
		// No run to end: say which vectors an index now lacks or holds stale. Verification of a run
		// mends a building index; a live one is mended by the documents' next write.
		var args SyncArgs
		_ = json.Unmarshal(job.EncodedArgs, &args)
		h.s.cfg.Log.ErrorContext(ctx, "a document sync failed its last attempt; the index lacks these documents' current vectors until they are written again",
			"index", args.IndexID, "documents", args.DocIDs, "attempts", job.Attempt, "err", what)
		return
	case FillArgs{}.Kind():
		step = "the fill"
	case BuildArgs{}.Kind():
		step = "the HNSW build"
	case VerifyArgs{}.Kind():
		step = "the verification"
	case CutoverArgs{}.Kind():
		step = "the cut-over"
	default:
		return
	}
	var args struct {
		RunID int64 `json:"run_id"`
	}
	if err := json.Unmarshal(job.EncodedArgs, &args); err != nil || args.RunID == 0 {
		return
	}
	reason := fmt.Sprintf("%s failed %d times, the last time with: %s", step, job.Attempt, what)
	if err := h.s.failRun(ctx, args.RunID, reason, nil); err != nil {
		h.s.cfg.Log.ErrorContext(ctx, "a run's step failed its last attempt, and failing the run failed too",
			"run", args.RunID, "job", job.ID, "err", err)
	}
}

// complete marks job completed in tx and commits: the job's effects and its end are one.
func complete[T river.JobArgs](ctx context.Context, tx pgx.Tx, job *river.Job[T]) error {
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return fmt.Errorf("complete job %d: %w", job.ID, err)
	}
	return tx.Commit(ctx)
}

// inTx runs fn in a transaction that fn commits (through complete); whatever fn leaves is rolled back.
func (s *Service) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	return fn(tx)
}

// --- sync ---

type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	s *Service
}

func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	s := w.s
	ix, err := s.store.Index(ctx, s.pool, job.Args.IndexID)
	if err != nil {
		return err
	}
	if !ix.State.Live() {
		return nil // retired or failed meanwhile: nothing to keep current
	}
	err = s.syncDocs(ctx, ix, job.Args.DocIDs, func(tx pgx.Tx) error { return complete(ctx, tx, job) })
	if postgres.IsUndefinedTable(err) {
		return nil // dropped meanwhile
	}
	if permanent(err) {
		s.cfg.Log.ErrorContext(ctx, "corpus sync cannot embed", "index", ix.ID, "model", ix.Model, "err", err)
		return river.JobCancel(err)
	}
	return err
}

// syncDocs brings ids up to date in ix, then calls commit with the transaction that wrote them.
func (s *Service) syncDocs(ctx context.Context, ix *corpus.Index, ids []string, commit func(pgx.Tx) error) error {
	toEmbed, gone, err := s.store.SyncPlan(ctx, ix, ids)
	if err != nil {
		return err
	}
	var vecs [][]float32
	if len(toEmbed) > 0 {
		m, p, err := s.model(ctx, ix.Model)
		if err != nil {
			return err
		}
		for start := 0; start < len(toEmbed); start += s.cfg.BatchSize {
			batch := toEmbed[start:min(start+s.cfg.BatchSize, len(toEmbed))]
			v, err := s.embed(ctx, m, p, textsOf(batch))
			if err != nil {
				return err
			}
			vecs = append(vecs, v...)
		}
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.store.ApplySync(ctx, tx, ix, toEmbed, vecs, gone); err != nil {
			return err
		}
		return commit(tx)
	})
}

// --- fill ---

type fillWorker struct {
	river.WorkerDefaults[FillArgs]
	s *Service
}

type prepared struct {
	docs []postgres.SourceDoc
	vecs [][]float32
	err  error
}

func (w *fillWorker) Work(ctx context.Context, job *river.Job[FillArgs]) error {
	s := w.s
	a := job.Args
	if st, err := s.store.RunState(ctx, s.pool, a.RunID); err != nil || st.Terminal() {
		return err // ended (cancelled, failed): nothing more to fill
	}
	if _, err := s.store.AdvanceRun(ctx, s.pool, a.RunID, corpus.RunEmbedding, corpus.RunQueued); err != nil {
		return err
	}
	ix, err := s.store.Index(ctx, s.pool, a.IndexID)
	if err != nil {
		return err
	}
	sh, err := s.store.Shard(ctx, s.pool, a.IndexID, a.Shard)
	if err != nil {
		return err
	}
	if ix.State != corpus.IndexBuilding || sh.Done {
		return nil
	}
	m, p, err := s.model(ctx, ix.Model)
	if err != nil {
		return err
	}

	// Read and embed the next batch while the current one is written: the upstream and Postgres work
	// at once. The reader keeps its own cursor; the checkpoint advances only with each commit.
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	next := make(chan prepared, 1)
	go func() {
		defer close(next)
		cur := *sh
		for {
			docs, err := s.store.ReadShardBatch(pctx, ix.CorpusID, &cur, s.cfg.BatchSize)
			var vecs [][]float32
			if err == nil && len(docs) > 0 {
				vecs, err = s.embed(pctx, m, p, textsOf(docs))
				cur.Cursor = &docs[len(docs)-1].ID
			}
			select {
			case next <- prepared{docs, vecs, err}:
			case <-pctx.Done():
				return
			}
			if err != nil || len(docs) < s.cfg.BatchSize {
				return
			}
		}
	}()

	sliceEnd := time.Now().Add(s.cfg.JobSlice)
	for b := range next {
		if b.err != nil {
			return s.fillFailed(ctx, job, b.err)
		}
		last := len(b.docs) < s.cfg.BatchSize
		if st, err := s.store.RunState(ctx, s.pool, a.RunID); err != nil || st.Terminal() {
			return err
		}
		for try := 0; ; try++ {
			err := s.inTx(ctx, func(tx pgx.Tx) error {
				if len(b.docs) > 0 {
					if _, err := s.store.CommitFillBatch(ctx, tx, ix, sh, b.docs, b.vecs); err != nil {
						return err
					}
				}
				if !last {
					return tx.Commit(ctx)
				}
				return s.finishShard(ctx, tx, job, sh)
			})
			if postgres.IsUniqueViolation(err) && try < 5 {
				continue // a sync job wrote one of these documents meanwhile; the retry leaves it out
			}
			if err != nil {
				// Like an embedding failure: the run fails at once when the vectors are refused;
				// anything else is retried.
				return s.fillFailed(ctx, job, fmt.Errorf("write the vectors %s answered: %w", ix.Model, err))
			}
			break
		}
		if s.cfg.afterBatch != nil {
			s.cfg.afterBatch(a.RunID, a.IndexID, a.Shard)
		}
		if last {
			return nil
		}
		if s.handingBack() || time.Now().After(sliceEnd) {
			// Hand the shard back: the next slice continues from the checkpoint just committed.
			return river.JobSnooze(0)
		}
	}
	return river.JobSnooze(0)
}

// finishShard marks the shard done and, when it was the run's last, moves the run to indexing and
// queues the build, then completes the job: all in tx.
func (s *Service) finishShard(ctx context.Context, tx pgx.Tx, job *river.Job[FillArgs], sh *postgres.Shard) error {
	all, err := s.store.FinishShard(ctx, tx, sh)
	if err != nil {
		return err
	}
	if all {
		ok, err := s.store.AdvanceRun(ctx, tx, sh.RunID, corpus.RunIndexing, corpus.RunEmbedding, corpus.RunQueued)
		if err != nil {
			return err
		}
		if ok {
			if _, err := s.client.InsertTx(ctx, tx, BuildArgs{RunID: sh.RunID}, nil); err != nil {
				return fmt.Errorf("queue the HNSW build of run %d: %w", sh.RunID, err)
			}
		}
	}
	return complete(ctx, tx, job)
}

// fillFailed fails the run at once when err is permanent (a wrong dimension, a vector pgvector
// refuses); otherwise River retries the job, and lastAttempts fails the run if its attempts run out.
func (s *Service) fillFailed(ctx context.Context, job *river.Job[FillArgs], err error) error {
	if s.cutByHandBack(ctx) {
		return river.JobSnooze(0)
	}
	if !permanent(err) {
		return err
	}
	if ferr := s.failRun(ctx, job.Args.RunID, err.Error(), nil); ferr != nil {
		return errors.Join(err, ferr)
	}
	return river.JobCancel(err)
}

// failRun ends a run as failed (or cancelled, through cancelRun) and queues the drop of its unfinished
// indexes, in one transaction.
func (s *Service) failRun(ctx context.Context, runID int64, reason string, v *corpus.Verification) error {
	return s.endRun(ctx, runID, corpus.RunFailed, reason, v)
}

func (s *Service) endRun(ctx context.Context, runID int64, state corpus.RunState, reason string, v *corpus.Verification) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return s.endRunTx(ctx, tx, runID, state, reason, v)
	})
}

func (s *Service) endRunTx(ctx context.Context, tx pgx.Tx, runID int64, state corpus.RunState, reason string, v *corpus.Verification) error {
	ids, _, err := s.store.EndRun(ctx, tx, runID, state, reason, v)
	if err != nil {
		return err
	}
	return s.queueRetire(ctx, tx, ids, time.Time{})
}

func (s *Service) queueRetire(ctx context.Context, tx pgx.Tx, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: RetireArgs{IndexID: id}, InsertOpts: &river.InsertOpts{ScheduledAt: at}}
	}
	if _, err := s.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("queue the retirement of %d indexes: %w", len(ids), err)
	}
	return nil
}

// --- build ---

type buildWorker struct {
	river.WorkerDefaults[BuildArgs]
	s *Service
}

// Timeout lets an HNSW build run for BuildTimeout: it cannot be sliced.
func (w *buildWorker) Timeout(*river.Job[BuildArgs]) time.Duration { return w.s.cfg.BuildTimeout }

func (w *buildWorker) Work(ctx context.Context, job *river.Job[BuildArgs]) error {
	s := w.s
	run, err := s.store.Run(ctx, s.pool, job.Args.RunID)
	if err != nil {
		return err
	}
	if run.State != corpus.RunIndexing {
		return nil
	}
	return s.asBuilder(ctx, job.JobRow, func(conn *pgxpool.Conn) error {
		if s.cfg.beforeBuild != nil {
			if err := s.cfg.beforeBuild(ctx, conn); err != nil {
				return err
			}
		}
		for _, ix := range run.Indexes {
			if ix.State != corpus.IndexBuilding {
				continue
			}
			if err := s.store.BuildHNSW(ctx, conn, ix, s.cfg.HNSWMemoryMB, s.cfg.HNSWWorkers); err != nil {
				return err
			}
		}
		return s.inTx(ctx, func(tx pgx.Tx) error {
			ok, err := s.store.AdvanceRun(ctx, tx, run.ID, corpus.RunVerifying, corpus.RunIndexing)
			if err != nil {
				return err
			}
			if ok {
				if err := s.store.SetRunIndexesState(ctx, tx, run.ID, corpus.IndexBuilding, corpus.IndexVerifying); err != nil {
					return err
				}
				if _, err := s.client.InsertTx(ctx, tx, VerifyArgs{RunID: run.ID}, nil); err != nil {
					return fmt.Errorf("queue the verification of run %d: %w", run.ID, err)
				}
			}
			return complete(ctx, tx, job)
		})
	})
}

// asBuilder runs a step that cannot be sliced (an HNSW build, a verification) holding the job's
// builder lock on a connection of its own, which fn may use: when the worker dies the lock goes with
// its session, and rescueDeadJobs puts the job back within seconds instead of River after the
// step's timeout. That session checks every second that its client is still there
// (client_connection_check_interval), so a statement of a dead worker, a CREATE INDEX, stops and frees
// the lock at once instead of running to its end.
//
// A step cut by the invocation's end (its context ended while the worker hands back) is snoozed: it
// costs no attempt, however often it is cut, and the next invocation starts it again from the start.
func (s *Service) asBuilder(ctx context.Context, job *rivertype.JobRow, fn func(conn *pgxpool.Conn) error) error {
	l, ok, err := s.locks.TryBuilderLock(ctx, job.ID)
	if err != nil {
		return s.stepCut(ctx, job, err)
	}
	if !ok {
		// The job's last worker still works it (River gave it out again after its timeout): wait.
		return river.JobSnooze(builderGrace)
	}
	defer l.Release()
	if err := l.WatchClient(ctx); err != nil {
		return s.stepCut(ctx, job, err)
	}
	defer l.UnwatchClient(context.WithoutCancel(ctx))
	return s.stepCut(ctx, job, fn(l.Conn()))
}

// stepCut is err, or a snooze when err comes from the invocation's end cutting the step.
func (s *Service) stepCut(ctx context.Context, job *rivertype.JobRow, err error) error {
	if err == nil || !s.cutByHandBack(ctx) {
		return err
	}
	s.cfg.Log.WarnContext(ctx, "a build step was cut by the worker invocation's end and starts again in the next one; a step that never fits one invocation needs a long-lived worker",
		"job", job.ID, "kind", job.Kind, "ran", time.Since(*job.AttemptedAt).Round(time.Second), "err", err)
	return river.JobSnooze(0)
}

// cutByHandBack reports whether ctx ended because the worker is handing its jobs back.
func (s *Service) cutByHandBack(ctx context.Context) bool {
	return ctx.Err() != nil && s.handingBack()
}

// --- verify ---

type verifyWorker struct {
	river.WorkerDefaults[VerifyArgs]
	s *Service
}

// Timeout lets a verification catch up, count and sample a large corpus.
func (w *verifyWorker) Timeout(*river.Job[VerifyArgs]) time.Duration { return w.s.cfg.BuildTimeout }

func (w *verifyWorker) Work(ctx context.Context, job *river.Job[VerifyArgs]) error {
	s := w.s
	run, err := s.store.Run(ctx, s.pool, job.Args.RunID)
	if err != nil {
		return err
	}
	if run.State != corpus.RunVerifying {
		return nil
	}
	return s.asBuilder(ctx, job.JobRow, func(*pgxpool.Conn) error { return s.verifyRun(ctx, job, run) })
}

// verifyRun verifies run's indexes, then cuts over or fails the run, completing job with it.
func (s *Service) verifyRun(ctx context.Context, job *river.Job[VerifyArgs], run *corpus.Run) error {
	var total corpus.Verification
	for _, ix := range run.Indexes {
		if ix.State != corpus.IndexVerifying {
			continue
		}
		v, err := s.verifyIndex(ctx, ix)
		if permanent(err) {
			return s.endRun(ctx, run.ID, corpus.RunFailed, err.Error(), nil)
		}
		if err != nil {
			return err
		}
		total.Add(v)
	}
	total.Judge(s.cfg.Threshold)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if !total.Passed {
			reason := "verification failed: " + total.Reason + "; the active index keeps serving"
			if err := s.endRunTx(ctx, tx, run.ID, corpus.RunFailed, reason, &total); err != nil {
				return err
			}
			return complete(ctx, tx, job)
		}
		if err := s.store.SaveVerification(ctx, tx, run.ID, &total); err != nil {
			return err
		}
		ok, err := s.store.AdvanceRun(ctx, tx, run.ID, corpus.RunCuttingOver, corpus.RunVerifying)
		if err != nil {
			return err
		}
		if ok {
			if _, err := s.client.InsertTx(ctx, tx, CutoverArgs{RunID: run.ID}, nil); err != nil {
				return fmt.Errorf("queue the cut-over of run %d: %w", run.ID, err)
			}
		}
		return complete(ctx, tx, job)
	})
}

// verifyIndex first catches the index up with documents written while it filled (their sync jobs may
// still be queued), then counts, then samples self-retrieval.
func (s *Service) verifyIndex(ctx context.Context, ix *corpus.Index) (corpus.Verification, error) {
	for round := 0; round < 100; round++ {
		ids, err := s.store.OutOfSync(ctx, ix, 1000)
		if err != nil {
			return corpus.Verification{}, err
		}
		if len(ids) == 0 {
			break
		}
		if err := s.syncDocs(ctx, ix, ids, func(tx pgx.Tx) error { return tx.Commit(ctx) }); err != nil {
			return corpus.Verification{}, err
		}
	}
	v, err := s.store.CountIndex(ctx, ix)
	if err != nil {
		return v, err
	}
	sample, err := s.store.SampleDocuments(ctx, ix.CorpusID, s.cfg.Sample)
	if err != nil || len(sample) == 0 {
		return v, err
	}
	m, p, err := s.model(ctx, ix.Model)
	if err != nil {
		return v, err
	}
	vecs, err := s.embed(ctx, m, p, textsOf(sample))
	if err != nil {
		return v, err
	}
	found, err := s.store.SelfFound(ctx, ix, sample, vecs, corpus.RecallK)
	if err != nil {
		return v, err
	}
	v.Sampled, v.Found = int64(len(sample)), found
	return v, nil
}

// --- cut-over ---

type cutoverWorker struct {
	river.WorkerDefaults[CutoverArgs]
	s *Service
}

func (w *cutoverWorker) Work(ctx context.Context, job *river.Job[CutoverArgs]) error {
	s := w.s
	st, err := s.store.RunState(ctx, s.pool, job.Args.RunID)
	if err != nil || st != corpus.RunCuttingOver {
		return err
	}
	until := s.cfg.Now().Add(s.cfg.Retention)
	// A move catalog.CheckAliasMove refuses (the alias moved meanwhile, the target was disabled) ends
	// the run as failed: retrying cannot help, and the active indexes keep serving.
	var refused *catalog.MoveError
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		retired, standby, err := s.store.Cutover(ctx, tx, job.Args.RunID, until)
		if err != nil {
			return err
		}
		if err := s.queueRetire(ctx, tx, retired, time.Time{}); err != nil {
			return err
		}
		if err := s.queueRetire(ctx, tx, standby, until); err != nil {
			return err
		}
		return complete(ctx, tx, job)
	})
	if errors.As(err, &refused) {
		return s.inTx(ctx, func(tx pgx.Tx) error {
			if err := s.endRunTx(ctx, tx, job.Args.RunID, corpus.RunFailed, refused.Message, nil); err != nil {
				return err
			}
			return complete(ctx, tx, job)
		})
	}
	return err
}

// --- retire ---

type retireWorker struct {
	river.WorkerDefaults[RetireArgs]
	s *Service
}

func (w *retireWorker) Work(ctx context.Context, job *river.Job[RetireArgs]) error {
	s := w.s
	var wait time.Duration
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if wait, err = s.store.RetireIndex(ctx, tx, job.Args.IndexID, s.cfg.Now()); err != nil || wait > 0 {
			return err
		}
		return complete(ctx, tx, job)
	})
	if err == nil && wait > 0 {
		return river.JobSnooze(wait) // a rollback put it back on standby with a later end
	}
	return err
}
