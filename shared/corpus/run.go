package corpus

import (
	"math"
	"time"
)

// RunState is where a re-embed run is.
type RunState string

// SPEC's run states: queued → embedding → indexing → verifying → cutting_over → succeeded, or failed
// or cancelled.
const (
	RunQueued      RunState = "queued"
	RunEmbedding   RunState = "embedding"
	RunIndexing    RunState = "indexing"
	RunVerifying   RunState = "verifying"
	RunCuttingOver RunState = "cutting_over"
	RunSucceeded   RunState = "succeeded"
	RunFailed      RunState = "failed"
	RunCancelled   RunState = "cancelled"
)

// Terminal reports whether a run in state s has ended.
func (s RunState) Terminal() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled
}

// Run re-embeds every corpus following Alias with Target, verifies the new indexes and cuts over.
type Run struct {
	ID           int64
	Alias        string
	Target       string // the pinned model the new indexes hold
	ExpectedFrom string // where the alias pointed when the run started; the cut-over requires it still does
	State        RunState
	Total        int64 // documents to embed, counted when the run started
	Embedded     int64 // documents embedded by the fill so far
	Actor        string
	Verification *Verification
	Error        string
	CreatedAt    time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	Indexes      []*Index
}

// Progress is a run's rate in documents per second since it started, and the seconds left at that
// rate; nil when not known (not started, nothing embedded yet, or done).
func (r *Run) Progress(now time.Time) (rate, eta *float64) {
	if r.StartedAt == nil || r.Embedded == 0 {
		return nil, nil
	}
	end := now
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	secs := end.Sub(*r.StartedAt).Seconds()
	if secs <= 0 {
		return nil, nil
	}
	v := math.Round(float64(r.Embedded)/secs*10) / 10
	rate = &v
	if r.State == RunQueued || r.State == RunEmbedding {
		left := math.Max(0, float64(r.Total-r.Embedded))
		e := math.Ceil(left / (float64(r.Embedded) / secs))
		eta = &e
	} else {
		z := 0.0
		eta = &z
	}
	return rate, eta
}

// Verification is what checking a filled index found, in SPEC's fields, summed over the run's indexes.
type Verification struct {
	Documents      int64   `json:"documents"`
	Vectors        int64   `json:"vectors"`
	Missing        int64   `json:"missing"`
	Duplicates     int64   `json:"duplicates"`
	WrongDimension int64   `json:"wrong_dimension"`
	SelfRecall     float64 `json:"self_recall"`
	Threshold      float64 `json:"threshold"`
	Passed         bool    `json:"passed"`
	// Sampled is how many documents the self-retrieval check embedded as queries.
	Sampled int64 `json:"sampled"`
	// Found is how many of them found themselves in the top RecallK.
	Found   int64  `json:"found"`
	Reason  string `json:"reason,omitempty"`
	RecallK int    `json:"recall_k"`
}

// DefaultThreshold is the self-recall a run needs to cut over.
const DefaultThreshold = 0.95

// RecallK is how far down the results a sampled document must find itself.
const RecallK = 10

// Add sums another index's counts into v.
func (v *Verification) Add(o Verification) {
	v.Documents += o.Documents
	v.Vectors += o.Vectors
	v.Missing += o.Missing
	v.Duplicates += o.Duplicates
	v.WrongDimension += o.WrongDimension
	v.Sampled += o.Sampled
	v.Found += o.Found
}

// Judge fills SelfRecall, Passed and Reason from the counts: every document has exactly one vector of
// the right dimension, no vector is left over, and self-recall reaches the threshold.
func (v *Verification) Judge(threshold float64) {
	v.Threshold = threshold
	v.RecallK = RecallK
	v.SelfRecall = 1
	if v.Sampled > 0 {
		v.SelfRecall = math.Round(float64(v.Found)/float64(v.Sampled)*1000) / 1000
	}
	switch {
	case v.Missing > 0:
		v.Reason = "documents without a vector"
	case v.Duplicates > 0:
		v.Reason = "documents with more than one vector"
	case v.WrongDimension > 0:
		v.Reason = "vectors of the wrong dimension"
	case v.Vectors != v.Documents:
		v.Reason = "vectors of documents that no longer exist"
	case v.SelfRecall < threshold:
		v.Reason = "self-recall below the threshold: the model's query embeddings do not find the documents it embedded"
	default:
		v.Reason = ""
	}
	v.Passed = v.Reason == ""
}
