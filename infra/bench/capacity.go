package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/shared/capacity"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// capacityBench measures what a concurrency cap and a rate limit cost a request (the round trips to
// Postgres: take and release a slot; reserve and settle tokens), against the same request without
// them, in one run; then the largest rate one hot row of each kind sustains on this machine.
func (h *harness) capacityBench(ctx context.Context, n int, maxCase time.Duration, rounds int, only string) error {
	if only != "" && !strings.Contains("capacity", only) {
		return nil
	}
	// A model with a cap no run reaches (so the figure is the round trips, not queueing), and a key
	// of the same team whose limits no run reaches.
	key := "sk-benchlimited0123456789abcdef0123456789abcdef"
	hash := catalog.HashSecret(key)
	for _, s := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO catalog_names (name, what) VALUES ('chat-capped', 'model')`, nil},
		{`INSERT INTO models (name, provider_id, upstream_name, kind, dimension, cap_streaming, enabled)
			SELECT 'chat-capped', id, 'demo-chat', 'chat', 0, true, true FROM providers`, nil},
		{`INSERT INTO grants (name, team_id) SELECT 'chat-capped', id FROM teams`, nil},
		{`INSERT INTO api_keys (id, team_id, key_hash, prefix) SELECT 'key_limited', id, $1, 'sk-' FROM teams`, []any{hash[:]}},
	} {
		if _, err := h.pool.Exec(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("capacity fixture %q: %w", s.sql, err)
		}
	}
	st := &postgres.CapacityStore{Pool: h.pool}
	capped := catalog.Unlimited()
	capped.MaxConcurrency = 1000
	if _, err := st.SetLimits(ctx, catalog.Scope{Kind: catalog.ScopeModel, Name: "chat-capped"}, &capped, nil, nil); err != nil {
		return err
	}
	limited := catalog.Unlimited()
	limited.Rates[0] = catalog.Rate{Requests: 1 << 40, Tokens: 1 << 50}
	if _, err := st.SetLimits(ctx, catalog.Scope{Kind: catalog.ScopeKey, Name: "key_limited"}, &limited, nil, nil); err != nil {
		return err
	}
	if err := h.app.Catalog.Refresh(ctx); err != nil {
		return err
	}
	chat := workloads()[1]
	type target struct{ name, model, key string }
	targets := []target{
		{"uncapped", "chat", h.key},
		{"capped model", "chat-capped", h.key},
		{"limited key", "chat", key},
	}
	fmt.Println("\n## Capacity: what a cap and a limit add (chat, through the gateway, same run)")
	fmt.Println()
	fmt.Println("| c | request | reqs | p50 µs | p99 µs | added p50 µs | added p99 µs | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, conc := range []int{1, 32} {
		res := measure(targets, func(t target) string { return t.name }, n, conc, rounds, maxCase, func(t target, n int, maxDur time.Duration) sample {
			return h.run(ctx, h.gateway, t.key, chat, t.model, conc, n, maxDur, nil)
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		base := res["uncapped"]
		for _, t := range targets {
			s := res[t.name]
			added := [2]string{"–", "–"}
			if t.name != "uncapped" {
				added = [2]string{fmt.Sprintf("%.0f", us(pct(s.lat, .5)-pct(base.lat, .5))), fmt.Sprintf("%.0f", us(pct(s.lat, .99)-pct(base.lat, .99)))}
			}
			fmt.Printf("| %d | %s | %d | %.0f | %.0f | %s | %s | %s |\n", conc, t.name, len(s.lat), us(pct(s.lat, .5)), us(pct(s.lat, .99)), added[0], added[1], s.errorsCell())
		}
	}
	return hotRows(ctx, h.base, h.dbName)
}

// hotRows runs tight loops on one scope from N goroutines, each on a connection of its own: take and
// release a slot (a cap of N, so nobody is refused, and a cap of 1, where everyone wants the same
// row), and reserve and settle on one rate window.
func hotRows(ctx context.Context, base, db string) error {
	const window = 3 * time.Second
	pool, err := postgres.Open(ctx, databaseURL(base, db), postgres.PoolConfig{MaxConns: 64})
	if err != nil {
		return err
	}
	defer pool.Close()
	st := &postgres.CapacityStore{Pool: pool}
	fmt.Println("\n## Capacity: one hot row (Postgres on this machine, each goroutine on its own connection)")
	fmt.Println()
	fmt.Println("| loop | goroutines | operations/s | admitted/s | p50 µs | p99 µs |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, g := range []int{1, 8, 32} {
		for _, c := range []struct {
			name string
			cap  int
		}{{"acquire+release, cap = goroutines", g}, {"acquire+release, cap 1", 1}, {"reserve+settle, one window", 0}} {
			if g == 1 && c.cap == 1 && c.name != "acquire+release, cap = goroutines" {
				continue // the same as the line above
			}
			scope := catalog.Scope{Kind: catalog.ScopeModel, Name: fmt.Sprintf("hot-%d-%d", g, c.cap)}
			l := catalog.Unlimited()
			if c.cap > 0 {
				l.MaxConcurrency = c.cap
			} else {
				scope = catalog.Scope{Kind: catalog.ScopeTeam, Name: fmt.Sprintf("hot-%d", g)}
				l.Rates[0] = catalog.Rate{Requests: 1 << 40, Tokens: 1 << 50}
			}
			if _, err := st.SetLimits(ctx, scope, &l, nil, nil); err != nil {
				return err
			}
			ops, admitted, lat := hotLoop(ctx, st, scope, c.cap > 0, g, window)
			fmt.Printf("| %s | %d | %.0f | %.0f | %.0f | %.0f |\n", c.name, g, float64(ops)/window.Seconds(), float64(admitted)/window.Seconds(),
				us(pct(lat, .5)), us(pct(lat, .99)))
		}
	}
	return nil
}

func hotLoop(ctx context.Context, st *postgres.CapacityStore, scope catalog.Scope, slots bool, g int, window time.Duration) (ops, admitted int64, lat []time.Duration) {
	var nOps, nAdmitted atomic.Int64
	var mu sync.Mutex
	deadline := time.Now().Add(window)
	var wg sync.WaitGroup
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			holder := fmt.Sprintf("00000000-0000-4000-8000-%012d", w)
			scopes := []string{scope.String()}
			win, _ := catalog.PerMinute.Window(time.Now())
			check := []capacity.WindowCheck{{Of: scope, Scope: scope.String(), Period: catalog.PerMinute, Start: win, MaxRequests: 1 << 40, MaxTokens: 1 << 50}}
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if slots {
					ok, err := st.AcquireSlots(ctx, scopes, holder, t0, t0.Add(time.Minute))
					if err == nil && ok {
						err = st.ReleaseSlots(ctx, holder)
						nAdmitted.Add(1)
					}
					if err != nil {
						return
					}
				} else {
					ok, counts, err := st.Reserve(ctx, check, 100)
					if err == nil && ok {
						err = st.Settle(ctx, counts, -50)
						nAdmitted.Add(1)
					}
					if err != nil {
						return
					}
				}
				nOps.Add(1)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return nOps.Load(), nAdmitted.Load(), lat
}
