// Package reembedtest helps test corpora and re-embed runs: a deterministic in-process embedder with
// faults on demand, and a seeded catalogue (provider, two embedding models of different dimensions, an
// alias, a team with a key) in a test's own database.
package reembedtest

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/waittest"
)

// Vector is the fake's embedding of text by a model: a pseudo-random unit vector seeded by both, so
// the same text embeds the same way with the same model (self-retrieval works) and unrelatedly with
// another (mixing models shows as similarity near 0).
func Vector(model, text string, dim int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(text))
	seed := h.Sum64()
	v := make([]float32, dim)
	var norm float64
	for i := range v {
		seed += 0x9e3779b97f4a7c15 // splitmix64
		z := seed
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		f := float64(int64(z)) / math.MaxInt64
		v[i] = float32(f)
		norm += f * f
	}
	n := float32(math.Sqrt(norm))
	for i := range v {
		v[i] /= n
	}
	return v
}

// Embedder embeds with Vector, each model at its catalogue dimension, with faults on demand. Safe for
// concurrent use.
type Embedder struct {
	mu       sync.Mutex
	wrongDim map[string]int  // model name → dimension to answer instead
	noise    map[string]bool // model name → random vectors (fails self-retrieval)
	nan      map[string]bool // model name → a NaN in every answer's first vector
	throttle int             // next calls answering 429
	unavail  int             // next calls answering 503
	calls    atomic.Int64
	texts    atomic.Int64
}

// Calls is how many Embed calls were made; Texts how many texts they carried.
func (e *Embedder) Calls() int64 { return e.calls.Load() }

// Texts is how many texts were embedded.
func (e *Embedder) Texts() int64 { return e.texts.Load() }

// WrongDimension makes model answer vectors of dim dimensions.
func (e *Embedder) WrongDimension(model string, dim int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.wrongDim == nil {
		e.wrongDim = map[string]int{}
	}
	e.wrongDim[model] = dim
}

// Noise makes model answer random vectors, so that its query embeddings find nothing.
func (e *Embedder) Noise(model string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.noise == nil {
		e.noise = map[string]bool{}
	}
	e.noise[model] = true
}

// NaN makes model answer a NaN in the first vector of every answer, as a broken model server might:
// the right dimension, a value pgvector refuses.
func (e *Embedder) NaN(model string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.nan == nil {
		e.nan = map[string]bool{}
	}
	e.nan[model] = true
}

// Throttle makes the next n calls answer 429, and the n after those 503.
func (e *Embedder) Throttle(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.throttle, e.unavail = n, n
}

// Embed implements reembed.Embedder.
func (e *Embedder) Embed(ctx context.Context, m *catalog.Model, p *catalog.Provider, texts []string) ([][]float32, error) {
	e.calls.Add(1)
	e.mu.Lock()
	dim := m.Dimension
	if d, ok := e.wrongDim[m.Name]; ok {
		dim = d
	}
	noise, nan := e.noise[m.Name], e.nan[m.Name]
	var fault *apierror.Error
	switch {
	case e.throttle > 0:
		e.throttle--
		fault = apierror.New(http.StatusTooManyRequests, apierror.RateLimitError, apierror.CodeRateLimited, "", "slow down")
	case e.unavail > 0:
		e.unavail--
		fault = apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamUnavailable, "", "upstream answered 503")
	}
	e.mu.Unlock()
	if fault != nil {
		return nil, fault
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.texts.Add(int64(len(texts)))
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if noise {
			t = fmt.Sprint(rand.Int64())
		}
		out[i] = Vector(m.UpstreamName, t, dim)
	}
	if nan && len(out) > 0 && len(out[0]) > 0 {
		out[0][0] = float32(math.NaN())
	}
	return out, nil
}

// Names of the seeded catalogue.
const (
	Provider = "test-embedder"
	ModelV1  = "test-embed-v1" // 384 dimensions
	ModelV2  = "test-embed-v2" // 1024 dimensions
	ModelV3  = "test-embed-v3" // 2048 dimensions: halfvec
	Alias    = "test-embed"
	Team     = "search-team"
	Other    = "other-team"
	Key      = "sk-test-search-team-key-000000000000"
	OtherKey = "sk-test-other-team-key-0000000000000"
)

// Dimensions of the seeded models.
var Dimensions = map[string]int{ModelV1: 384, ModelV2: 1024, ModelV3: 2048}

// Seed writes the test catalogue: a provider, ModelV1..V3 enabled, Alias → ModelV1 granted to Team, and
// Team and Other with one key each.
func Seed(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	sqls := []string{
		`INSERT INTO providers (identifier, base_url, auth_method) VALUES ('` + Provider + `', 'http://127.0.0.1:1/v1', 'none')`,
	}
	for _, m := range []string{ModelV1, ModelV2, ModelV3} {
		sqls = append(sqls,
			fmt.Sprintf(`INSERT INTO catalog_names (name, what) VALUES ('%s', 'model')`, m),
			fmt.Sprintf(`INSERT INTO models (name, provider_id, upstream_name, kind, dimension, enabled)
				SELECT '%s', id, '%s-upstream', 'embedding', %d, true FROM providers`, m, m, Dimensions[m]))
	}
	sqls = append(sqls,
		`INSERT INTO catalog_names (name, what) VALUES ('`+Alias+`', 'alias')`,
		`INSERT INTO aliases (name, kind, model_id) SELECT '`+Alias+`', 'embedding', id FROM models WHERE name = '`+ModelV1+`'`,
		`INSERT INTO alias_history (alias, to_model_id, actor) SELECT '`+Alias+`', id, 'seed' FROM models WHERE name = '`+ModelV1+`'`,
		`INSERT INTO teams (name) VALUES ('`+Team+`'), ('`+Other+`')`,
		`INSERT INTO grants (name, team_id) SELECT '`+Alias+`', id FROM teams WHERE name = '`+Team+`'`,
	)
	for _, s := range sqls {
		if _, err := pool.Exec(ctx, s); err != nil {
			tb.Fatalf("seed: %s: %v", s, err)
		}
	}
	for team, key := range map[string]string{Team: Key, Other: OtherKey} {
		h := catalog.HashSecret(key)
		if _, err := pool.Exec(ctx, `INSERT INTO api_keys (id, team_id, key_hash, prefix) SELECT $1, id, $2, $3 FROM teams WHERE name = $4`,
			"key-"+team, h[:], key[:8], team); err != nil {
			tb.Fatalf("seed key: %v", err)
		}
	}
}

// Catalog is a catalog.Source on pool that re-reads on every call, so tests see changes at once.
type Catalog struct{ Pool *pgxpool.Pool }

// Get loads the snapshot.
func (c Catalog) Get(ctx context.Context) (*catalog.Snapshot, error) {
	return (&postgres.SnapshotLoader{Pool: c.Pool}).Load(ctx)
}

// MoveAlias moves alias to model as the admin API does (expected_from checked in the statement); it
// reports false when the alias was not at from.
func MoveAlias(ctx context.Context, pool *pgxpool.Pool, alias, from, to string) (bool, error) {
	tag, err := pool.Exec(ctx, `WITH moved AS (
			UPDATE aliases SET model_id = (SELECT id FROM models WHERE name = $3), updated_at = now()
			WHERE name = $1 AND model_id = (SELECT id FROM models WHERE name = $2) RETURNING name)
		INSERT INTO alias_history (alias, from_model_id, to_model_id, actor)
		SELECT name, (SELECT id FROM models WHERE name = $2), (SELECT id FROM models WHERE name = $3), 'test' FROM moved`,
		alias, from, to)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// WaitSynced waits up to within until no document sync job is pending in pool's database (every
// document put so far is in every live index), and fails tb otherwise with how many were left.
func WaitSynced(tb testing.TB, pool *pgxpool.Pool, within time.Duration) {
	tb.Helper()
	waittest.Eventually(tb, within, "no document sync job pending", func() (string, bool) {
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE kind = 'corpus_sync' AND state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		return fmt.Sprintf("%d sync jobs pending", n), n == 0
	})
}
