package usage_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
	"github.com/switchyard-ai/switchyard/shared/usage"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

func row(id string) usage.Row {
	return usage.Row{RequestID: id, At: time.Now(), Route: "/v1/embeddings", KeyID: "key_1", Team: "search",
		Requested: "embed", Model: "embed-v1", Provider: "acme", Outcome: usage.OutcomeOK, Status: 200,
		Latency: 1500 * time.Microsecond, PromptTokens: 3, TotalTokens: 3}
}

func TestLoggerWritesWithinTheInterval(t *testing.T) {
	pool := pgtest.NewPool(t)
	l := usage.New(&postgres.RequestLogStore{Pool: pool}, usage.Options{Interval: 50 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	l.Start()
	defer l.Close(context.Background())
	l.Log(row("req_a"))
	type stored struct{ rows, latency, tokens int64 }
	// SPEC: a request shows up within two seconds.
	got := waittest.Eventually(t, 2*time.Second, "the row of req_a written", func() (stored, bool) {
		var s stored
		err := pool.QueryRow(context.Background(), `SELECT count(*), coalesce(max(latency_us), 0), coalesce(max(total_tokens), 0) FROM requests WHERE request_id = 'req_a'`).Scan(&s.rows, &s.latency, &s.tokens)
		if err != nil {
			t.Fatal(err)
		}
		return s, s.rows > 0
	})
	if got.rows != 1 || got.latency != 1500 || got.tokens != 3 {
		t.Fatalf("stored %d rows with latency_us=%d total_tokens=%d, want 1 with 1500 and 3", got.rows, got.latency, got.tokens)
	}
}

func TestFlushWritesEverythingLoggedBefore(t *testing.T) {
	pool := pgtest.NewPool(t)
	// A long interval: only Flush can have written the rows.
	l := usage.New(&postgres.RequestLogStore{Pool: pool}, usage.Options{Interval: time.Hour, BatchSize: 100, Log: slog.New(slog.DiscardHandler)})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 125; i++ {
				l.Log(row(fmt.Sprintf("req_%d_%d", w, i)))
			}
		}()
	}
	wg.Wait()
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(DISTINCT request_id) FROM requests`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1000 || l.Written() != 1000 {
		t.Fatalf("after Flush: %d rows in the table, %d written; want 1000", n, l.Written())
	}
}

func TestRepeatedRequestIDKeepsEveryRow(t *testing.T) {
	pool := pgtest.NewPool(t)
	l := usage.New(&postgres.RequestLogStore{Pool: pool}, usage.Options{Interval: time.Hour, Log: slog.New(slog.DiscardHandler)})
	// A client may send the same X-Request-Id twice; each request still gets its row.
	l.Log(row("req_dup"))
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Log(row("req_dup"))
	l.Log(row("req_other"))
	l.Log(row("req_dup"))
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM requests WHERE request_id LIKE 'req_dup%' OR request_id = 'req_other'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("%d rows for 4 requests", n)
	}
}

func TestQueueIsBounded(t *testing.T) {
	pool := pgtest.NewPool(t)
	l := usage.New(&postgres.RequestLogStore{Pool: pool}, usage.Options{Interval: time.Hour, MaxQueued: 10, Log: slog.New(slog.DiscardHandler)})
	for i := 0; i < 25; i++ {
		l.Log(row(fmt.Sprintf("req_%d", i)))
	}
	if l.Queued() != 10 || l.Dropped() != 15 {
		t.Fatalf("queued %d, dropped %d; want 10 and 15", l.Queued(), l.Dropped())
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM requests`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 10 {
		t.Fatalf("Close wrote %d rows, want the 10 queued", n)
	}
}

func TestFailedWriteKeepsRowsForTheNextAttempt(t *testing.T) {
	pool := pgtest.NewPool(t)
	l := usage.New(&postgres.RequestLogStore{Pool: pool}, usage.Options{Interval: time.Hour, Log: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `ALTER TABLE requests RENAME TO requests_away`); err != nil {
		t.Fatal(err)
	}
	l.Log(row("req_kept"))
	if err := l.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded without a requests table")
	}
	if l.Queued() != 1 {
		t.Fatalf("after a failed write %d rows queued, want 1", l.Queued())
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE requests_away RENAME TO requests`); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM requests WHERE request_id = 'req_kept'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d rows after the retry, want 1", n)
	}
}
