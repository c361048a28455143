package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
)

// CorpusStore keeps corpora, documents, their vector tables and re-embed runs. Methods taking a pgx.Tx
// compose with River's InsertTx, so that a write and the jobs that follow it commit together.
type CorpusStore struct {
	Pool *pgxpool.Pool
	// ExactLimit overrides DefaultExactLimit when positive (tests use it to reach the HNSW path).
	ExactLimit int
}

// Querier is what both a pool and a transaction offer.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// collect runs a query that lists rows and scans each with scan (a reader of one row, the kind
// QueryRow's callers use too). Its error, the query's or a row's, is "<what>: <cause>", so what
// names what was being listed. No rows is an empty slice, not nil (a JSON list stays []).
func collect[T any](ctx context.Context, q Querier, what string, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	rows, _ := q.Query(ctx, sql, args...) // CollectRows reports the query's error
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

const corpusColumns = `c.id, c.name, c.alias, c.teams_explicit, c.created_at, c.language, c.keep_queries,
	ARRAY(SELECT t.name FROM corpus_teams ct JOIN teams t ON t.id = ct.team_id WHERE ct.corpus_id = c.id ORDER BY t.name)`

func scanCorpus(row pgx.Row, extra ...any) (*corpus.Corpus, error) {
	var c corpus.Corpus
	dest := append([]any{&c.ID, &c.Name, &c.Alias, &c.TeamsExplicit, &c.CreatedAt, &c.Language, &c.KeepQueries, &c.Teams}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, corpus.ErrNotFound
		}
		return nil, fmt.Errorf("scan corpus: %w", err)
	}
	return &c, nil
}

const indexColumns = `i.id, i.corpus_id, m.name, i.model_id, i.dimension, i.table_name, i.state,
	coalesce(i.run_id, 0), i.error, i.created_at, i.activated_at, i.standby_until, i.retired_at`

func scanIndex(row pgx.Row) (*corpus.Index, error) {
	var ix corpus.Index
	if err := row.Scan(&ix.ID, &ix.CorpusID, &ix.Model, &ix.ModelID, &ix.Dimension, &ix.Table, &ix.State,
		&ix.RunID, &ix.Error, &ix.CreatedAt, &ix.ActivatedAt, &ix.StandbyUntil, &ix.RetiredAt); err != nil {
		return nil, fmt.Errorf("scan index: %w", err)
	}
	return &ix, nil
}

// CreateCorpus creates a corpus following alias, with a first, empty index on the alias's current
// target, active at once. teams nil means the teams granted the alias. language is the text search
// configuration its documents are parsed with for keyword search ("" is english); one Postgres does
// not know is refused naming language. The alias row is locked, so the alias cannot move while the
// index is being made for its target.
func (s *CorpusStore) CreateCorpus(ctx context.Context, tx pgx.Tx, name, alias string, teams []string, language string) (*corpus.Corpus, error) {
	if language == "" {
		language = corpus.DefaultLanguage
	}
	var known bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = $1)`, language).Scan(&known); err != nil {
		return nil, fmt.Errorf("look up text search configuration %s: %w", language, err)
	}
	if !known {
		return nil, catalog.Invalid("language", "there is no text search language %q; use one of Postgres's text search configurations (SELECT cfgname FROM pg_ts_config), such as english, simple, german or french", catalog.Quote(language, 64))
	}
	var kind string
	var modelID int64
	var dim int
	var modelName string
	// The alias row is locked alone, then its target read: a locking join would lose the row to a
	// concurrent move (see lockAlias in aliases.go).
	err := tx.QueryRow(ctx, `SELECT kind, model_id FROM aliases WHERE name = $1 FOR SHARE`, alias).Scan(&kind, &modelID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &catalog.NotFoundError{What: catalog.EntityAlias, Name: alias, Param: "embedding_model", Ref: true}
	}
	if err != nil {
		return nil, fmt.Errorf("read alias %s: %w", alias, err)
	}
	if err := tx.QueryRow(ctx, `SELECT dimension, name FROM models WHERE id = $1`, modelID).Scan(&dim, &modelName); err != nil {
		return nil, fmt.Errorf("read the target of alias %s: %w", alias, err)
	}
	if kind != "embedding" {
		return nil, catalog.Invalid("embedding_model", "alias %q points at a %s model; a corpus follows an embedding alias", alias, kind)
	}
	var running bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reembed_runs WHERE alias = $1 AND state IN
		('queued', 'embedding', 'indexing', 'verifying', 'cutting_over'))`, alias).Scan(&running); err != nil {
		return nil, fmt.Errorf("look up runs of alias %s: %w", alias, err)
	}
	if running {
		return nil, &catalog.ConflictError{Code: apierror.CodeRunInProgress, Param: "embedding_model", What: catalog.EntityAlias, Name: alias,
			Message: fmt.Sprintf("a re-embed run on alias %q is in progress; create the corpus once it ends", alias)}
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO corpora (name, alias, teams_explicit, language) VALUES ($1, $2, $3, $4) RETURNING id`,
		name, alias, teams != nil, language).Scan(&id)
	if isUniqueViolation(err) {
		return nil, &catalog.ConflictError{Code: apierror.CodeCorpusExists, Param: "name", What: catalog.EntityCorpus, Name: name,
			Message: fmt.Sprintf("a corpus named %q exists already", name)}
	}
	if err != nil {
		return nil, fmt.Errorf("insert corpus %s: %w", name, err)
	}
	for i, t := range teams {
		tag, err := tx.Exec(ctx, `INSERT INTO corpus_teams (corpus_id, team_id) SELECT $1, id FROM teams WHERE name = $2
			ON CONFLICT DO NOTHING`, id, t)
		if err != nil {
			return nil, fmt.Errorf("grant corpus %s to team %s: %w", name, t, err)
		}
		if tag.RowsAffected() == 0 {
			var dup bool
			_ = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM teams WHERE name = $1)`, t).Scan(&dup)
			if !dup {
				return nil, &catalog.NotFoundError{What: catalog.EntityTeam, Name: t, Param: fmt.Sprintf("teams[%d]", i), Ref: true}
			}
		}
	}
	ix := &corpus.Index{CorpusID: id, ModelID: modelID, Model: modelName, Dimension: dim, State: corpus.IndexActive}
	if err := s.insertIndex(ctx, tx, ix, true); err != nil {
		return nil, err
	}
	c, err := scanCorpus(tx.QueryRow(ctx, `SELECT `+corpusColumns+` FROM corpora c WHERE c.id = $1`, id))
	if err != nil {
		return nil, err
	}
	c.Indexes = []*corpus.Index{ix}
	return c, nil
}

// insertIndex records ix and creates its vector table (with its HNSW index when hnsw is true, as for
// a first, empty index that is written one document at a time).
func (s *CorpusStore) insertIndex(ctx context.Context, tx pgx.Tx, ix *corpus.Index, hnsw bool) error {
	col, err := corpus.ColumnType(ix.Dimension)
	if err != nil {
		return catalog.Invalid("model", "%v", err)
	}
	var runID *int64
	if ix.RunID != 0 {
		runID = &ix.RunID
	}
	err = tx.QueryRow(ctx, `INSERT INTO corpus_indexes (corpus_id, model_id, dimension, table_name, state, run_id, activated_at)
		VALUES ($1, $2, $3, 'pending-' || gen_random_uuid(), $4, $5, CASE WHEN $4 = 'active' THEN now() END)
		RETURNING id, created_at, activated_at`, ix.CorpusID, ix.ModelID, ix.Dimension, ix.State, runID).
		Scan(&ix.ID, &ix.CreatedAt, &ix.ActivatedAt)
	if err != nil {
		return fmt.Errorf("insert index of corpus %d: %w", ix.CorpusID, err)
	}
	ix.Table = corpus.TableName(ix.CorpusID, ix.ID)
	if _, err := tx.Exec(ctx, `UPDATE corpus_indexes SET table_name = $2 WHERE id = $1`, ix.ID, ix.Table); err != nil {
		return fmt.Errorf("name index %d: %w", ix.ID, err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (
		doc_id text PRIMARY KEY,
		content_hash bytea NOT NULL,
		embedding %s NOT NULL)`, pgx.Identifier{ix.Table}.Sanitize(), col)); err != nil {
		return fmt.Errorf("create vector table %s: %w", ix.Table, err)
	}
	if hnsw {
		if _, err := tx.Exec(ctx, hnswDDL(ix)); err != nil {
			return fmt.Errorf("create HNSW index on %s: %w", ix.Table, err)
		}
	}
	return nil
}

// The HNSW graph every corpus index is built with: denser than pgvector's defaults (m 16,
// ef_construction 64), on which recall@10 at 100,000 real-text documents was 0.96 at a beam of 200 and
// under 0.99 even at 800; on this one it is 0.9925 at 200 and 0.995 at the product's 300 (efSearch), for
// a build about 3.3 times as long. See docs/benchmarks.md, "Search recall".
const (
	HNSWM              = 32  // neighbours per node (twice that on the bottom layer)
	HNSWEFConstruction = 128 // candidate list while inserting a node
)

func hnswDDL(ix *corpus.Index) string { return HNSWDDL(ix, HNSWM, HNSWEFConstruction) }

// HNSWDDL is the statement that builds ix's HNSW index (cosine distance) with m and efConstruction,
// when the index does not exist yet. The product builds with HNSWM and HNSWEFConstruction; the bench
// compares other settings with it.
func HNSWDDL(ix *corpus.Index, m, efConstruction int) string {
	ops := "vector_cosine_ops"
	if corpus.Half(ix.Dimension) {
		ops = "halfvec_cosine_ops"
	}
	return fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s USING hnsw (embedding %s) WITH (m = %d, ef_construction = %d)`,
		pgx.Identifier{ix.Table + "_hnsw"}.Sanitize(), pgx.Identifier{ix.Table}.Sanitize(), ops, m, efConstruction)
}

// documentCount counts a corpus's documents, read with corpusColumns. It reads the documents' primary
// key only, as a run's start counts them.
const documentCount = `(SELECT count(*) FROM documents d WHERE d.corpus_id = c.id)`

// scanCounted scans a corpus read with corpusColumns and documentCount.
func scanCounted(row pgx.Row) (*corpus.Corpus, error) {
	var n int64
	c, err := scanCorpus(row, &n)
	if err != nil {
		return nil, err
	}
	c.Documents = n
	return c, nil
}

// Corpora lists every corpus with its live indexes and its number of documents.
func (s *CorpusStore) Corpora(ctx context.Context) ([]*corpus.Corpus, error) {
	list, err := collect(ctx, s.Pool, "list corpora", scanCounted, `SELECT `+corpusColumns+`, `+documentCount+` FROM corpora c ORDER BY c.name`)
	if err != nil {
		return nil, err
	}
	byID := map[int64]*corpus.Corpus{}
	for _, c := range list {
		byID[c.ID] = c
	}
	ixs, err := collect(ctx, s.Pool, "list indexes", scanIndex, `SELECT `+indexColumns+` FROM corpus_indexes i JOIN models m ON m.id = i.model_id
		WHERE i.state = ANY($1) ORDER BY i.id DESC`, corpus.LiveStates)
	if err != nil {
		return nil, err
	}
	for _, ix := range ixs {
		if c := byID[ix.CorpusID]; c != nil {
			c.Indexes = append(c.Indexes, ix)
		}
	}
	return list, nil
}

// Corpus reads one corpus with its live indexes, newest first, and its number of documents.
func (s *CorpusStore) Corpus(ctx context.Context, name string) (*corpus.Corpus, error) {
	return s.CorpusIn(ctx, s.Pool, name)
}

// CorpusIn is Corpus read through q (a transaction sees its own changes).
func (s *CorpusStore) CorpusIn(ctx context.Context, q Querier, name string) (*corpus.Corpus, error) {
	c, err := scanCounted(q.QueryRow(ctx, `SELECT `+corpusColumns+`, `+documentCount+` FROM corpora c WHERE c.name = $1`, name))
	if err != nil {
		return nil, err
	}
	c.Indexes, err = s.LiveIndexes(ctx, q, c.ID)
	return c, err
}

// CorpusForSearch reads a corpus and its active index with the index's model, in one statement, so
// the model that embeds a query is the one that built the index searched.
func (s *CorpusStore) CorpusForSearch(ctx context.Context, name string) (*corpus.Corpus, *corpus.Index, error) {
	var ix corpus.Index
	c, err := scanCorpus(s.Pool.QueryRow(ctx, `SELECT `+corpusColumns+`, i.id, i.corpus_id, m.name, i.model_id, i.dimension,
			i.table_name, i.state
		FROM corpora c JOIN corpus_indexes i ON i.corpus_id = c.id AND i.state = 'active' JOIN models m ON m.id = i.model_id
		WHERE c.name = $1`, name), &ix.ID, &ix.CorpusID, &ix.Model, &ix.ModelID, &ix.Dimension, &ix.Table, &ix.State)
	if err != nil {
		return nil, nil, err
	}
	return c, &ix, nil
}

// LockCorpusForWrite reads a corpus and holds a share lock on it until tx ends. Document writes take
// it and a run's start takes the exclusive lock, so a write either commits before the run counts and
// shards the documents, or sees the run's new index among the live ones.
func (s *CorpusStore) LockCorpusForWrite(ctx context.Context, tx pgx.Tx, name string) (*corpus.Corpus, error) {
	return scanCorpus(tx.QueryRow(ctx, `SELECT `+corpusColumns+` FROM corpora c WHERE c.name = $1 FOR SHARE OF c`, name))
}

// LiveIndexes lists a corpus's live indexes (building, verifying, active, standby), newest first.
func (s *CorpusStore) LiveIndexes(ctx context.Context, q Querier, corpusID int64) ([]*corpus.Index, error) {
	return collect(ctx, q, fmt.Sprintf("list indexes of corpus %d", corpusID), scanIndex, `SELECT `+indexColumns+` FROM corpus_indexes i JOIN models m ON m.id = i.model_id
		WHERE i.corpus_id = $1 AND i.state = ANY($2) ORDER BY i.id DESC`, corpusID, corpus.LiveStates)
}

// Index reads one index.
func (s *CorpusStore) Index(ctx context.Context, q Querier, id int64) (*corpus.Index, error) {
	ix, err := scanIndex(q.QueryRow(ctx, `SELECT `+indexColumns+` FROM corpus_indexes i JOIN models m ON m.id = i.model_id
		WHERE i.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("read index %d: %w", id, err)
	}
	return ix, nil
}

// UpsertDocuments writes a batch and returns the ids whose text is new or changed: only those need
// embedding. Rows are locked in id order, so concurrent batches never deadlock.
func (s *CorpusStore) UpsertDocuments(ctx context.Context, tx pgx.Tx, corpusID int64, docs []corpus.Document) ([]string, error) {
	sorted := append([]corpus.Document(nil), docs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	ids := make([]string, len(sorted))
	texts := make([]string, len(sorted))
	metas := make([]map[string]any, len(sorted))
	hashes := make([][]byte, len(sorted))
	for i, d := range sorted {
		ids[i], texts[i], hashes[i] = d.ID, d.Text, corpus.ContentHash(d.Text)
		metas[i] = d.Metadata
		if metas[i] == nil {
			metas[i] = map[string]any{}
		}
	}
	rows, _ := tx.Query(ctx, `SELECT doc_id, content_hash FROM documents WHERE corpus_id = $1 AND doc_id = ANY($2)
		ORDER BY doc_id FOR UPDATE`, corpusID, ids)
	old := map[string][]byte{}
	var id string
	var h []byte
	_, err := pgx.ForEachRow(rows, []any{&id, &h}, func() error { old[id] = append([]byte(nil), h...); return nil })
	if err != nil {
		return nil, fmt.Errorf("lock documents of corpus %d: %w", corpusID, err)
	}
	// tsv is parsed with the corpus's language, for keyword search.
	if _, err := tx.Exec(ctx, `INSERT INTO documents (corpus_id, doc_id, text, metadata, content_hash, tsv)
		SELECT $1, u.id, u.text, u.meta, u.hash, to_tsvector(c.language::regconfig, u.text)
		FROM unnest($2::text[], $3::text[], $4::jsonb[], $5::bytea[]) AS u(id, text, meta, hash), corpora c WHERE c.id = $1
		ON CONFLICT (corpus_id, doc_id) DO UPDATE SET text = excluded.text, metadata = excluded.metadata,
			content_hash = excluded.content_hash, tsv = excluded.tsv, updated_at = now()`, corpusID, ids, texts, metas, hashes); err != nil {
		return nil, fmt.Errorf("write documents of corpus %d: %w", corpusID, err)
	}
	var changed []string
	for i, id := range ids {
		if o, ok := old[id]; !ok || string(o) != string(hashes[i]) {
			changed = append(changed, id)
		}
	}
	return changed, nil
}

// DeleteDocument removes a document; found is false when there was none.
func (s *CorpusStore) DeleteDocument(ctx context.Context, tx pgx.Tx, corpusID int64, id string) (bool, error) {
	tag, err := tx.Exec(ctx, `DELETE FROM documents WHERE corpus_id = $1 AND doc_id = $2`, corpusID, id)
	if err != nil {
		return false, fmt.Errorf("delete document %s: %w", id, err)
	}
	return tag.RowsAffected() > 0, nil
}

// ErrIndexGone is returned when an index's table was dropped between reading the index and using it.
var ErrIndexGone = errors.New("index table is gone")

// queryParam is $1 cast to the index's column type, so HNSW's operator class applies.
func queryParam(ix *corpus.Index) string {
	if corpus.Half(ix.Dimension) {
		return fmt.Sprintf(`($1::vector)::halfvec(%d)`, ix.Dimension)
	}
	return `$1::vector`
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// IsDataException reports whether err is Postgres refusing a value (SQLSTATE class 22): pgvector's
// "NaN not allowed in vector", a halfvec overflow. Writing the same values again fails again.
func IsDataException(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "22"
}

func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

// vectorValue encodes vec for a vector (half false) or halfvec column.
func vectorValue(vec []float32, half bool) any {
	if half {
		return pgvector.NewHalfVector(vec)
	}
	return pgvector.NewVector(vec)
}
