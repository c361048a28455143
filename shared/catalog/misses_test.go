package catalog

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// hashLoader is a fakeLoader whose store holds the keys in active (by hash).
type hashLoader struct {
	fakeLoader
	active  map[[32]byte]bool
	lookups atomic.Int64
}

func (h *hashLoader) Load(ctx context.Context) (*Snapshot, error) {
	s, err := h.fakeLoader.Load(ctx)
	if err != nil {
		return nil, err
	}
	s.Keys = map[[32]byte]*Key{}
	for k := range h.active {
		s.Keys[k] = &Key{ID: "key", Hash: k}
	}
	return s, nil
}

func (h *hashLoader) ActiveHash(_ context.Context, _ SecretKind, hash [32]byte) (bool, error) {
	h.lookups.Add(1)
	return h.active[hash], nil
}

// An unknown hash asked again and again costs one look-up per MaxStaleness; the look-up budget comes
// back with time; a key the store holds is found through the budget, and not kept out by the cache.
func TestMissLookupsAreBoundedAndCached(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := &hashLoader{active: map[[32]byte]bool{}}
	c := &clock{t: time.Unix(1000, 0)}
	s := NewSource(l, time.Hour, c.now) // the snapshot never goes stale here: only look-ups reach the store

	unknown := HashSecret("sk-sy-unknown")
	for range 100 {
		if k, _, err := s.Key(ctx, unknown); k != nil || err != nil {
			t.Fatalf("Key(unknown) = %v, %v", k, err)
		}
	}
	if n := l.lookups.Load(); n != 1 {
		t.Fatalf("one unknown hash asked 100 times made %d look-ups; want 1 (then cached)", n)
	}
	c.add(MaxStaleness)
	_, _, _ = s.Key(ctx, unknown)
	if n := l.lookups.Load(); n != 2 {
		t.Fatalf("after MaxStaleness the unknown hash made %d look-ups in all; want 2", n)
	}

	for i := range 100 {
		_, _, _ = s.Key(ctx, HashSecret("sk-sy-flood-"+string(rune('a'+i))))
	}
	// The second look-up spent one of the refilled burst; the flood gets the rest.
	if n := l.lookups.Load(); n != 2+MissBurst-1 {
		t.Fatalf("a flood made %d look-ups in all; want %d (the burst)", n, 2+MissBurst-1)
	}
	created := HashSecret("sk-sy-new")
	l.active[created] = true
	l.version.Add(1)
	if k, _, _ := s.Key(ctx, created); k != nil {
		t.Fatalf("with the budget spent, a new key is found only by the snapshot's own check")
	}
	c.add(time.Second / MissesPerSecond)
	if k, _, err := s.Key(ctx, created); k == nil || err != nil {
		t.Fatalf("Key(new) once budget came back = %v, %v; want the key", k, err)
	}
}
