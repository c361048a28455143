// Package reembed keeps corpora's vectors and replaces them: the River jobs that embed written documents
// into every live index, and the re-embed run that fills a fresh index with a new model, builds its HNSW
// index, verifies it and cuts over in one transaction. Every step commits together with the River job
// that records it, so a worker killed at any point resumes with nothing lost or duplicated.
//
// The same Service runs as a long-lived worker (Start, Stop) and as a bounded invocation (RunFor), and
// an API process uses it insert-only (Config.InsertOnly) to write documents and start runs.
package reembed

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// Embedder turns texts into vectors with one pinned model of one provider. Errors a caller may retry
// (429, 5xx, timeouts) are *apierror.Error with code rate_limited or upstream_unavailable.
type Embedder interface {
	Embed(ctx context.Context, model *catalog.Model, provider *catalog.Provider, texts []string) ([][]float32, error)
}

// Catalog hands out the current catalogue snapshot (catalog.Source does).
type Catalog interface {
	Get(ctx context.Context) (*catalog.Snapshot, error)
}

// Queues the jobs run on: document syncs and retirements apart from run fills, so that a long run never
// delays a document becoming searchable.
const (
	QueueCorpus  = "corpus"
	QueueReembed = "reembed"
)

// Config tunes the service. Zero values take the defaults noted.
type Config struct {
	// InsertOnly builds a client that inserts jobs but works none (an API process).
	InsertOnly bool
	// BatchSize is documents per embeddings request and per COPY commit (512). Larger batches mean
	// fewer commits, embeddings round trips and checkpoints per document, but each fill job holds
	// several batches at once (embedding, read ahead, writing): at 1024 the worker's peak memory grew
	// past the memory goal, and the fill was no faster than at 512 (docs/benchmarks.md). Keep it at
	// or under 2048, OpenAI's limit of inputs per embeddings request.
	BatchSize int
	// Shards is how many fill jobs split each corpus of a run, so several workers fill it at once (4).
	Shards int
	// Workers is how many jobs of each queue a process works at once (4).
	Workers int
	// JobSlice is how long a fill job works before handing its shard back to the queue, continuing
	// from its checkpoint (5s): jobs stay short, so a worker's deadline or death costs little.
	JobSlice time.Duration
	// Retention is how long a previous index stays on standby after a cut-over or rollback (24h).
	Retention time.Duration
	// Threshold is the self-recall a run needs to cut over (0.95); Sample is how many documents per
	// index the check embeds as queries (200).
	Threshold float64
	Sample    int
	// HNSWMemoryMB is maintenance_work_mem for the HNSW build (1024); HNSWWorkers is
	// max_parallel_maintenance_workers (2; negative leaves the server's setting).
	HNSWMemoryMB int
	HNSWWorkers  int
	// EmbedRetries is how often a 429 or 5xx from the upstream is retried within a job, with
	// exponential backoff from RetryBase (6 tries, 250ms), before the job fails and River retries it.
	EmbedRetries int
	RetryBase    time.Duration
	// RescueStuckJobsAfter is when River gives a running job of a vanished worker to another (2m), the
	// last resort: a worker puts back the jobs of a dead process within seconds (rescueDeadJobs);
	// JobTimeout bounds a job's run (1m; at most RescueStuckJobsAfter). Fill jobs are sliced well
	// within it; the HNSW build and the verification have longer timeouts of their own (BuildTimeout,
	// 15m: a Lambda invocation's longest life, so a build that fits Lambda fits it). A build step whose
	// worker died is not left for River's rescue after BuildTimeout: its builder lock is free, and every
	// worker puts it back within seconds (rescueDeadJobs). A long-lived worker building very large
	// indexes may raise BuildTimeout (SWITCHYARD_REEMBED_BUILD_TIMEOUT) at no such price.
	RescueStuckJobsAfter time.Duration
	JobTimeout           time.Duration
	BuildTimeout         time.Duration
	// FetchCooldown is the least time between River's fetches of new jobs (20ms; River's default is
	// 100ms): each step of a run (fill, build, verification, cut-over) and each document's sync is a
	// job that waits up to this long to be picked up, and the queues are small enough that fetching
	// more often costs nothing measurable. FetchPollInterval is River's (1s; tests shorten both).
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	// PollOnly makes River find new jobs by polling (every FetchPollInterval) instead of holding a
	// connection in LISTEN: needed behind RDS Proxy (DATABASE_RDS_PROXY), which multiplexes sessions and
	// cannot carry a session's LISTEN. Jobs this client inserts itself still wake it at once.
	PollOnly bool
	// RetryPolicy overrides River's backoff between failed attempts (tests make it short).
	RetryPolicy river.ClientRetryPolicy
	// KeptQueries bounds the search queries kept for corpora that opted in (postgres.DefaultQueryBounds).
	KeptQueries postgres.QueryBounds
	// Now is the clock for standby retention (time.Now).
	Now func() time.Time
	Log *slog.Logger

	// afterBatch, when set, runs after each committed fill batch (tests inject crashes here).
	afterBatch func(runID, indexID int64, shard int)
	// beforeBuild, when set, runs on the builder's connection before an HNSW build (tests make builds
	// slow here).
	beforeBuild func(ctx context.Context, conn *pgxpool.Conn) error
}

// WithDefaults is c with every zero value replaced by its default: the settings a Service built with
// c runs with.
func (c Config) WithDefaults() Config {
	c.defaults()
	return c
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 512
	}
	if c.Shards <= 0 {
		c.Shards = 4
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.JobSlice <= 0 {
		c.JobSlice = 5 * time.Second
	}
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
	if c.Threshold <= 0 {
		c.Threshold = corpus.DefaultThreshold
	}
	if c.Sample <= 0 {
		c.Sample = 200
	}
	if c.HNSWMemoryMB == 0 {
		c.HNSWMemoryMB = 1024
	}
	if c.HNSWWorkers == 0 {
		c.HNSWWorkers = 2
	}
	if c.EmbedRetries <= 0 {
		c.EmbedRetries = 6
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 250 * time.Millisecond
	}
	if c.RescueStuckJobsAfter <= 0 {
		c.RescueStuckJobsAfter = 2 * time.Minute
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = min(time.Minute, c.RescueStuckJobsAfter)
	}
	if c.BuildTimeout <= 0 {
		c.BuildTimeout = 15 * time.Minute
	}
	if c.FetchCooldown <= 0 {
		c.FetchCooldown = 20 * time.Millisecond
	}
	if c.KeptQueries.Max <= 0 {
		c.KeptQueries.Max = postgres.DefaultQueryBounds.Max
	}
	if c.KeptQueries.Age <= 0 {
		c.KeptQueries.Age = postgres.DefaultQueryBounds.Age
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Service writes documents, searches, and runs re-embeds. Safe for concurrent use.
type Service struct {
	pool   *pgxpool.Pool
	store  *postgres.CorpusStore
	locks  *postgres.WorkerLocks
	client *river.Client[pgx.Tx]
	cat    Catalog
	emb    Embedder
	cfg    Config

	mu         sync.Mutex
	handBack   chan struct{} // closed when running jobs must hand back to the queue
	stopRescue context.CancelFunc
	rescueDone chan struct{}
	// clientID is the River client's id, which River records in each job it hands out
	// (attempted_by); processLock, keyed by it, is held while the service works jobs.
	clientID    string
	processLock *postgres.AdvisoryLock
}

// New builds the service and its River client (riverpgxv5 on pool). Call Start, or RunFor, to work jobs.
func New(pool *pgxpool.Pool, cat Catalog, emb Embedder, cfg Config) (*Service, error) {
	cfg.defaults()
	s := &Service{pool: pool, store: &postgres.CorpusStore{Pool: pool}, locks: &postgres.WorkerLocks{Pool: pool}, cat: cat, emb: emb, cfg: cfg, handBack: make(chan struct{}),
		clientID: "switchyard-" + rand.Text()}
	workers := river.NewWorkers()
	river.AddWorker(workers, &syncWorker{s: s})
	river.AddWorker(workers, &fillWorker{s: s})
	river.AddWorker(workers, &buildWorker{s: s})
	river.AddWorker(workers, &verifyWorker{s: s})
	river.AddWorker(workers, &cutoverWorker{s: s})
	river.AddWorker(workers, &retireWorker{s: s})
	rc := &river.Config{
		ID:                   s.clientID,
		Workers:              workers,
		ErrorHandler:         &lastAttempts{s: s},
		Logger:               cfg.Log,
		RescueStuckJobsAfter: cfg.RescueStuckJobsAfter,
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    cfg.FetchPollInterval,
		PollOnly:             cfg.PollOnly,
		RetryPolicy:          cfg.RetryPolicy,
		// Not -1: River's rescuer never rescues a job without a timeout.
		JobTimeout: cfg.JobTimeout,
	}
	if !cfg.InsertOnly {
		rc.Queues = map[string]river.QueueConfig{
			QueueCorpus:  {MaxWorkers: cfg.Workers},
			QueueReembed: {MaxWorkers: cfg.Workers},
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("create River client: %w", err)
	}
	s.client = client
	return s, nil
}

// Client is the River client, for callers that insert their own jobs or subscribe to events.
func (s *Service) Client() *river.Client[pgx.Tx] { return s.client }

// Store is the corpus store the service writes through.
func (s *Service) Store() *postgres.CorpusStore { return s.store }

// Start begins working jobs until Stop, or until ctx ends (a hard stop). Beside River it looks every
// second for jobs whose worker died (its process lock is free; for an HNSW build or verification, its
// builder lock too) and puts them back at once, rather than after River's rescue of a job past its
// timeout.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	s.handBack = make(chan struct{}) // a bounded invocation starts afresh after the last one handed back
	s.mu.Unlock()
	// The process lock first: a job River hands this client is then always seen as taken by a live
	// process until the process dies or stops.
	pl, err := s.holdProcessLock(ctx)
	if err != nil {
		return err
	}
	if err := s.client.Start(ctx); err != nil {
		pl.Release()
		return fmt.Errorf("start River: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.mu.Lock()
	s.stopRescue, s.rescueDone, s.processLock = cancel, done, pl
	s.mu.Unlock()
	go s.rescueLoop(rctx, done)
	return nil
}

// Stop stops fetching jobs, asks running ones to hand back at their next checkpoint, and waits for
// them until ctx ends; then it cancels what is still running.
func (s *Service) Stop(ctx context.Context) error {
	s.handBackNow()
	s.mu.Lock()
	cancel, done := s.stopRescue, s.rescueDone
	s.stopRescue, s.rescueDone = nil, nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	err := s.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.client.StopAndCancel(cctx)
	}
	// Released after River stopped, so no job of this client is seen as dead while it still runs.
	s.mu.Lock()
	pl := s.processLock
	s.processLock = nil
	s.mu.Unlock()
	if pl != nil {
		pl.Release()
	}
	return err
}

// RunFor works jobs as one bounded (Lambda) invocation does, and returns as soon as there is nothing
// left for it to do:
//
//   - It first takes the fetch lease (an advisory lock; see WorkerFetching). When another invocation
//     holds it, that one takes the jobs, and RunFor returns at once without starting River.
//   - It returns when it has had no work (hasWork: no job available, due within 10 s, running in this
//     process, or left behind by a dead worker) for linger (0: at the first empty look, once River has
//     started). The lease is released before the last look, so a job committed while a kicker saw the
//     lease held is seen by that look.
//   - Otherwise at deadline minus margin it releases the lease and stops fetching; running jobs hand
//     back with JobSnooze(0) at their next checkpoint, which costs them no attempt; what still runs
//     shortly before deadline is cancelled (a cut HNSW build or verification snoozes too). A killed
//     invocation's jobs come back after RescueStuckJobsAfter, its build steps at once.
func (s *Service) RunFor(ctx context.Context, deadline time.Time, margin, linger time.Duration) error {
	if margin <= 0 {
		margin = s.cfg.JobSlice + 5*time.Second
	}
	lease, ok, err := s.locks.TryFetchLease(ctx)
	if err != nil {
		return err
	}
	if !ok {
		s.cfg.Log.InfoContext(ctx, "another worker invocation is taking jobs; this one has nothing to do")
		return nil
	}
	defer func() {
		if lease != nil {
			lease.Release()
		}
	}()
	if err := s.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // ended before River started: nothing ran, nothing to hand back
		}
		return err
	}
	stopFetching := time.NewTimer(max(time.Until(deadline.Add(-margin)), 0))
	defer stopFetching.Stop()
	look := time.NewTicker(cmp.Or(s.cfg.FetchPollInterval, time.Second))
	defer look.Stop()
	var idleSince time.Time
wait:
	for {
		work, err := s.hasWork(ctx, lease.Conn())
		switch {
		case err != nil:
			s.cfg.Log.WarnContext(ctx, "look for work; the invocation keeps working", "err", err)
			idleSince = time.Time{}
		case work:
			idleSince = time.Time{}
		case idleSince.IsZero():
			idleSince = time.Now()
		}
		if !idleSince.IsZero() && time.Since(idleSince) >= linger {
			// Release the lease, then look once more: a job whose kick was skipped because the
			// lease was held committed before the release, so this look sees it.
			lease.Release()
			lease = nil
			if work, err := s.hasWork(ctx, s.pool); err != nil || !work {
				break wait
			}
			if lease, ok, err = s.locks.TryFetchLease(ctx); err != nil || !ok {
				break wait // another invocation took the lease, and the work with it
			}
			idleSince = time.Time{}
		}
		select {
		case <-look.C:
		case <-stopFetching.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	if lease != nil {
		lease.Release()
		lease = nil
	}
	stopCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(-time.Second))
	defer cancel()
	return s.Stop(stopCtx)
}

func (s *Service) handBackNow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.handBack:
	default:
		close(s.handBack)
	}
}

func (s *Service) handingBack() bool {
	s.mu.Lock()
	ch := s.handBack
	s.mu.Unlock()
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// model finds a pinned model and its provider in the catalogue.
func (s *Service) model(ctx context.Context, name string) (*catalog.Model, *catalog.Provider, error) {
	snap, err := s.cat.Get(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the catalogue: %w", err)
	}
	m := snap.Models[name]
	if m == nil {
		return nil, nil, fmt.Errorf("model %s is not in the catalogue", name)
	}
	p := snap.Providers[m.Provider]
	if p == nil {
		return nil, nil, fmt.Errorf("provider %s of model %s is not in the catalogue", m.Provider, name)
	}
	return m, p, nil
}

// textsOf is the texts of docs, in order, as embed takes them.
func textsOf(docs []postgres.SourceDoc) []string {
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	return texts
}

// embed embeds texts, retrying 429s and 5xx with exponential backoff (or the upstream's Retry-After),
// and checks every vector's dimension against the model's.
func (s *Service) embed(ctx context.Context, m *catalog.Model, p *catalog.Provider, texts []string) ([][]float32, error) {
	var vecs [][]float32
	_, err := s.retry(ctx, func() (err error) {
		vecs, err = s.emb.Embed(ctx, m, p, texts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("embed %d texts with %s: %w", len(texts), m.Name, err)
	}
	return s.checkVectors(m, texts, vecs)
}

// retry calls call until it succeeds, fails for good or has been tried EmbedRetries times, waiting
// between tries with exponential backoff or the upstream's Retry-After (up to a minute), whichever is
// longer. It answers how many tries the upstream answered 429 (rate limited).
func (s *Service) retry(ctx context.Context, call func() error) (limited int, err error) {
	for attempt := 0; ; attempt++ {
		err = call()
		if ae, ok := apierror.As(err); ok && ae.Code == apierror.CodeRateLimited {
			limited++
		}
		if err == nil || attempt+1 >= s.cfg.EmbedRetries || !retryable(err) {
			return limited, err
		}
		wait := s.cfg.RetryBase << attempt
		if ae, ok := apierror.As(err); ok && ae.RetryAfter != "" {
			if d, perr := time.ParseDuration(ae.RetryAfter + "s"); perr == nil && d < time.Minute {
				wait = max(wait, d)
			}
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return limited, ctx.Err()
		}
	}
}

// checkVectors checks that an answer has one vector of the model's dimension per text.
func (s *Service) checkVectors(m *catalog.Model, texts []string, vecs [][]float32) ([][]float32, error) {
	if len(vecs) != len(texts) {
		return nil, &corpus.DimensionError{Model: m.Name, Index: -1, Got: len(vecs), Want: len(texts)}
	}
	if err := corpus.CheckDimensions(vecs, m.Dimension); err != nil {
		var de *corpus.DimensionError
		if errors.As(err, &de) {
			de.Model = m.Name
		}
		return nil, err
	}
	return vecs, nil
}

func retryable(err error) bool {
	ae, ok := apierror.As(err)
	return ok && (ae.Code == apierror.CodeRateLimited || ae.Code == apierror.CodeUpstreamUnavailable)
}

// permanent reports whether err will not go away by retrying: the run fails at once with it.
func permanent(err error) bool {
	var de *corpus.DimensionError
	if errors.As(err, &de) {
		return true
	}
	if postgres.IsDataException(err) {
		return true // pgvector refused a vector (NaN, infinity, a halfvec overflow)
	}
	ae, ok := apierror.As(err)
	return ok && (ae.Code == apierror.CodeUpstreamBadResponse || ae.Code == apierror.CodeUnsupportedOperation)
}
