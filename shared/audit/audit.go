// Package audit describes one entry of the audit log: who changed what in the catalogue (or signed
// in to the console), from where, and the entity before and after. The stores write an entry in the
// same transaction as the change it records (postgres.InsertAudit), so a change and its entry are
// committed, or rolled back, together.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
)

// Actor is the admin who acted, as the log records it: the same for the admin API and the console.
type Actor struct {
	ID   string
	Name string
	Role catalog.Role
}

// ActorOf is the actor of admin a.
func ActorOf(a *catalog.Admin) Actor {
	return Actor{ID: a.ID, Name: a.Name, Role: a.Role}
}

// String is how other records name the actor (an alias's history, a re-embed run's started_by):
// the admin's name and id, e.g. "ops lead (adm_0123abcd)", or the id alone when there is no name.
func (a Actor) String() string {
	if a.Name == "" {
		return a.ID
	}
	return a.Name + " (" + a.ID + ")"
}

// Origin is where a change came from.
type Origin struct {
	IP        string // the caller's address as the server saw it (API Gateway's source IP in the cloud)
	UserAgent string
	RequestID string
}

// OriginOf is the origin of the request ctx belongs to (reqlog.Middleware records it); empty
// outside a request.
func OriginOf(ctx context.Context) Origin {
	ip, ua := reqlog.Client(ctx)
	return Origin{IP: ip, UserAgent: ua, RequestID: reqlog.ID(ctx)}
}

// Entry is one change to record. The store that makes the change fills in the entity before and
// after it, inside its transaction.
type Entry struct {
	Actor  *Actor // nil for a failed sign-in: nobody is known
	Action string // e.g. provider.update
	Target string // what was changed, e.g. the provider's identifier
	Origin Origin
	// Show turns an entity the store read (a *catalog.Provider, ...) into what the log keeps, the
	// view the admin API answers, which never holds a credential, a key or a token, nor their
	// hashes. The store refuses to record catalogue entities when Show is nil.
	Show func(v any) any
}

// New is the entry of action on target by admin by, from the request ctx belongs to.
func New(ctx context.Context, by *catalog.Admin, action, target string) *Entry {
	e := &Entry{Action: action, Target: target, Origin: OriginOf(ctx)}
	if by != nil {
		a := ActorOf(by)
		e.Actor = &a
	}
	return e
}

// ActorString is e's actor as other records name it (Actor.String), or "system" for an entry-less
// change (tests, benchmarks, internal callers).
func (e *Entry) ActorString() string {
	if e == nil || e.Actor == nil {
		return "system"
	}
	return e.Actor.String()
}

// Actions the log records. Each is "<entity>.<verb>".
const (
	ProviderCreate = "provider.create"
	ProviderUpdate = "provider.update"
	ProviderDelete = "provider.delete"
	ProviderVerify = "provider.verify"
	ModelCreate    = "model.create"
	ModelUpdate    = "model.update"
	ModelProbe     = "model.probe"
	AliasCreate    = "alias.create"
	AliasMove      = "alias.move"
	AliasRollback  = "alias.rollback"
	RouteUpdate    = "route.update"
	RouteRollback  = "route.rollback"
	AudienceSet    = "audience.set"
	TeamCreate     = "team.create"
	KeyCreate      = "key.create"
	KeyRevoke      = "key.revoke"
	AdminCreate    = "admin.create"
	AdminRevoke    = "admin.revoke"
	AdminSignOut   = "admin.end_sessions"
	CorpusCreate   = "corpus.create"
	CorpusRollback = "corpus.rollback"
	CorpusUpdate   = "corpus.update"
	ReembedStart   = "reembed.start"
	ReembedCancel  = "reembed.cancel"
	LimitsSet      = "limits.set"
	LimitsDelete   = "limits.delete"
	SigninOK       = "console.signin"
	SigninFailed   = "console.signin_failed"
)

// Actions lists every action, in the order above (the console's filter offers them).
var Actions = []string{ProviderCreate, ProviderUpdate, ProviderDelete, ProviderVerify, ModelCreate, ModelUpdate, ModelProbe,
	AliasCreate, AliasMove, AliasRollback, RouteUpdate, RouteRollback, AudienceSet, TeamCreate, KeyCreate, KeyRevoke, AdminCreate, AdminRevoke, AdminSignOut,
	CorpusCreate, CorpusRollback, CorpusUpdate, ReembedStart, ReembedCancel, LimitsSet, LimitsDelete, SigninOK, SigninFailed}

// Row is one entry of the audit log as it is read back.
type Row struct {
	ID        int64           `json:"id"`
	At        time.Time       `json:"at"`
	ActorID   *string         `json:"actor_id"`
	ActorName *string         `json:"actor_name"`
	Role      *string         `json:"role"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	Before    json.RawMessage `json:"before"`
	After     json.RawMessage `json:"after"`
	SourceIP  string          `json:"source_ip"`
	UserAgent string          `json:"user_agent"`
	RequestID string          `json:"request_id"`
}

// Query selects a page of the audit log, newest first (by time, then by the order rows were
// written). Empty filters match everything; From and To bound the time to [From, To). After and
// Before are entry ids of an earlier page, at most one of them: After continues to older entries,
// Before goes back to newer ones.
type Query struct {
	Actor, Action, Target string
	From, To              time.Time
	Limit                 int
	After, Before         int64
}

// ErrNotFound is a page's cursor naming an entry the log does not hold.
var ErrNotFound = errors.New("audit entry not found")
