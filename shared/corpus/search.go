package corpus

// Search modes.
const (
	ModeVector  = "vector"  // nearest by cosine distance; score is the cosine similarity
	ModeKeyword = "keyword" // Postgres full-text search; score is ts_rank_cd normalised to [0, 1)
	ModeHybrid  = "hybrid"  // both, fused by reciprocal rank; score is the fused RRF score
)

// SearchOptions are a search's choices beyond the query vector and k. The zero value is a vector
// search without filter.
type SearchOptions struct {
	Mode     string // ModeVector ("" too), ModeKeyword or ModeHybrid
	Text     string // the query's text, for keyword and hybrid search
	Language string // the corpus's text search configuration ("" is english)
	Filter   Filter // only documents whose metadata satisfies it
}

// Hit is one search result.
type Hit struct {
	ID       string         `json:"id"`
	Score    float64        `json:"score"`
	Text     string         `json:"text"`
	Metadata map[string]any `json:"metadata"`
}
