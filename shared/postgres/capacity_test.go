package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/capacity"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
)

var t0 = time.Date(2026, 3, 14, 9, 26, 5, 0, time.UTC)

func capLimits(n int) *catalog.Limits {
	l := catalog.Unlimited()
	l.MaxConcurrency = n
	return &l
}

func unlimited() *catalog.Limits {
	l := catalog.Unlimited()
	return &l
}

// capStore is a CapacityStore on a database of its own where each scope of caps has that many slots.
func capStore(t *testing.T, caps map[catalog.Scope]int) *postgres.CapacityStore {
	t.Helper()
	st := &postgres.CapacityStore{Pool: pgtest.NewPool(t)}
	for sc, n := range caps {
		if _, err := st.SetLimits(context.Background(), sc, capLimits(n), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func holder(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// A cap of N admits N holders; the next is refused until one releases, or until a holder's lease
// has run out (its instance died): the clock is the caller's, so the test moves it.
func TestSlotsCapAndLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	model := catalog.Scope{Kind: catalog.ScopeModel, Name: "m"}
	st := capStore(t, map[catalog.Scope]int{model: 2})
	scopes := []string{model.String()}
	take := func(h int, now time.Time) bool {
		t.Helper()
		ok, err := st.AcquireSlots(ctx, scopes, holder(h), now, now.Add(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take(1, t0) || !take(2, t0) {
		t.Fatal("a cap of 2 refused one of the first two holders")
	}
	if take(3, t0) {
		t.Fatal("a cap of 2 admitted a third holder")
	}
	if err := st.ReleaseSlots(ctx, holder(1)); err != nil {
		t.Fatal(err)
	}
	if !take(3, t0) {
		t.Fatal("a released slot was not taken again")
	}
	// Holder 2 renews, holder 3 dies: 3 s later only holder 3's slot is free again.
	if n, err := st.RenewSlots(ctx, holder(2), t0.Add(10*time.Second)); err != nil || n != 1 {
		t.Fatalf("renew: %d slots, %v", n, err)
	}
	if take(4, t0.Add(time.Second)) {
		t.Fatal("a slot was taken while both leases were live")
	}
	if !take(4, t0.Add(3*time.Second)) {
		t.Fatal("a dead holder's slot did not come back after its lease")
	}
	if take(5, t0.Add(3*time.Second)) {
		t.Fatal("a renewed lease was taken over")
	}
	// The dead holder's late release frees nothing of holder 4's.
	if err := st.ReleaseSlots(ctx, holder(3)); err != nil {
		t.Fatal(err)
	}
	if take(5, t0.Add(3*time.Second)) {
		t.Fatal("a dead holder's release freed another holder's slot")
	}
}

// A request meeting two caps takes a slot of both or of neither.
func TestSlotsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	model := catalog.Scope{Kind: catalog.ScopeModel, Name: "m"}
	prov := catalog.Scope{Kind: catalog.ScopeProvider, Name: "p"}
	st := capStore(t, map[catalog.Scope]int{model: 1, prov: 2})
	both := []string{model.String(), prov.String()}
	lease := t0.Add(time.Minute)
	if ok, err := st.AcquireSlots(ctx, both, holder(1), t0, lease); err != nil || !ok {
		t.Fatalf("first: %v %v", ok, err)
	}
	if ok, err := st.AcquireSlots(ctx, both, holder(2), t0, lease); err != nil || ok {
		t.Fatalf("second, with the model full: %v %v", ok, err)
	}
	// The provider's second slot is still free: the refused take left it alone.
	if ok, err := st.AcquireSlots(ctx, []string{prov.String()}, holder(3), t0, lease); err != nil || !ok {
		t.Fatalf("the provider's free slot: %v %v", ok, err)
	}
	// A cap lowered to 0 has no slots left.
	if _, err := st.SetLimits(ctx, prov, capLimits(0), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.ReleaseSlots(ctx, holder(3)); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.AcquireSlots(ctx, []string{prov.String()}, holder(4), t0, lease); err != nil || ok {
		t.Fatalf("a cap of 0: %v %v", ok, err)
	}
}

// Many takers at once never hold more slots than the cap.
func TestSlotsUnderContention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	model := catalog.Scope{Kind: catalog.ScopeModel, Name: "m"}
	const cap = 3
	st := capStore(t, map[catalog.Scope]int{model: cap})
	var held, most, admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				h := holder(g*100 + i)
				ok, err := st.AcquireSlots(ctx, []string{model.String()}, h, t0, t0.Add(time.Minute))
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					continue
				}
				admitted.Add(1)
				n := held.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				held.Add(-1)
				if err := st.ReleaseSlots(ctx, h); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if most.Load() > cap {
		t.Fatalf("%d slots held at once under a cap of %d", most.Load(), cap)
	}
	if admitted.Load() == 0 {
		t.Fatal("nobody was admitted")
	}
}

// Windows count requests and reserved tokens all or nothing, a settlement replaces a reservation
// with the true usage, and a new window starts from zero.
func TestRateWindows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &postgres.CapacityStore{Pool: pgtest.NewPool(t)}
	team := catalog.Scope{Kind: catalog.ScopeTeam, Name: "pilot"}
	key := catalog.Scope{Kind: catalog.ScopeKey, Name: "key_1"}
	tl := catalog.Unlimited()
	tl.Rates[0] = catalog.Rate{Requests: 3, Tokens: 100}
	kl := catalog.Unlimited()
	kl.Rates[1] = catalog.Rate{Requests: 10, Tokens: catalog.NoLimit}
	if _, err := st.SetLimits(ctx, team, &tl, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetLimits(ctx, key, &kl, nil, nil); err != nil {
		t.Fatal(err)
	}
	checks := func(now time.Time) []capacity.WindowCheck {
		m, _ := catalog.PerMinute.Window(now)
		d, _ := catalog.PerDay.Window(now)
		return []capacity.WindowCheck{
			{Scope: team.String(), Period: catalog.PerMinute, Start: m, MaxRequests: 3, MaxTokens: 100},
			{Scope: key.String(), Period: catalog.PerDay, Start: d, MaxRequests: 10, MaxTokens: catalog.NoLimit},
		}
	}
	reserve := func(now time.Time, tokens int64) (bool, []capacity.WindowCount) {
		t.Helper()
		ok, counts, err := st.Reserve(ctx, checks(now), tokens)
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 2 {
			t.Fatalf("%d windows counted, want 2", len(counts))
		}
		return ok, counts
	}
	ok, first := reserve(t0, 40)
	if !ok {
		t.Fatal("the first request was refused")
	}
	if ok, _ := reserve(t0, 40); !ok {
		t.Fatal("the second request was refused")
	}
	ok, counts := reserve(t0, 40) // 80 + 40 > 100
	if ok {
		t.Fatal("a request past the token limit was admitted")
	}
	for _, c := range counts {
		if c.Requests != 2 {
			t.Fatalf("a refused request was counted: %+v", c)
		}
	}
	// The first request used 10 tokens, not 40: 50 left, so the third fits.
	if err := st.Settle(ctx, first, 10-40); err != nil {
		t.Fatal(err)
	}
	if ok, _ := reserve(t0, 40); !ok {
		t.Fatal("the settlement gave no tokens back")
	}
	if ok, _ := reserve(t0, 1); ok {
		t.Fatal("a fourth request in the minute was admitted")
	}
	// The next minute starts from zero; the day keeps counting (4 requests so far).
	ok, counts = reserve(t0.Add(time.Minute), 40)
	if !ok {
		t.Fatal("a request in the next minute was refused")
	}
	for _, c := range counts {
		want := int64(1)
		if c.Period == catalog.PerDay {
			want = 4
		}
		if c.Requests != want {
			t.Fatalf("%s window counts %d requests, want %d", c.Period, c.Requests, want)
		}
	}
	// A settlement for a minute that has ended changes nothing in the new one.
	if err := st.Settle(ctx, first, 1000); err != nil {
		t.Fatal(err)
	}
	if ok, _ := reserve(t0.Add(time.Minute), 60); !ok {
		t.Fatal("a settlement of an ended window was counted in the new one")
	}
}

// The catalogue snapshot carries the limits, and only of scopes that limit something.
func TestSnapshotCarriesLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	st := &postgres.CapacityStore{Pool: pool}
	model := catalog.Scope{Kind: catalog.ScopeModel, Name: "m"}
	l := capLimits(8)
	l.Queue = 1500 * time.Millisecond
	if _, err := st.SetLimits(ctx, model, l, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetLimits(ctx, catalog.Scope{Kind: catalog.ScopeTeam, Name: "t"}, unlimited(), nil, nil); err != nil {
		t.Fatal(err)
	}
	snap, err := (&postgres.SnapshotLoader{Pool: pool}).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := snap.LimitsOf(catalog.ScopeModel, "m")
	if got == nil || got.MaxConcurrency != 8 || got.Queue != 1500*time.Millisecond {
		t.Fatalf("model limits in the snapshot: %+v", got)
	}
	if snap.LimitsOf(catalog.ScopeTeam, "t") != nil {
		t.Fatal("a scope without any limit is in the snapshot")
	}
}
