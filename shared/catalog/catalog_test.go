package catalog

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"acme-embed-2026-06", true},
		{"acme.llm:v2_1", true},
		{"a", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"Acme", false},
		{"-acme", false},
		{"acme embed", false},
		{"acme/embed", false},
		{"émbed", false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v; want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestRoleCan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		role  Role
		area  Area
		write bool
		want  bool
	}{
		{RoleSuperAdmin, AreaAccess, true, true},
		{RoleProviderAdmin, AreaCatalog, true, true},
		{RoleProviderAdmin, AreaAccess, true, false},
		{RoleProviderAdmin, AreaAccess, false, false},
		{RoleProviderAdmin, AreaUsage, false, true},
		{RoleViewer, AreaUsage, false, true},
		{RoleViewer, AreaCatalog, false, true},
		{RoleViewer, AreaCatalog, true, false},
		{Role("owner"), AreaCatalog, false, false},
	} {
		if got := tc.role.Can(tc.area, tc.write); got != tc.want {
			t.Errorf("%s.Can(%s, write=%v) = %v; want %v", tc.role, tc.area, tc.write, got, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	s := &Snapshot{
		Models: map[string]*Model{
			"chat-v1": {Name: "chat-v1", Kind: KindChat, Enabled: true},
			"chat-v0": {Name: "chat-v0", Kind: KindChat, Enabled: false},
		},
		Aliases: map[string]*Alias{"chat": {Name: "chat", Kind: KindChat, Target: "chat-v1"}},
		Grants: map[string]map[string]bool{
			"chat":    {"red": true},
			"chat-v0": {"red": true},
		},
	}
	red := &Key{Team: "red"}
	blue := &Key{Team: "blue"}
	narrow := &Key{Team: "red", Models: []string{"chat-v0"}}
	for _, tc := range []struct {
		key   *Key
		name  string
		want  Outcome
		model string
	}{
		{red, "chat", Resolved, "chat-v1"},
		{red, "chat-v1", NotGranted, "chat-v1"}, // a grant on the alias does not cover pinning
		{blue, "chat", NotGranted, "chat-v1"},
		{red, "nope", UnknownName, ""},
		{red, "chat-v0", ModelDisabled, "chat-v0"},
		{narrow, "chat", NotInAllowList, "chat-v1"},
	} {
		m, _, got := s.Resolve(tc.key, tc.name)
		if got != tc.want {
			t.Errorf("Resolve(team %s, %q) = %s; want %s", tc.key.Team, tc.name, got, tc.want)
		}
		if tc.model != "" && (m == nil || m.Name != tc.model) {
			t.Errorf("Resolve(team %s, %q) model = %v; want %s", tc.key.Team, tc.name, m, tc.model)
		}
	}
	if got := s.Visible(red); len(got) != 1 || got[0] != "chat" {
		t.Errorf("Visible(red) = %v; want [chat]", got)
	}
}

type fakeLoader struct {
	version atomic.Int64
	loads   atomic.Int64
	checks  atomic.Int64
	fail    atomic.Bool
}

func (f *fakeLoader) Version(context.Context) (int64, error) {
	f.checks.Add(1)
	if f.fail.Load() {
		return 0, errors.New("database down")
	}
	return f.version.Load(), nil
}

func (f *fakeLoader) Load(context.Context) (*Snapshot, error) {
	f.loads.Add(1)
	if f.fail.Load() {
		return nil, errors.New("database down")
	}
	return &Snapshot{Version: f.version.Load()}, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A change is seen once the interval has passed, and requests in between cost no round trip.
func TestSourceChecksAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := &fakeLoader{}
	l.version.Store(1)
	c := &clock{t: time.Unix(1000, 0)}
	s := NewSource(l, 300*time.Millisecond, c.now)

	for range 100 {
		snap, err := s.Get(ctx)
		if err != nil || snap.Version != 1 {
			t.Fatalf("Get = %v, %v; want version 1", snap, err)
		}
	}
	if l.loads.Load() != 1 || l.checks.Load() != 0 {
		t.Fatalf("100 Gets within the interval made %d loads and %d version checks; want 1 and 0", l.loads.Load(), l.checks.Load())
	}
	l.version.Store(2)
	c.add(299 * time.Millisecond)
	if snap, _ := s.Get(ctx); snap.Version != 1 {
		t.Fatalf("before the interval: version %d; want the cached 1", snap.Version)
	}
	c.add(time.Millisecond)
	if snap, _ := s.Get(ctx); snap.Version != 2 {
		t.Fatalf("after the interval: version %d; want 2", snap.Version)
	}
	c.add(300 * time.Millisecond)
	_, _ = s.Get(ctx)
	if l.loads.Load() != 2 {
		t.Fatalf("an unchanged version reloaded the snapshot: %d loads; want 2", l.loads.Load())
	}
}

// When the store cannot be read, a snapshot is served only while it is within the one-second rule.
func TestSourceRefusesSnapshotsOlderThanOneSecond(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := &fakeLoader{}
	c := &clock{t: time.Unix(1000, 0)}
	s := NewSource(l, 300*time.Millisecond, c.now)
	if _, err := s.Get(ctx); err != nil {
		t.Fatal(err)
	}
	l.fail.Store(true)
	c.add(500 * time.Millisecond)
	if _, err := s.Get(ctx); err != nil {
		t.Fatalf("a 500ms-old snapshot with the store down: %v; want it served", err)
	}
	c.add(600 * time.Millisecond)
	if snap, err := s.Get(ctx); err == nil {
		t.Fatalf("a 1.1s-old snapshot was served (version %d) while the store is down", snap.Version)
	}
	l.fail.Store(false)
	if _, err := s.Get(ctx); err != nil {
		t.Fatalf("after the store recovered: %v", err)
	}
}
