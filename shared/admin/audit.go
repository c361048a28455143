package admin

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// entry is the audit entry of a change by admin by, from the request ctx belongs to. The store
// records it in the change's transaction, the entity shown as the API shows it.
func (s *Service) entry(ctx context.Context, by *catalog.Admin, action, target string) *audit.Entry {
	return newEntry(ctx, by, action, target)
}

// newEntry is the one way the admin services (Service, Corpora) record their actor: whether the
// change came from the API or the console, the entry holds the same audit.Actor.
func newEntry(ctx context.Context, by *catalog.Admin, action, target string) *audit.Entry {
	e := audit.New(ctx, by, action, target)
	e.Show = auditView
	return e
}

// auditView is what the audit log keeps of an entity the store read: the view GET answers, which
// never holds a credential (only its hint), a key, a token or a hash.
func auditView(v any) any {
	switch x := v.(type) {
	case *catalog.Provider:
		return providerView(x)
	case *catalog.Model:
		return modelView(x)
	case *catalog.Alias:
		return aliasView(x)
	case *catalog.Route:
		return routeView(x)
	case *catalog.Team:
		return teamView(&catalog.TeamInfo{Team: *x})
	case *catalog.Key:
		return keyView(x)
	case *catalog.Admin:
		return adminView(x)
	case *catalog.Audience:
		return audienceView(x.Name, x.Teams)
	}
	// Anything else would be recorded as it is; the store refuses catalogue entities without a view.
	return v
}

// Audit log limits.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditQuery selects a page of the audit log. Actor is an admin's id or name; Action, e.g.
// provider.update; Target, e.g. a provider's identifier; From and To bound the time to [From, To).
// Limit 0 means DefaultAuditLimit. After and Before are entry ids of a page read earlier, at most
// one of them, as for the request log.
type AuditQuery struct {
	Actor, Action, Target string
	From, To              time.Time
	Limit                 int
	After, Before         int64
}

// AuditPage is a page of the audit log, keyed by entry id, paged like the request log.
type AuditPage = Page[audit.Row, int64]

// Audit lists a page of the audit log. Every role may read it: it holds the entities as GET shows
// them, and every role may read those.
func (s *Service) Audit(ctx context.Context, by *catalog.Admin, q AuditQuery) (*AuditPage, error) {
	if err := checkPage(by, catalog.AreaCatalog, &q.Limit, DefaultAuditLimit, MaxAuditLimit,
		[]struct{ param, v string }{{"actor", q.Actor}, {"action", q.Action}, {"target", q.Target}}, q.After, q.Before, "entries"); err != nil {
		return nil, err
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, apierror.Invalid("from", "from (%s) must be before to (%s)", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	rows, more, err := s.Store.AuditLog(ctx, audit.Query{Actor: q.Actor, Action: q.Action, Target: q.Target,
		From: q.From, To: q.To, Limit: q.Limit, After: q.After, Before: q.Before})
	return pageRead(rows, more, err, audit.ErrNotFound, q.After, q.Before, "entry of the audit log",
		func(r *audit.Row) int64 { return r.ID })
}

// audit serves GET /admin/audit.
func (h *Handler) audit(w http.ResponseWriter, r *http.Request, by *catalog.Admin) {
	q, err := query(r, "actor", "action", "target", "from", "to", "limit", "after", "before")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	aq := AuditQuery{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target")}
	if err := timeRange(q, &aq.From, &aq.To); err != nil {
		h.fail(w, r, err)
		return
	}
	if aq.Limit, err = limit(q, MaxAuditLimit); err != nil {
		h.fail(w, r, err)
		return
	}
	for _, f := range []struct {
		name string
		id   *int64
	}{{"after", &aq.After}, {"before", &aq.Before}} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				h.fail(w, r, apierror.Invalid(f.name, "%s must be the id of an audit entry (a page's first_id or last_id), not %q", f.name, v))
				return
			}
			*f.id = n
		}
	}
	v, err := h.svc.Audit(r.Context(), by, aq)
	h.answer(w, r, http.StatusOK, v, err)
}
