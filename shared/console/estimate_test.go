package console_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
)

// TestReembedEstimateAndPreviewInTheBrowser: the re-embed form's Estimate and Preview buttons show
// the figures and the quality report on the corpus page before anything starts; a viewer has no
// form to press.
func TestReembedEstimateAndPreviewInTheBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// "document number N about foxes": 6 tokens each
	_, srv := e.syncedCorpus("acme-embed-small", 768, 300)
	e.must(e.svc.UpdateModel(ctx, e.super, "acme-embed-2026-09", admin.ModelPatch{PricePerMillionTokens: json.RawMessage(`"0.02"`)}))
	e.refresh()

	b := signedInTab(t, srv.URL, superToken)
	b.open("/console/corpora/kb")
	b.choose("#reembed-model", "acme-embed-2026-09")
	b.send("#estimate-reembed", "#reembed-sample", "100")
	b.wants("#estimate", "acme-embed-2026-09", "100 of 300")
	// 300 documents of 6 tokens: 1,800, and 1,800 × 0.02 per million.
	b.wants("#estimate-tokens", "1,800")
	b.wants("#estimate-cost", "0.000036")
	b.wants("#estimate", "0.02 per million tokens")
	if got := b.value("#reembed-model"); got != "acme-embed-2026-09" {
		t.Errorf("the form should keep the chosen model, has %q", got)
	}
	b.shot("30-reembed-estimate")

	b.submit("#preview-reembed")
	b.wants("#preview", "acme-embed-2026-09", "acme-embed-2026-06", "100 documents sampled")
	b.wants("#preview-candidate-at1", "100.0%")
	b.wants("#preview-agreement", "1.00")
	b.shot("31-reembed-preview")
	var runs int
	if err := e.app.Pool.QueryRow(ctx, `SELECT count(*) FROM reembed_runs`).Scan(&runs); err != nil {
		t.Fatal(err)
	}
	if runs != 0 {
		t.Errorf("estimate and preview started %d runs, want none", runs)
	}

	_, viewer := e.admin("viewer-vic", catalog.RoleViewer)
	v := signedInTab(t, srv.URL, viewer)
	v.open("/console/corpora/kb")
	if n := v.count("#estimate-reembed"); n != 0 {
		t.Errorf("a viewer should see no Estimate button")
	}
}

// syncedCorpus registers the embedding alias acme-embed and the candidate model acme-embed-2026-09
// (enabled, upstream name upstream on provider acme, of dimension dims), creates corpus kb following
// the alias with n documents, and has a worker sync them into its active index (so a preview
// compares real answers); the console is served over it.
func (e *env) syncedCorpus(upstream string, dims, n int) (*reembed.Service, *httptest.Server) {
	e.t.Helper()
	ctx := context.Background()
	e.embeddingAlias()
	e.must(e.svc.CreateModel(ctx, e.super, admin.ModelInput{Name: "acme-embed-2026-09", Provider: "acme", UpstreamName: upstream,
		Kind: "embedding", Dimension: dims, Enabled: true}))
	e.refresh()
	emb := reembed.NewUpstreamEmbedder(e.app.Upstream)
	api, srv := e.corporaConsole(emb)
	e.must(api.CreateCorpus(ctx, "kb", "acme-embed", nil, nil))
	e.must(api.PutDocuments(ctx, "kb", anyone, documents(n)))
	e.startWorker(emb, reembed.Config{})
	e.waitSynced()
	return api, srv
}

// waitSynced waits (a minute at most) until no document sync job is pending.
func (e *env) waitSynced() {
	e.t.Helper()
	reembedtest.WaitSynced(e.t, e.app.Pool, time.Minute)
}

// startWorker starts a re-embed worker on the test's database with cfg (millisecond polling, no log),
// stopped when the test ends (stopping it earlier is fine).
func (e *env) startWorker(emb reembed.Embedder, cfg reembed.Config) *reembed.Service {
	e.t.Helper()
	cfg.FetchCooldown, cfg.FetchPollInterval, cfg.Log = 5*time.Millisecond, 20*time.Millisecond, discard
	worker, err := reembed.New(e.app.Pool, e.app.Catalog, emb, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := worker.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = worker.Stop(c)
	})
	return worker
}
