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
	t.Parallel()
	e := newEnv(t)
	b := signedInTab(t, e.srv.URL, superToken)
	b.wants("main h1", "Providers")
	b.wants(".sidebar", "Providers", "Models", "Aliases", "Teams", "Corpora", "Usage", "Request log", "Playground", "super_admin")
	b.shot("01-providers-empty")

	// Step 2: a base URL with a route the gateway appends is refused, with the corrected URL.
	b.submit("#add-provider")
	b.send("#save-provider", "#identifier", "acme-internal-llm", "#display_name", "Acme Internal LLM (self-hosted)",
		"#base_url", e.upstream.URL+"/chat/completions", "#credential", "  "+upstreamCred+"  ")
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
	b.send("#save-provider", "#credential", "  "+upstreamCred+"  ")
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
	b.do(chromedp.Click(chromedp.CSS("#kind-chat")))
	b.send("#save-model", "#name", "acme-internal-llm-2026-04", "#context_window", "8k")
	b.wants(`#model-form`, "Enter a whole number")
	if got := b.value("#context_window"); got != "8k" {
		t.Errorf("what was typed should be kept after a refusal; the field holds %q", got)
	}
	b.do(chromedp.Click(chromedp.CSS(`input[name=streaming]`)))
	b.send("#save-model", "#context_window", "8192")
	b.notice("Added chat model acme-internal-llm-2026-04", "disabled")
	b.wants("#chat-models #model-acme-internal-llm-2026-04", "acme-llm-7b", "8192", "streaming", "disabled", "not probed")
	b.submit(`#model-acme-internal-llm-2026-04 button[data-action=enable]`)
	b.wants("#model-acme-internal-llm-2026-04", "enabled")
	b.submit(`#model-acme-internal-llm-2026-04 button[data-action=probe]`)
	b.wants("#model-acme-internal-llm-2026-04", "streaming: yes")

	// Step 4: an embedding model, told apart from chat models; a wrong dimension is refused.
	b.open("/console/models?provider=acme-internal-llm&upstream_name=acme-embed-small")
	b.do(chromedp.Click(chromedp.CSS("#kind-embedding")))
	b.send("#save-model", "#name", "acme-embed-2026-06", "#dimension", "5000")
	b.wants("#model-form", "4")
	b.do(chromedp.Click(chromedp.CSS("#enabled")))
	b.send("#save-model", "#dimension", "768")
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
	b.send("#save-alias", "#alias-name", "acme-internal-llm", "#alias-target", "acme-internal-llm-2026-04", "#alias-reason", "first release")
	b.wants("#alias-target-now", "acme-internal-llm-2026-04")
	b.send("#move", "#move-to", "acme-internal-llm-2026-06", "#move-reason", "upgrade to the June fine-tune")
	b.notice("Moved acme-internal-llm to acme-internal-llm-2026-06")
	b.wants("#alias-history", "upgrade to the June fine-tune", "bootstrap", "acme-internal-llm-2026-04", "first release")
	b.submit("#rollback")
	b.wants("#alias-target-now", "acme-internal-llm-2026-04")
	b.shot("05-alias")

	// Step 5: a team, its key (shown once, with a copy button), and the audience grant.
	b.open("/console/teams")
	b.send("#create-team", "#team-name", "search-team")
	b.wants("main h1", "search-team")
	b.send("#create-key", "#key-name", "playground")
	secret := b.text("#new-key-value")
	if !strings.HasPrefix(secret, "sk-") {
		t.Errorf("the new key should be shown once; the page shows %q", secret)
	}
	b.do(chromedp.Click(chromedp.CSS("#copy-key")), chromedp.WaitVisible(chromedp.CSS(`#copy-key[data-copied="1"]`)))
	b.send("#grant", "#grant-name", "acme-internal-llm")
	b.notice("Granted acme-internal-llm to team search-team")
	b.wants("#grant-acme-internal-llm", "search-team")
	b.send("#grant", "#grant-name", "acme-embed-2026-06")
	b.shot("06-team")
	b.open("/console/teams")
	b.wants("#team-search-team", "acme-internal-llm", "acme-embed-2026-06")
	b.shot("07-teams-audience")
	b.open("/console/teams/search-team")
	if n := b.count("#new-key-value"); n != 0 {
		t.Errorf("the key must be shown only once, not on a later visit")
	}

	// Step 6: from the developer side. Mint a key in the playground, list what it may use, stream a
	// chat reply, embed a text, then find the requests in the log.
	b.open("/console/playground")
	b.send("#mint", "#mint-team", "search-team")
	if got := b.value("#pg-key"); !strings.HasPrefix(got, "sk-") || got != b.text("#new-key-value") {
		t.Errorf("the minted key should be shown once and put in the key field; field %q", got)
	}
	b.streamChat("acme-internal-llm", "acme-internal-llm — chat", "acme-embed-2026-06 — embedding, 768 dims")
	b.shot("08-playground-chat")

	b.choose("#pg-model", "acme-embed-2026-06")
	b.do(chromedp.Click(chromedp.CSS("#pg-embed-send")))
	b.do(chromedp.WaitVisible(chromedp.CSS("#pg-vector-length")))
	b.wants("#pg-embed-result", "Vector length 768", "recorded dimension 768", "matches")
	b.shot("09-playground-embedding")

	// A request the key may not make, and a provider credential the upstream refuses: the log
	// tells them apart.
	b.do(chromedp.Evaluate[chromedp.Void](`fetch("/v1/chat/completions", {method: "POST",
		headers: {"Authorization": "Bearer " + document.getElementById("pg-key").value, "Content-Type": "application/json"},
		body: JSON.stringify({model: "acme-internal-llm-2026-06", messages: [{role: "user", content: "hi"}]})}).then(r => r.status)`, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	key := b.value("#pg-key")
	b.open("/console/providers/acme-internal-llm")
	b.do(chromedp.Click(chromedp.CSS("#edit-provider summary")))
	b.send("#save-provider", "#credential", "a-wrong-key")
	b.wants("#verification", "failed", "auth_rejected")
	b.shot("10-provider-auth-rejected")
	b.open("/console/playground")
	b.fill("#pg-key", key)
	b.do(chromedp.Click(chromedp.CSS("#pg-load")))
	b.do(chromedp.WaitEnabled(chromedp.CSS("#pg-model")))
	b.choose("#pg-model", "acme-internal-llm")
	b.do(chromedp.Click(chromedp.CSS("#pg-send")))
	b.do(chromedp.WaitVisible(chromedp.CSS("#pg-error")))
	b.wants("#pg-error", "upstream_auth_error")
	b.shot("11-playground-upstream-auth-error")

	b.submit("#pg-log-link")
	// The log is written in batches within two seconds; the page looks again until the request is there.
	b.do(chromedp.WaitVisible(chromedp.CSS(`#request-log tr.highlight[data-outcome="upstream_auth_error"]`)))
	b.wants("#request-log", "upstream_auth_error", "model_not_found", "ok", "acme-internal-llm")
	if over := b.overflow(".table-scroll"); over > 0 {
		t.Errorf("the request log is %dpx wider than the page: its last columns are hidden", over)
	}
	b.shot("12-request-log")
	for _, tc := range []struct{ outcome, requested string }{
		{"ok", "acme-internal-llm"}, {"upstream_auth_error", "acme-internal-llm"}, {"model_not_found", "acme-internal-llm-2026-06"},
	} {
		b.submit(`#outcomes a[data-outcome="` + tc.outcome + `"]`)
		b.wants("#request-log", tc.requested)
		if n, all := b.count(`#request-log tbody tr[data-outcome="`+tc.outcome+`"]`), b.count("#request-log tbody tr"); n == 0 || n != all {
			t.Errorf("filtered by %s the log should show only those rows: %d of %d", tc.outcome, n, all)
		}
	}
	b.wants("#outcome-meaning", "audience", "grant")
	b.shot("13-request-log-model-not-found")

	b.open("/console/usage?window=1h")
	b.wants("#usage-table", "acme-internal-llm-2026-04", "acme-embed-2026-06")
	if n := b.count("#usage-chart svg rect"); n == 0 {
		t.Errorf("the usage chart should draw the requests")
	}
	b.shot("14-usage")
}
