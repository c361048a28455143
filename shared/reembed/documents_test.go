package reembed

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

func TestDocumentsAreSearchableWithTheIndexModel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	c := e.createCorpus("handbook")
	if len(c.Indexes) != 1 || c.Indexes[0].State != corpus.IndexActive || c.Indexes[0].Model != reembedtest.ModelV1 {
		t.Fatalf("a new corpus has one active index on the alias's target; got %+v", c.Indexes)
	}
	e.put("handbook", 0, 120, 1)
	e.waitSynced()
	e.checkIndexExact(e.activeIndex("handbook"))

	res, err := e.svc.Search(e.ctx, "handbook", e.keyAccess(reembedtest.Key), docText(7, 1), 5)
	if err != nil {
		t.Fatal(err)
	}
	if res.Index.Model != reembedtest.ModelV1 || len(res.Hits) != 5 {
		t.Fatalf("search answered model %s with %d hits", res.Index.Model, len(res.Hits))
	}
	if res.Hits[0].ID != "doc-000007" || res.Hits[0].Score < 0.99 || res.Hits[0].Metadata["n"] != float64(7) {
		t.Fatalf("top hit %+v; want doc-000007 with score ~1 and its metadata", res.Hits[0])
	}
	for i := 1; i < len(res.Hits); i++ {
		if res.Hits[i].Score > res.Hits[i-1].Score {
			t.Fatalf("hits not highest score first: %+v", res.Hits)
		}
	}

	// Unchanged text is not embedded again; changed text is.
	before := e.emb.Texts()
	e.put("handbook", 0, 120, 1)
	e.put("handbook", 0, 10, 2)
	e.waitSynced()
	if got := e.emb.Texts() - before; got != 10 {
		t.Fatalf("re-writing 120 documents of which 10 changed embedded %d texts; want 10", got)
	}
	e.checkIndexExact(e.activeIndex("handbook"))

	// Deletes reach the index.
	if err := e.svc.DeleteDocument(e.ctx, "handbook", all, "doc-000003"); err != nil {
		t.Fatal(err)
	}
	var nf *catalog.NotFoundError
	if err := e.svc.DeleteDocument(e.ctx, "handbook", all, "doc-000003"); !errors.As(err, &nf) || nf.What != catalog.EntityDocument || nf.Param != "id" {
		t.Fatalf("deleting a missing document: %v; want the document not found, naming id", err)
	}
	e.waitSynced()
	e.checkIndexExact(e.activeIndex("handbook"))
}

func TestCorpusOfAnotherTeamIsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	e.createCorpus("handbook")
	e.put("handbook", 0, 5, 1)
	other := e.keyAccess(reembedtest.OtherKey)
	// The service answers a corpus the caller may not use exactly as one that does not exist; the
	// developer API's edge (corpusapi) words both as 404 corpus_not_found.
	check := func(what, name string, err error) {
		t.Helper()
		var nf *catalog.NotFoundError
		if !errors.As(err, &nf) || *nf != (catalog.NotFoundError{What: catalog.EntityCorpus, Name: name, Param: "corpus"}) {
			t.Fatalf("%s with another team's key: %#v; want corpus %s not found, naming corpus", what, err, name)
		}
	}
	_, err := e.svc.Search(e.ctx, "handbook", other, "x", 3)
	check("search", "handbook", err)
	_, err = e.svc.PutDocuments(e.ctx, "handbook", other, []corpus.Document{{ID: "a", Text: "b"}})
	check("put", "handbook", err)
	check("delete", "handbook", e.svc.DeleteDocument(e.ctx, "handbook", other, "doc-000001"))
	_, err = e.svc.Search(e.ctx, "no-such-corpus", e.keyAccess(reembedtest.Key), "x", 3)
	check("search of an unknown corpus", "no-such-corpus", err)

	// Explicit teams replace the alias's audience.
	if _, err := e.svc.CreateCorpus(e.ctx, "private", reembedtest.Alias, []string{reembedtest.Other}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Search(e.ctx, "private", e.keyAccess(reembedtest.Key), "x", 3)
	check("search of a corpus given to another team", "private", err)
	if _, err := e.svc.Search(e.ctx, "private", other, "x", 3); err != nil {
		t.Fatalf("the corpus's own team: %v", err)
	}
}

// A document sync that fails every attempt (here, an upstream that keeps answering 429) is logged as
// an error naming the index and the documents, for the operator to see why search misses them.
func TestASyncOutOfAttemptsIsLogged(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "worker.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cfg.Log = slog.New(slog.NewTextHandler(logFile, nil)) // the handler serializes writes
	logs := func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }
	e := newEnv(t, cfg)
	e.createCorpus("handbook")
	e.emb.Throttle(1_000_000)
	e.put("handbook", 0, 3, 1)
	waittest.Eventually(t, 30*time.Second, "an error logged after the sync's last attempt", func() (string, bool) {
		l := logs()
		return "the log:\n" + l, strings.Contains(l, "a document sync failed its last attempt")
	})
	if l := logs(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "doc-000002") || !strings.Contains(l, "slow down") {
		t.Fatalf("the error does not name the documents and the cause:\n%s", l)
	}
}
