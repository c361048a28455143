package catalog

import "time"

// ScopeKind names what a Limits row applies to: concurrency caps apply to providers and models
// (what serves requests), rates and quotas to teams and keys (who sends them).
type ScopeKind string

// The scopes a limit can have.
const (
	ScopeProvider ScopeKind = "provider"
	ScopeModel    ScopeKind = "model"
	ScopeTeam     ScopeKind = "team"
	ScopeKey      ScopeKind = "key"
)

// Serves reports whether the scope is one that serves requests (caps) rather than sends them (rates).
func (k ScopeKind) Serves() bool { return k == ScopeProvider || k == ScopeModel }

// Valid reports whether k is one of the four scope kinds.
func (k ScopeKind) Valid() bool {
	return k == ScopeProvider || k == ScopeModel || k == ScopeTeam || k == ScopeKey
}

// Scope is one capped or limited thing: a provider by identifier, a model by name, a team by name
// or a key by id.
type Scope struct {
	Kind ScopeKind
	Name string
}

// String is the scope as the counters' tables key it, e.g. "model:acme-chat-2026-01".
func (s Scope) String() string { return string(s.Kind) + ":" + s.Name }

// Period is the length of a rate window.
type Period string

// The periods. Windows are fixed and aligned in UTC: a minute starts at :00, a day at midnight,
// a month on its first day.
const (
	PerMinute Period = "minute"
	PerDay    Period = "day"
	PerMonth  Period = "month"
)

// Periods lists every period, shortest first.
var Periods = [...]Period{PerMinute, PerDay, PerMonth}

// Window returns the start and end of the window of period p that holds t.
func (p Period) Window(t time.Time) (start, end time.Time) {
	t = t.UTC()
	switch p {
	case PerMinute:
		start = t.Truncate(time.Minute)
		return start, start.Add(time.Minute)
	case PerDay:
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	default:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
}

// NoLimit marks an absent limit: Limits' numbers are NoLimit unless set. Zero is a limit too:
// nothing at all is allowed.
const NoLimit = -1

// Rate is a period's limits: requests and tokens, each NoLimit or at least 0.
type Rate struct {
	Requests int64
	Tokens   int64
}

// Limited reports whether r limits anything.
func (r Rate) Limited() bool { return r.Requests != NoLimit || r.Tokens != NoLimit }

// Limits are the capacity settings of one scope. A zero Limits is not "no limits": start from
// Unlimited.
type Limits struct {
	// MaxConcurrency is the most requests in flight at once across every instance (providers and
	// models), NoLimit when uncapped; 0 refuses every request.
	MaxConcurrency int
	// Queue is how long a request waits for a free slot before it is refused.
	Queue time.Duration
	// Rates are the limits per period (teams and keys), indexed like Periods.
	Rates [len(Periods)]Rate
	// UpdatedAt is when an operator last changed them.
	UpdatedAt time.Time
}

// Unlimited returns Limits that limit nothing.
func Unlimited() Limits {
	l := Limits{MaxConcurrency: NoLimit}
	for i := range l.Rates {
		l.Rates[i] = Rate{NoLimit, NoLimit}
	}
	return l
}

// Capped reports whether l caps concurrency.
func (l *Limits) Capped() bool { return l != nil && l.MaxConcurrency != NoLimit }

// RateLimited reports whether l limits requests or tokens in any period.
func (l *Limits) RateLimited() bool {
	if l == nil {
		return false
	}
	for _, r := range l.Rates {
		if r.Limited() {
			return true
		}
	}
	return false
}

// LimitsOf returns the limits of scope, nil when it has none. The snapshot keeps only scopes that
// limit something, so a nil answer means the request path needs no counter.
func (s *Snapshot) LimitsOf(kind ScopeKind, name string) *Limits {
	if s.Limits == nil {
		return nil
	}
	return s.Limits[Scope{kind, name}]
}
