package admin_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// TestCorpusServiceChecksRoles: the corpus service refuses a viewer's changes by itself, as the
// console calls it (no HTTP, no page check in front): 403 forbidden, nothing changed, nothing in the
// audit log. The viewer still reads; a missing admin is refused outright.
func TestCorpusServiceChecksRoles(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	ctx := context.Background()
	e.must(201, "POST", "/admin/corpora", map[string]any{"name": "kb", "embedding_model": "acme-embed"})
	run := e.must(202, "POST", "/admin/corpora/kb/reembed", map[string]any{"model": "acme-embed-2026-06"})["run"].(map[string]any)
	runID := strconv.FormatFloat(run["id"].(float64), 'f', -1, 64)

	viewer := &catalog.Admin{ID: "adm_viewer", Name: "viewer person", Role: catalog.RoleViewer}
	corpora, runs, audits := e.count("corpora"), e.count("reembed_runs"), e.count("audit_log")
	for name, call := range map[string]func() error{
		"CreateCorpus": func() error {
			_, err := e.cor.CreateCorpus(ctx, viewer, admin.CorpusInput{Name: "kb2", EmbeddingModel: "acme-embed"})
			return err
		},
		"StartReembed": func() error {
			_, err := e.cor.StartReembed(ctx, viewer, "kb", admin.ReembedInput{Model: "acme-embed-2026-06"})
			return err
		},
		"CancelReembed": func() error {
			_, err := e.cor.CancelReembed(ctx, viewer, runID)
			return err
		},
		"RollbackCorpus": func() error {
			_, err := e.cor.RollbackCorpus(ctx, viewer, "kb")
			return err
		},
	} {
		ae, ok := apierror.As(call())
		if !ok || ae.Status != 403 || ae.Code != apierror.CodeForbidden {
			t.Errorf("%s as a viewer: %v, want 403 forbidden", name, ae)
		}
	}
	if c, r, a := e.count("corpora"), e.count("reembed_runs"), e.count("audit_log"); c != corpora || r != runs || a != audits {
		t.Errorf("a viewer's refused calls changed something: corpora %d→%d, runs %d→%d, audit rows %d→%d", corpora, c, runs, r, audits, a)
	}
	got, err := e.cor.GetReembed(ctx, viewer, runID)
	if err != nil || got.State.Terminal() {
		t.Errorf("the run after a viewer's cancel: %v %v, want it still going", got, err)
	}

	// Reads are the viewer's.
	if list, err := e.cor.ListCorpora(ctx, viewer); err != nil || len(list) != 1 {
		t.Errorf("ListCorpora as a viewer: %d corpora, %v", len(list), err)
	}
	if c, err := e.cor.GetCorpus(ctx, viewer, "kb"); err != nil || c.Name != "kb" || len(c.Indexes) == 0 {
		t.Errorf("GetCorpus as a viewer: %v, %v", c, err)
	}
	// No admin at all is refused before anything else.
	if _, err := e.cor.ListCorpora(ctx, nil); err == nil {
		t.Error("ListCorpora without an admin answered")
	} else if ae, _ := apierror.As(err); ae == nil || ae.Code != apierror.CodeInvalidAdminToken {
		t.Errorf("ListCorpora without an admin: %v, want invalid_admin_token", err)
	}
}
