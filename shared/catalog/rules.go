package catalog

import (
	"fmt"
	"strings"
)

// MaxNameLength bounds model and alias names.
const MaxNameLength = 128

// ValidateName checks a model or alias name: lowercase letters, digits and -._:, at most 128
// characters, starting with a letter or digit. Models and aliases share one namespace.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("a name is required")
	}
	if len(name) > MaxNameLength {
		return fmt.Errorf("the name is %d characters long; names have at most %d", len(name), MaxNameLength)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '.' || r == '_' || r == ':') && i > 0:
		default:
			return fmt.Errorf("%q has %q at position %d; names use lowercase letters, digits and -._: and start with a letter or digit", name, r, i+1)
		}
	}
	return nil
}

// ValidateIdentifier checks a provider, team or corpus identifier with the same rules as names.
func ValidateIdentifier(id string) error { return ValidateName(id) }

// ValidRole reports whether r is one of SPEC's roles.
func ValidRole(r Role) bool {
	return r == RoleSuperAdmin || r == RoleProviderAdmin || r == RoleViewer
}

// Area is a part of the admin API that roles are granted on.
type Area string

// The areas of the admin API.
const (
	AreaCatalog Area = "catalog" // providers, models, aliases, audience grants, corpora, re-embeds
	AreaAccess  Area = "access"  // teams, keys, admins
	AreaUsage   Area = "usage"   // usage and the request log (read only by nature)
)

// Can reports whether role may do a write (write true) or a read in area.
func (r Role) Can(area Area, write bool) bool {
	switch r {
	case RoleSuperAdmin:
		return true
	case RoleProviderAdmin:
		if !write {
			return area != AreaAccess
		}
		return area == AreaCatalog
	case RoleViewer:
		return !write
	}
	return false
}

// NormalizeHeader canonicalises an api_key header name and rejects names that cannot be headers.
func NormalizeHeader(h string) (string, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return "", fmt.Errorf("a header name is required with auth method api_key")
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return "", fmt.Errorf("%q is not a valid header name", h)
		}
	}
	return h, nil
}
