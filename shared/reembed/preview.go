package reembed

import (
	"context"
	"slices"

	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// Preview compares a candidate model with a corpus's current index on a sample, before any run.
type Preview struct {
	Corpus    string
	Current   string // the model of the active index
	Candidate string
	Documents int64
	Sampled   int
	// Queries is how many queries were asked: SelfQueries (each sampled document's own text, which
	// should find that document) and RecentQueries (distinct recent developer queries, kept when the
	// corpus keeps queries; at most PreviewRecent). QuerySource is "self", or "self+recent" when
	// recent queries were asked too.
	Queries       int
	SelfQueries   int
	RecentQueries int
	QuerySource   string
	// CurrentQuality is the active index's self-retrieval among the sampled documents;
	// CandidateQuality the candidate's on the same documents. Self queries only: a real query has
	// no known right answer.
	CurrentQuality   Quality
	CandidateQuality Quality
	// Agreement is the mean Jaccard similarity of the two top-10 answers over all queries, self and
	// recent (1: the same documents come back).
	Agreement float64
	// Changed are the queries, self or recent, whose answers changed most (lowest Jaccard first), at
	// most PreviewChanged, with each side's top 3.
	Changed     []ChangedQuery
	RateLimited bool
}

// Quality is self-retrieval: the share of sampled documents found first (At1) and among the top 10
// (At10) by their own text.
type Quality struct {
	At1  float64 `json:"self_at_1"`
	At10 float64 `json:"self_at_10"`
}

// ChangedQuery is one query's answers side by side.
type ChangedQuery struct {
	Query string `json:"query"`
	// Source is "self" (a sampled document's text) or "recent" (a developer's recent query).
	Source    string            `json:"source"`
	Jaccard   float64           `json:"jaccard"`
	Current   []postgres.Ranked `json:"current"`
	Candidate []postgres.Ranked `json:"candidate"`
}

// Preview limits.
const (
	previewK        = 10
	PreviewChanged  = 5
	previewShown    = 3   // documents shown of each side of a changed query
	previewQueryMax = 300 // characters of a query shown
	// PreviewRecent bounds the recent developer queries a preview asks, besides the self queries.
	PreviewRecent = 100
)

// Query sources of a preview.
const (
	SourceSelf   = "self"
	SourceRecent = "recent"
)

// PreviewRun embeds a random sample of corpus name (up to sample documents; 0 means DefaultSample)
// with model into a scratch table that no search sees and that is gone when the call returns, asks
// each sampled document's text as a query of both the current active index (among the sampled
// documents only, so both sides rank the same documents) and the scratch table, and reports
// self-retrieval at 1 and 10 for each, how far their top 10s agree, and the queries that changed most.
// When the corpus keeps queries, up to PreviewRecent distinct recent developer queries are asked of
// both sides too: they count in the agreement and the changed queries, not in self-retrieval.
func (s *Service) PreviewRun(ctx context.Context, name, model string, sample int) (*Preview, error) {
	n, err := sampleSize(sample)
	if err != nil {
		return nil, err
	}
	c, ix, err := s.store.CorpusForSearch(ctx, name)
	if err != nil {
		return nil, byName(name, err) // every corpus has an active index from its creation on
	}
	cand, cp, err := s.candidate(ctx, model)
	if err != nil {
		return nil, err
	}
	cur, curP, err := s.model(ctx, ix.Model)
	if err != nil {
		return nil, err
	}
	docs, err := s.store.SampleDocuments(ctx, c.ID, n)
	if err != nil {
		return nil, err
	}
	out := &Preview{Corpus: c.Name, Current: ix.Model, Candidate: cand.Name, Documents: c.Documents, Sampled: len(docs),
		SelfQueries: len(docs), QuerySource: SourceSelf, Changed: []ChangedQuery{}}
	if len(docs) == 0 {
		return out, nil
	}
	ids, texts := make([]string, len(docs)), make([]string, len(docs))
	for i, d := range docs {
		ids[i], texts[i] = d.ID, d.Text
	}
	var recent []string
	if c.KeepQueries {
		if recent, err = s.store.RecentQueries(ctx, c.ID, s.cfg.Now().Add(-s.cfg.KeptQueries.Age), PreviewRecent); err != nil {
			return nil, err
		}
	}
	if len(recent) > 0 {
		out.RecentQueries, out.QuerySource = len(recent), SourceSelf+"+"+SourceRecent
	}
	asked := slices.Concat(texts, recent)
	out.Queries = len(asked)
	// The candidate's document vectors, then each side's query vectors: queries are embedded apart
	// from documents, as a developer's search is.
	docVecs, err := s.embedSample(ctx, cand, cp, texts)
	if err != nil {
		return nil, err
	}
	candQ, err := s.embedSample(ctx, cand, cp, asked)
	if err != nil {
		return nil, err
	}
	curQ, err := s.embedSample(ctx, cur, curP, asked)
	if err != nil {
		return nil, err
	}
	limited := docVecs.limited + candQ.limited + curQ.limited
	queries := make([]postgres.PreviewQuery, len(asked))
	for i := range asked {
		queries[i] = postgres.PreviewQuery{Current: curQ.vecs[i], Candidate: candQ.vecs[i]}
	}
	curTop, candTop, err := s.store.ComparePreview(ctx, ix, ids, docVecs.vecs, cand.Dimension, queries, previewK)
	if err != nil {
		return nil, err
	}
	var agree float64
	changed := make([]ChangedQuery, len(asked))
	for i, q := range asked {
		source := SourceRecent
		if i < len(docs) {
			source = SourceSelf
			out.CurrentQuality.add(docs[i].ID, curTop[i])
			out.CandidateQuality.add(docs[i].ID, candTop[i])
		}
		j := jaccard(curTop[i], candTop[i])
		agree += j
		if r := []rune(q); len(r) > previewQueryMax {
			q = string(r[:previewQueryMax]) + "…"
		}
		changed[i] = ChangedQuery{Query: q, Source: source, Jaccard: j, Current: firstN(curTop[i], previewShown), Candidate: firstN(candTop[i], previewShown)}
	}
	self := float64(len(docs))
	out.CurrentQuality.At1 /= self
	out.CurrentQuality.At10 /= self
	out.CandidateQuality.At1 /= self
	out.CandidateQuality.At10 /= self
	out.Agreement = agree / float64(len(asked))
	slices.SortStableFunc(changed, func(a, b ChangedQuery) int {
		switch {
		case a.Jaccard < b.Jaccard:
			return -1
		case a.Jaccard > b.Jaccard:
			return 1
		}
		return 0
	})
	for _, ch := range changed[:min(PreviewChanged, len(changed))] {
		if ch.Jaccard < 1 {
			out.Changed = append(out.Changed, ch)
		}
	}
	out.RateLimited = limited > 0
	return out, nil
}

// add counts one query whose own document is id (sums; divided by the queries at the end).
func (q *Quality) add(id string, top []postgres.Ranked) {
	for rank, r := range top {
		if r.ID == id {
			if rank == 0 {
				q.At1++
			}
			q.At10++
			return
		}
	}
}

func jaccard(a, b []postgres.Ranked) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	in := make(map[string]bool, len(a))
	for _, r := range a {
		in[r.ID] = true
	}
	both := 0
	for _, r := range b {
		if in[r.ID] {
			both++
		}
	}
	return float64(both) / float64(len(a)+len(b)-both)
}

func firstN(rs []postgres.Ranked, n int) []postgres.Ranked {
	if rs == nil {
		return []postgres.Ranked{}
	}
	return rs[:min(n, len(rs))]
}
