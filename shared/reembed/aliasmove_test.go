package reembed

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
)

// A model disabled after a run started never becomes the alias's target: the cut-over refuses it and
// the run ends failed, naming the model, with the alias and the active index where they were. A
// corpus rollback onto a model disabled since is refused the same way. (An alias always points at an
// enabled model.) The worker runs as bounded invocations, so each disable lands before the step it
// must stop.
func TestDisabledModelNeverBecomesTheTarget(t *testing.T) {
	e, w := invocationEnv(t, testConfig())
	catalogStore := &postgres.CatalogStore{Pool: e.pool}
	setEnabled := func(model string, on bool) {
		t.Helper()
		if _, err := catalogStore.UpdateModel(e.ctx, model, catalog.ModelUpdate{Enabled: &on}, nil); err != nil {
			t.Fatalf("enabled=%v on %s: %v", on, model, err)
		}
	}
	e.createCorpus("handbook")
	e.put("handbook", 0, 200, 1)
	invoke(t, w, time.Minute, 10*time.Second, 0)
	e.waitSynced()

	run := e.startRun(reembedtest.ModelV2)
	setEnabled(reembedtest.ModelV2, false) // the alias points at v1, so the admin API allows it
	invoke(t, w, time.Minute, 10*time.Second, 0)
	done, err := e.svc.Run(e.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != corpus.RunFailed || !strings.Contains(done.Error, reembedtest.ModelV2+" was disabled") {
		t.Fatalf("run ended %s with %q; want failed, naming the disabled model %s", done.State, done.Error, reembedtest.ModelV2)
	}
	e.expectUntouched(done)
	var moves int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM alias_history WHERE alias = $1`, reembedtest.Alias).Scan(&moves); err != nil || moves != 1 {
		t.Fatalf("alias history holds %d entries (%v); want the seed's one: the refused cut-over recorded a move", moves, err)
	}

	// Enabled again, a new run cuts over; then the previous model is disabled, and the corpus rollback
	// onto it is refused.
	setEnabled(reembedtest.ModelV2, true)
	run = e.startRun(reembedtest.ModelV2)
	invoke(t, w, time.Minute, 10*time.Second, 0)
	if done, err := e.svc.Run(e.ctx, run.ID); err != nil || done.State != corpus.RunSucceeded {
		t.Fatalf("second run: %+v %v", done, err)
	}
	setEnabled(reembedtest.ModelV1, false)
	_, err = e.svc.Rollback(e.ctx, "handbook", nil)
	// The refusal is the alias-move rule's; the admin edge answers it as a 400 (admin.APIError).
	if me := (*catalog.MoveError)(nil); !errors.As(err, &me) || me.Refusal != catalog.RefusedDisabledTarget || !strings.Contains(me.Message, reembedtest.ModelV1+" is disabled") {
		t.Fatalf("corpus rollback onto a disabled model = %v; want the move rule's refusal saying %s is disabled", err, reembedtest.ModelV1)
	}
	if got, ix := e.aliasTarget(), e.activeIndex("handbook"); got != reembedtest.ModelV2 || ix.Model != reembedtest.ModelV2 {
		t.Fatalf("after the refused rollback: alias %s, active index on %s; want both on %s", got, ix.Model, reembedtest.ModelV2)
	}
}
