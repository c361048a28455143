package console_test

import (
	"context"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// TestKeepQueriesInTheBrowser: the corpus page says whether search queries are kept; an operator
// turns keeping on, and the preview then asks the kept queries too and says so; turning it off
// deletes them. A viewer sees the setting but has no button. Each change is audited.
func TestKeepQueriesInTheBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Another model (the fake embeds each text at random per upstream model): its answers differ.
	api, srv := e.syncedCorpus("acme-embed-other", 384, 30)
	kept := func() int {
		t.Helper()
		var n int
		if err := e.app.Pool.QueryRow(ctx, `SELECT count(*) FROM corpus_queries`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	b := signedInTab(t, srv.URL, superToken)
	b.open("/console/corpora/kb")
	b.wants("#keep-queries", "not kept")
	b.wants("#queries", "Keep recent search queries", "user data")
	b.submit("#keep-queries-toggle")
	b.notice("kept from now on")
	b.wants("#keep-queries", "kept", "newest 1,000")

	// Developers search (the service records what the search route would).
	co, err := api.Store().Corpus(ctx, "kb")
	if err != nil {
		t.Fatal(err)
	}
	asked := []string{"where do foxes sleep", "fox dens in winter", "how fast is a fox", "what do foxes eat", "red fox or grey fox",
		"are foxes nocturnal", "fox cubs in spring", "where do foxes sleep"} // the last asked twice: 7 distinct
	for _, q := range asked {
		e.must(nil, api.RecordQuery(ctx, co, q, "vector"))
	}
	b.choose("#reembed-model", "acme-embed-2026-09")
	b.submit("#preview-reembed")
	b.wants("#preview", "30 documents sampled", "and 7 recent search queries")
	b.wants("#preview-source", "include the 7 recent developer queries")
	if n := b.count(`#preview-changed tr[data-source="recent"]`); n == 0 {
		t.Errorf("the changed queries should include recent searches; the table is:\n%s", b.text("#preview-changed"))
	}
	b.shot("32-reembed-preview-recent-queries")

	b.open("/console/corpora/kb")
	b.wants("#queries", "Stop keeping queries and delete them")
	b.submit("#keep-queries-toggle")
	b.notice("no longer kept", "deleted")
	b.wants("#keep-queries", "not kept")
	if n := kept(); n != 0 {
		t.Errorf("%d queries still kept after turning keeping off in the console", n)
	}
	var audited int
	if err := e.app.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'corpus.update' AND target = 'kb'`).Scan(&audited); err != nil || audited != 2 {
		t.Errorf("%d corpus.update audit rows (%v), want 2: on, then off", audited, err)
	}

	_, viewer := e.admin("viewer-vic", catalog.RoleViewer)
	v := signedInTab(t, srv.URL, viewer)
	v.open("/console/corpora/kb")
	v.wants("#keep-queries", "not kept")
	if n := v.count("#keep-queries-toggle"); n != 0 {
		t.Errorf("a viewer should have no button to keep queries")
	}
}
