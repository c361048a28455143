package console_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// chatBehindAlias registers provider acme with chat model acme-chat (enabled, streaming) behind alias
// acme-llm, and the embedding model acme-embed-2026-06.
func (e *env) chatBehindAlias() {
	e.t.Helper()
	ctx := context.Background()
	e.provider()
	e.must(e.svc.CreateModel(ctx, e.super, admin.ModelInput{Name: "acme-chat", Provider: "acme", UpstreamName: "acme-llm-7b", Kind: "chat",
		ContextWindow: 8192, Capabilities: &catalog.Capabilities{Streaming: true}, Enabled: true, DisplayName: "Acme chat"}))
	e.must(e.svc.CreateModel(ctx, e.super, admin.ModelInput{Name: "acme-embed-2026-06", Provider: "acme", UpstreamName: "acme-embed-small",
		Kind: "embedding", Dimension: 768, Enabled: true}))
	e.must(e.svc.CreateAlias(ctx, e.super, "acme-llm", admin.AliasInput{Target: "acme-chat"}))
	e.refresh()
}

func (e *env) model(name string) *admin.ModelView {
	e.t.Helper()
	m, err := e.svc.GetModel(context.Background(), e.super, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// post sends a form with the session's CSRF token and returns the status, where it redirects and
// the page it shows.
func post(t *testing.T, c *http.Client, base, csrf, path string, form url.Values) (int, string, string) {
	t.Helper()
	form.Set("csrf", csrf)
	resp, err := c.PostForm(base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// TestModelEditForm: the model page's form changes what the admin API lets change; a refusal, the
// console's own or the API's, shows next to its field with what was typed kept, and saves nothing.
func TestModelEditForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.chatBehindAlias()
	c, csrf := signedInClient(t, e.srv.URL, superToken)
	edit := func(name string, form url.Values) (int, string, string) {
		t.Helper()
		return post(t, c, e.srv.URL, csrf, "/console/models/"+name, form)
	}
	chatForm := func(display, window, enabled string) url.Values {
		return url.Values{"display_name": {display}, "description": {"Fine-tuned on the support corpus.\nAnswers in English."},
			"context_window": {window}, "capabilities": {"1"}, "streaming": {"1"}, "tools": {"1"}, "enabled": {enabled}}
	}

	st, loc, _ := edit("acme-chat", chatForm(" Acme Support Chat ", "32768", "1"))
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/models/acme-chat?notice=") {
		t.Fatalf("saving the form: %d to %q, want a redirect to the model's page", st, loc)
	}
	m := e.model("acme-chat")
	if m.DisplayName != "Acme Support Chat" || m.Description != "Fine-tuned on the support corpus.\nAnswers in English." ||
		m.ContextWindow != 32768 || !m.Capabilities.Streaming || !m.Capabilities.Tools || !m.Enabled {
		t.Fatalf("after saving, the model is %+v", m)
	}

	for _, tc := range []struct {
		name             string
		form             url.Values
		status           int
		field, says      string
		enabledTicked    bool
		keptDisplayName  string
		keptContextInput string
	}{
		// The console's own check: not a number.
		{"context window not a number", chatForm("Renamed", "32k", "1"), 400, "context_window", "Enter a whole number", true, "Renamed", "32k"},
		// The API's: beyond its bound.
		{"context window too large", chatForm("Renamed", "200000000", "1"), 400, "context_window", "context_window must be between 0", true, "Renamed", "200000000"},
		{"display name too long", chatForm(strings.Repeat("x", 1001), "32768", "1"), 400, "display_name", "at most 1000", true, strings.Repeat("x", 1001), "32768"},
		// Disabling a model an alias points at: 409 model_in_use, at the checkbox, which stays unticked.
		{"disabling a model an alias points at", chatForm("Renamed", "32768", ""), 409, "enabled", "model_in_use", false, "Renamed", "32768"},
	} {
		st, _, body := edit("acme-chat", tc.form)
		if st != tc.status {
			t.Errorf("%s: answered %d, want %d", tc.name, st, tc.status)
		}
		if got := html.UnescapeString(between(body, `id="`+tc.field+`-error">`, "</p>")); !strings.Contains(got, tc.says) {
			t.Errorf("%s: the error next to %s should say %q; it says %q", tc.name, tc.field, tc.says, got)
		}
		if tc.field == "enabled" && !strings.Contains(html.UnescapeString(between(body, `id="enabled-error">`, "</p>")), "acme-llm") {
			t.Errorf("%s: the error should name the alias to move first", tc.name)
		}
		if got := between(body, `id="display_name" name="display_name" value="`, `"`); got != tc.keptDisplayName {
			t.Errorf("%s: the display name typed should be kept; the field holds %q", tc.name, got)
		}
		if got := between(body, `id="context_window" name="context_window" inputmode="numeric" value="`, `"`); got != tc.keptContextInput {
			t.Errorf("%s: the context window typed should be kept; the field holds %q", tc.name, got)
		}
		if ticked := strings.Contains(between(body, `id="enabled"`, ">"), "checked"); ticked != tc.enabledTicked {
			t.Errorf("%s: the enabled box should stay as the operator left it (ticked %v); it is ticked %v", tc.name, tc.enabledTicked, ticked)
		}
		if m := e.model("acme-chat"); m.DisplayName != "Acme Support Chat" || m.ContextWindow != 32768 || !m.Enabled {
			t.Errorf("%s: a refused form must change nothing; the model is now %+v", tc.name, m)
		}
	}

	// An embedding model's form has no capabilities; saving it leaves them alone.
	if _, body := getPage(t, c, e.srv.URL+"/console/models/acme-embed-2026-06"); strings.Contains(body, `name="streaming"`) ||
		!strings.Contains(body, `id="model-edit-form"`) {
		t.Errorf("an embedding model's page should offer the edit form without capabilities")
	}
	if st, _, _ := edit("acme-embed-2026-06", url.Values{"display_name": {"Acme embeddings"}, "enabled": {"1"}}); st != http.StatusSeeOther {
		t.Errorf("saving an embedding model: %d", st)
	}
	if m := e.model("acme-embed-2026-06"); m.DisplayName != "Acme embeddings" || !m.Enabled || m.Capabilities.Streaming {
		t.Errorf("after saving, the embedding model is %+v", m)
	}

	// A viewer sees the model's settings but no form, and a forged post is refused.
	_, viewer := e.admin("viewer-vic", catalog.RoleViewer)
	vc, vcsrf := signedInClient(t, e.srv.URL, viewer)
	if st, body := getPage(t, vc, e.srv.URL+"/console/models/acme-chat"); st != 200 || !strings.Contains(body, "Acme Support Chat") ||
		strings.Contains(body, "model-edit-form") {
		t.Errorf("a viewer's model page: %d, should show the settings and no edit form", st)
	}
	if st, _, _ := post(t, vc, e.srv.URL, vcsrf, "/console/models/acme-chat", chatForm("Viewer was here", "1", "1")); st != http.StatusForbidden {
		t.Errorf("a viewer's forged edit: %d, want 403", st)
	}
	if m := e.model("acme-chat"); m.DisplayName != "Acme Support Chat" {
		t.Errorf("a viewer's edit must change nothing; display name %q", m.DisplayName)
	}
}

// TestEditAModelInTheBrowser: from the models list to the model's page, a refusal shown at its field
// with what was typed kept, then the change saved and shown.
func TestEditAModelInTheBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.chatBehindAlias()
	b := signedInTab(t, e.srv.URL, superToken)
	b.open("/console/models")
	b.submit(`#model-acme-chat a[data-action="edit"]`)
	b.wants("main h1", "Model acme-chat")
	if got := b.value("#display_name"); got != "Acme chat" {
		t.Errorf("the form should start from the stored display name; it holds %q", got)
	}
	b.do(chromedp.Click(chromedp.CSS("#tools")), chromedp.Click(chromedp.CSS("#enabled")))
	b.send("#save-model-edit", "#display_name", "Acme Support Chat", "#description", "Fine-tuned on the support corpus. Answers in English.",
		"#context_window", "32768")
	b.wants("#enabled-error", "model_in_use", "acme-llm")
	b.wants("#page-error", "Nothing was saved")
	if got := b.value("#display_name"); got != "Acme Support Chat" {
		t.Errorf("the display name typed should be kept after a refusal; it holds %q", got)
	}
	if b.count("#enabled:checked") != 0 || b.count("#tools:checked") != 1 {
		t.Errorf("the boxes should stay as the operator left them (enabled unticked, tools ticked)")
	}
	b.wants("#model-display-name", "Acme chat")
	b.shot("20-model-edit-refused")

	b.do(chromedp.Click(chromedp.CSS("#enabled")))
	b.submit("#save-model-edit")
	b.notice("Saved acme-chat")
	b.wants("#model-display-name", "Acme Support Chat")
	b.wants("#model-context-window", "32768")
	b.wants("#model-capabilities", "streaming", "tools")
	b.wants("#model-state", "enabled", "acme-llm")
	b.shot("21-model-edited")
	b.open("/console/models")
	b.wants("#model-acme-chat", "Acme Support Chat", "32768", "tools")
}
