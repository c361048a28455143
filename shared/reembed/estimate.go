package reembed

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
)

// Sampling bounds of the estimate and the preview.
const (
	DefaultSample = 200
	MaxSample     = 2000
)

// Estimate is what re-embedding a corpus with a candidate model would take, measured on a random
// sample of its documents. Nothing is written to any index.
type Estimate struct {
	Corpus    string
	Model     string
	Documents int64 // documents to embed: the corpus's documents now
	Sampled   int   // documents embedded to measure
	// Tokens is nil when the upstream reported no usage.
	Tokens *TokenEstimate
	// RatePerS is documents per second the upstream sustained over the sample (waits for its 429s
	// included); nil when nothing was embedded. EtaS is Documents at that rate.
	RatePerS *float64
	EtaS     *float64
	// RateLimited says the upstream answered 429 while sampling (Throttled times), so the rate is the
	// limited one.
	RateLimited bool
	Throttled   int
	// Cost is nil when the model records no price or the tokens are unknown.
	Cost *Cost
}

// TokenEstimate is the input tokens of a whole corpus, extrapolated from a sample: Documents × the
// sample's mean per document, with a 95% interval from its standard deviation (narrowing to the
// exact count as the sample reaches the whole corpus).
type TokenEstimate struct {
	Estimate int64   `json:"estimate"`
	Low      int64   `json:"low"`
	High     int64   `json:"high"`
	Sampled  int64   `json:"sampled"` // tokens the upstream reported for the sample
	Mean     float64 `json:"mean_per_document"`
	StdDev   float64 `json:"stddev_per_document"`
}

// Cost is Tokens × the model's price per million input tokens, in the price's currency.
type Cost struct {
	PricePerMillionTokens string  `json:"price_per_million_tokens"`
	Estimate              float64 `json:"estimate"`
	Low                   float64 `json:"low"`
	High                  float64 `json:"high"`
}

// sampleRun is the outcome of embedding a sample as a fill would: in batches, retrying 429s.
type sampleRun struct {
	vecs    [][]float32
	tokens  []float64 // each text's share of its batch's reported tokens; nil when unreported
	total   int64     // reported tokens of the whole sample; -1 when unreported
	limited int       // 429 answers met
	elapsed time.Duration
}

// embedSample embeds texts with m in batches of the fill's size, retrying as the fill does (429s
// after their Retry-After), and reads the upstream's reported usage when the embedder gives it. The
// upstream reports tokens per request, not per text: each text's share is its share of the batch's
// bytes, so the shares sum to what was reported.
func (s *Service) embedSample(ctx context.Context, m *catalog.Model, p *catalog.Provider, texts []string) (*sampleRun, error) {
	out := &sampleRun{tokens: make([]float64, 0, len(texts))}
	if len(texts) == 0 {
		return out, nil
	}
	if s.emb == nil {
		return nil, fmt.Errorf("this process has no embedder to sample with")
	}
	ue, _ := s.emb.(UsageEmbedder)
	start := s.cfg.Now()
	for from := 0; from < len(texts); from += s.cfg.BatchSize {
		batch := texts[from:min(from+s.cfg.BatchSize, len(texts))]
		var vecs [][]float32
		tokens := int64(-1)
		limited, err := s.retry(ctx, func() (err error) {
			if ue != nil {
				vecs, tokens, err = ue.EmbedUsage(ctx, m, p, batch)
			} else {
				vecs, err = s.emb.Embed(ctx, m, p, batch)
			}
			return err
		})
		out.limited += limited
		if err != nil {
			return nil, fmt.Errorf("embed %d sampled texts with %s: %w", len(batch), m.Name, err)
		}
		if vecs, err = s.checkVectors(m, batch, vecs); err != nil {
			return nil, err
		}
		out.vecs = append(out.vecs, vecs...)
		if tokens < 0 || out.tokens == nil {
			out.tokens = nil
			continue
		}
		out.total += tokens
		var bytes int
		for _, t := range batch {
			bytes += len(t) + 1 // +1: an empty text still costs its share
		}
		for _, t := range batch {
			out.tokens = append(out.tokens, float64(tokens)*float64(len(t)+1)/float64(bytes))
		}
	}
	out.elapsed = s.cfg.Now().Sub(start)
	if out.tokens == nil {
		out.total = -1
	}
	return out, nil
}

// candidate finds the model an estimate or preview is for: a pinned embedding model of the catalogue.
func (s *Service) candidate(ctx context.Context, name string) (*catalog.Model, *catalog.Provider, error) {
	if name == "" {
		return nil, nil, catalog.Invalid("model", "name the pinned embedding model to measure in model")
	}
	snap, err := s.cat.Get(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the catalogue: %w", err)
	}
	m := snap.Models[name]
	if r, ok := s.cat.(interface{ Refresh(context.Context) error }); ok && m == nil {
		// A model created a moment ago may not be in the snapshot yet: look once more, afresh.
		if err := r.Refresh(ctx); err != nil {
			return nil, nil, fmt.Errorf("refresh the catalogue: %w", err)
		}
		if snap, err = s.cat.Get(ctx); err != nil {
			return nil, nil, fmt.Errorf("read the catalogue: %w", err)
		}
		m = snap.Models[name]
	}
	if m == nil {
		return nil, nil, &catalog.NotFoundError{What: catalog.EntityModel, Name: catalog.Quote(name, catalog.QuoteLimit), Param: "model", Ref: true}
	}
	if m.Kind != catalog.KindEmbedding {
		return nil, nil, catalog.Invalid("model", "model %q is a %s model; a corpus is re-embedded with an embedding model", name, m.Kind)
	}
	p := snap.Providers[m.Provider]
	if p == nil {
		return nil, nil, fmt.Errorf("provider %s of model %s is not in the catalogue", m.Provider, name)
	}
	return m, p, nil
}

func sampleSize(n int) (int, error) {
	if n == 0 {
		return DefaultSample, nil
	}
	if n < 1 || n > MaxSample {
		return 0, catalog.Invalid("sample", "sample must be between 1 and %d documents (default %d)", MaxSample, DefaultSample)
	}
	return n, nil
}

// Corpus reads corpus name with its live indexes; a *catalog.NotFoundError naming param name when
// there is none.
func (s *Service) Corpus(ctx context.Context, name string) (*corpus.Corpus, error) {
	c, err := s.store.Corpus(ctx, name)
	return c, byName(name, err)
}

// EstimateRun measures what re-embedding corpus name with model would take: documents, input tokens
// (from the upstream's reported usage on a random sample of up to sample documents, 0 meaning
// DefaultSample), the rate the upstream sustains in fill-sized batches (429s honoured and reported),
// the time at that rate, and the cost where the model records a price. It writes nothing to any
// index; the sample's vectors are thrown away.
func (s *Service) EstimateRun(ctx context.Context, name, model string, sample int) (*Estimate, error) {
	n, err := sampleSize(sample)
	if err != nil {
		return nil, err
	}
	c, err := s.Corpus(ctx, name)
	if err != nil {
		return nil, err
	}
	m, p, err := s.candidate(ctx, model)
	if err != nil {
		return nil, err
	}
	docs, err := s.store.SampleDocuments(ctx, c.ID, n)
	if err != nil {
		return nil, err
	}
	run, err := s.embedSample(ctx, m, p, textsOf(docs))
	if err != nil {
		return nil, err
	}
	est := &Estimate{Corpus: c.Name, Model: m.Name, Documents: c.Documents, Sampled: len(docs),
		RateLimited: run.limited > 0, Throttled: run.limited}
	if len(docs) > 0 && run.elapsed > 0 {
		rate := float64(len(docs)) / run.elapsed.Seconds()
		eta := float64(c.Documents) / rate
		est.RatePerS, est.EtaS = &rate, &eta
	}
	if run.total >= 0 {
		est.Tokens = extrapolate(run.tokens, run.total, c.Documents)
		est.Cost = cost(m.PricePerMillionTokens, est.Tokens)
	}
	return est, nil
}

// extrapolate estimates a corpus's tokens from a simple random sample of its documents: the total is
// documents × the sample's mean, and the 95% interval is ±1.96 standard errors of that total, with
// the finite population correction (a sample of the whole corpus is exact). The low end is never
// below what the sample itself counted.
func extrapolate(perDoc []float64, sampled int64, documents int64) *TokenEstimate {
	n := float64(len(perDoc))
	out := &TokenEstimate{Sampled: sampled}
	if n == 0 {
		return out
	}
	var sum float64
	for _, t := range perDoc {
		sum += t
	}
	mean := sum / n
	var ss float64
	for _, t := range perDoc {
		ss += (t - mean) * (t - mean)
	}
	sd := 0.0
	if n > 1 {
		sd = math.Sqrt(ss / (n - 1))
	}
	N := float64(max(documents, int64(len(perDoc))))
	se := N * sd / math.Sqrt(n) * math.Sqrt(1-n/N)
	total := N * mean
	out.Mean, out.StdDev = mean, sd
	out.Estimate = int64(math.Round(total))
	out.Low = max(int64(math.Floor(total-1.96*se)), sampled)
	out.High = max(int64(math.Ceil(total+1.96*se)), out.Estimate)
	if out.Low > out.Estimate {
		out.Low = out.Estimate
	}
	return out
}

// cost multiplies tokens by a price per million as decimals, so that a price of "0.02" costs exactly
// that; nil when there is no price.
func cost(price string, t *TokenEstimate) *Cost {
	if price == "" || t == nil {
		return nil
	}
	per, ok := new(big.Rat).SetString(price)
	if !ok {
		return nil
	}
	of := func(tokens int64) float64 {
		f, _ := new(big.Rat).Mul(per, big.NewRat(tokens, 1_000_000)).Float64()
		return f
	}
	return &Cost{PricePerMillionTokens: price, Estimate: of(t.Estimate), Low: of(t.Low), High: of(t.High)}
}
