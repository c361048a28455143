package admin

import (
	"encoding/json"
	"math/big"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/apierror"
)

// maxPrice bounds a price per million tokens (the column is numeric(20, 6)).
const maxPrice = 1e12

// parsePrice reads price_per_million_tokens: a JSON number or a string holding a decimal, at least 0
// with at most 6 decimals, or null ("" — no price). It answers the decimal as written, so that no
// float rounding reaches the stored value.
func parsePrice(raw json.RawMessage) (string, error) {
	text := strings.TrimSpace(string(raw))
	if text == "null" {
		return "", nil
	}
	if strings.HasPrefix(text, `"`) {
		if err := json.Unmarshal(raw, &text); err != nil {
			return "", apierror.Invalid("price_per_million_tokens", "price_per_million_tokens must be a decimal number, e.g. \"0.02\"")
		}
		text = strings.TrimSpace(text)
	}
	bad := apierror.Invalid("price_per_million_tokens",
		"price_per_million_tokens must be a decimal number of at least 0 with at most 6 decimals, e.g. \"0.02\" (the price of a million input tokens), or null to clear it; got %.40q", text)
	if text == "" || strings.ContainsAny(text, "eE+/") {
		return "", bad
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok || r.Sign() < 0 || r.Cmp(big.NewRat(maxPrice, 1)) >= 0 {
		return "", bad
	}
	if _, frac, found := strings.Cut(text, "."); found && len(frac) > 6 {
		return "", bad
	}
	return text, nil
}
