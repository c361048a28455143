package catalog

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// AppendedRoutes are the routes the gateway appends to a provider's base URL. A base URL that
// already ends in one of them would be called as .../chat/completions/chat/completions.
var AppendedRoutes = []string{"/chat/completions", "/completions", "/embeddings", "/models"}

// DoubledRouteError says a base URL already holds a route the gateway appends, or a doubled
// /v1/v1. Corrected is the URL that would work; the admin API answers it as 400 doubled_route
// with param base_url.
type DoubledRouteError struct {
	Raw       string // the URL as given, trimmed
	Found     string // what was wrong: the route, or "/v1/v1"
	Corrected string
}

func (e *DoubledRouteError) Error() string {
	if e.Found == "/v1/v1" {
		return fmt.Sprintf("the base URL %s repeats /v1; use %s", e.Raw, e.Corrected)
	}
	return fmt.Sprintf("the base URL %s already ends in %s, which the gateway appends itself; use the API root %s", e.Raw, e.Found, e.Corrected)
}

// NormalizeBaseURL checks a provider's base URL and returns it in canonical form: trimmed,
// scheme and host lower-cased, no trailing slash. It refuses URLs without an http or https
// scheme or a host, and URLs with a query, a fragment or user info (credentials go in the
// provider's auth, where they are sealed). A URL that already ends in an appended route or holds
// /v1/v1 yields a *DoubledRouteError carrying the corrected URL.
func NormalizeBaseURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("a base URL is required, e.g. https://models.internal.example/v1")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("the base URL %q does not parse: %v", s, unwrapURLError(err))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("the base URL %q must start with http:// or https://", s)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("the base URL %q has no host", s)
	}
	if u.User != nil {
		return "", fmt.Errorf("the base URL %q holds user info; put the credential in the provider's auth instead", s)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", fmt.Errorf("the base URL %q has a query string; the gateway appends routes to it, so it must have none", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return "", fmt.Errorf("the base URL %q has a fragment (#...); remove it", s)
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	out := u.String()

	// Repeat until stable: ".../v1/v1/chat/completions/" needs both corrections.
	path, found := u.Path, ""
	for {
		changed := false
		for _, r := range AppendedRoutes {
			if strings.HasSuffix(path, r) {
				path = strings.TrimRight(strings.TrimSuffix(path, r), "/")
				if found == "" {
					found = r
				}
				changed = true
			}
		}
		for strings.Contains(path, "/v1/v1") {
			path = strings.Replace(path, "/v1/v1", "/v1", 1)
			if found == "" {
				found = "/v1/v1"
			}
			changed = true
		}
		if !changed {
			break
		}
	}
	if found != "" {
		c := *u
		c.Path = path
		return "", &DoubledRouteError{Raw: s, Found: found, Corrected: c.String()}
	}
	return out, nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// NormalizeCredential removes whitespace around a credential (trimmed reports that it did, so
// verification can say so: credential_whitespace) and refuses one with a line break or another
// control character inside, which could never be sent as a header value. An empty result is not
// an error here: whether a credential is required depends on the auth method.
func NormalizeCredential(raw string) (cred string, trimmed bool, err error) {
	cred = strings.TrimSpace(raw)
	trimmed = cred != raw
	for i, r := range cred {
		if r == '\n' || r == '\r' {
			return "", trimmed, fmt.Errorf("the credential has a line break at position %d; paste it on one line", i+1)
		}
		if unicode.IsControl(r) {
			return "", trimmed, fmt.Errorf("the credential has a control character (%U) at position %d", r, i+1)
		}
	}
	return cred, trimmed, nil
}
