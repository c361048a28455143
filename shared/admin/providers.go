package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// ProviderInput is the body of POST /admin/providers.
type ProviderInput struct {
	Identifier  string        `json:"identifier"`
	DisplayName string        `json:"display_name"`
	BaseURL     string        `json:"base_url"`
	Auth        AuthInput     `json:"auth"`
	CABundle    string        `json:"ca_bundle"`
	Timeouts    TimeoutsInput `json:"timeouts"`
}

// AuthInput is how the provider's endpoint expects its credential.
type AuthInput struct {
	Method     string `json:"method"`     // bearer, api_key or none
	Header     string `json:"header"`     // api_key only, e.g. X-API-Key
	Credential string `json:"credential"` // sealed at rest, never returned
}

// TimeoutsInput holds per-provider timeouts in milliseconds; absent or 0 takes the default.
type TimeoutsInput struct {
	ConnectMS   *int `json:"connect_ms"`
	FirstByteMS *int `json:"first_byte_ms"`
	IdleMS      *int `json:"idle_ms"`
	TotalMS     *int `json:"total_ms"`
}

// ProviderPatch is the body of PATCH /admin/providers/{identifier}: absent fields stay as they
// are. The identifier never changes.
type ProviderPatch struct {
	Identifier  json.RawMessage `json:"identifier"` // refused when present
	DisplayName *string         `json:"display_name"`
	BaseURL     *string         `json:"base_url"`
	Auth        *AuthPatch      `json:"auth"`
	CABundle    *string         `json:"ca_bundle"`
	Timeouts    *TimeoutsInput  `json:"timeouts"`
}

// AuthPatch changes part of a provider's auth; switching to method none drops the credential.
type AuthPatch struct {
	Method     *string `json:"method"`
	Header     *string `json:"header"`
	Credential *string `json:"credential"`
}

// ProviderView is a provider as the admin API shows it: never the credential, only its hint.
type ProviderView struct {
	Identifier     string                `json:"identifier"`
	DisplayName    string                `json:"display_name"`
	BaseURL        string                `json:"base_url"`
	Auth           AuthView              `json:"auth"`
	CredentialHint string                `json:"credential_hint"`
	CABundle       string                `json:"ca_bundle"`
	Timeouts       TimeoutsView          `json:"timeouts"`
	Verification   *catalog.Verification `json:"verification"`
	CreatedAt      time.Time             `json:"created_at"`
	UpdatedAt      time.Time             `json:"updated_at"`
}

// AuthView is a provider's auth without its credential.
type AuthView struct {
	Method string `json:"method"`
	Header string `json:"header"`
}

// TimeoutsView holds the timeouts in force, defaults filled in, in milliseconds.
type TimeoutsView struct {
	ConnectMS   int64 `json:"connect_ms"`
	FirstByteMS int64 `json:"first_byte_ms"`
	IdleMS      int64 `json:"idle_ms"`
	TotalMS     int64 `json:"total_ms"`
}

// DeletedView answers a delete.
type DeletedView struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// Diagnostic codes the admin API adds to verification.
const DiagCredentialWhitespace = "credential_whitespace"

// maxTimeout bounds each configurable timeout.
const maxTimeout = time.Hour

func providerView(p *catalog.Provider) *ProviderView {
	t := p.Timeouts.WithDefaults()
	v := &ProviderView{
		Identifier: p.Identifier, DisplayName: p.DisplayName, BaseURL: p.BaseURL,
		Auth:           AuthView{Method: string(p.AuthMethod), Header: p.AuthHeader},
		CredentialHint: p.CredentialHint, CABundle: p.CABundle,
		Timeouts: TimeoutsView{ConnectMS: t.Connect.Milliseconds(), FirstByteMS: t.FirstByte.Milliseconds(),
			IdleMS: t.Idle.Milliseconds(), TotalMS: t.Total.Milliseconds()},
		Verification: p.Verification, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	if v.Verification != nil {
		c := *v.Verification
		if c.Diagnostics == nil {
			c.Diagnostics = []catalog.Diagnostic{}
		}
		if c.UpstreamModels == nil {
			c.UpstreamModels = []string{}
		}
		v.Verification = &c
	}
	return v
}

// CreateProvider checks, verifies and stores a provider. Input that can never work (a malformed
// or doubled base URL, a literal blocked address, a credential with control characters) is refused
// with 400 and nothing is stored; a provider whose verification fails is stored with the failure.
func (s *Service) CreateProvider(ctx context.Context, by *catalog.Admin, in ProviderInput) (*ProviderView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if err := catalog.ValidateIdentifier(in.Identifier); err != nil {
		return nil, apierror.Invalid("identifier", "identifier: %v", err)
	}
	p := &catalog.Provider{Identifier: in.Identifier, DisplayName: in.DisplayName, BaseURL: in.BaseURL,
		AuthMethod: catalog.AuthMethod(in.Auth.Method), AuthHeader: in.Auth.Header, CABundle: in.CABundle}
	if err := applyTimeouts(&p.Timeouts, in.Timeouts); err != nil {
		return nil, err
	}
	diags, err := s.checkProvider(p, in.Auth.Credential, true)
	if err != nil {
		return nil, err
	}
	p.Verification = s.verify(ctx, p, diags)
	return shown(providerView)(s.Store.CreateProvider(ctx, p, s.entry(ctx, by, audit.ProviderCreate, p.Identifier)))
}

// UpdateProvider changes a provider and verifies it again.
func (s *Service) UpdateProvider(ctx context.Context, by *catalog.Admin, identifier string, in ProviderPatch) (*ProviderView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if len(in.Identifier) > 0 {
		return nil, apierror.Invalid("identifier", "a provider's identifier never changes; create a new provider instead")
	}
	p, err := s.Store.Provider(ctx, identifier, true)
	if err != nil {
		return nil, err
	}
	storedBase := p.BaseURL
	if in.DisplayName != nil {
		p.DisplayName = *in.DisplayName
	}
	if in.BaseURL != nil {
		p.BaseURL = *in.BaseURL
	}
	if in.CABundle != nil {
		p.CABundle = *in.CABundle
	}
	if in.Timeouts != nil {
		if err := applyTimeouts(&p.Timeouts, *in.Timeouts); err != nil {
			return nil, err
		}
	}
	cred, newCred := p.Credential, false
	if a := in.Auth; a != nil {
		if a.Method != nil && catalog.AuthMethod(*a.Method) != p.AuthMethod {
			p.AuthMethod = catalog.AuthMethod(*a.Method)
			if p.AuthMethod == catalog.AuthNone {
				cred, newCred = "", true
			}
			if p.AuthMethod != catalog.AuthAPIKey {
				p.AuthHeader = ""
			}
		}
		if a.Header != nil {
			p.AuthHeader = *a.Header
		}
		if a.Credential != nil {
			cred, newCred = *a.Credential, true
		}
	}
	diags, err := s.checkProvider(p, cred, newCred)
	if err != nil {
		return nil, err
	}
	if p.AuthMethod != catalog.AuthNone && !newCred && !sameOrigin(storedBase, p.BaseURL) {
		// Otherwise whoever may edit a provider could send its stored credential to a host of theirs.
		return nil, apierror.Invalid("auth.credential", "the base URL moves to another scheme, host or port, which would send the stored credential there: "+
			"give the credential (auth.credential) again in the same change; nothing was changed")
	}
	if v := s.verify(ctx, p, diags); v != nil {
		p.Verification = v
	}
	return shown(providerView)(s.Store.UpdateProvider(ctx, p, newCred, s.entry(ctx, by, audit.ProviderUpdate, identifier)))
}

// checkProvider normalises p in place and refuses what can never work. cred is the credential
// as given (checked only when fresh); the whitespace finding comes back as a diagnostic.
func (s *Service) checkProvider(p *catalog.Provider, cred string, fresh bool) ([]catalog.Diagnostic, error) {
	if err := checkText("display_name", p.DisplayName, false, false); err != nil {
		return nil, err
	}
	base, err := catalog.NormalizeBaseURL(p.BaseURL)
	var dr *catalog.DoubledRouteError
	if errors.As(err, &dr) {
		return nil, apierror.New(http.StatusBadRequest, apierror.InvalidRequestError, apierror.CodeDoubledRoute, "base_url", "%s", dr.Error())
	}
	if err != nil {
		return nil, apierror.Invalid("base_url", "%v", err)
	}
	if s.CheckBaseURL != nil {
		if err := s.CheckBaseURL(base); err != nil {
			return nil, apierror.New(http.StatusBadRequest, apierror.InvalidRequestError, apierror.CodeBlockedAddress, "base_url",
				"%s", strings.TrimPrefix(err.Error(), apierror.CodeBlockedAddress+": "))
		}
	}
	p.BaseURL = base
	var diags []catalog.Diagnostic
	switch p.AuthMethod {
	case catalog.AuthBearer, catalog.AuthAPIKey, catalog.AuthNone:
	case "":
		return nil, apierror.Invalid("auth.method", "auth.method is required: bearer, api_key or none")
	default:
		return nil, apierror.Invalid("auth.method", "auth.method %q is not one of bearer, api_key, none", p.AuthMethod)
	}
	if p.AuthMethod == catalog.AuthAPIKey {
		h, err := catalog.NormalizeHeader(p.AuthHeader)
		if err != nil {
			return nil, apierror.Invalid("auth.header", "auth.header: %v", err)
		}
		p.AuthHeader = h
	} else if p.AuthHeader != "" {
		return nil, apierror.Invalid("auth.header", "auth.header is only used with auth method api_key")
	}
	if fresh {
		c, trimmed, err := catalog.NormalizeCredential(cred)
		if err != nil {
			return nil, apierror.Invalid("auth.credential", "auth.credential: %v", err)
		}
		if trimmed && c != "" {
			diags = append(diags, catalog.Diagnostic{Code: DiagCredentialWhitespace,
				Message: "the credential had whitespace around it (a paste from a terminal or a file?); it was removed"})
		}
		cred = c
	}
	if p.AuthMethod == catalog.AuthNone && cred != "" {
		return nil, apierror.Invalid("auth.credential", "auth.credential is not used with auth method none; remove it or pick bearer or api_key")
	}
	if p.AuthMethod != catalog.AuthNone && cred == "" {
		return nil, apierror.Invalid("auth.credential", "auth.credential is required with auth method %s", p.AuthMethod)
	}
	p.Credential = cred
	if s.CheckCABundle != nil {
		if err := s.CheckCABundle(p.CABundle); err != nil {
			return nil, apierror.Invalid("ca_bundle", "ca_bundle: %v", err)
		}
	}
	return diags, nil
}

// sameOrigin reports whether two base URLs reach the same scheme, host and port (a default port
// written out or left implicit is the same; the path may differ).
func sameOrigin(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	origin := func(u *url.URL) string {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
		}
		return strings.ToLower(u.Scheme) + "://" + strings.TrimSuffix(strings.ToLower(u.Hostname()), ".") + ":" + port
	}
	return origin(ua) == origin(ub)
}

func applyTimeouts(t *catalog.Timeouts, in TimeoutsInput) error {
	for _, f := range []struct {
		param string
		v     *int
		d     *time.Duration
	}{
		{"timeouts.connect_ms", in.ConnectMS, &t.Connect},
		{"timeouts.first_byte_ms", in.FirstByteMS, &t.FirstByte},
		{"timeouts.idle_ms", in.IdleMS, &t.Idle},
		{"timeouts.total_ms", in.TotalMS, &t.Total},
	} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 || time.Duration(*f.v)*time.Millisecond > maxTimeout {
			return apierror.Invalid(f.param, "%s must be between 0 (the default) and %d", f.param, maxTimeout.Milliseconds())
		}
		*f.d = time.Duration(*f.v) * time.Millisecond
	}
	return nil
}

// callBound is how long a verification or probe may take: the provider's connect and first-byte
// timeouts, at most VerifyTimeout.
func (s *Service) callBound(p *catalog.Provider) time.Duration {
	limit := s.VerifyTimeout
	if limit <= 0 {
		limit = 10 * time.Second
	}
	t := p.Timeouts.WithDefaults()
	return min(t.Connect+t.FirstByte, limit)
}

// verify calls the endpoint; extra diagnostics (credential_whitespace) come first.
func (s *Service) verify(ctx context.Context, p *catalog.Provider, extra []catalog.Diagnostic) *catalog.Verification {
	if s.Verifier == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.callBound(p))
	defer cancel()
	v := s.Verifier.Verify(ctx, p)
	v.Diagnostics = append(extra, v.Diagnostics...)
	return &v
}

// VerifyProvider checks a stored provider's endpoint again and records the result.
func (s *Service) VerifyProvider(ctx context.Context, by *catalog.Admin, identifier string) (*ProviderView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	p, err := s.Store.Provider(ctx, identifier, true)
	if err != nil {
		return nil, err
	}
	v := s.verify(ctx, p, nil)
	if v == nil {
		return providerView(p), nil
	}
	return shown(providerView)(s.Store.SetVerification(ctx, identifier, *v, s.entry(ctx, by, audit.ProviderVerify, identifier)))
}

// GetProvider reads one provider.
func (s *Service) GetProvider(ctx context.Context, by *catalog.Admin, identifier string) (*ProviderView, error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	return shown(providerView)(s.Store.Provider(ctx, identifier, false))
}

// ListProviders lists every provider by identifier.
func (s *Service) ListProviders(ctx context.Context, by *catalog.Admin) (*List[*ProviderView], error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	return listed(providerView)(s.Store.Providers(ctx))
}

// DeleteProvider deletes a provider that no model uses (409 provider_in_use naming them otherwise).
func (s *Service) DeleteProvider(ctx context.Context, by *catalog.Admin, identifier string) (*DeletedView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if err := s.Store.DeleteProvider(ctx, identifier, s.entry(ctx, by, audit.ProviderDelete, identifier)); err != nil {
		return nil, err
	}
	return &DeletedView{ID: identifier, Object: "provider", Deleted: true}, nil
}
