package reembed

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reembed/reembedtest"
	"github.com/switchyard-ai/switchyard/shared/upstream"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

// noisyModel is a catalogue model the fake upstream answers with noisy vectors: a worse candidate.
const noisyModel = "test-embed-noisy"

// upstreamEnv is a started service that embeds through the real upstream client against the fake
// upstream, which reports usage (a text's tokens are its words + 1).
type upstreamEnv struct {
	*env
	fake *fakeupstream.Running
}

func newUpstreamEnv(t *testing.T) *upstreamEnv {
	t.Helper()
	fake := fakeupstream.Start(fakeupstream.Config{
		Dimensions: map[string]int{reembedtest.ModelV1 + "-upstream": 384, reembedtest.ModelV2 + "-upstream": 1024, noisyModel + "-upstream": 384},
		Noisy:      map[string]float64{noisyModel + "-upstream": 6},
	})
	t.Cleanup(fake.Close)
	e := newEnv(t, testConfig())
	// The seeded provider points nowhere: point it at the fake, and add the noisy model.
	for _, sql := range []string{
		`UPDATE providers SET base_url = '` + fake.URL + `'`,
		`INSERT INTO catalog_names (name, what) VALUES ('` + noisyModel + `', 'model')`,
		`INSERT INTO models (name, provider_id, upstream_name, kind, dimension, enabled)
			SELECT '` + noisyModel + `', id, '` + noisyModel + `-upstream', 'embedding', 384, true FROM providers`,
	} {
		if _, err := e.pool.Exec(e.ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	e.svc.emb = NewUpstreamEmbedder(upstream.New(upstream.Options{AllowLoopback: true}))
	return &upstreamEnv{env: e, fake: fake}
}

// putTexts writes documents doc-000000… with texts, and waits until they are synced into the index.
func (e *upstreamEnv) putTexts(name string, texts []string) {
	e.t.Helper()
	docs := make([]corpus.Document, len(texts))
	for i, t := range texts {
		docs[i] = corpus.Document{ID: fmt.Sprintf("doc-%06d", i), Text: t}
	}
	if _, err := e.svc.PutDocuments(e.ctx, name, func(*corpus.Corpus) bool { return true }, docs); err != nil {
		e.t.Fatal(err)
	}
	e.waitSynced()
}

// footprint is what an estimate or preview must leave as it found: every table of the database
// (temporary ones included) with its row count, and the queued jobs.
func (e *upstreamEnv) footprint() string {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND (n.nspname = 'public' OR n.nspname LIKE 'pg_temp%') ORDER BY 1`)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, n := range names {
		if n == "river_leader" || n == "river_client" || n == "river_client_queue" || n == "river_queue" {
			continue // the worker's own heartbeat rows
		}
		var count int64
		if err := e.pool.QueryRow(e.ctx, fmt.Sprintf(`SELECT count(*) FROM %q`, n)).Scan(&count); err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%d\n", n, count)
	}
	return b.String()
}

func TestEstimateMeasuresTokensRateAndCostAndWritesNothing(t *testing.T) {
	e := newUpstreamEnv(t)
	e.createCorpus("kb")
	// Documents of 1 to 5 words: the fake counts words + 1 tokens per text.
	var texts []string
	want := int64(0)
	for i := range 30 {
		words := i%5 + 1
		texts = append(texts, strings.TrimSpace(strings.Repeat(fmt.Sprintf("w%d ", i), words)))
		want += int64(words + 1)
	}
	e.putTexts("kb", texts)
	price := "0.5"
	if _, err := (&postgres.CatalogStore{Pool: e.pool}).UpdateModel(e.ctx, reembedtest.ModelV2, catalog.ModelUpdate{Price: &price}, nil); err != nil {
		t.Fatal(err)
	}
	before := e.footprint()
	calls := e.fake.Requests()

	est, err := e.svc.EstimateRun(e.ctx, "kb", reembedtest.ModelV2, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The default sample (200) holds the whole corpus: the count is exact, the interval closed.
	if est.Documents != 30 || est.Sampled != 30 || est.Tokens == nil {
		t.Fatalf("estimate %+v, want 30 documents all sampled, with tokens", est)
	}
	if tk := est.Tokens; tk.Estimate != want || tk.Low != want || tk.High != want || tk.Sampled != want {
		t.Errorf("tokens %+v, want exactly %d (the fake's words + 1 per document)", tk, want)
	}
	if est.Cost == nil || est.Cost.PricePerMillionTokens != "0.5" || est.Cost.Estimate != float64(want)*0.5/1e6 {
		t.Errorf("cost %+v, want %d tokens × 0.5 per million = %g", est.Cost, want, float64(want)*0.5/1e6)
	}
	if est.RatePerS == nil || *est.RatePerS <= 0 || est.EtaS == nil || est.RateLimited {
		t.Errorf("rate %v eta %v limited %v, want a measured, unlimited rate", est.RatePerS, est.EtaS, est.RateLimited)
	}
	// testConfig's batches are 50 documents: one request for the sample.
	if got := e.fake.Requests() - calls; got != 1 {
		t.Errorf("the estimate made %d upstream requests, want 1 batch", got)
	}
	if after := e.footprint(); after != before {
		t.Errorf("the estimate changed the database:\nbefore\n%s\nafter\n%s", before, after)
	}

	// A model without a price has no cost; a sample smaller than the corpus extrapolates (the texts
	// are alike here, so the interval is still exact).
	e.createCorpus("uniform")
	uniform := make([]string, 120)
	for i := range uniform {
		uniform[i] = fmt.Sprintf("a%03d b c", i) // 3 words: 4 tokens
	}
	e.putTexts("uniform", uniform)
	est, err = e.svc.EstimateRun(e.ctx, "uniform", reembedtest.ModelV1, 20)
	if err != nil {
		t.Fatal(err)
	}
	if est.Sampled != 20 || est.Tokens.Estimate != 480 || est.Tokens.Low != 480 || est.Tokens.High != 480 || est.Tokens.Sampled != 80 || est.Cost != nil {
		t.Errorf("estimate %+v tokens %+v, want 20 sampled, 480 tokens exactly, no cost", est, est.Tokens)
	}
}

func TestEstimateHonoursRateLimits(t *testing.T) {
	e := newUpstreamEnv(t)
	e.createCorpus("kb")
	e.putTexts("kb", []string{"one two", "three four five", "six"})
	e.fake.SetFaults(fakeupstream.Faults{Status: 429, RetryAfter: "1", Times: 2})
	start := time.Now()
	est, err := e.svc.EstimateRun(e.ctx, "kb", reembedtest.ModelV1, 0)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if !est.RateLimited || est.Throttled != 2 {
		t.Errorf("rate_limited %v throttled %d, want true and 2", est.RateLimited, est.Throttled)
	}
	if took < 2*time.Second {
		t.Errorf("the estimate took %v, want at least the two Retry-After waits of 1s", took)
	}
	// The rate counts the waits: 3 documents in over 2s.
	if est.RatePerS == nil || *est.RatePerS > 1.5 {
		t.Errorf("rate %v, want at most 3 documents / 2s", est.RatePerS)
	}
	if est.Tokens == nil || est.Tokens.Estimate != 3+4+2 {
		t.Errorf("tokens %+v, want 9", est.Tokens)
	}
}

func TestPreviewComparesCandidateInScratchAndLeavesNothing(t *testing.T) {
	e := newUpstreamEnv(t)
	e.createCorpus("kb")
	texts := make([]string, 40)
	for i := range texts {
		texts[i] = docText(i, 1)
	}
	e.putTexts("kb", texts)
	all := func(*corpus.Corpus) bool { return true }
	search := func() []corpus.Hit {
		res, err := e.svc.Search(e.ctx, "kb", all, texts[7], 5)
		if err != nil {
			t.Fatal(err)
		}
		return res.Hits
	}
	hitsBefore := fmt.Sprint(search())
	before := e.footprint()

	// The current model itself as the candidate: the same answers. Another good model (the fake
	// embeds each text at random in its dimension) finds every document too, with other neighbours.
	for _, model := range []string{reembedtest.ModelV1, reembedtest.ModelV2} {
		p, err := e.svc.PreviewRun(e.ctx, "kb", model, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.Sampled != 40 || p.Queries != 40 || p.Current != reembedtest.ModelV1 || p.Candidate != model {
			t.Fatalf("preview %+v", p)
		}
		for name, q := range map[string]Quality{"current": p.CurrentQuality, "candidate": p.CandidateQuality} {
			if q.At1 != 1 || q.At10 != 1 {
				t.Errorf("%s: %s self-retrieval %+v, want 1 at 1 and 10", model, name, q)
			}
		}
		if model == reembedtest.ModelV1 && (p.Agreement != 1 || len(p.Changed) != 0) {
			t.Errorf("agreement %v changed %v, want 1 and none", p.Agreement, p.Changed)
		}
	}

	// A noisy candidate finds fewer documents by their own text, and its answers differ.
	p, err := e.svc.PreviewRun(e.ctx, "kb", noisyModel, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.CurrentQuality.At1 != 1 || p.CandidateQuality.At1 >= 0.9 {
		t.Errorf("self-retrieval at 1: current %v candidate %v, want 1 and well below", p.CurrentQuality.At1, p.CandidateQuality.At1)
	}
	if p.Agreement >= 1 || len(p.Changed) == 0 || len(p.Changed) > PreviewChanged {
		t.Fatalf("agreement %v, %d changed queries; want below 1 and 1 to %d", p.Agreement, len(p.Changed), PreviewChanged)
	}
	ch := p.Changed[0]
	if ch.Query == "" || len(ch.Current) != 3 || len(ch.Candidate) != 3 || ch.Jaccard >= 1 {
		t.Errorf("most changed query %+v, want its text and each side's top 3", ch)
	}
	if after := e.footprint(); after != before {
		t.Errorf("the preview left something behind:\nbefore\n%s\nafter\n%s", before, after)
	}
	if got := fmt.Sprint(search()); got != hitsBefore {
		t.Errorf("developers' search changed: %s, was %s", got, hitsBefore)
	}
}

// TestPreviewAsksRecentQueriesWhenKept: a corpus that keeps queries has its recent distinct queries
// (none older than the bound) asked of both sides besides the self queries; they count in the
// agreement and the changed queries, not in self-retrieval, and the answer says how many of each.
func TestPreviewAsksRecentQueriesWhenKept(t *testing.T) {
	cfg := testConfig()
	cfg.KeptQueries = postgres.QueryBounds{Max: 1000, Age: time.Hour}
	e := newEnv(t, cfg)
	e.createCorpus("kb")
	e.put("kb", 0, 40, 1)
	e.waitSynced()

	selfOnly, err := e.svc.PreviewRun(e.ctx, "kb", reembedtest.ModelV2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if selfOnly.QuerySource != "self" || selfOnly.SelfQueries != 40 || selfOnly.RecentQueries != 0 || selfOnly.Queries != 40 {
		t.Fatalf("preview of a corpus keeping no queries: %+v", selfOnly)
	}

	if _, err := e.svc.SetKeepQueries(e.ctx, "kb", true, nil); err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.store.Corpus(e.ctx, "kb")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// A query asked before the age bound is trimmed by the next insert, and never asked.
	if err := e.svc.store.RecordQuery(e.ctx, c.ID, "a stale question", "vector", now.Add(-2*time.Hour), cfg.KeptQueries); err != nil {
		t.Fatal(err)
	}
	const recent = 60
	for i := range recent {
		if err := e.svc.RecordQuery(e.ctx, c, fmt.Sprintf("question %d", i), "vector"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.RecordQuery(e.ctx, c, "question 7", "hybrid"); err != nil { // asked again: one query
		t.Fatal(err)
	}
	var stale int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM corpus_queries WHERE query = 'a stale question'`).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d stale queries kept (%v), want the one past the age bound trimmed", stale, err)
	}

	texts := e.emb.Texts()
	p, err := e.svc.PreviewRun(e.ctx, "kb", reembedtest.ModelV2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.QuerySource != "self+recent" || p.SelfQueries != 40 || p.RecentQueries != recent || p.Queries != 40+recent {
		t.Fatalf("preview: source %q, %d self, %d recent, %d queries; want self+recent, 40, %d, %d",
			p.QuerySource, p.SelfQueries, p.RecentQueries, p.Queries, recent, 40+recent)
	}
	// The documents once with the candidate, every query with each model.
	if got, want := e.emb.Texts()-texts, int64(40+2*(40+recent)); got != want {
		t.Errorf("the preview embedded %d texts, want %d", got, want)
	}
	// Self-retrieval is the self queries' alone: a real query has no right answer to find.
	if p.CurrentQuality != selfOnly.CurrentQuality || p.CandidateQuality != selfOnly.CandidateQuality {
		t.Errorf("self-retrieval %+v %+v with recent queries, %+v %+v without; want the same",
			p.CurrentQuality, p.CandidateQuality, selfOnly.CurrentQuality, selfOnly.CandidateQuality)
	}
	// The agreement is over every query: the self queries' share is the self-only preview's (the
	// same 40 documents, the same vectors), so the rest is the recent queries' mean.
	recentMean := (p.Agreement*float64(40+recent) - selfOnly.Agreement*40) / recent
	if recentMean < 0 || recentMean >= 1 || p.Agreement == selfOnly.Agreement {
		t.Errorf("agreement %v with recent queries, %v without: the recent queries' mean %v; want them counted, and below 1 for another model",
			p.Agreement, selfOnly.Agreement, recentMean)
	}
	sources := map[string]int{}
	for _, ch := range p.Changed {
		sources[ch.Source]++
		if ch.Source == SourceRecent && !strings.HasPrefix(ch.Query, "question ") {
			t.Errorf("a recent changed query %q is not one of those asked", ch.Query)
		}
	}
	if sources[SourceRecent] == 0 || sources[SourceSelf]+sources[SourceRecent] != len(p.Changed) {
		t.Errorf("changed queries by source %v; want recent ones among them, and every one labelled", sources)
	}

	// Turned off, the corpus's queries are gone and the preview asks its documents' text only.
	if _, err := e.svc.SetKeepQueries(e.ctx, "kb", false, nil); err != nil {
		t.Fatal(err)
	}
	p, err = e.svc.PreviewRun(e.ctx, "kb", reembedtest.ModelV2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.QuerySource != "self" || p.RecentQueries != 0 {
		t.Fatalf("preview after turning keep_queries off: %q with %d recent queries", p.QuerySource, p.RecentQueries)
	}
}
