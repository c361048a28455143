package catalog

import (
	"context"
	"sync"
	"time"
)

// Secret kinds a Source looks up by hash.
type SecretKind byte

// The two kinds of secret: developer keys and admin tokens.
const (
	SecretKey SecretKind = iota + 1
	SecretAdmin
)

// HashChecker is implemented by a Loader that can tell, with one indexed query, whether a hash
// belongs to an active (not revoked) key or admin. A Source whose loader implements it looks up
// hashes its snapshot lacks, so a secret created a moment ago on another instance works at once.
type HashChecker interface {
	ActiveHash(ctx context.Context, kind SecretKind, hash [32]byte) (bool, error)
}

// Bounds on look-ups of hashes the snapshot lacks, per Source (per instance): a flood of unknown
// secrets costs the database at most MissBurst queries at once and MissesPerSecond after that, and a
// hash found absent is not asked about again for MaxStaleness (at most MissCacheSize such hashes are
// remembered).
const (
	MissesPerSecond = 10
	MissBurst       = 10
	MissCacheSize   = 1024
)

// misses is the look-up budget (a token bucket) and the cache of hashes recently found absent.
type misses struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
	absent map[missKey]time.Time // when the store said absent
}

type missKey struct {
	kind SecretKind
	hash [32]byte
}

// allow reports whether a look-up of k may go to the store now, and spends budget if so.
func (m *misses) allow(k missKey, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if at, ok := m.absent[k]; ok {
		if now.Sub(at) < MaxStaleness {
			return false
		}
		delete(m.absent, k)
	}
	if m.last.IsZero() {
		m.tokens = MissBurst
	} else if el := now.Sub(m.last); el > 0 {
		m.tokens = min(MissBurst, m.tokens+el.Seconds()*MissesPerSecond)
	}
	m.last = now
	if m.tokens < 1 {
		return false
	}
	m.tokens--
	return true
}

// sawAbsent remembers that the store did not hold k at now. A key or admin is created with a fresh
// random secret, so its hash cannot have been asked about before it existed, and the entry lasts no
// longer than MaxStaleness: it never delays a new secret beyond SPEC's one second.
func (m *misses) sawAbsent(k missKey, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.absent == nil {
		m.absent = map[missKey]time.Time{}
	}
	if len(m.absent) >= MissCacheSize {
		for h, at := range m.absent {
			if now.Sub(at) >= MaxStaleness {
				delete(m.absent, h)
			}
		}
		if len(m.absent) >= MissCacheSize {
			return // the budget still bounds the store's load
		}
	}
	m.absent[k] = now
}

// Key returns the active developer key whose secret hashes to hash, with the snapshot it was found
// in; nil when there is none. A known key costs a map look-up (no database round trip). A hash the
// snapshot lacks is asked of the store within the bounds above; when the store holds it, active, the
// snapshot is reloaded at once and the key taken from the reloaded snapshot, so a key answers on
// every instance as soon as its creation has, and a revoked key is never brought back.
func (s *Source) Key(ctx context.Context, hash [32]byte) (*Key, *Snapshot, error) {
	snap, err := s.find(ctx, SecretKey, hash, func(sn *Snapshot) bool { return sn.Keys[hash] != nil })
	if err != nil {
		return nil, nil, err
	}
	return snap.Keys[hash], snap, nil
}

// Admin is Key for admin tokens.
func (s *Source) Admin(ctx context.Context, hash [32]byte) (*Admin, *Snapshot, error) {
	snap, err := s.find(ctx, SecretAdmin, hash, func(sn *Snapshot) bool { return sn.Admins[hash] != nil })
	if err != nil {
		return nil, nil, err
	}
	return snap.Admins[hash], snap, nil
}

func (s *Source) find(ctx context.Context, kind SecretKind, hash [32]byte, has func(*Snapshot) bool) (*Snapshot, error) {
	snap, err := s.Get(ctx)
	if err != nil || has(snap) {
		return snap, err
	}
	hc, ok := s.loader.(HashChecker)
	k := missKey{kind, hash}
	if !ok || !s.misses.allow(k, s.now()) {
		return snap, nil
	}
	active, err := hc.ActiveHash(ctx, kind, hash)
	if err != nil {
		// Answer as the snapshot does; the next version check reports a broken database.
		return snap, nil
	}
	if !active {
		s.misses.sawAbsent(k, s.now())
		return snap, nil
	}
	// A check under way may have started before the secret was committed: then a second one,
	// started after the look-up, sees it.
	for range 2 {
		if err := s.Refresh(ctx); err != nil {
			return nil, err
		}
		s.mu.Lock()
		snap = s.cur
		s.mu.Unlock()
		if has(snap) {
			break
		}
	}
	return snap, nil
}
