// Package usage is the batching request logger: every developer request, success or failure,
// becomes exactly one row of the requests table. Rows are queued in memory and written in batches
// (COPY), so the request path pays a mutex and an append, never a database round trip.
//
// A row is written at most Interval after it was logged (SPEC: a request shows up within two
// seconds), sooner when a batch fills; Flush writes everything logged before it was called (Lambda
// calls it before an invocation returns), and Close flushes and stops. Memory is bounded: past
// MaxQueued unwritten rows, new rows are dropped and counted, with a warning in the log.
//
// The package also holds the request log as it is read back (read.go): totals, chart buckets,
// pages of requests and a route's split, which the store in package postgres returns.
package usage

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// Row is one request as the request log keeps it. Outcome is "ok" or SPEC's error code; Detail says
// more where the code is shared by several causes (model_not_found's not_granted, model_disabled...).
type Row struct {
	RequestID        string
	At               time.Time // when the request arrived
	Route            string    // e.g. /v1/chat/completions
	KeyID            string    // empty when no key was recognised
	Team             string
	Requested        string // the name the caller asked for
	Model            string // the pinned model that served it
	Provider         string
	Outcome          string
	Detail           string // stored cut to MaxText bytes
	Status           int
	Stream           bool
	Latency          time.Duration
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
	Message          string // the error message the caller saw, if any; stored cut to MaxText bytes
	// Attempt numbers the upstream attempts of one request from 1 (a request that fell back to
	// another model has a row per attempt); 0 is stored as 1. ChainID is what every row of the
	// request shares: the request id the caller was told; empty is stored as RequestID.
	Attempt int
	ChainID string
}

// MaxText bounds the detail and the message a row stores (1 KiB each, plus a note of the full length
// when cut): they may quote an upstream, whose answers are not ours to size.
const MaxText = 1024

// OutcomeOK is the outcome of a request that succeeded.
const OutcomeOK = "ok"

// Options tune a Logger. Zero values take the defaults named on each field.
type Options struct {
	Interval  time.Duration // longest wait before queued rows are written; 500ms
	BatchSize int           // a batch this large is written at once; 1,000
	MaxQueued int           // unwritten rows kept at most; 200,000 (about 100 MB at worst)
	Log       *slog.Logger
}

// Store writes a batch of rows to the request log (postgres.RequestLogStore): all of them or, with an
// error, none, every row kept even when request ids repeat.
type Store interface {
	WriteRequests(ctx context.Context, batch []Row) error
}

// Logger queues rows and writes them in batches. Safe for concurrent use.
type Logger struct {
	store Store
	opt   Options
	log   *slog.Logger

	mu      sync.Mutex
	queue   []Row
	dropped int64 // since the last warning

	writeMu sync.Mutex // one batch write at a time; Flush waits on it
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started atomic.Bool
	closed  atomic.Bool

	written      atomic.Int64
	droppedTotal atomic.Int64
}

// New returns a Logger writing to store; Start begins its background writer.
func New(store Store, opt Options) *Logger {
	if opt.Interval <= 0 {
		opt.Interval = 500 * time.Millisecond
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 1000
	}
	if opt.MaxQueued <= 0 {
		opt.MaxQueued = 200_000
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &Logger{
		store: store, opt: opt, log: opt.Log,
		queue: make([]Row, 0, opt.BatchSize),
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// Start runs the background writer until Close.
func (l *Logger) Start() {
	if l.started.CompareAndSwap(false, true) {
		go l.run()
	}
}

// maxNameBytes is what a row keeps at most of each name (route, key, team, requested, model,
// provider, outcome; plus a note of the full length when cut): a caller controls names, paths and ids,
// and megabytes of them must not reach the table.
const maxNameBytes = 256

// bound cuts r's text fields to the sizes above.
func (r *Row) bound() {
	for _, f := range []*string{&r.Route, &r.KeyID, &r.Team, &r.Requested, &r.Model, &r.Provider, &r.Outcome, &r.ChainID} {
		*f = catalog.Quote(*f, maxNameBytes)
	}
	r.Message = catalog.Quote(r.Message, MaxText)
	r.Detail = catalog.Quote(r.Detail, MaxText)
}

// Log queues r, its text fields bounded. It never blocks on the database.
func (l *Logger) Log(r Row) {
	r.bound()
	l.mu.Lock()
	if len(l.queue) >= l.opt.MaxQueued {
		l.dropped++
		l.mu.Unlock()
		l.droppedTotal.Add(1)
		return
	}
	l.queue = append(l.queue, r)
	full := len(l.queue) >= l.opt.BatchSize
	l.mu.Unlock()
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// Flush writes every row logged before the call. Rows it could not write stay queued for the next
// attempt, and the error says why.
func (l *Logger) Flush(ctx context.Context) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	// Rows logged before the call are either queued now or were taken by a write that has ended
	// (writeMu); rows logged meanwhile are the next tick's, so Flush ends under any load.
	target := l.Queued()
	for target > 0 {
		n, err := l.writeBatch(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		target -= n
	}
	return nil
}

// Close stops the background writer and flushes what is queued; call it after the server has
// stopped taking requests so a graceful shutdown loses no row.
func (l *Logger) Close(ctx context.Context) error {
	if l.closed.CompareAndSwap(false, true) && l.started.Load() {
		close(l.stop)
		select {
		case <-l.done:
		case <-ctx.Done():
		}
	}
	return l.Flush(ctx)
}

// Written is how many rows this Logger has stored; Dropped how many it gave up because the queue
// was full.
func (l *Logger) Written() int64 { return l.written.Load() }

// Dropped is how many rows were refused because MaxQueued unwritten rows were waiting.
func (l *Logger) Dropped() int64 { return l.droppedTotal.Load() }

// Queued is how many rows wait to be written.
func (l *Logger) Queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

func (l *Logger) run() {
	defer close(l.done)
	t := time.NewTicker(l.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		case <-l.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := l.Flush(ctx); err != nil {
			l.log.Warn("usage: writing the request log failed; the rows stay queued and are retried", "err", err, "queued", l.Queued())
		}
		cancel()
	}
}

// writeBatch writes up to BatchSize queued rows; callers hold writeMu. On failure the rows go back
// to the front of the queue (unless that would pass MaxQueued, in which case they are counted as
// dropped).
func (l *Logger) writeBatch(ctx context.Context) (int, error) {
	l.mu.Lock()
	if d := l.dropped; d > 0 {
		l.dropped = 0
		l.log.Warn("usage: request log queue full; rows dropped", "dropped", d, "max_queued", l.opt.MaxQueued)
	}
	n := min(len(l.queue), l.opt.BatchSize)
	if n == 0 {
		l.mu.Unlock()
		return 0, nil
	}
	batch := make([]Row, n)
	copy(batch, l.queue[:n])
	rest := copy(l.queue, l.queue[n:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	l.mu.Unlock()

	if err := l.store.WriteRequests(ctx, batch); err != nil {
		l.mu.Lock()
		room := l.opt.MaxQueued - len(l.queue)
		keep := min(room, len(batch))
		if lost := len(batch) - keep; lost > 0 {
			l.droppedTotal.Add(int64(lost))
			l.dropped += int64(lost)
		}
		l.queue = append(batch[:keep:keep], l.queue...)
		l.mu.Unlock()
		return 0, err
	}
	l.written.Add(int64(n))
	return n, nil
}
