package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

func numCPU() int     { return runtime.NumCPU() }
func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

// soak runs the gateway at concurrency conc for d, with failRate of upstream calls failing, over
// a mix of embeddings, chat and streamed chat. Every request carries its own X-Request-Id; at the
// end each must have exactly one request-log row, and the heap after GC must not have grown
// between the end of the first minute (warm) and the end.
func (h *harness) soak(ctx context.Context, d time.Duration, conc int, failRate float64) error {
	h.fake.SetFaults(fakeupstream.Faults{FailRate: failRate})
	wls := workloads()
	runID := fmt.Sprintf("soak-%d", time.Now().UnixNano())
	var seq atomic.Int64
	var sent, failed atomic.Int64
	heap := func() uint64 {
		runtime.GC()
		debug.FreeOSMemory()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	start := time.Now()
	end := start.Add(d)
	warmAt := start.Add(min(time.Minute, d/5))
	var warmHeap, maxHeap uint64
	ticker := time.NewTicker(10 * time.Second)
	defer ticker.Stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
			wl := wls[i%len(wls)]
			batch := 300
			s := h.run(ctx, h.gateway, h.key, wl, wl.models["gateway"], conc, batch, time.Until(end)+time.Second, func(int) string {
				return fmt.Sprintf("%s-%d", runID, seq.Add(1))
			})
			sent.Add(int64(len(s.lat) + s.errors))
			failed.Add(int64(s.errors))
		}
	}()
	fmt.Printf("soak: %v at concurrency %d, %.1f%% upstream failures\n", d, conc, failRate*100)
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-ticker.C:
			hp := heap()
			if warmHeap == 0 && time.Now().After(warmAt) {
				warmHeap = hp
			}
			maxHeap = max(maxHeap, hp)
			fmt.Printf("soak: %5.0fs  requests %d  failed %d  heap in use %.1f MB  request log queued %d written %d\n",
				time.Since(start).Seconds(), sent.Load(), failed.Load(), float64(hp)/1e6, h.app.Usage.Queued(), h.app.Usage.Written())
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	finalHeap := heap()
	if err := h.app.Usage.Flush(ctx); err != nil {
		return err
	}
	// The client gave every request a distinct id (seq); requests that never reached the gateway
	// (none expected on loopback) would show as missing rows.
	var rows, distinct, failedRows int64
	err := h.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT request_id), count(*) FILTER (WHERE outcome <> 'ok')
		FROM requests WHERE request_id LIKE $1`, runID+"-%").Scan(&rows, &distinct, &failedRows)
	if err != nil {
		return err
	}
	ids := seq.Load()
	fmt.Printf("soak: %d requests sent (%d answered with an error), %d request-log rows (%d distinct ids, %d not ok), dropped %d\n",
		ids, failed.Load(), rows, distinct, failedRows, h.app.Usage.Dropped())
	fmt.Printf("soak: heap in use after warm-up %.1f MB, at the end %.1f MB, peak %.1f MB\n",
		float64(warmHeap)/1e6, float64(finalHeap)/1e6, float64(maxHeap)/1e6)
	var problems []string
	if rows != ids || distinct != ids {
		problems = append(problems, fmt.Sprintf("%d requests but %d rows (%d distinct ids)", ids, rows, distinct))
	}
	if failedRows != failed.Load() {
		problems = append(problems, fmt.Sprintf("%d failed answers but %d rows not ok", failed.Load(), failedRows))
	}
	if warmHeap > 0 && float64(finalHeap) > 1.5*float64(warmHeap)+4e6 {
		problems = append(problems, fmt.Sprintf("heap grew from %.1f MB to %.1f MB", float64(warmHeap)/1e6, float64(finalHeap)/1e6))
	}
	if len(problems) > 0 {
		return fmt.Errorf("soak failed: %v", problems)
	}
	fmt.Println("soak: ok — one request-log row per request, heap flat")
	return nil
}
