package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/console"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
)

// slowEmbedder makes a run last a few seconds, so the run page is seen updating live.
type slowEmbedder struct{ reembedtest.Embedder }

func (s *slowEmbedder) Embed(ctx context.Context, m *catalog.Model, p *catalog.Provider, texts []string) ([][]float32, error) {
	select {
	case <-time.After(60 * time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Embedder.Embed(ctx, m, p, texts)
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// must fails the test on err, whatever else the call returned.
func (e *env) must(_ any, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// embeddingAlias registers provider acme on the fake upstream with the 768-dimension embedding model
// acme-embed-2026-06, enabled, and alias acme-embed pointing at it.
func (e *env) embeddingAlias() {
	e.t.Helper()
	ctx := context.Background()
	e.provider()
	e.must(e.svc.CreateModel(ctx, e.super, admin.ModelInput{Name: "acme-embed-2026-06", Provider: "acme", UpstreamName: "acme-embed-small", Kind: "embedding", Dimension: 768, Enabled: true}))
	e.must(e.svc.CreateAlias(ctx, e.super, "acme-embed", admin.AliasInput{Target: "acme-embed-2026-06"}))
}

// corporaConsole serves a console with corpora (from a reembed service that only inserts jobs, as an
// API process does: a test starts a worker when it wants runs to move) on a server of its own.
func (e *env) corporaConsole(emb reembed.Embedder) (*reembed.Service, *httptest.Server) {
	e.t.Helper()
	api, err := reembed.New(e.app.Pool, e.app.Catalog, emb, reembed.Config{InsertOnly: true, Log: discard})
	if err != nil {
		e.t.Fatal(err)
	}
	con, err := console.New(console.Config{Local: true}, console.Services{Admin: e.svc, Corpora: &admin.Corpora{Reembed: api},
		Series: &postgres.UsageStore{Pool: e.app.Pool}}, e.app.Catalog, &console.Sessions{Rows: &postgres.ConsoleSessionStore{Pool: e.app.Pool}}, discard, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", con)
	srv := httptest.NewServer(mux)
	e.t.Cleanup(srv.Close)
	return api, srv
}

func anyone(*corpus.Corpus) bool { return true }

// documents are n documents about foxes, doc-000 onwards.
func documents(n int) []corpus.Document {
	var docs []corpus.Document
	for i := range n {
		docs = append(docs, corpus.Document{ID: fmt.Sprintf("doc-%03d", i), Text: fmt.Sprintf("document number %d about foxes", i)})
	}
	return docs
}

// TestCorpusPagesCountDocuments: the corpora list and a corpus's page say how many documents each
// corpus holds, to a viewer too, following writes and deletes.
func TestCorpusPagesCountDocuments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	must := e.must
	e.embeddingAlias()
	_, viewer := e.admin("viewer-vic", catalog.RoleViewer)
	api, srv := e.corporaConsole(&reembedtest.Embedder{})
	must(api.CreateCorpus(ctx, "kb", "acme-embed", nil, nil))
	must(api.CreateCorpus(ctx, "empty", "acme-embed", nil, nil))
	must(api.PutDocuments(ctx, "kb", anyone, documents(1234)))
	must(api.PutDocuments(ctx, "kb", anyone, documents(10))) // the same ids again: no new documents
	if err := api.DeleteDocument(ctx, "kb", anyone, "doc-007"); err != nil {
		t.Fatal(err)
	}
	c, _ := signedInClient(t, srv.URL, viewer)
	get := func(path string) string {
		t.Helper()
		st, body := getPage(t, c, srv.URL+path)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d", path, st)
		}
		return body
	}
	list := get("/console/corpora")
	for name, want := range map[string]string{"kb": "1,233", "empty": "0"} {
		row := between(list, `id="corpus-`+name+`"`, "</tr>")
		if !strings.Contains(row, ">"+want+"</td>") {
			t.Errorf("the corpora list should show %s documents in corpus %s; its row is:\n%s", want, name, row)
		}
	}
	if dd := between(get("/console/corpora/kb"), `id="documents"`, "</dd>"); !strings.Contains(dd, ">1,233") {
		t.Errorf("corpus kb's page should say it holds 1,233 documents; it says %q", dd)
	}
}

// TestCorporaAndReembedInTheBrowser: an embedding alias a corpus follows sends the operator to the
// re-embed; the run page shows live progress and the verification report; rollback after cut-over.
func TestCorporaAndReembedInTheBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	must := e.must
	e.embeddingAlias()
	must(e.svc.CreateModel(ctx, e.super, admin.ModelInput{Name: "acme-embed-2026-09", Provider: "acme", UpstreamName: "acme-embed-small-v2", Kind: "embedding", Dimension: 384, Enabled: true}))
	must(e.svc.CreateTeam(ctx, e.super, admin.TeamInput{Name: "search-team"}))
	e.refresh()

	emb := &slowEmbedder{}
	api, srv := e.corporaConsole(emb)
	must(api.CreateCorpus(ctx, "kb", "acme-embed", []string{"search-team"}, nil))
	must(api.PutDocuments(ctx, "kb", anyone, documents(600)))
	b := signedInTab(t, srv.URL, superToken)

	// The alias page offers the re-embed instead of a move.
	b.open("/console/aliases")
	b.wants("#alias-acme-embed", "followed by corpus kb")
	b.open("/console/aliases/acme-embed")
	if n := b.count("#move-form"); n != 0 {
		t.Errorf("an embedding alias a corpus follows must not offer a plain move")
	}
	b.wants("#alias-reembed", "kb", "re-embed")
	b.submit("#alias-reembed a.button")
	b.wants("main h1", "Corpus kb")
	b.wants("#active-index", "acme-embed-2026-06", "768")
	b.wants("#documents", "600")
	b.shot("15-corpus")

	b.send("#start-reembed", "#reembed-model", "acme-embed-2026-09")
	b.wants("main h1", "Re-embed run")
	b.wants("#run", "acme-embed-2026-06", "acme-embed-2026-09", "600")

	worker := e.startWorker(emb, reembed.Config{BatchSize: 20, Shards: 3, Workers: 3, JobSlice: 300 * time.Millisecond, Sample: 50})
	// Live: the page's poll updates the state and the counts without a reload.
	b.do(chromedp.WaitVisible(chromedp.CSS(`#run[data-polls] #run-state[data-state="embedding"]`)))
	b.shot("16-reembed-progress")
	long, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(long, chromedp.WaitVisible(chromedp.CSS(`#run-state[data-state="succeeded"]`))); err != nil {
		t.Fatalf("the run page should reach succeeded: %v; it says %s", err, b.text("#run"))
	}
	if got, total := b.text("#run-embedded"), b.text("#run-total"); got != "600" || total != "600" {
		t.Errorf("a finished run has embedded 600 of 600; the page says %s of %s", got, total)
	}
	b.wants("#verification-report", "passed", "Self-recall")
	if n := b.count("#cancel-run"); n != 0 {
		t.Errorf("a finished run offers no cancel")
	}
	b.shot("17-reembed-done")

	b.open("/console/corpora/kb")
	b.wants("#active-index", "acme-embed-2026-09", "384")
	b.wants("#indexes", "standby", "acme-embed-2026-06")
	b.submit("#corpus-rollback")
	b.notice("Rolled kb back")
	b.wants("#active-index", "acme-embed-2026-06")
	b.open("/console/aliases/acme-embed")
	b.wants("#alias-target-now", "acme-embed-2026-06")
	b.open("/console/corpora")
	b.wants("#corpus-kb td[data-documents]", "600")
	b.shot("18-corpora")

	// Cancel: with the worker stopped, a new run waits queued; cancelling it leaves the active index.
	stop, cancelStop := context.WithTimeout(ctx, 10*time.Second)
	defer cancelStop()
	if err := worker.Stop(stop); err != nil {
		t.Fatal(err)
	}
	b.open("/console/corpora/kb")
	b.send("#start-reembed", "#reembed-model", "acme-embed-2026-09")
	b.wants("#run-state", "queued")
	b.submit("#cancel-run")
	b.wants("#run-state", "cancelled")
	b.wants("#run-error", "cancelled by bootstrap (adm_bootstrap)")
	b.open("/console/corpora/kb")
	b.wants("#active-index", "acme-embed-2026-06")

	// Each of those changes is one audit row under the admin's id and name, as the API records them.
	var n int
	if err := e.app.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE actor_id = 'adm_bootstrap' AND actor_name = 'bootstrap'
		AND action IN ('reembed.start', 'corpus.rollback', 'reembed.cancel') AND target IN ('kb', (SELECT max(id)::text FROM reembed_runs))`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("the console's two starts, rollback and cancel left %d audit rows, want 4", n)
	}
}

// TestReembedWithARunInProgressLinksToIt: starting a re-embed while one runs on the alias is refused
// with the run-in-progress conflict (the store's domain error, mapped at the edge), and the page
// offers the way to the run in progress.
func TestReembedWithARunInProgressLinksToIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.embeddingAlias()
	e.must(e.svc.CreateModel(ctx, e.super, admin.ModelInput{Name: "acme-embed-2026-07", Provider: "acme", UpstreamName: "acme-embed-large", Kind: "embedding", Dimension: 768, Enabled: true}))
	_, op := e.admin("operator-olu", catalog.RoleSuperAdmin)
	api, srv := e.corporaConsole(&reembedtest.Embedder{})
	e.must(api.CreateCorpus(ctx, "kb", "acme-embed", nil, nil))
	e.must(api.StartRun(ctx, "kb", "acme-embed-2026-07", nil)) // no worker: it stays queued
	c, csrf := signedInClient(t, srv.URL, op)
	st, _, body := post(t, c, srv.URL, csrf, "/console/corpora/kb/reembed", url.Values{"model": {"acme-embed-2026-07"}})
	if st != http.StatusConflict || !strings.Contains(body, "is in progress") {
		t.Fatalf("a second re-embed from the console: %d, want 409 saying a run is in progress; page:\n%s", st, between(body, `id="page-error"`, "</div>"))
	}
	if link := between(body, `id="fix-link"`, "</a>"); !strings.Contains(body, `href="/console/corpora/kb" class="button small" id="fix-link"`) || !strings.Contains(link, "Open the run in progress") {
		t.Errorf("the refusal should link to the run in progress; page error:\n%s", between(body, `id="page-error"`, "</div>"))
	}
}
