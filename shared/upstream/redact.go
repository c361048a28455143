package upstream

import (
	"encoding/base64"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// MaxStoredText bounds every piece of upstream text Switchyard stores or logs: an error's
// operator detail, a verification or probe diagnostic, the request log's detail and message.
const MaxStoredText = 1024

// minRedacted is the shortest credential Redact looks for: replacing every "ab" of a text would
// garble it, and a secret that short protects nothing anyway.
const minRedacted = 4

// Redacted is what stands in a text where the credential was.
const Redacted = "[redacted]"

// Redact removes credential from s in the forms an upstream is likely to echo it: as is (which
// covers "Bearer <credential>" and "api-key: <credential>"), URL-encoded (query and path
// escaping, upper- or lower-case hex) and base64 (standard and URL alphabets, with and without
// padding). A credential shorter than four bytes is not looked for.
func Redact(s, credential string) string {
	if len(credential) < minRedacted || s == "" {
		return s
	}
	for _, form := range credentialForms(credential) {
		s = strings.ReplaceAll(s, form, Redacted)
	}
	return s
}

// credentialForms lists the credential's echoed forms, longest first so that a form containing
// another is replaced whole.
func credentialForms(c string) []string {
	forms := []string{c}
	add := func(f string) {
		for _, g := range forms {
			if g == f {
				return
			}
		}
		forms = append(forms, f)
	}
	for _, esc := range []string{url.QueryEscape(c), url.PathEscape(c)} {
		add(esc)
		add(lowerHexEscapes(esc))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		add(enc.EncodeToString([]byte(c)))
	}
	// Longest first: the padded base64 before the raw one it begins with.
	for i := 1; i < len(forms); i++ {
		for j := i; j > 0 && len(forms[j]) > len(forms[j-1]); j-- {
			forms[j], forms[j-1] = forms[j-1], forms[j]
		}
	}
	return forms
}

// lowerHexEscapes turns "%2F" into "%2f".
func lowerHexEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = toLowerHex(b[i+1]), toLowerHex(b[i+2])
		}
	}
	return string(b)
}

func toLowerHex(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// ForOperator is s as operators may see it (the request log, the server log, diagnostics): the
// credential redacted, at most MaxStoredText bytes.
func ForOperator(s, credential string) string {
	return Cap(Redact(s, credential), MaxStoredText)
}

// Cap cuts s to at most n bytes on a rune boundary, marking the cut with "…".
func Cap(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// The scrubbing patterns are compiled on first use, not at package init: compiling them costs about
// half a millisecond, on every cold start of a function that may never scrub an upstream's text.
var patterns = sync.OnceValue(func() (p struct{ url, bearer, token, ipv4, ipv6, host, hostPort *regexp.Regexp }) {
	p.url = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>()\[\]{}]+`)
	p.bearer = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[^\s"',;]+`)
	// Secrets that are not this provider's credential: OpenAI-style keys, and long opaque tokens
	// of letters and digits (a JWT, another system's key).
	p.token = regexp.MustCompile(`\bsk-[A-Za-z0-9_-]{6,}|[A-Za-z0-9_+/=-]{32,}`)
	p.ipv4 = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b`)
	p.ipv6 = regexp.MustCompile(`\[?[0-9A-Fa-f]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%]*\]?(?::\d{1,5})?`)
	p.host = regexp.MustCompile(`(?i)\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9](?::\d{1,5})?\b`)
	// A one-label host with a port: llm-box:8080, localhost:8000.
	p.hostPort = regexp.MustCompile(`(?i)\b[a-z][a-z0-9-]*:\d{2,5}\b`)
	return p
})

// hostSuffixes are last labels that make a dotted word a host name: the common public top-level
// domains and the names private networks use.
var hostSuffixes = map[string]bool{
	"com": true, "net": true, "org": true, "io": true, "ai": true, "dev": true, "app": true, "cloud": true,
	"co": true, "us": true, "eu": true, "uk": true, "de": true, "info": true, "biz": true, "me": true,
	"internal": true, "local": true, "localhost": true, "localdomain": true, "lan": true, "home": true,
	"corp": true, "intranet": true, "private": true, "svc": true, "cluster": true, "example": true,
	"test": true, "invalid": true, "arpa": true,
}

// ForDeveloper is an upstream's message as developers may see it: credentials of any kind
// (bearer and basic tokens, sk- keys, long opaque tokens), URLs, IP addresses and host names
// removed. A host name is a dotted name with a port, with three or more labels, or ending in a
// common top-level domain or a private network's suffix (.internal, .local, .svc, .corp...), or
// one word with a port (llm-box:8080); a bare one-word host name cannot be told from an ordinary
// word and stays.
func ForDeveloper(s, credential string) string {
	s = Redact(s, credential)
	pt := patterns()
	s = pt.url.ReplaceAllString(s, "[url]")
	s = pt.bearer.ReplaceAllString(s, "$1 "+Redacted)
	s = pt.token.ReplaceAllStringFunc(s, func(t string) string {
		if t == Redacted || (!strings.HasPrefix(t, "sk-") && !hasLetterAndDigit(t)) {
			return t
		}
		return Redacted
	})
	s = pt.ipv4.ReplaceAllString(s, "[address]")
	s = pt.ipv6.ReplaceAllStringFunc(s, func(t string) string {
		if isIPv6(t) {
			return "[address]"
		}
		return t
	})
	s = pt.host.ReplaceAllStringFunc(s, func(t string) string {
		if isHostName(t) {
			return "[host]"
		}
		return t
	})
	return pt.hostPort.ReplaceAllString(s, "[host]")
}

func hasLetterAndDigit(s string) bool {
	letter, digit := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			letter = true
		}
	}
	return letter && digit
}

// isIPv6 reports whether t ([addr]:port, addr%zone, or a bare address) holds an IPv6 address.
func isIPv6(t string) bool {
	t = strings.TrimSuffix(t, ".")
	if ap, err := netip.ParseAddrPort(t); err == nil {
		return ap.Addr().Is6() && hexGroups(ap.Addr().String()) >= 2
	}
	t = strings.TrimSuffix(strings.TrimPrefix(t, "["), "]")
	ip, err := netip.ParseAddr(t)
	return err == nil && ip.Is6() && hexGroups(t) >= 2
}

// hexGroups counts the non-empty groups of an IPv6 text, so that "::ba" in "Foo::Bar" is not
// taken for an address.
func hexGroups(t string) int {
	n := 0
	for _, g := range strings.Split(t, ":") {
		if g != "" {
			n++
		}
	}
	return n
}

// locRoots begin FastAPI's validation locations (body.messages.0.content), which are field
// paths, not host names.
var locRoots = []string{"body.", "query.", "path.", "header.", "cookie."}

func isHostName(t string) bool {
	name, port, hasPort := strings.Cut(t, ":")
	if hasPort && port != "" {
		return true
	}
	low := strings.ToLower(name)
	for _, r := range locRoots {
		if strings.HasPrefix(low, r) {
			return false
		}
	}
	labels := strings.Split(low, ".")
	return len(labels) >= 3 || hostSuffixes[labels[len(labels)-1]]
}
