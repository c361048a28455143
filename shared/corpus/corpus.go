// Package corpus holds the domain of document corpora: corpora that follow an embedding alias, their
// documents, the pgvector indexes that hold their vectors, and the re-embed runs that replace an index
// when the alias's model changes. It holds the rules as plain functions; storage and jobs live in
// packages postgres and reembed.
package corpus

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is a store's answer for an unknown corpus.
var ErrNotFound = errors.New("corpus not found")

// Corpus is a named set of documents searched through an embedding alias.
type Corpus struct {
	ID    int64
	Name  string
	Alias string // the embedding alias it follows
	// Teams may use the corpus. When TeamsExplicit is false they are the teams granted Alias, read
	// from the catalogue when access is checked, and Teams is empty.
	Teams         []string
	TeamsExplicit bool
	CreatedAt     time.Time
	// Language is the Postgres text search configuration its documents are parsed with for keyword
	// search (DefaultLanguage unless chosen at creation).
	Language string
	// KeepQueries says the operator opted in to keeping the corpus's recent search queries, for the
	// re-embed preview. Off by default: queries may hold user data.
	KeepQueries bool
	Indexes     []*Index // filled where asked for: the live ones, newest first
	Documents   int64    // filled where asked for: how many documents it holds
}

// DefaultLanguage is a corpus's text search configuration when none is chosen.
const DefaultLanguage = "english"

// CanUse reports whether team may use the corpus; aliasTeams are the teams granted its alias.
func (c *Corpus) CanUse(team string, aliasTeams map[string]bool) bool {
	if !c.TeamsExplicit {
		return aliasTeams[team]
	}
	for _, t := range c.Teams {
		if t == team {
			return true
		}
	}
	return false
}

// Document is one searchable text. Its vectors are kept in every live index of its corpus.
type Document struct {
	ID       string         `json:"id"`
	Text     string         `json:"text"`
	Metadata map[string]any `json:"metadata"`
}

// Limits on documents.
const (
	MaxBatch         = 1000      // documents per PUT
	MaxIDLength      = 512       // bytes
	MaxTextBytes     = 64 * 1024 // bytes of text per document
	MaxMetadataBytes = 16 * 1024 // bytes of a document's metadata, as JSON
	// MaxQueryBytes bounds a search's query, which is embedded as a document's text is.
	MaxQueryBytes = MaxTextBytes
)

// ContentHash identifies a document's text: a write with the same hash needs no new embedding.
func ContentHash(text string) []byte {
	h := sha256.Sum256([]byte(text))
	return h[:]
}

// IndexState is where an index is in its life.
type IndexState string

// SPEC's index states: building → verifying → active → standby → retired, or failed.
const (
	IndexBuilding  IndexState = "building"
	IndexVerifying IndexState = "verifying"
	IndexActive    IndexState = "active"
	IndexStandby   IndexState = "standby"
	IndexRetired   IndexState = "retired"
	IndexFailed    IndexState = "failed"
)

// Live reports whether documents written now must reach an index in state s.
func (s IndexState) Live() bool {
	return s == IndexBuilding || s == IndexVerifying || s == IndexActive || s == IndexStandby
}

// LiveStates lists the live states, for queries.
var LiveStates = []string{string(IndexBuilding), string(IndexVerifying), string(IndexActive), string(IndexStandby)}

// Index is one pgvector table holding a corpus's vectors from one pinned model.
type Index struct {
	ID           int64
	CorpusID     int64
	Model        string // the pinned model whose vectors it holds
	ModelID      int64
	Dimension    int
	Table        string
	State        IndexState
	RunID        int64 // 0 for a corpus's first index
	Error        string
	CreatedAt    time.Time
	ActivatedAt  *time.Time
	StandbyUntil *time.Time
	RetiredAt    *time.Time
}

// TableName is the pgvector table of an index; index ids are never reused, so a retried run never
// collides with the table of an earlier one.
func TableName(corpusID, indexID int64) string {
	return fmt.Sprintf("corpus_vec_%d_%d", corpusID, indexID)
}

// MaxVectorDims is the largest dimension HNSW indexes as vector; above it, up to MaxHalfvecDims, the
// table stores halfvec.
const (
	MaxVectorDims  = 2000
	MaxHalfvecDims = 4000
)

// ColumnType is the pgvector column type for dim, or an error beyond what HNSW can index.
func ColumnType(dim int) (string, error) {
	switch {
	case dim < 1:
		return "", fmt.Errorf("dimension %d: an embedding has at least 1 dimension", dim)
	case dim <= MaxVectorDims:
		return fmt.Sprintf("vector(%d)", dim), nil
	case dim <= MaxHalfvecDims:
		return fmt.Sprintf("halfvec(%d)", dim), nil
	}
	return "", fmt.Errorf("dimension %d: HNSW indexes at most %d dimensions", dim, MaxHalfvecDims)
}

// Half reports whether an index of dim stores halfvec.
func Half(dim int) bool { return dim > MaxVectorDims }

// CheckDimensions returns an error naming the first vector whose length is not dim.
func CheckDimensions(vecs [][]float32, dim int) error {
	for i, v := range vecs {
		if len(v) != dim {
			return &DimensionError{Index: i, Got: len(v), Want: dim}
		}
	}
	return nil
}

// DimensionError is an embedding of the wrong length: the model is not what the catalogue says, so a
// run fails rather than retries.
type DimensionError struct {
	Model     string
	Index     int
	Got, Want int
}

func (e *DimensionError) Error() string {
	m := "the model"
	if e.Model != "" {
		m = "model " + e.Model
	}
	return fmt.Sprintf("%s returned an embedding of %d dimensions (input %d) where the catalogue records %d; "+
		"probe the model and correct its entry, then start a new run", m, e.Got, e.Index, e.Want)
}
