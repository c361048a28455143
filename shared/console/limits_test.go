package console_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// pilotTeam creates team pilot, grants it alias acme-llm and the embedding model, and returns a key's secret and id.
func (e *env) pilotTeam() (secret, id string) {
	e.t.Helper()
	return e.team("pilot", "pilot-batch", "acme-llm", "acme-embed-2026-06")
}

const chatBody = `{"model": "acme-llm", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}`

// TestCapacityAndLimitsInTheBrowser: "this endpoint takes 8 at a time; team pilot gets 60 requests and
// 100k tokens a minute", set through the forms of the provider's and the team's pages, shown there with
// what is in use now; a refusal shows at its field with what was typed kept.
func TestCapacityAndLimitsInTheBrowser(t *testing.T) {
	e := newEnv(t)
	e.chatBehindAlias()
	key, keyID := e.pilotTeam()
	b := signedInTab(t, e.srv.URL, superToken)

	b.open("/console/providers/acme")
	b.wants("#capacity", "No cap")
	b.send("#save-capacity", "#max_concurrency", "80000", "#queue_ms", "2000")
	b.wants("#max_concurrency-error", "between 0")
	b.wants("#page-error", "Nothing was saved")
	if got := b.value("#max_concurrency"); got != "80000" {
		t.Errorf("the cap typed should be kept after a refusal; the field holds %q", got)
	}
	b.shot("40-capacity-refused")
	b.send("#save-capacity", "#max_concurrency", "8")
	b.notice("Saved the limits of provider:acme")
	b.wants("#capacity-max", "8 at once")
	b.wants("#capacity-queue", "2000 ms")
	b.wants("#capacity-inflight", "0 of 8")
	b.shot("41-provider-capacity")

	b.open("/console/models/acme-chat")
	b.wants("#capacity", "No cap")

	b.open("/console/teams/pilot")
	b.wants("#limits", "No limits")
	b.send("#limits-save", "#limits-requests_per_minute", "60", "#limits-tokens_per_minute", "100k")
	b.notice("Saved the limits of team:pilot")
	b.wants(`#limits-table tr[data-period="minute"] .limit-requests`, "0 / 60")
	b.wants(`#limits-table tr[data-period="minute"] .limit-tokens`, "0 / 100,000")
	b.wants(`#limits-table tr[data-period="day"]`, "no limit")
	if got := b.value("#limits-tokens_per_minute"); got != "100000" {
		t.Errorf("the form should show the stored tokens per minute; it holds %q", got)
	}

	// A request counts against the team's minute, and the page says so.
	e.refresh()
	if resp, code := e.call(key, "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("chat as pilot: %d %s", resp.StatusCode, code)
	}
	b.open("/console/teams/pilot")
	b.wants(`#limits-table tr[data-period="minute"] .limit-requests`, "1 / 60")
	if resets := b.text(`#limits-table tr[data-period="minute"] td:last-child`); !strings.Contains(resets, "UTC") {
		t.Errorf("the minute window should say when it resets; it says %q", resets)
	}
	b.shot("42-team-limits")

	// The key's own limit, from its row: one request a minute, which it has used; the next is
	// refused, and usage by outcome counts the refusal on its own row.
	b.do(chromedp.Click(chromedp.CSS("#limits-" + keyID + " summary")))
	b.send("#limits-"+keyID+"-save", "#limits-"+keyID+"-requests_per_minute", "1")
	b.notice("Saved the limits of key:" + keyID)
	b.wants("#key-"+keyID+" .key-limits", "1 requests/minute")
	// The page comes back unfolded at the key's limits (a key's window counts from its first limit).
	b.wants("#limits-"+keyID+"-table tr[data-period=\"minute\"] .limit-requests", "0 / 1")
	e.refresh()
	for i, want := range []int{200, 429} {
		if resp, code := e.call(key, "/v1/chat/completions", chatBody); resp.StatusCode != want {
			t.Fatalf("chat %d under the key's limit of 1 a minute: %d %s, want %d", i, resp.StatusCode, code, want)
		}
	}
	if err := e.app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.open("/console/usage")
	b.submit(`#groupings a[href$="group_by=outcome"]`)
	b.wants(`#usage-table tr[data-outcome="rate_limited_local"]`, "rate_limited_local", "rate limit", "1")
	b.wants(`#usage-table tr[data-outcome="ok"]`, "ok", "2")
	b.shot("43-usage-by-outcome")

	// The provider's cap is in force: a request holds a slot while it runs (none now), and the
	// models page's provider link leads back to it.
	b.open("/console/providers/acme")
	b.wants("#capacity-inflight", "0 of 8")
	b.do(chromedp.Click(chromedp.CSS("#remove-capacity")))
	b.do(chromedp.WaitVisible(chromedp.CSS(".banner.notice")))
	b.notice("Removed the limits of provider:acme")
	b.wants("#capacity", "No cap")
}

// TestLimitsFormRefusals: every refusal of a limits form, the console's own or the API's, shows at its
// field (or in the banner when it names none) with what was typed kept, saves nothing, and leaves the
// page's other forms as they were; a role that may not change limits is shown no form and refused.
func TestLimitsFormRefusals(t *testing.T) {
	e := newEnv(t)
	e.chatBehindAlias()
	_, keyID := e.pilotTeam()
	c, csrf := signedInClient(t, e.srv.URL, superToken)
	for _, tc := range []struct {
		name, path string
		form       url.Values
		status     int
		field      string // "" for the banner
		says, kept string
	}{
		{"not a number", "/console/models/acme-chat/limits", url.Values{"max_concurrency": {"eight"}}, 400, "max_concurrency", "Enter a whole number", "eight"},
		{"queue too long", "/console/models/acme-chat/limits", url.Values{"max_concurrency": {"4"}, "queue_ms": {"600000"}}, 400, "queue_ms", "queue_ms must be between 0", "600000"},
		{"no cap named", "/console/providers/acme/limits", url.Values{"queue_ms": {"100"}}, 400, "max_concurrency", "a provider's limit is max_concurrency", ""},
		{"negative rate", "/console/teams/pilot/limits", url.Values{"requests_per_day": {"-5"}}, 400, "limits-requests_per_day", "0 or more", "-5"},
		{"nothing named", "/console/teams/pilot/limits", url.Values{"requests_per_minute": {""}}, 400, "", "name at least one limit", ""},
		{"key rate not a number", "/console/keys/" + keyID + "/limits", url.Values{"team": {"pilot"}, "tokens_per_month": {"lots"}}, 400, "limits-" + keyID + "-tokens_per_month", "Enter a whole number", "lots"},
		{"remove what is not set", "/console/teams/pilot/limits", url.Values{"remove": {"1"}}, 404, "", "has no limits", ""},
	} {
		st, _, body := post(t, c, e.srv.URL, csrf, tc.path, tc.form)
		if st != tc.status {
			t.Errorf("%s: answered %d, want %d", tc.name, st, tc.status)
		}
		where := `id="page-error"`
		if tc.field != "" {
			where = `id="` + tc.field + `-error"`
		}
		if got := html.UnescapeString(between(body, where+`>`, "</")); !strings.Contains(got, tc.says) {
			t.Errorf("%s: %s should say %q; it says %q", tc.name, where, tc.says, got)
		}
		if tc.kept != "" {
			if got := between(body, `id="`+tc.field+`" name="`, `>`); !strings.Contains(got, `value="`+tc.kept+`"`) {
				t.Errorf("%s: the field should keep %q; it is %q", tc.name, tc.kept, got)
			}
		}
		if tc.path == "/console/models/acme-chat/limits" && !strings.Contains(between(body, `id="enabled"`, ">"), "checked") {
			t.Errorf("%s: a refused limits form must leave the model's edit form as stored (enabled ticked)", tc.name)
		}
	}
	if l, err := e.svc.ListLimits(context.Background(), e.super); err != nil || len(l.Data) != 0 {
		t.Errorf("refused forms must set nothing; limits are %+v (%v)", l, err)
	}

	// A viewer sees the sections without forms, and a forged form is refused.
	_, viewer := e.admin("viewer-vic", catalog.RoleViewer)
	vc, vcsrf := signedInClient(t, e.srv.URL, viewer)
	if st, body := getPage(t, vc, e.srv.URL+"/console/models/acme-chat"); st != 200 || !strings.Contains(body, `id="capacity"`) || strings.Contains(body, "capacity-form") {
		t.Errorf("a viewer's model page: %d, should show Capacity and no form", st)
	}
	if st, _, _ := post(t, vc, e.srv.URL, vcsrf, "/console/models/acme-chat/limits", url.Values{"max_concurrency": {"1"}}); st != http.StatusForbidden {
		t.Errorf("a viewer's forged cap: %d, want 403", st)
	}
	// A provider_admin changes caps but not a team's rates.
	_, pa := e.admin("pat", catalog.RoleProviderAdmin)
	pc, pcsrf := signedInClient(t, e.srv.URL, pa)
	if st, loc, _ := post(t, pc, e.srv.URL, pcsrf, "/console/models/acme-chat/limits", url.Values{"max_concurrency": {"2"}}); st != http.StatusSeeOther || !strings.Contains(loc, "#capacity") {
		t.Errorf("a provider_admin's cap: %d to %q, want a redirect to the model's Capacity", st, loc)
	}
	if st, _, _ := post(t, pc, e.srv.URL, pcsrf, "/console/teams/pilot/limits", url.Values{"requests_per_minute": {"1"}}); st != http.StatusForbidden {
		t.Errorf("a provider_admin's team rate: %d, want 403", st)
	}
	if l, err := e.svc.GetLimits(context.Background(), e.super, "model:acme-chat"); err != nil || l.MaxConcurrency == nil || *l.MaxConcurrency != 2 {
		t.Errorf("model:acme-chat limits = %+v (%v), want a cap of 2", l, err)
	}
}

// TestUsageByOutcomeCountsRefusals: requests refused at a key's rate limit and at a model's cap are
// counted as their own outcomes by GET /admin/usage?group_by=outcome and on the console's usage page.
func TestUsageByOutcomeCountsRefusals(t *testing.T) {
	e := newEnv(t)
	e.chatBehindAlias()
	key, keyID := e.pilotTeam()
	ctx := context.Background()
	one, zero := int64(1), 0
	e.must(e.svc.SetLimits(ctx, e.super, "key:"+keyID, admin.LimitsInput{RequestsPerMinute: &one}))
	e.must(e.svc.SetLimits(ctx, e.super, "model:acme-embed-2026-06", admin.LimitsInput{MaxConcurrency: &zero}))
	e.refresh()
	for i, want := range []int{200, 429, 429} {
		if resp, code := e.call(key, "/v1/chat/completions", chatBody); resp.StatusCode != want {
			t.Fatalf("chat %d: %d %s, want %d", i, resp.StatusCode, code, want)
		}
	}
	// The key has used its minute; lift its limit so that the model's cap is what refuses next.
	e.must(e.svc.DeleteLimits(ctx, e.super, "key:"+keyID))
	e.refresh()
	if resp, code := e.call(key, "/v1/embeddings", `{"model": "acme-embed-2026-06", "input": "hi"}`); resp.StatusCode != 503 || code != "capacity_exceeded" {
		t.Fatalf("embedding at a cap of 0: %d %s, want 503 capacity_exceeded", resp.StatusCode, code)
	}
	if err := e.app.Usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequest("GET", e.srv.URL+"/admin/usage?group_by=outcome", nil)
	req.Header.Set("Authorization", "Bearer "+superToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var u struct {
		GroupBy string `json:"group_by"`
		Data    []struct {
			Group            string
			Requests, Errors int64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /admin/usage?group_by=outcome: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	got := map[string][2]int64{}
	for _, d := range u.Data {
		got[d.Group] = [2]int64{d.Requests, d.Errors}
	}
	want := map[string][2]int64{"ok": {1, 0}, "rate_limited_local": {2, 2}, "capacity_exceeded": {1, 1}}
	if u.GroupBy != "outcome" || len(got) != len(want) {
		t.Errorf("usage by outcome = %+v, want %v", u, want)
	}
	for o, w := range want {
		if got[o] != w {
			t.Errorf("usage by outcome %s = %v requests/errors, want %v", o, got[o], w)
		}
	}

	c, _ := signedInClient(t, e.srv.URL, superToken)
	_, body := getPage(t, c, e.srv.URL+"/console/usage?group_by=outcome")
	for _, o := range []string{"rate_limited_local", "capacity_exceeded"} {
		row := html.UnescapeString(between(body, `data-outcome="`+o+`"`, "</tr>"))
		if !strings.Contains(row, "/console/requests?outcome="+o) || !strings.Contains(row, "concurrency cap") && o == "capacity_exceeded" {
			t.Errorf("the usage page by outcome should list %s with a link to its requests and what it means; its row is %q", o, row)
		}
	}
	// The request log's outcome filter offers the refusals.
	_, body = getPage(t, c, e.srv.URL+"/console/requests")
	for _, o := range []string{"rate_limited_local", "capacity_exceeded"} {
		if !strings.Contains(body, `data-outcome="`+o+`"`) {
			t.Errorf("the request log's filter should offer %s", o)
		}
	}
}
