package app

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// BootstrapAdminID is the id of the super admin whose token comes from SWITCHYARD_ADMIN_TOKEN.
const BootstrapAdminID = "adm_bootstrap"

// The rule a bootstrap admin token chosen by an operator must meet (CheckAdminToken).
const (
	MinAdminTokenLength = 32
	MinAdminTokenBits   = 128
)

// AdminTokenRule states the rule in words, for error messages and the docs.
const AdminTokenRule = "at least 32 characters and at least 128 bits of estimated entropy: each character counts log2 of " +
	"the alphabet its string's character classes span (lower case 26, upper case 26, digits 10, others 33), except " +
	"a character that repeats the one before, continues an ascending or descending run (abc, 321), repeats a " +
	"three-character sequence seen earlier, or is part of a common word (admin, password, secret, token, test, ...), " +
	"which counts nothing. Generate one with `openssl rand -hex 32`"

// weakWords are words people put in chosen secrets; their letters count nothing.
var weakWords = []string{
	"admin", "password", "passwd", "secret", "token", "switchyard", "bootstrap", "test", "example", "changeme",
	"letmein", "qwerty", "default", "welcome", "master", "login", "root", "user", "console", "hello", "dragon",
}

// EstimateTokenBits estimates a token's entropy in bits as AdminTokenRule describes.
func EstimateTokenBits(token string) float64 {
	rs := []rune(token)
	var lower, upper, digit, other bool
	low := make([]rune, len(rs))
	for i, r := range rs {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		default:
			other = true
		}
		low[i] = unicode.ToLower(r)
	}
	alphabet := 0
	for _, c := range []struct {
		has  bool
		size int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
		if c.has {
			alphabet += c.size
		}
	}
	if alphabet < 2 {
		return 0
	}
	worthless := make([]bool, len(rs))
	lowered := string(low)
	for _, w := range weakWords {
		for from := 0; ; {
			i := strings.Index(lowered[from:], w)
			if i < 0 {
				break
			}
			start := len([]rune(lowered[:from+i]))
			for k := range len(w) {
				worthless[start+k] = true
			}
			from += i + len(w)
		}
	}
	per := math.Log2(float64(alphabet))
	bits := 0.0
	for i, r := range rs {
		switch {
		case worthless[i]:
		case i > 0 && (r == rs[i-1] || r == rs[i-1]+1 || r == rs[i-1]-1):
		case i >= 2 && strings.Contains(string(rs[:i-1]), string(rs[i-2:i+1])):
		default:
			bits += per
		}
	}
	return bits
}

// CheckAdminToken says why token may not be the bootstrap admin token, naming the variables it comes
// from and the rule; nil when it may.
func CheckAdminToken(token string) error {
	n := len([]rune(token))
	bits := EstimateTokenBits(token)
	if n >= MinAdminTokenLength && bits >= MinAdminTokenBits {
		return nil
	}
	return fmt.Errorf("the bootstrap admin token (SWITCHYARD_ADMIN_TOKEN, or the secret SWITCHYARD_ADMIN_TOKEN_SECRET_ARN names) is too weak: "+
		"it has %d characters and about %d bits of estimated entropy; the rule is %s", n, int(bits), AdminTokenRule)
}

// EnsureBootstrapAdmin makes token the bootstrap super admin's token: created on first start, its
// hash replaced when a restart brings another token. A revoked bootstrap admin stays revoked. A token
// that fails CheckAdminToken is refused.
func EnsureBootstrapAdmin(ctx context.Context, pool *pgxpool.Pool, token string) error {
	if err := CheckAdminToken(token); err != nil {
		return err
	}
	return (&postgres.CatalogStore{Pool: pool}).EnsureBootstrapAdmin(ctx, BootstrapAdminID, catalog.HashSecret(token))
}
