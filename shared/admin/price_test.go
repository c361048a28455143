package admin_test

import "testing"

// TestModelPriceIsADecimalSetByPatch: a model's price per million tokens is written as a decimal
// (string or number), shown as one, refused when it is not a price, and cleared by null.
func TestModelPriceIsADecimalSetByPatch(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	path := "/admin/models/acme-embed-2026-06"
	if got := e.must(200, "GET", path, nil)["price_per_million_tokens"]; got != nil {
		t.Errorf("a new model's price is %v, want null", got)
	}
	for _, c := range []struct {
		in   any
		want any
	}{{"0.020", "0.02"}, {0.5, "0.5"}, {"13", "13"}, {nil, nil}} {
		got := e.must(200, "PATCH", path, map[string]any{"price_per_million_tokens": c.in})["price_per_million_tokens"]
		if got != c.want {
			t.Errorf("price %v answered %v, want %v", c.in, got, c.want)
		}
		if again := e.must(200, "GET", path, nil)["price_per_million_tokens"]; again != c.want {
			t.Errorf("price %v read back as %v, want %v", c.in, again, c.want)
		}
	}
	for _, bad := range []any{"-1", "cheap", "0.0000001", "1e3", true, ""} {
		r := e.do("PATCH", path, superToken, map[string]any{"price_per_million_tokens": bad})
		if r.Status != 400 || r.errParam() != "price_per_million_tokens" {
			t.Errorf("price %v: %d %s, want 400 naming price_per_million_tokens", bad, r.Status, r.Raw)
		}
	}
}
