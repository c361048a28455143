// Package admin is Switchyard's operator API: the services that manage the catalogue (providers,
// models, aliases, teams, keys, audience grants, admins), corpora and re-embeds (Corpora), and read
// usage, and the /admin/* HTTP handlers over them, all behind one gate (Handler.Handle).
//
// The services are plain Go methods on Service taking a context, the acting admin and typed
// inputs, and returning typed views; the web console calls them directly, not the HTTP. Every
// service checks the actor's role itself, so no caller can forget to. Errors a person should see
// are *apierror.Error (SPEC's shape, with param naming the field at fault); any other error is an
// internal failure, logged by the HTTP layer and answered as 500.
package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// Verifier checks a provider's endpoint as the gateway will call it (upstream.Client). It never
// fails: what it finds is in the Verification's status and diagnostics.
type Verifier interface {
	Verify(ctx context.Context, p *catalog.Provider) catalog.Verification
}

// Prober checks what a model's endpoint really supports (upstream.Client).
type Prober interface {
	Probe(ctx context.Context, p *catalog.Provider, m *catalog.Model) catalog.Probe
}

// Service holds the operator's services. Store, UsageStore and Limits are required; the rest have
// defaults.
type Service struct {
	Store      CatalogStore
	UsageStore UsageStore
	Limits     LimitsStore
	// Health reads models' cooldowns for GET /admin/models/{name}; nil leaves them out.
	Health HealthStore
	// Verifier and Prober call the upstream; nil leaves verification and probe results empty.
	Verifier Verifier
	Prober   Prober
	// CheckBaseURL refuses a base URL whose host is a literal blocked address
	// (upstream.CheckBaseURLHost); its error becomes 400 blocked_address. Nil skips the check.
	CheckBaseURL func(baseURL string) error
	// CheckCABundle refuses a CA bundle holding no certificate (upstream.CheckCABundle); its
	// error becomes 400 naming ca_bundle. Nil skips the check.
	CheckCABundle func(pem string) error
	// VerifyTimeout bounds a verification or probe call, whatever the provider's timeouts
	// (10s when zero), so that a hanging upstream cannot hold a create open.
	VerifyTimeout time.Duration
	Now           func() time.Time // time.Now when nil
	Rand          io.Reader        // crypto/rand.Reader when nil
	Log           *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) random(n int) ([]byte, error) {
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return b, nil
}

// secret returns prefix + 32 random bytes (URL-safe base64) and an id: idPrefix + 16 hex digits.
func (s *Service) secret(prefix, idPrefix string) (secret, id string, err error) {
	b, err := s.random(32 + 8)
	if err != nil {
		return "", "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:32]), idPrefix + hex.EncodeToString(b[32:]), nil
}

// Authorize checks that by may read (write false) or change (write true) area. A nil admin is
// 401 invalid_admin_token; a role that may not is 403 forbidden. Every service method (Service,
// Corpora) calls it first; the rule itself is catalog.Role.Can.
func Authorize(by *catalog.Admin, area catalog.Area, write bool) error {
	if by == nil {
		return apierror.New(http.StatusUnauthorized, apierror.AuthenticationError, apierror.CodeInvalidAdminToken, "",
			"send an admin token as Authorization: Bearer <token>")
	}
	if by.Role.Can(area, write) {
		return nil
	}
	what := map[catalog.Area]string{
		catalog.AreaCatalog: "providers, models, aliases, audience grants and corpora",
		catalog.AreaAccess:  "teams, keys and admins",
		catalog.AreaUsage:   "usage",
	}[area]
	verb := "read"
	if write {
		verb = "change"
	}
	return apierror.New(http.StatusForbidden, apierror.PermissionError, apierror.CodeForbidden, "",
		"admin %s has role %s, which may not %s %s", actorName(by), by.Role, verb, what)
}

func actorName(by *catalog.Admin) string {
	if by.Name != "" {
		return by.Name
	}
	return by.ID
}

// List is the shape of every collection the admin API answers.
type List[T any] struct {
	Object string `json:"object"` // "list"
	Data   []T    `json:"data"`
}

func list[T any](data []T) *List[T] {
	if data == nil {
		data = []T{}
	}
	return &List[T]{Object: "list", Data: data}
}

func mapList[T, V any](items []T, view func(T) V) *List[V] {
	out := make([]V, len(items))
	for i, it := range items {
		out[i] = view(it)
	}
	return list(out)
}

// shown passes what a store call answered through view, or its error on, so that a service method
// ends in one line: return shown(teamView)(s.Store.Team(ctx, name)).
func shown[T, V any](view func(T) V) func(T, error) (V, error) {
	return func(t T, err error) (V, error) {
		if err != nil {
			var none V
			return none, err
		}
		return view(t), nil
	}
}

// listed is shown for a list: each item through view, in order.
func listed[T, V any](view func(T) V) func([]T, error) (*List[V], error) {
	return shown(func(items []T) *List[V] { return mapList(items, view) })
}

// maxTextLength bounds free-text fields (display names, descriptions, reasons, key and admin names).
const maxTextLength = 1000

// checkText refuses free text that is too long or holds control characters (line breaks in a
// reason are allowed when multiline).
func checkText(param, v string, required, multiline bool) error {
	if required && v == "" {
		return apierror.Invalid(param, "%s is required", param)
	}
	if !utf8.ValidString(v) {
		return apierror.Invalid(param, "%s is not valid UTF-8", param)
	}
	if n := utf8.RuneCountInString(v); n > maxTextLength {
		return apierror.Invalid(param, "%s has %d characters; at most %d are allowed", param, n, maxTextLength)
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return apierror.Invalid(param, "%s holds a control character (%U)", param, r)
		}
	}
	return nil
}

func checkName(param, v string) error {
	if err := catalog.ValidateName(v); err != nil {
		return apierror.Invalid(param, "%s: %v", param, err)
	}
	return nil
}
