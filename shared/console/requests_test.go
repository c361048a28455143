package console_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// reqID is the id of the i-th request logRequests writes: as long as the gateway's, sorting as i.
func reqID(i int) string {
	return fmt.Sprintf("req_%04d%020x", i, uint64(i+1)*0x9e3779b97f4a7c15)
}

// logRequests writes n request-log rows, reqID(0) the oldest, a minute apart and ending a minute
// ago; every fifth is a model_not_found.
func (e *env) logRequests(n int) {
	e.t.Helper()
	now := time.Now().UTC()
	for i := range n {
		outcome, status, detail, model, msg, tokens := "ok", 200, "", "acme-internal-llm-2026-04", "", 40+i%17
		if i%5 == 0 {
			outcome, status, detail, model, tokens = "model_not_found", 404, "not_granted", "", 0
			msg = "The model `acme-internal-llm` does not exist or your API key may not use it; GET /v1/models lists the models your key can call."
		}
		if _, err := e.app.Pool.Exec(context.Background(), `INSERT INTO requests (request_id, at, route, key_id, team, requested, model,
				provider, outcome, detail, status, stream, latency_us, total_tokens, message)
			VALUES ($1, $2, '/v1/chat/completions', 'key_ad02b098a685155d', 'search-team', 'acme-internal-llm', $3, 'acme-internal-llm',
				$4, $5, $6, $7, $8, $9, $10)`,
			reqID(i), now.Add(-time.Duration(n-i)*time.Minute), model, outcome, detail, status, i%2 == 1, 1200+i*10, tokens, msg); err != nil {
			e.t.Fatal(err)
		}
	}
}

// logPage is what a request log page shows: its rows' ids, newest first, and its paging links.
type logPage struct {
	status       int
	ids          []string
	newer, older string
	body         string
}

var (
	rowIDRe  = regexp.MustCompile(`<tr data-request-id="([^"]+)"`)
	newerRe  = regexp.MustCompile(`<a href="([^"]+)"[^>]*data-page="newer"`)
	olderRe  = regexp.MustCompile(`<a href="([^"]+)"[^>]*data-page="older"`)
	outcomeR = regexp.MustCompile(`<tr data-request-id="[^"]+" data-outcome="([^"]+)"`)
)

// getPage fetches a page with c and returns its status and body.
func getPage(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func readLogPage(t *testing.T, c *http.Client, base, path string) logPage {
	t.Helper()
	var p logPage
	p.status, p.body = getPage(t, c, base+path)
	for _, m := range rowIDRe.FindAllStringSubmatch(p.body, -1) {
		p.ids = append(p.ids, m[1])
	}
	if m := newerRe.FindStringSubmatch(p.body); m != nil {
		p.newer = html.UnescapeString(m[1])
	}
	if m := olderRe.FindStringSubmatch(p.body); m != nil {
		p.older = html.UnescapeString(m[1])
	}
	return p
}

func span(from, to int) string {
	return reqID(from) + " … " + reqID(to)
}

func (p logPage) span() string {
	if len(p.ids) == 0 {
		return "none"
	}
	return p.ids[0] + " … " + p.ids[len(p.ids)-1]
}

// TestRequestLogPages: the request log shows 100 requests a page; Older and Newer walk the rest and
// back, keeping the outcome filter, and requests logged meanwhile do not shift a page.
func TestRequestLogPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.logRequests(250)
	c, _ := signedInClient(t, e.srv.URL, superToken)

	first := readLogPage(t, c, e.srv.URL, "/console/requests")
	if len(first.ids) != 100 || first.span() != span(249, 150) || first.newer != "" || first.older == "" {
		t.Fatalf("the newest page shows %d rows (%s), newer %q, older %q; want %s and only an Older link",
			len(first.ids), first.span(), first.newer, first.older, span(249, 150))
	}
	second := readLogPage(t, c, e.srv.URL, first.older)
	if second.span() != span(149, 50) || second.newer == "" || second.older == "" {
		t.Fatalf("Older from the newest page shows %s (newer %q, older %q); want %s with both links", second.span(), second.newer, second.older, span(149, 50))
	}
	last := readLogPage(t, c, e.srv.URL, second.older)
	if len(last.ids) != 50 || last.span() != span(49, 0) || last.older != "" || last.newer == "" {
		t.Fatalf("the oldest page shows %s (newer %q, older %q); want %s with only a Newer link", last.span(), last.newer, last.older, span(49, 0))
	}

	// A request logged now is on the newest page, not pushed into the older ones.
	if _, err := e.app.Pool.Exec(context.Background(), `INSERT INTO requests (request_id, at, route, outcome, status)
		VALUES ('req-late', now(), '/v1/embeddings', 'ok', 200)`); err != nil {
		t.Fatal(err)
	}
	back := readLogPage(t, c, e.srv.URL, last.newer)
	if back.span() != span(149, 50) || back.newer == "" || back.older == "" {
		t.Errorf("Newer from the oldest page shows %s (newer %q, older %q); want %s again with both links", back.span(), back.newer, back.older, span(149, 50))
	}
	top := readLogPage(t, c, e.srv.URL, back.newer)
	if top.span() != span(249, 150) || top.newer == "" {
		t.Errorf("Newer again shows %s (newer %q); want %s, with a Newer link to the request logged since", top.span(), top.newer, span(249, 150))
	}
	if late := readLogPage(t, c, e.srv.URL, top.newer); len(late.ids) != 1 || late.ids[0] != "req-late" || late.newer != "" || late.older == "" {
		t.Errorf("the newest page now shows %v (newer %q, older %q); want req-late alone and an Older link", late.ids, late.newer, late.older)
	}

	// The outcome filter is kept from page to page: 50 model_not_found requests, 100 a page.
	nf := readLogPage(t, c, e.srv.URL, "/console/requests?outcome=model_not_found")
	if len(nf.ids) != 50 || nf.older != "" || nf.newer != "" {
		t.Errorf("filtered by model_not_found the log shows %d rows (newer %q, older %q); want all 50 on one page, no links", len(nf.ids), nf.newer, nf.older)
	}
	ok := readLogPage(t, c, e.srv.URL, "/console/requests?outcome=ok")
	ok2 := readLogPage(t, c, e.srv.URL, ok.older)
	if !strings.Contains(ok.older, "outcome=ok") || !strings.Contains(ok2.newer, "outcome=ok") || len(ok2.ids) != 100 {
		t.Fatalf("paging filtered by ok: older %q, then %d rows and newer %q; want the outcome kept in both links", ok.older, len(ok2.ids), ok2.newer)
	}
	for _, m := range outcomeR.FindAllStringSubmatch(ok2.body, -1) {
		if m[1] != "ok" {
			t.Fatalf("the second page filtered by ok shows a %s row", m[1])
		}
	}

	// A cursor the log does not hold says so, with the way back to the newest page.
	bad := readLogPage(t, c, e.srv.URL, "/console/requests?after=req-nope&outcome=ok")
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "names no request in the log") ||
		!strings.Contains(bad.body, `href="/console/requests?outcome=ok"`) {
		t.Errorf("an unknown cursor: %d, want 400 saying so with a link to the newest ok requests:\n%s", bad.status, bad.body)
	}
}

// TestRequestLogPagingInTheBrowser: Older and Newer in Chromium, filtered by an outcome that is kept
// from page to page.
func TestRequestLogPagingInTheBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.logRequests(600) // 120 of them model_not_found: a page of 100 and one of 20
	b := e.tab(t)
	b.signIn(superToken)
	b.open("/console/requests?outcome=model_not_found")
	if n := b.count("#request-log tbody tr"); n != 100 {
		t.Fatalf("a page of the request log should show 100 requests; it shows %d", n)
	}
	if n := b.count(`.pager [data-page="newer"]`); n != 0 {
		t.Errorf("the newest page should offer no Newer link")
	}
	b.submit(`#pager-top [data-page="older"]`)
	b.wants("#request-log tbody tr:first-child", reqID(95))
	if n, all := b.count(`#request-log tbody tr[data-outcome="model_not_found"]`), b.count("#request-log tbody tr"); n != 20 || all != 20 {
		t.Errorf("the older page filtered by model_not_found should show the other 20 such requests; it shows %d of %d", n, all)
	}
	b.wants("#outcomes .pill.active", "model_not_found")
	b.wants("#refresh", "Newest")
	if n := b.count(`.pager [data-page="older"]`); n != 0 {
		t.Errorf("the oldest page should offer no Older link")
	}
	if over := b.overflow(".table-scroll"); over > 0 {
		t.Errorf("the request log is %dpx wider than the page: its last columns are hidden", over)
	}
	b.shot("19-request-log-older")
	b.submit(`#pager-bottom [data-page="newer"]`)
	b.wants("#request-log tbody tr:first-child", reqID(595))
	if n := b.count("#request-log tbody tr"); n != 100 {
		t.Errorf("Newer should lead back to the newest 100; the page shows %d", n)
	}
}
