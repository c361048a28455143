package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// TestAuditLogPage: sign-ins, refused ones included, and changes made in the console and through
// the API show on the audit page with who, what changed and from where, for a viewer too; the
// filters narrow it.
func TestAuditLogPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.provider()
	name := "Acme, self-hosted"
	if _, err := e.svc.UpdateProvider(ctx, e.super, "acme", admin.ProviderPatch{DisplayName: &name}); err != nil {
		t.Fatal(err)
	}
	_, viewer := e.admin("viewer-vic", catalog.RoleViewer)

	b := e.tab(t)
	b.signIn("sya-not-a-token-at-all")
	b.wants("#page-error", "not valid")
	b.signIn(superToken)
	b.open("/console/teams")
	b.send("#team-form button", "#team-name", "search-team")
	b.wants("main h1", "search-team")

	b.open("/console/audit")
	b.wants(`nav a[data-nav="audit"]`, "Audit log")
	b.wants(`#audit-log tr[data-action="team.create"]`, "bootstrap", "adm_bootstrap", "search-team", "127.0.0.1", "HeadlessChrome")
	b.wants(`#audit-log tr[data-action="console.signin"]`, "bootstrap", "127.0.0.1")
	b.wants(`#audit-log tr[data-action="console.signin_failed"]`, "nobody", "127.0.0.1")
	b.wants(`#audit-log tr[data-action="provider.update"] td.change`, "display_name", name)
	b.shot("20-audit-log")
	if page := b.text("#audit-log"); strings.Contains(page, upstreamCred) || strings.Contains(page, superToken) {
		t.Errorf("the audit page shows a secret: %s", page)
	}

	b.open("/console/audit?action=console.signin_failed")
	if n := b.count("#audit-log tbody tr"); n != 1 {
		t.Errorf("filtered by console.signin_failed, the page lists %d entries, want 1", n)
	}
	b.open("/console/audit?target=acme")
	if n := b.count("#audit-log tbody tr"); n != 2 {
		t.Errorf("filtered by target acme, the page lists %d entries, want the create and the update", n)
	}

	// A viewer reads it too; a bad filter says what to fix.
	c, _ := signedInClient(t, e.srv.URL, viewer)
	if status, body := getPage(t, c, e.srv.URL+"/console/audit?actor=adm_bootstrap"); status != http.StatusOK || !strings.Contains(body, "team.create") {
		t.Errorf("a viewer's audit page: %d", status)
	}
	if status, body := getPage(t, c, e.srv.URL+"/console/audit?from=yesterday"); status != http.StatusBadRequest || !strings.Contains(body, "2026-06-01") {
		t.Errorf("a bad date: %d %s", status, between(body, `id="page-error"`, "</div>"))
	}
}

// TestAuditLogPagePages: 50 entries a page, Older and Newer between them, filters kept.
func TestAuditLogPagePages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.app.Pool.Exec(context.Background(), `INSERT INTO audit_log (action, target)
		SELECT 'console.signin_failed', 'n' || i FROM generate_series(1, 70) i`); err != nil {
		t.Fatal(err)
	}
	c, _ := signedInClient(t, e.srv.URL, superToken) // one more entry, of another action
	rows := func(body string) int { return strings.Count(body, `data-audit-id=`) }
	_, first := getPage(t, c, e.srv.URL+"/console/audit?action=console.signin_failed")
	older := pageLink(first, "older")
	if rows(first) != 50 || !strings.Contains(older, "action=console.signin_failed") || !strings.Contains(older, "after=") || pageLink(first, "newer") != "" {
		t.Fatalf("the first page lists %d entries with the Older link %q; want 50, a link keeping the filter and no Newer one", rows(first), older)
	}
	_, second := getPage(t, c, e.srv.URL+older)
	if rows(second) != 20 || pageLink(second, "newer") == "" || pageLink(second, "older") != "" {
		t.Errorf("the second page lists %d entries; want the last 20, a Newer link and no Older one", rows(second))
	}
	if !strings.Contains(second, "<code>n1</code>") || strings.Contains(second, "<code>n70</code>") {
		t.Errorf("the second page should hold the oldest entries")
	}
	_, back := getPage(t, c, e.srv.URL+pageLink(second, "newer"))
	if rows(back) != 50 || !strings.Contains(back, "<code>n70</code>") {
		t.Errorf("Newer from the second page lists %d entries; want the newest 50 again", rows(back))
	}
}

// pageLink is the href of the page's first Newer or Older link (dir), or "".
func pageLink(body, dir string) string {
	i := strings.Index(body, `data-page="`+dir+`"`)
	if i < 0 {
		return ""
	}
	j := strings.LastIndex(body[:i], `href="`)
	href := body[j+len(`href="`):]
	return strings.ReplaceAll(href[:strings.IndexByte(href, '"')], "&amp;", "&")
}
