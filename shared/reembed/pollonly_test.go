package reembed

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// TestPollOnlyWorkerNeverListens: a worker configured PollOnly (as behind RDS Proxy) works jobs
// without any session of its database in LISTEN; the default one listens, which shows the check sees
// River's listener.
func TestPollOnlyWorkerNeverListens(t *testing.T) {
	t.Parallel()
	for _, pollOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "poll-only"}[pollOnly], func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.PollOnly = pollOnly
			e := newEnv(t, cfg)
			listening := func() int {
				var n int
				if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND query ILIKE 'listen %'`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			// Jobs worked to the end: the worker's services, its listener if any, have started.
			e.createCorpus("handbook")
			e.put("handbook", 0, 5, 1)
			e.waitSynced()
			if !pollOnly {
				waittest.Eventually(t, 30*time.Second, "the default worker to LISTEN (else the check cannot see River's listener)",
					func() (string, bool) { n := listening(); return fmt.Sprintf("%d sessions LISTEN", n), n > 0 })
				return
			}
			if n := listening(); n != 0 {
				t.Errorf("%d sessions LISTEN although the worker is poll-only", n)
			}
		})
	}
}
