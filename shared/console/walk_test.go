package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// TestOperatorGuideInTheBrowser walks the operator guide's Steps 2 to 6 in Chromium against a real
// server: sign in, register a provider (a doubled route first, then a credential with whitespace),
// pick the upstream name, add and enable models, alias, team, grant, key, then the playground and
// the request log.
func TestOperatorGuideInTheBrowser(t *testing.T) {
	e := newEnv(t)
	b := e.tab(t)

	b.signIn(superToken)
	b.wants("main h1", "Providers")
	b.wants(".sidebar", "Providers", "Models", "Aliases", "Teams", "Corpora", "Usage", "Request log", "Playground", "super_admin")
	b.shot("01-providers-empty")

	// Step 2: a base URL with a route the gateway appends is refused, with the corrected URL.
	b.submit("#add-provider")
	b.fill("#identifier", "acme-internal-llm")
	b.fill("#display_name", "Acme Internal LLM (self-hosted)")
	b.fill("#base_url", e.upstream.URL+"/chat/completions")
	b.fill("#credential", "  "+upstreamCred+"  ")
	b.submit("#save-provider")
	b.wants("#base_url-error", "doubled_route", "/chat/completions")
	b.wants("#corrected-url", e.upstream.URL)
	if got := b.value("#identifier"); got != "acme-internal-llm" {
		t.Errorf("the identifier typed should be kept after a refusal; it is %q", got)
	}
	if got := b.value("#credential"); got != "" {
		t.Errorf("the credential must never be sent back into the page; the field holds %q", got)
	}
	b.shot("02-provider-doubled-route")

	b.do(chromedp.Click(chromedp.CSS("#corrected-url button")))
	if got := b.value("#base_url"); got != e.upstream.URL {
		t.Errorf("'Use this URL' should fill in the corrected URL; the field holds %q", got)
	}
	b.fill("#credential", "  "+upstreamCred+"  ")
	b.submit("#save-provider")
	b.wants("#verification", "verified", "credential_whitespace", "trimmed", "acme-llm-7b", "acme-embed-small")
	b.shot("03-provider-verified")
	b.open("/console/providers")
	b.wants("#provider-acme-internal-llm", "Acme Internal LLM", "verified", "…y-42")

	// Step 3: pick the upstream name from the verification's model list.
	b.open("/console/providers/acme-internal-llm")
	b.submit(`#upstream-models a[data-upstream="acme-llm-7b"]`)
	if got := b.value("#upstream_name"); got != "acme-llm-7b" {
		t.Errorf("the upstream name should come prefilled from the provider's list; it is %q", got)
	}
	if got := b.value("#provider"); got != "acme-internal-llm" {
		t.Errorf("the provider should come prefilled; it is %q", got)
	}
	b.fill("#name", "acme-internal-llm-2026-04")
	b.do(chromedp.Click(chromedp.CSS("#kind-chat")))
	b.fill("#context_window", "8k")
	b.submit("#save-model")
	b.wants(`#model-form`, "Enter a whole number")
	if got := b.value("#context_window"); got != "8k" {
		t.Errorf("what was typed should be kept after a refusal; the field holds %q", got)
	}
	b.fill("#context_window", "8192")
	b.do(chromedp.Click(chromedp.CSS(`input[name=streaming]`)))
	b.submit("#save-model")
	b.wants(".banner.notice", "Added chat model acme-internal-llm-2026-04", "disabled")
	b.wants("#chat-models #model-acme-internal-llm-2026-04", "acme-llm-7b", "8192", "streaming", "disabled", "not probed")
	b.submit(`#model-acme-internal-llm-2026-04 button[data-action=enable]`)
	b.wants("#model-acme-internal-llm-2026-04", "enabled")
	b.submit(`#model-acme-internal-llm-2026-04 button[data-action=probe]`)
	b.wants("#model-acme-internal-llm-2026-04", "streaming: yes")

	// Step 4: an embedding model, told apart from chat models; a wrong dimension is refused.
	b.open("/console/models?provider=acme-internal-llm&upstream_name=acme-embed-small")
	b.fill("#name", "acme-embed-2026-06")
	b.do(chromedp.Click(chromedp.CSS("#kind-embedding")))
	b.fill("#dimension", "5000")
	b.submit("#save-model")
	b.wants("#model-form", "4")
	b.fill("#dimension", "768")
	b.do(chromedp.Click(chromedp.CSS("#enabled")))
	b.submit("#save-model")
	b.wants("#embedding-models #model-acme-embed-2026-06", "768", "enabled")
	b.submit(`#model-acme-embed-2026-06 button[data-action=probe]`)
	b.wants("#model-acme-embed-2026-06", "dimension 768")
	if n := b.count("#chat-models #model-acme-embed-2026-06"); n != 0 {
		t.Errorf("an embedding model must not be listed with the chat models")
	}
	b.shot("04-models")

	// Step 4a: a stable alias over pinned versions; move it with a reason, then roll it back.
	if _, err := e.svc.CreateModel(context.Background(), e.super, admin.ModelInput{Name: "acme-internal-llm-2026-06", Provider: "acme-internal-llm",
		UpstreamName: "acme-llm-7b", Kind: "chat", Enabled: true, Capabilities: &catalog.Capabilities{Streaming: true}}); err != nil {
		t.Fatal(err)
	}
	e.refresh()
	b.open("/console/aliases")
	b.fill("#alias-name", "acme-internal-llm")
	b.fill("#alias-target", "acme-internal-llm-2026-04")
	b.fill("#alias-reason", "first release")
	b.submit("#save-alias")
	b.wants("#alias-target-now", "acme-internal-llm-2026-04")
	b.fill("#move-to", "acme-internal-llm-2026-06")
	b.fill("#move-reason", "upgrade to the June fine-tune")
	b.submit("#move")
	b.wants(".banner.notice", "Moved acme-internal-llm to acme-internal-llm-2026-06")
	b.wants("#alias-history", "upgrade to the June fine-tune", "bootstrap", "acme-internal-llm-2026-04", "first release")
	b.submit("#rollback")
	b.wants("#alias-target-now", "acme-internal-llm-2026-04")
	b.shot("05-alias")

	// Step 5: a team, its key (shown once, with a copy button), and the audience grant.
	b.open("/console/teams")
	b.fill("#team-name", "search-team")
	b.submit("#create-team")
	b.wants("main h1", "search-team")
	b.fill("#key-name", "playground")
	b.submit("#create-key")
	secret := b.text("#new-key-value")
	if !strings.HasPrefix(secret, "sk-") {
		t.Errorf("the new key should be shown once; the page shows %q", secret)
	}
	b.do(chromedp.Click(chromedp.CSS("#copy-key")))
	b.wants("#copy-key", "Copied")
	b.fill("#grant-name", "acme-internal-llm")
	b.submit("#grant")
	b.wants(".banner.notice", "Granted acme-internal-llm to team search-team")
	b.wants("#grant-acme-internal-llm", "search-team")
	b.fill("#grant-name", "acme-embed-2026-06")
	b.submit("#grant")
	b.shot("06-team")
	b.open("/console/teams")
	b.wants("#team-search-team", "acme-internal-llm", "acme-embed-2026-06")
	b.shot("07-teams-audience")
	b.open("/console/teams/search-team")
	if n := b.count("#new-key-value"); n != 0 {
		t.Errorf("the key must be shown only once, not on a later visit")
	}
}
