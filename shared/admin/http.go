package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
	"github.com/switchyard-ai/switchyard/shared/throttle"
)

// Snapshots finds admins by token hash in the current catalogue snapshot (catalog.Source), so a
// revoked token is refused within the one-second rule without a query per request, and a token
// created a moment ago on another instance is found at once.
type Snapshots interface {
	Admin(ctx context.Context, hash [32]byte) (*catalog.Admin, *catalog.Snapshot, error)
}

// Handler serves /admin/*. Build it with NewHandler.
type Handler struct {
	svc    *Service
	snaps  Snapshots
	guard  *throttle.Guard
	log    *slog.Logger
	mux    *http.ServeMux
	routes []Route
}

// Route is one served route, as the OpenAPI document lists it.
type Route struct {
	Method string
	Path   string // ServeMux pattern path, e.g. /admin/providers/{identifier}
}

// AdminFunc handles an authenticated admin request; by is the acting admin. It checks the
// admin's role itself (Authorize), as the services do.
type AdminFunc func(w http.ResponseWriter, r *http.Request, by *catalog.Admin)

// NewHandler returns the /admin/* handler over svc.
func NewHandler(svc *Service, snaps Snapshots, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{svc: svc, snaps: snaps, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /admin/openapi.json", serveOpenAPI)
	h.routes = append(h.routes, Route{http.MethodGet, "/admin/openapi.json"})
	h.mux.HandleFunc("/admin/", h.fallback)

	h.Handle("POST", "/admin/providers", withBody(h, svc.CreateProvider, http.StatusCreated))
	h.Handle("GET", "/admin/providers", noArgs(h, svc.ListProviders))
	h.Handle("GET", "/admin/providers/{identifier}", byPath(h, "identifier", svc.GetProvider))
	h.Handle("PATCH", "/admin/providers/{identifier}", pathBody(h, "identifier", svc.UpdateProvider, false))
	h.Handle("DELETE", "/admin/providers/{identifier}", byPath(h, "identifier", svc.DeleteProvider))
	h.Handle("POST", "/admin/providers/{identifier}/verify", byPathNoBody(h, "identifier", svc.VerifyProvider))

	h.Handle("POST", "/admin/models", withBody(h, svc.CreateModel, http.StatusCreated))
	h.Handle("GET", "/admin/models", noArgs(h, svc.ListModels))
	h.Handle("GET", "/admin/models/{name}", byPath(h, "name", svc.GetModel))
	h.Handle("PATCH", "/admin/models/{name}", pathBody(h, "name", svc.UpdateModel, false))
	h.Handle("POST", "/admin/models/{name}/probe", byPathNoBody(h, "name", svc.ProbeModel))

	h.Handle("PUT", "/admin/aliases/{name}", pathBodyStatus(h, "name", svc.CreateAlias, false, http.StatusCreated))
	h.Handle("GET", "/admin/aliases", noArgs(h, svc.ListAliases))
	h.Handle("GET", "/admin/aliases/{name}", byPath(h, "name", svc.GetAlias))
	h.Handle("POST", "/admin/aliases/{name}/move", pathBody(h, "name", svc.MoveAlias, false))
	h.Handle("POST", "/admin/aliases/{name}/rollback", pathBody(h, "name", svc.RollbackAlias, true))

	h.handleRoutes(svc)

	h.Handle("POST", "/admin/teams", withBody(h, svc.CreateTeam, http.StatusCreated))
	h.Handle("GET", "/admin/teams", noArgs(h, svc.ListTeams))
	h.Handle("GET", "/admin/teams/{name}", byPath(h, "name", svc.GetTeam))

	h.Handle("POST", "/admin/keys", withBody(h, svc.CreateKey, http.StatusCreated))
	h.Handle("GET", "/admin/keys", func(w http.ResponseWriter, r *http.Request, by *catalog.Admin) {
		q, err := query(r, "team")
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v, err := svc.ListKeys(r.Context(), by, q.Get("team"))
		h.answer(w, r, http.StatusOK, v, err)
	})
	h.Handle("GET", "/admin/keys/{id}", byPath(h, "id", svc.GetKey))
	h.Handle("DELETE", "/admin/keys/{id}", byPath(h, "id", svc.RevokeKey))

	h.Handle("PUT", "/admin/audience/{name}", pathBody(h, "name", svc.SetAudience, false))
	h.Handle("GET", "/admin/audience/{name}", byPath(h, "name", svc.GetAudience))

	h.Handle("POST", "/admin/admins", withBody(h, svc.CreateAdmin, http.StatusCreated))
	h.Handle("GET", "/admin/admins", noArgs(h, svc.ListAdmins))
	h.Handle("GET", "/admin/admins/{id}", byPath(h, "id", svc.GetAdmin))
	h.Handle("DELETE", "/admin/admins/{id}", byPath(h, "id", svc.RevokeAdmin))
	h.Handle("DELETE", "/admin/admins/{id}/sessions", byPath(h, "id", svc.EndAdminSessions))

	h.Handle("GET", "/admin/limits", noArgs(h, svc.ListLimits))
	h.Handle("GET", "/admin/limits/{scope}", byPath(h, "scope", svc.GetLimits))
	h.Handle("PUT", "/admin/limits/{scope}", pathBody(h, "scope", svc.SetLimits, false))
	h.Handle("DELETE", "/admin/limits/{scope}", byPath(h, "scope", svc.DeleteLimits))

	h.Handle("GET", "/admin/usage", h.usage)
	h.Handle("GET", "/admin/requests", h.requests)
	h.Handle("GET", "/admin/audit", h.audit)
	return h
}

// Throttle makes the gate count failed tokens per source with g and refuse a source that failed
// too often (429 rate_limited), even with a correct token, until its window ends. It returns h.
func (h *Handler) Throttle(g *throttle.Guard) *Handler {
	h.guard = g
	return h
}

// Handle serves an admin route behind the one gate every admin route passes: the token checked
// (and failures throttled) by authenticate before fn runs, errors in SPEC's shape. fn's service
// checks the role (Authorize) and the adapters below decode the body (decodeBody). Add each route
// to openapi.json as well: a test compares the two.
func (h *Handler) Handle(method, path string, fn AdminFunc) {
	h.routes = append(h.routes, Route{method, path})
	h.mux.HandleFunc(method+" "+path, func(w http.ResponseWriter, r *http.Request) {
		by, err := h.authenticate(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		fn(w, r, by)
	})
}

// Routes lists the served routes in the order they were added.
func (h *Handler) Routes() []Route { return slices.Clone(h.routes) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// authenticate finds the admin whose token the request carries in the catalogue snapshot: nil and
// 401 invalid_admin_token when it is missing, unknown or revoked, 429 rate_limited when the caller's
// address failed too often (see Throttle).
func (h *Handler) authenticate(r *http.Request) (*catalog.Admin, error) {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, apierror.New(http.StatusUnauthorized, apierror.AuthenticationError, apierror.CodeInvalidAdminToken, "",
			"send an admin token as Authorization: Bearer <token>")
	}
	a, _, err := h.snaps.Admin(r.Context(), catalog.HashSecret(strings.TrimSpace(token)))
	if err != nil {
		return nil, err
	}
	if a == nil {
		if err := h.guard.Fail(r.Context(), r); err != nil {
			return nil, err
		}
		return nil, apierror.New(http.StatusUnauthorized, apierror.AuthenticationError, apierror.CodeInvalidAdminToken, "",
			"the admin token is unknown or revoked")
	}
	if err := h.guard.Check(r.Context(), r); err != nil {
		return nil, err
	}
	return a, nil
}

// fallback answers everything no route matched: 401 without a valid token, then 405 when the path
// exists with other methods, else 404, all in SPEC's shape.
func (h *Handler) fallback(w http.ResponseWriter, r *http.Request) {
	if _, err := h.authenticate(r); err != nil {
		h.fail(w, r, err)
		return
	}
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "/admin/" && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		apierror.Write(w, apierror.New(http.StatusMethodNotAllowed, apierror.InvalidRequestError, apierror.CodeInvalidRequest, "",
			"%s is not served on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
		return
	}
	apierror.Write(w, apierror.NotFound("", "no admin route %s %s; GET /admin/openapi.json lists them", r.Method, r.URL.Path))
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := APIError(err); ok {
		apierror.Write(w, e)
		return
	}
	reqlog.Logger(r.Context(), h.log).Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	apierror.Write(w, apierror.Internal(reqlog.ID(r.Context())))
}

func (h *Handler) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// The adapters below turn service methods into AdminFuncs, so each route is one line.

func withBody[I, O any](h *Handler, fn func(context.Context, *catalog.Admin, I) (O, error), status int) AdminFunc {
	return func(w http.ResponseWriter, r *http.Request, by *catalog.Admin) {
		if in, ok := decoded[I](h, w, r, false); ok {
			v, err := fn(r.Context(), by, in)
			h.answer(w, r, status, v, err)
		}
	}
}

func pathBody[I, O any](h *Handler, param string, fn func(context.Context, *catalog.Admin, string, I) (O, error), optional bool) AdminFunc {
	return pathBodyStatus(h, param, fn, optional, http.StatusOK)
}

func pathBodyStatus[I, O any](h *Handler, param string, fn func(context.Context, *catalog.Admin, string, I) (O, error), optional bool, status int) AdminFunc {
	return func(w http.ResponseWriter, r *http.Request, by *catalog.Admin) {
		if in, ok := decoded[I](h, w, r, optional); ok {
			v, err := fn(r.Context(), by, r.PathValue(param), in)
			h.answer(w, r, status, v, err)
		}
	}
}

// decoded is the body of a route that takes one and no query string, read by decodeBody; false
// when it was refused, the refusal already answered.
func decoded[I any](h *Handler, w http.ResponseWriter, r *http.Request, optional bool) (in I, ok bool) {
	if err := noQueryErr(r); err != nil {
		h.fail(w, r, err)
		return in, false
	}
	if err := decodeBody(w, r, &in, optional); err != nil {
		h.fail(w, r, err)
		return in, false
	}
	return in, true
}

func byPath[O any](h *Handler, param string, fn func(context.Context, *catalog.Admin, string) (O, error)) AdminFunc {
	return func(w http.ResponseWriter, r *http.Request, by *catalog.Admin) {
		if err := noQueryErr(r); err != nil {
			h.fail(w, r, err)
			return
		}
		v, err := fn(r.Context(), by, r.PathValue(param))
		h.answer(w, r, http.StatusOK, v, err)
	}
}

// byPathNoBody is byPath for actions (verify, probe) that take no body; an empty body or {} is
// accepted, anything else refused.
func byPathNoBody[O any](h *Handler, param string, fn func(context.Context, *catalog.Admin, string) (O, error)) AdminFunc {
	return func(w http.ResponseWriter, r *http.Request, by *catalog.Admin) {
		var in struct{}
		if err := decodeBody(w, r, &in, true); err != nil {
			h.fail(w, r, err)
			return
		}
		byPath(h, param, fn)(w, r, by)
	}
}

func noArgs[O any](h *Handler, fn func(context.Context, *catalog.Admin) (O, error)) AdminFunc {
	return func(w http.ResponseWriter, r *http.Request, by *catalog.Admin) {
		if err := noQueryErr(r); err != nil {
			h.fail(w, r, err)
			return
		}
		v, err := fn(r.Context(), by)
		h.answer(w, r, http.StatusOK, v, err)
	}
}

func (h *Handler) usage(w http.ResponseWriter, r *http.Request, by *catalog.Admin) {
	q, err := query(r, "group_by", "from", "to")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	uq := UsageQuery{GroupBy: q.Get("group_by")}
	if err := timeRange(q, &uq.From, &uq.To); err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.svc.Usage(r.Context(), by, uq)
	h.answer(w, r, http.StatusOK, v, err)
}

func (h *Handler) requests(w http.ResponseWriter, r *http.Request, by *catalog.Admin) {
	q, err := query(r, "outcome", "limit", "after", "before")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rq := RequestsQuery{Outcome: q.Get("outcome"), After: q.Get("after"), Before: q.Get("before")}
	if rq.Limit, err = limit(q, MaxRequestsLimit); err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.svc.Requests(r.Context(), by, rq)
	h.answer(w, r, http.StatusOK, v, err)
}

// timeRange reads the query parameters from and to (RFC 3339) into from and to; absent ones stay.
func timeRange(q url.Values, from, to *time.Time) error {
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", from}, {"to", to}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return apierror.Invalid(f.name, "%s must be an RFC 3339 time such as 2026-06-01T00:00:00Z, not %q", f.name, v)
			}
			*f.t = t
		}
	}
	return nil
}

// limit reads the query parameter limit, 0 when absent.
func limit(q url.Values, max int) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, apierror.Invalid("limit", "limit must be a whole number between 1 and %d, not %q", max, v)
	}
	return n, nil
}

// query returns r's query parameters, refusing names not in allowed and repeated ones.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, apierror.Invalid("", "the query string does not parse: %v", err)
	}
	for name, vs := range q {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return nil, apierror.Invalid(name, "unknown query parameter %s; this route takes none", name)
			}
			return nil, apierror.Invalid(name, "unknown query parameter %s; this route takes %s", name, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, apierror.Invalid(name, "query parameter %s is given %d times; give it once", name, len(vs))
		}
	}
	return q, nil
}

func noQueryErr(r *http.Request) error {
	_, err := query(r)
	return err
}
