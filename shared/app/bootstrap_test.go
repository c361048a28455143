package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
)

// An operator-chosen bootstrap token must be long and random: short ones, one character repeated,
// runs, repeated patterns and tokens made of words are refused with a message naming the variable
// and the rule; generated ones (openssl rand -hex 32, the deploy's 48-character secret, make dev's)
// are accepted.
func TestAttackWeakBootstrapTokenIsRefused(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	for _, weak := range []string{
		"",
		"short-but-random-Xq7",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnop",
		"01234567890123456789012345678901234567890123",
		"Xk7qXk7qXk7qXk7qXk7qXk7qXk7qXk7qXk7q",
		"sya-test-bootstrap-token-0123456789",
		"MySwitchyardAdminPassword2024!MySwitchyardAdminPassword",
		"first-token-0123456789",
	} {
		err := app.EnsureBootstrapAdmin(context.Background(), pool, weak)
		if err == nil {
			t.Errorf("EnsureBootstrapAdmin(%q) = nil; want it refused as too weak", weak)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "SWITCHYARD_ADMIN_TOKEN") || !strings.Contains(msg, "at least 32 characters and at least 128 bits") {
			t.Errorf("EnsureBootstrapAdmin(%q) = %q; want the variable and the rule named", weak, msg)
		}
	}
	for _, strong := range []string{
		"3f9c1be07a54d2e86c0b9af1475e2d3c6b8a09f4e1d27c5b3a6f08e9d1c4b7a2", // openssl rand -hex 32
		"sya-9f2c4e7a1b8d3f6e0c5a2b9d8e7f1a3c4b6d5e2f9a8c7b1d",
		"Q7vLm2XpR9kTz4NbW8cYh3JdF6sGa1Ue5PoKiVnBtCxE", // the deploy's secret: 48 letters and digits
	} {
		if err := app.EnsureBootstrapAdmin(context.Background(), pool, strong); err != nil {
			t.Errorf("EnsureBootstrapAdmin(%q) = %v; want it accepted", strong, err)
		}
	}
}
