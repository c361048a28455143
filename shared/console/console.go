// Package console serves Switchyard's web pages at /console/: the operator's dashboard (providers,
// models, aliases, teams and audience, corpora and re-embeds, usage and the request log) and the
// developer's playground. Pages are rendered on the server with html/template from files embedded in
// the binary; the little JavaScript there is (live re-embed progress, the streamed playground chat,
// copy buttons) is hand-written and served from the same binary, so the pages need no network beyond
// Switchyard.
//
// The pages call the same services as the admin API (see Services) and offer exactly what the
// signed-in admin's role may do (catalog.Role.Can); the services check again, so a forged form is
// refused all the same.
package console

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/basepath"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
	"github.com/switchyard-ai/switchyard/shared/throttle"
)

//go:embed templates/*.html static/*
var files embed.FS

// Config tunes the console.
type Config struct {
	// Local marks a local run (make dev, tests): the session cookie is sent over plain http.
	Local bool
	// PublicBasePath, when not empty, is the public base path of every request ("/" for none),
	// whatever the request's context says: for a proxy in front of API Gateway (a CloudFront
	// distribution) that the Lambda event cannot tell about. When empty, each request's base path
	// (package basepath) is used.
	PublicBasePath string
	// Throttle counts failed sign-ins per address and refuses an address that failed too often
	// (nil: none).
	Throttle *throttle.Guard
}

// Console is the /console/ handler.
type Console struct {
	cfg      Config
	base     *string // the fixed base path, from Config.PublicBasePath
	svc      Services
	catalog  *catalog.Source
	sessions SessionStore
	log      *slog.Logger
	now      func() time.Time
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New builds the console. now may be nil (time.Now).
func New(cfg Config, svc Services, source *catalog.Source, sessions SessionStore, log *slog.Logger, now func() time.Time) (*Console, error) {
	if now == nil {
		now = time.Now
	}
	c := &Console{cfg: cfg, svc: svc, catalog: source, sessions: sessions, log: log, now: now, pages: map[string]*template.Template{}}
	if cfg.PublicBasePath != "" {
		p, err := basepath.Clean(cfg.PublicBasePath)
		if err != nil {
			return nil, fmt.Errorf("console: public base path: %w", err)
		}
		c.base = &p
	}
	if err := c.parse(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// ServeHTTP serves /console and every path under /console/. Every URL it writes (links, form actions,
// redirects, cookie paths, the scripts' calls) starts with the request's public base path.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.base != nil {
		r = r.WithContext(basepath.With(r.Context(), *c.base))
	}
	h := w.Header()
	// The pages load nothing from elsewhere; say so, so an injected tag could not either.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(files, "static")
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	// ConsoleUrl and people type /console with or without the slash; both land on a page.
	m.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		redirect(w, r, "/console/")
	})
	m.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		redirect(w, r, "/console/providers")
	})
	m.HandleFunc("GET /console/signin", c.signinPage)
	m.HandleFunc("POST /console/signin", c.signin)
	m.HandleFunc("POST /console/signout", c.authed(c.signout))

	m.HandleFunc("GET /console/providers", c.authed(c.providersPage))
	m.HandleFunc("GET /console/providers/new", c.authed(c.providerNew))
	m.HandleFunc("POST /console/providers/new", c.authed(c.providerCreate))
	m.HandleFunc("GET /console/providers/{id}", c.authed(shown(c.renderProvider)))
	m.HandleFunc("POST /console/providers/{id}", c.authed(c.providerUpdate))
	m.HandleFunc("POST /console/providers/{id}/verify", c.authed(c.providerVerify))
	m.HandleFunc("POST /console/providers/{id}/limits", c.authed(c.providerLimits))

	m.HandleFunc("GET /console/models", c.authed(c.modelsPage))
	m.HandleFunc("POST /console/models", c.authed(c.modelCreate))
	m.HandleFunc("GET /console/models/{name}", c.authed(shown(c.renderModel)))
	m.HandleFunc("POST /console/models/{name}", c.authed(c.modelUpdate))
	m.HandleFunc("POST /console/models/{name}/enable", c.authed(c.modelEnable(true)))
	m.HandleFunc("POST /console/models/{name}/disable", c.authed(c.modelEnable(false)))
	m.HandleFunc("POST /console/models/{name}/probe", c.authed(c.modelProbe))
	m.HandleFunc("POST /console/models/{name}/limits", c.authed(c.modelLimits))

	m.HandleFunc("GET /console/aliases", c.authed(shown(c.renderAliases)))
	m.HandleFunc("POST /console/aliases", c.authed(c.aliasCreate))
	m.HandleFunc("GET /console/aliases/{name}", c.authed(shown(c.renderAlias)))
	m.HandleFunc("POST /console/aliases/{name}/move", c.authed(c.aliasMove))
	m.HandleFunc("POST /console/aliases/{name}/rollback", c.authed(c.aliasRollback))

	m.HandleFunc("GET /console/routes", c.authed(c.routesPage))
	m.HandleFunc("GET /console/routes/{name}", c.authed(shown(c.renderRoute)))
	m.HandleFunc("POST /console/routes/{name}/weights", c.authed(c.routeWeights))
	m.HandleFunc("POST /console/routes/{name}/rollback", c.authed(c.routeRollback))
	m.HandleFunc("POST /console/routes/{name}/team", c.authed(c.routeTeamShare))
	m.HandleFunc("POST /console/routes/{name}/rules/remove", c.authed(c.routeRemoveRule))

	m.HandleFunc("GET /console/teams", c.authed(shown(c.renderTeams)))
	m.HandleFunc("POST /console/teams", c.authed(c.teamCreate))
	m.HandleFunc("GET /console/teams/{name}", c.authed(c.teamPage))
	m.HandleFunc("POST /console/keys", c.authed(c.keyCreate))
	m.HandleFunc("POST /console/teams/{name}/limits", c.authed(c.teamLimits))
	m.HandleFunc("POST /console/keys/{id}/revoke", c.authed(c.keyRevoke))
	m.HandleFunc("POST /console/keys/{id}/limits", c.authed(c.keyLimits))
	m.HandleFunc("POST /console/audience", c.authed(c.grant))
	m.HandleFunc("POST /console/audience/revoke", c.authed(c.ungrant))

	m.HandleFunc("GET /console/corpora", c.authed(c.corporaPage))
	m.HandleFunc("GET /console/corpora/{name}", c.authed(c.corpusPage))
	m.HandleFunc("POST /console/corpora/{name}/reembed", c.authed(c.reembedStart))
	m.HandleFunc("POST /console/corpora/{name}/reembed/estimate", c.authed(c.reembedEstimate))
	m.HandleFunc("POST /console/corpora/{name}/reembed/preview", c.authed(c.reembedPreview))
	m.HandleFunc("POST /console/corpora/{name}/rollback", c.authed(c.corpusRollback))
	m.HandleFunc("POST /console/corpora/{name}/queries", c.authed(c.corpusKeepQueries))
	m.HandleFunc("GET /console/reembeds/{id}", c.authed(c.runPage))
	m.HandleFunc("GET /console/reembeds/{id}/progress", c.authed(c.runProgress))
	m.HandleFunc("POST /console/reembeds/{id}/cancel", c.authed(c.runCancel))

	m.HandleFunc("GET /console/usage", c.authed(c.usagePage))
	m.HandleFunc("GET /console/requests", c.authed(c.requestsPage))
	m.HandleFunc("GET /console/audit", c.authed(c.auditPage))

	m.HandleFunc("GET /console/playground", c.authed(c.playgroundPage))
	m.HandleFunc("POST /console/playground/mint", c.authed(c.playgroundMint))

	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "There is no console page at "+r.URL.Path+".")
	})
	c.mux = m
}

// page is what every template gets.
type page struct {
	Base   string // the public base path, in front of every URL the page writes
	Title  string
	Nav    string
	Admin  *catalog.Admin
	CSRF   string
	Error  string            // a banner for errors that belong to no field
	Fix    *link             // where to go to fix Error, when elsewhere
	Notice string            // a banner for what just happened
	Fields map[string]string // field name → its error
	Form   url.Values        // what was typed, kept when a form is refused
	Data   any
	// limitsForm is a refused limits form, shown again as typed in its own section.
	limitsForm *limitsSection
}

// Can reports whether the signed-in admin may read (write false) or write area, as the API decides.
func (p *page) Can(area string, write bool) bool {
	return p.Admin != nil && p.Admin.Role.Can(catalog.Area(area), write)
}

// Val is what was typed in field name, or def.
func (p *page) Val(name, def string) string {
	if p.Form != nil {
		if _, ok := p.Form[name]; ok {
			return p.Form.Get(name)
		}
	}
	return def
}

// Checked is whether checkbox name was ticked in the form being shown again, or def when there is
// none (an unticked box sends nothing, so Val cannot tell it from a field the form never had).
func (p *page) Checked(name string, def bool) bool {
	if p.Form != nil {
		return p.Form.Get(name) != ""
	}
	return def
}

// Err is field name's error.
func (p *page) Err(name string) string { return p.Fields[name] }

type link struct{ Text, Href string }

type navItem struct{ ID, Label, Href, Area string }

// Nav follows the operator guide's order.
var nav = []navItem{
	{"providers", "Providers", "/console/providers", "catalog"},
	{"models", "Models", "/console/models", "catalog"},
	{"aliases", "Aliases", "/console/aliases", "catalog"},
	{"routes", "Routes", "/console/routes", "catalog"},
	{"teams", "Teams & audience", "/console/teams", "catalog"},
	{"corpora", "Corpora & re-embeds", "/console/corpora", "catalog"},
	{"usage", "Usage", "/console/usage", "usage"},
	{"requests", "Request log", "/console/requests", "usage"},
	{"playground", "Playground", "/console/playground", "usage"},
	{"audit", "Audit log", "/console/audit", "catalog"}, // every role reads it
}

func (c *Console) parse() error {
	funcs := template.FuncMap{
		"nav":  func() []navItem { return nav },
		"when": fmtTime,
		"ago":  func(t time.Time) string { return ago(c.now(), t) },
		"join": strings.Join,
		"deref": func(b *bool) string {
			if b == nil {
				return "not probed"
			}
			if *b {
				return "yes"
			}
			return "no"
		},
		"derefInt": func(n *int) int {
			if n == nil {
				return 0
			}
			return *n
		},
		"derefTime": func(t *time.Time) time.Time {
			if t == nil {
				return time.Time{}
			}
			return *t
		},
		"deref64": func(n *int64) int64 {
			if n == nil {
				return 0
			}
			return *n
		},
		"pct":    func(a, b int64) float64 { return percent(a, b) },
		"num":    fmtNum,
		"float":  func(f float64, prec int) string { return fmt.Sprintf("%.*f", prec, f) },
		"dur":    fmtDur,
		"secs":   seconds,
		"mul100": func(f float64) float64 { return 100 * f },
		"money":  money,
		"int64":  func(n int) int64 { return int64(n) },
		"svg":    func(s string) template.HTML { return template.HTML(s) }, // only for charts drawn here
		"trimv1": func(s string) string { return strings.TrimPrefix(s, "/v1/") },
		"arr":    func(v ...any) []any { return v },
		"has": func(list []string, s string) bool {
			for _, v := range list {
				if v == s {
					return true
				}
			}
			return false
		},
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/partials*.html")
	if err != nil {
		return fmt.Errorf("console: parse layout: %w", err)
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || strings.HasPrefix(name, "partials") {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(files, n)
		if err != nil {
			return fmt.Errorf("console: parse %s: %w", n, err)
		}
		c.pages[name] = t
	}
	return nil
}

// render writes template name inside the layout.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	if st := stateOf(r); st != nil {
		p.Admin, p.CSRF = st.admin, st.sess.CSRF
	}
	p.Base = basepath.From(r.Context())
	if p.Notice == "" {
		p.Notice = r.URL.Query().Get("notice")
	}
	t := c.pages[name]
	if t == nil {
		panic("console: no template " + name)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", p); err != nil {
		reqlog.Logger(r.Context(), c.log).Error("console: render", "page", name, "err", err)
		http.Error(w, "the page could not be drawn; the server log says why", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail shows a page that says what went wrong and what to do.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error", &page{Title: http.StatusText(status), Error: msg})
}

// serviceError turns what a service answered into a banner or field errors on p, and the status
// to answer with. Errors that are not the API's are logged and shown with the request id only.
func (c *Console) serviceError(r *http.Request, p *page, err error) int {
	if ae, ok := admin.APIError(err); ok {
		msg := ae.Message
		if ae.Code != "" && ae.Code != apierror.CodeInvalidRequest {
			msg = ae.Code + ": " + msg
		}
		if ae.Param != nil && *ae.Param != "" {
			if p.Fields == nil {
				p.Fields = map[string]string{}
			}
			p.Fields[*ae.Param] = msg
			p.Error = "Nothing was saved: fix the field marked below."
		} else {
			p.Error = msg
		}
		if ae.Status == 0 {
			return http.StatusBadRequest
		}
		return ae.Status
	}
	id := reqlog.ID(r.Context())
	reqlog.Logger(r.Context(), c.log).Error("console: service failed", "path", r.URL.Path, "err", err)
	p.Error = apierror.Internal(id).Message
	return http.StatusInternalServerError
}

// detail reads what the page of one named thing shows: the path's {param}, through get, with the
// page titled "what name" under nav. When get fails it has drawn the error page, and ok is false.
func detail[T any](c *Console, w http.ResponseWriter, r *http.Request, p *page, param, what, nav string,
	get func(context.Context, *catalog.Admin, string) (T, error)) (name string, v T, ok bool) {
	name = r.PathValue(param)
	p.Title, p.Nav = what+" "+name, nav
	v, err := get(r.Context(), stateOf(r).admin, name)
	if err != nil {
		c.render(w, r, c.serviceError(r, p, err), "error", p)
		return name, v, false
	}
	return name, v, true
}

// shown serves a page as it stands, with no form to show again and no message: render's 200. The
// form handlers call render themselves with the refused form and its status.
func shown(render func(http.ResponseWriter, *http.Request, int, *page)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) { render(w, r, http.StatusOK, &page{}) }
}

// bannerError is serviceError for actions that have no form fields: everything goes in the banner.
func (c *Console) bannerError(r *http.Request, p *page, err error) int {
	status := c.serviceError(r, p, err)
	if len(p.Fields) > 0 {
		var msgs []string
		for _, m := range p.Fields {
			msgs = append(msgs, m)
		}
		sort.Strings(msgs)
		p.Error, p.Fields = strings.Join(msgs, " "), nil
	}
	return status
}

// forbid answers a write the role may not do; the pages never offer one.
func (c *Console) forbid(w http.ResponseWriter, r *http.Request, area catalog.Area, write bool) bool {
	st := stateOf(r)
	if st.admin.Role.Can(area, write) {
		return false
	}
	c.fail(w, r, http.StatusForbidden, fmt.Sprintf("Your role (%s) may not do this. Ask a super_admin.", st.admin.Role))
	return true
}

// unavailable reports a surface this build does not have.
func (c *Console) unavailable(w http.ResponseWriter, r *http.Request, what string) {
	c.fail(w, r, http.StatusNotImplemented, what+" are not available in this build of Switchyard.")
}

// redirect sends the browser to path, a console path such as "/console/providers", under the
// request's public base path.
func redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, basepath.From(r.Context())+path, http.StatusSeeOther)
}

// back redirects to path (a console path, which may end in a #fragment) with a notice banner.
func back(w http.ResponseWriter, r *http.Request, path, notice string) {
	if notice != "" {
		frag := ""
		if i := strings.IndexByte(path, '#'); i >= 0 {
			path, frag = path[:i], path[i:]
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "notice=" + url.QueryEscape(notice) + frag
	}
	redirect(w, r, path)
}
