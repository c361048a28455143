package main

// The search part of make bench (-only search): recall@10 of the product's vector search against
// exact search, and its latency, on a corpus of real English text: the comment paragraphs of the Go
// standard library on this machine, embedded by a hashing bag-of-words embedder (similar text gets
// similar vectors, as with a real model), at 768 dimensions.

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

type searchOptions struct {
	sizes   string // corpus sizes, comma-separated
	dim     int
	queries int
	builds  string // HNSW build settings, see parseBuilds
}

// goParagraphs reads the comment paragraphs of the Go sources under GOROOT (at least 5 words
// each, without duplicates), in a fixed order: the same corpus on every run of the same Go.
func goParagraphs(want int) ([]string, error) {
	root := runtime.GOROOT()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.Contains(p, "testdata") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	slices.Sort(files)
	seen := map[string]bool{}
	var out []string
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		var para []string
		flush := func() {
			if t := strings.Join(para, " "); len(strings.Fields(t)) >= 5 && !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
			para = para[:0]
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			text, isComment := strings.CutPrefix(line, "//")
			text = strings.TrimSpace(text)
			if !isComment || text == "" || strings.HasPrefix(text, "go:") || strings.HasPrefix(text, "+build") {
				flush()
				continue
			}
			para = append(para, text)
		}
		flush()
		_ = f.Close()
		if len(out) >= want {
			return out[:want], nil
		}
	}
	return out, nil
}

// hashEmbed is a bag-of-words embedding: each lower-cased word and each pair of neighbouring words
// adds ±1 to a dimension chosen by its hash; the result is normalised. Texts sharing words point
// the same way.
func hashEmbed(text string, dim int) []float32 {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	v := make([]float32, dim)
	add := func(s string, w float32) {
		h := fnv.New64a()
		h.Write([]byte(s))
		x := h.Sum64()
		sign := float32(1)
		if x>>63 == 1 {
			sign = -1
		}
		v[x%uint64(dim)] += sign * w
	}
	for i, w := range words {
		add(w, 1)
		if i > 0 {
			add(words[i-1]+" "+w, 0.5)
		}
	}
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		v[0], n = 1, 1
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

func searchBench(ctx context.Context, base string, o searchOptions) error {
	var sizes []int
	for _, s := range strings.Split(o.sizes, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(s), &n); err != nil {
			return fmt.Errorf("-search-docs %q: %w", o.sizes, err)
		}
		sizes = append(sizes, n)
	}
	builds, err := parseBuilds(o.builds)
	if err != nil {
		return err
	}
	largest := slices.Max(sizes)
	start := time.Now()
	paras, err := goParagraphs(largest + o.queries)
	if err != nil {
		return err
	}
	if len(paras) < largest+o.queries {
		return fmt.Errorf("the Go sources hold %d comment paragraphs; %d wanted", len(paras), largest+o.queries)
	}
	// The queries are paragraphs outside the corpus, spread over the sources.
	var queries []string
	step := len(paras) / o.queries
	var docs []string
	for i, p := range paras {
		if i%step == step-1 && len(queries) < o.queries {
			queries = append(queries, p)
		} else {
			docs = append(docs, p)
		}
	}
	fmt.Printf("search: %d comment paragraphs of the Go %s sources read in %v; %d queries held out; %d dimensions, hashing bag-of-words embedder\n",
		len(paras), runtime.Version(), time.Since(start).Round(time.Millisecond), len(queries), o.dim)
	qvecs := make([][]float32, len(queries))
	for i, q := range queries {
		qvecs[i] = hashEmbed(q, o.dim)
	}
	for _, n := range sizes {
		if err := searchSize(ctx, base, docs[:n], qvecs, o.dim, builds); err != nil {
			return err
		}
	}
	return nil
}

// searchSize measures one corpus size in a database of its own.
func searchSize(ctx context.Context, base string, docs []string, qvecs [][]float32, dim int, builds []hnswBuild) error {
	pool, name, err := newDatabase(ctx, base)
	if err != nil {
		return err
	}
	defer dropDatabase(base, name)
	defer pool.Close()
	ix := &corpus.Index{CorpusID: 1, ID: 1, Dimension: dim, Table: "bench_search"}
	// The store searches an index table and the documents of a corpus: a corpus row (with the model
	// and alias it names) and a table made as an index's are all it needs.
	if _, err := pool.Exec(ctx, `INSERT INTO providers (identifier, base_url, auth_method) VALUES ('fake', 'http://127.0.0.1:1', 'none');
		INSERT INTO catalog_names (name, what) VALUES ('bench-model', 'model'), ('bench-alias', 'alias');
		INSERT INTO models (name, provider_id, upstream_name, kind, dimension, enabled)
			SELECT 'bench-model', id, 'bench', 'embedding', `+fmt.Sprint(dim)+`, true FROM providers;
		INSERT INTO aliases (name, kind, model_id) SELECT 'bench-alias', 'embedding', id FROM models;
		INSERT INTO corpora (name, alias) VALUES ('bench', 'bench-alias')`); err != nil {
		return fmt.Errorf("search fixture: %w", err)
	}
	if err := pool.QueryRow(ctx, `SELECT id FROM corpora WHERE name = 'bench'`).Scan(&ix.CorpusID); err != nil {
		return err
	}
	t0 := time.Now()
	i := -1
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"documents"}, []string{"corpus_id", "doc_id", "text", "content_hash"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i++; i >= len(docs) {
				return nil, nil
			}
			return []any{ix.CorpusID, fmt.Sprintf("doc-%07d", i), docs[i], corpus.ContentHash(docs[i])}, nil
		})); err != nil {
		return fmt.Errorf("seed documents: %w", err)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE bench_search (doc_id text PRIMARY KEY, content_hash bytea NOT NULL, embedding vector(%d) NOT NULL)`, dim)); err != nil {
		return err
	}
	i = -1
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_search"}, []string{"doc_id", "content_hash", "embedding"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i++; i >= len(docs) {
				return nil, nil
			}
			return []any{fmt.Sprintf("doc-%07d", i), corpus.ContentHash(docs[i]), pgvector.NewVector(hashEmbed(docs[i], dim))}, nil
		})); err != nil {
		return fmt.Errorf("seed vectors: %w", err)
	}
	loaded := time.Since(t0)
	for _, sql := range []string{`VACUUM ANALYZE bench_search`, `VACUUM ANALYZE documents`} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	fmt.Printf("\n%d documents: loaded in %v (load %s)\n", len(docs), loaded.Round(time.Millisecond), loadAvg())

	// Exact answers: every vector compared (an ORDER BY the HNSW index cannot serve).
	// exact[q] is the distance of the query's 10th nearest document: a result at most that far is a
	// right answer (so ties at the 10th place, frequent among near-identical comments, count as found).
	exact := make([]float64, len(qvecs))
	var exactLat []time.Duration
	for qi, q := range qvecs {
		t := time.Now()
		rows, _ := pool.Query(ctx, `SELECT embedding <=> $1 FROM bench_search ORDER BY (embedding <=> $1) + 0 LIMIT 10`, pgvector.NewVector(q))
		dists, err := pgx.CollectRows(rows, pgx.RowTo[float64])
		if err != nil {
			return fmt.Errorf("exact search: %w", err)
		}
		exactLat = append(exactLat, time.Since(t))
		exact[qi] = dists[len(dists)-1]
	}
	fmt.Printf("  %-46s recall@10 1        p50 %6.2f ms   p99 %6.2f ms\n", "exact (sequential scan, bare query)", ms(pct(exactLat, 0.5)), ms(pct(exactLat, 0.99)))
	for _, b := range builds {
		if err := searchBuild(ctx, pool, ix, b, qvecs, exact); err != nil {
			return err
		}
	}
	return nil
}

// hnswBuild is one HNSW build setting the bench measures.
type hnswBuild struct{ m, efConstruction int }

// parseBuilds reads -search-build: settings separated by ";", each "m=16,ef_construction=64".
func parseBuilds(s string) ([]hnswBuild, error) {
	var out []hnswBuild
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		b := hnswBuild{m: postgres.HNSWM, efConstruction: postgres.HNSWEFConstruction}
		for _, kv := range strings.Split(part, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("-search-build %q: %q: %w", s, kv, err)
			}
			switch strings.TrimSpace(k) {
			case "m":
				b.m = n
			case "ef_construction":
				b.efConstruction = n
			default:
				return nil, fmt.Errorf("-search-build %q: %q: want m=N or ef_construction=N", s, kv)
			}
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-search-build %q: no setting", s)
	}
	return out, nil
}

// The build's memory and parallel workers: the re-embed service's defaults (SWITCHYARD_REEMBED_*),
// so a build here takes what a re-embed's build takes.
const (
	benchBuildMemMB   = 1024
	benchBuildWorkers = 2
)

// searchBuild (re)builds ix's HNSW index with b and measures the bare query's recall curve and the
// product's search against the exact answers.
func searchBuild(ctx context.Context, pool *pgxpool.Pool, ix *corpus.Index, b hnswBuild, qvecs [][]float32, exact []float64) error {
	t0 := time.Now()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, sql := range []string{`DROP INDEX IF EXISTS bench_search_hnsw`,
			fmt.Sprintf(`SET LOCAL maintenance_work_mem = '%dMB'`, benchBuildMemMB),
			fmt.Sprintf(`SET LOCAL max_parallel_maintenance_workers = %d`, benchBuildWorkers),
			postgres.HNSWDDL(ix, b.m, b.efConstruction)} {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("%s: %w", sql, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("build the HNSW index (m %d, ef_construction %d): %w", b.m, b.efConstruction, err)
	}
	built := time.Since(t0)
	var size int64
	if err := pool.QueryRow(ctx, `SELECT pg_relation_size('bench_search_hnsw')`).Scan(&size); err != nil {
		return err
	}
	mark := ""
	if b.m == postgres.HNSWM && b.efConstruction == postgres.HNSWEFConstruction {
		mark = ", the product's"
	}
	fmt.Printf(" HNSW m %d, ef_construction %d%s: built in %v (%d MB maintenance_work_mem, %d workers), %d MB (load %s)\n",
		b.m, b.efConstruction, mark, built.Round(100*time.Millisecond), benchBuildMemMB, benchBuildWorkers, size>>20, loadAvg())

	// measure runs search for every query and prints its recall@10 against the exact answers and
	// its latency.
	measure := func(label string, search func(q []float32) ([]float64, error)) error {
		var lat []time.Duration
		var found, total int
		for qi, q := range qvecs {
			t := time.Now()
			dists, err := search(q)
			if err != nil {
				return fmt.Errorf("%s: %w", label, err)
			}
			lat = append(lat, time.Since(t))
			for _, d := range dists {
				if d <= exact[qi]+1e-6 {
					found++
				}
			}
			total += 10
		}
		fmt.Printf("  %-46s recall@10 %.4f   p50 %6.2f ms   p99 %6.2f ms\n", label, float64(found)/float64(total), ms(pct(lat, 0.5)), ms(pct(lat, 0.99)))
		return nil
	}
	product := func(store *postgres.CorpusStore) func(q []float32) ([]float64, error) {
		return func(q []float32) ([]float64, error) {
			hits, err := store.Search(ctx, ix, q, 10)
			dists := make([]float64, len(hits))
			for i, h := range hits {
				dists[i] = 1 - h.Score
			}
			return dists, err
		}
	}
	// The bare HNSW query at several beam widths: the recall curve behind the product's choice.
	for _, ef := range []int{40, 100, 200, 300, 400, 800} {
		err := measure(fmt.Sprintf("HNSW, bare query, ef_search %d", ef), func(q []float32) (dists []float64, err error) {
			err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL hnsw.ef_search = %d`, ef)); err != nil {
					return err
				}
				rows, _ := tx.Query(ctx, `SELECT embedding <=> $1 FROM bench_search ORDER BY embedding <=> $1 LIMIT 10`, pgvector.NewVector(q))
				dists, err = pgx.CollectRows(rows, pgx.RowTo[float64])
				return err
			})
			return dists, err
		})
		if err != nil {
			return err
		}
	}
	if err := measure(fmt.Sprintf("product search (exact up to %d, else HNSW)", postgres.DefaultExactLimit), product(&postgres.CorpusStore{Pool: pool})); err != nil {
		return err
	}
	return measure("product search forced onto HNSW", product(&postgres.CorpusStore{Pool: pool, ExactLimit: 1}))
}
