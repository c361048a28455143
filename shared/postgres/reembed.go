package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
)

// Shard is a fill shard of a run's index: the documents (Lo, Hi] in doc_id order, filled up to Cursor.
type Shard struct {
	IndexID  int64
	Shard    int
	RunID    int64
	Lo, Hi   *string
	Cursor   *string
	Embedded int64
	Done     bool
}

// nonTerminal lists the run states of a run in progress.
var nonTerminal = []string{string(corpus.RunQueued), string(corpus.RunEmbedding), string(corpus.RunIndexing),
	string(corpus.RunVerifying), string(corpus.RunCuttingOver)}

// CreateRun starts a re-embed run of alias onto the pinned model target: the run row, a building index
// and its vector table for every corpus following the alias, and up to shards fill shards per index of
// about equal size. The corpora are locked until tx ends, so no document write slips between the count
// and the new index becoming live. A run in progress on the alias is 409 run_in_progress.
func (s *CorpusStore) CreateRun(ctx context.Context, tx pgx.Tx, alias, target, actor string, shards int) (*corpus.Run, []Shard, error) {
	if shards < 1 {
		shards = 1
	}
	var fromID int64
	var fromName string
	// Lock the alias row alone, then read its target (a locking join loses the row to a concurrent move).
	err := tx.QueryRow(ctx, `SELECT model_id FROM aliases WHERE name = $1 FOR SHARE`, alias).Scan(&fromID)
	if err != nil {
		return nil, nil, fmt.Errorf("read alias %s: %w", alias, err)
	}
	if err := tx.QueryRow(ctx, `SELECT name FROM models WHERE id = $1`, fromID).Scan(&fromName); err != nil {
		return nil, nil, fmt.Errorf("read the target of alias %s: %w", alias, err)
	}
	var toID int64
	var kind string
	var dim int
	var enabled bool
	err = tx.QueryRow(ctx, `SELECT id, kind, dimension, enabled FROM models WHERE name = $1`, target).Scan(&toID, &kind, &dim, &enabled)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil, &catalog.NotFoundError{What: catalog.EntityModel, Name: target, Param: "model", Ref: true}
	case err != nil:
		return nil, nil, fmt.Errorf("read model %s: %w", target, err)
	case kind != string("embedding"):
		return nil, nil, catalog.Invalid("model", "model %q is a %s model; a corpus is re-embedded with an embedding model", target, kind)
	case !enabled:
		return nil, nil, catalog.Invalid("model", "model %q is disabled; enable it first", target)
	case toID == fromID:
		return nil, nil, catalog.Invalid("model", "alias %q already points at %q; name another pinned version", alias, target)
	}
	if _, err := corpus.ColumnType(dim); err != nil {
		return nil, nil, catalog.Invalid("model", "model %q: %v", target, err)
	}
	run := &corpus.Run{Alias: alias, Target: target, ExpectedFrom: fromName, State: corpus.RunQueued, Actor: actor}
	err = tx.QueryRow(ctx, `INSERT INTO reembed_runs (alias, target_model_id, expected_from_model_id, actor)
		VALUES ($1, $2, $3, $4) RETURNING id, created_at`, alias, toID, fromID, actor).Scan(&run.ID, &run.CreatedAt)
	if isUniqueViolation(err) {
		return nil, nil, &catalog.ConflictError{Code: apierror.CodeRunInProgress, What: catalog.EntityAlias, Name: alias,
			Message: fmt.Sprintf("a re-embed run of alias %q is in progress; follow it or cancel it before starting another", alias)}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("insert run: %w", err)
	}
	rows, _ := tx.Query(ctx, `SELECT id FROM corpora WHERE alias = $1 ORDER BY id FOR UPDATE`, alias)
	corpusIDs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, nil, fmt.Errorf("lock corpora of alias %s: %w", alias, err)
	}
	var all []Shard
	for _, cid := range corpusIDs {
		ix := &corpus.Index{CorpusID: cid, ModelID: toID, Model: target, Dimension: dim, State: corpus.IndexBuilding, RunID: run.ID}
		if err := s.insertIndex(ctx, tx, ix, false); err != nil {
			return nil, nil, err
		}
		run.Indexes = append(run.Indexes, ix)
		var count int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM documents WHERE corpus_id = $1`, cid).Scan(&count); err != nil {
			return nil, nil, fmt.Errorf("count documents of corpus %d: %w", cid, err)
		}
		run.Total += count
		n := shards
		if int64(n) > count {
			n = max(1, int(count))
		}
		rows, _ := tx.Query(ctx, `SELECT max(doc_id) FROM (SELECT doc_id, ntile($2) OVER (ORDER BY doc_id) AS t
			FROM documents WHERE corpus_id = $1) x GROUP BY t ORDER BY t`, cid, n)
		bounds, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, nil, fmt.Errorf("split corpus %d into shards: %w", cid, err)
		}
		if len(bounds) > 0 {
			bounds = bounds[:len(bounds)-1] // the last shard runs to the end, documents written later included
		}
		var lo *string
		for i := 0; i <= len(bounds); i++ {
			var hi *string
			if i < len(bounds) {
				hi = &bounds[i]
			}
			sh := Shard{IndexID: ix.ID, Shard: i, RunID: run.ID, Lo: lo, Hi: hi}
			if _, err := tx.Exec(ctx, `INSERT INTO reembed_shards (index_id, shard, run_id, lo, hi) VALUES ($1, $2, $3, $4, $5)`,
				sh.IndexID, sh.Shard, sh.RunID, sh.Lo, sh.Hi); err != nil {
				return nil, nil, fmt.Errorf("insert shard %d of index %d: %w", i, ix.ID, err)
			}
			all = append(all, sh)
			lo = hi
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE reembed_runs SET total = $2 WHERE id = $1`, run.ID, run.Total); err != nil {
		return nil, nil, fmt.Errorf("record run total: %w", err)
	}
	return run, all, nil
}

// ErrRunNotFound is returned for an unknown run.
var ErrRunNotFound = errors.New("run not found")

// Run reads a run with its progress and indexes.
func (s *CorpusStore) Run(ctx context.Context, q Querier, id int64) (*corpus.Run, error) {
	var r corpus.Run
	var verification []byte
	err := q.QueryRow(ctx, `SELECT r.id, r.alias, t.name, f.name, r.state, r.total,
			coalesce((SELECT sum(embedded) FROM reembed_shards WHERE run_id = r.id), 0)::bigint,
			r.actor, r.verification, r.error, r.created_at, r.started_at, r.finished_at
		FROM reembed_runs r JOIN models t ON t.id = r.target_model_id JOIN models f ON f.id = r.expected_from_model_id
		WHERE r.id = $1`, id).Scan(&r.ID, &r.Alias, &r.Target, &r.ExpectedFrom, &r.State, &r.Total, &r.Embedded,
		&r.Actor, &verification, &r.Error, &r.CreatedAt, &r.StartedAt, &r.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrRunNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read run %d: %w", id, err)
	}
	if len(verification) > 0 {
		r.Verification = new(corpus.Verification)
		if err := json.Unmarshal(verification, r.Verification); err != nil {
			return nil, fmt.Errorf("decode verification of run %d: %w", id, err)
		}
	}
	r.Indexes, err = collect(ctx, q, fmt.Sprintf("read indexes of run %d", id), scanIndex, `SELECT `+indexColumns+` FROM corpus_indexes i JOIN models m ON m.id = i.model_id
		WHERE i.run_id = $1 ORDER BY i.id`, id)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// RunState reads a run's state alone.
func (s *CorpusStore) RunState(ctx context.Context, q Querier, id int64) (corpus.RunState, error) {
	var st corpus.RunState
	if err := q.QueryRow(ctx, `SELECT state FROM reembed_runs WHERE id = $1`, id).Scan(&st); err != nil {
		return "", fmt.Errorf("read state of run %d: %w", id, err)
	}
	return st, nil
}

// AdvanceRun moves a run from one of from to to; ok is false when it was in none of them (another
// worker moved it, or it was cancelled).
func (s *CorpusStore) AdvanceRun(ctx context.Context, q Querier, id int64, to corpus.RunState, from ...corpus.RunState) (bool, error) {
	fs := make([]string, len(from))
	for i, f := range from {
		fs[i] = string(f)
	}
	tag, err := q.Exec(ctx, `UPDATE reembed_runs SET state = $2,
			started_at = CASE WHEN $2 = 'embedding' THEN coalesce(started_at, now()) ELSE started_at END,
			finished_at = CASE WHEN $2 = 'succeeded' THEN now() ELSE finished_at END
		WHERE id = $1 AND state = ANY($3)`, id, to, fs)
	if err != nil {
		return false, fmt.Errorf("move run %d to %s: %w", id, to, err)
	}
	return tag.RowsAffected() > 0, nil
}

// SetRunIndexesState moves a run's indexes in state from to state to.
func (s *CorpusStore) SetRunIndexesState(ctx context.Context, q Querier, runID int64, from, to corpus.IndexState) error {
	if _, err := q.Exec(ctx, `UPDATE corpus_indexes SET state = $3 WHERE run_id = $1 AND state = $2`, runID, from, to); err != nil {
		return fmt.Errorf("move indexes of run %d to %s: %w", runID, to, err)
	}
	return nil
}

// EndRun ends a run in progress as failed or cancelled with reason (and the verification report, when
// there is one), and fails its unfinished indexes. It returns those indexes, whose tables the caller
// drops, and false when the run had already ended.
func (s *CorpusStore) EndRun(ctx context.Context, tx pgx.Tx, id int64, state corpus.RunState, reason string, v *corpus.Verification) ([]int64, bool, error) {
	var report []byte
	if v != nil {
		report, _ = json.Marshal(v)
	}
	tag, err := tx.Exec(ctx, `UPDATE reembed_runs SET state = $2, error = $3, verification = coalesce($4::jsonb, verification),
		finished_at = now() WHERE id = $1 AND state = ANY($5)`, id, state, reason, report, nonTerminal)
	if err != nil {
		return nil, false, fmt.Errorf("end run %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return nil, false, nil
	}
	rows, _ := tx.Query(ctx, `UPDATE corpus_indexes SET state = 'failed', error = $2 WHERE run_id = $1
		AND state IN ('building', 'verifying') RETURNING id`, id, reason)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, false, fmt.Errorf("fail indexes of run %d: %w", id, err)
	}
	return ids, true, nil
}

// SaveVerification stores a run's verification report.
func (s *CorpusStore) SaveVerification(ctx context.Context, q Querier, id int64, v *corpus.Verification) error {
	report, _ := json.Marshal(v)
	if _, err := q.Exec(ctx, `UPDATE reembed_runs SET verification = $2 WHERE id = $1`, id, report); err != nil {
		return fmt.Errorf("save verification of run %d: %w", id, err)
	}
	return nil
}

// Shard reads a shard's checkpoint.
func (s *CorpusStore) Shard(ctx context.Context, q Querier, indexID int64, shard int) (*Shard, error) {
	sh := Shard{IndexID: indexID, Shard: shard}
	err := q.QueryRow(ctx, `SELECT run_id, lo, hi, cursor, embedded, done FROM reembed_shards WHERE index_id = $1 AND shard = $2`,
		indexID, shard).Scan(&sh.RunID, &sh.Lo, &sh.Hi, &sh.Cursor, &sh.Embedded, &sh.Done)
	if err != nil {
		return nil, fmt.Errorf("read shard %d of index %d: %w", shard, indexID, err)
	}
	return &sh, nil
}

// FinishShard marks a shard done and reports whether every shard of its run is. The run row is locked
// first, so of two shards finishing at once exactly one sees the other done.
func (s *CorpusStore) FinishShard(ctx context.Context, tx pgx.Tx, sh *Shard) (bool, error) {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM reembed_runs WHERE id = $1 FOR UPDATE`, sh.RunID); err != nil {
		return false, fmt.Errorf("lock run %d: %w", sh.RunID, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE reembed_shards SET done = true WHERE index_id = $1 AND shard = $2`, sh.IndexID, sh.Shard); err != nil {
		return false, fmt.Errorf("finish shard %d of index %d: %w", sh.Shard, sh.IndexID, err)
	}
	var all bool
	if err := tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM reembed_shards WHERE run_id = $1 AND NOT done)`, sh.RunID).Scan(&all); err != nil {
		return false, fmt.Errorf("check shards of run %d: %w", sh.RunID, err)
	}
	return all, nil
}

// SourceDoc is a document as the fill and sync read it.
type SourceDoc struct {
	ID   string
	Text string
	Hash []byte
}

// ReadShardBatch reads the next limit documents of a shard after its cursor, in doc_id order.
func (s *CorpusStore) ReadShardBatch(ctx context.Context, corpusID int64, sh *Shard, limit int) ([]SourceDoc, error) {
	conds := []string{"corpus_id = $1"}
	args := []any{corpusID, limit}
	after := sh.Cursor
	if after == nil {
		after = sh.Lo
	}
	if after != nil {
		args = append(args, *after)
		conds = append(conds, fmt.Sprintf("doc_id > $%d", len(args)))
	}
	if sh.Hi != nil {
		args = append(args, *sh.Hi)
		conds = append(conds, fmt.Sprintf("doc_id <= $%d", len(args)))
	}
	rows, _ := s.Pool.Query(ctx, `SELECT doc_id, text, content_hash FROM documents WHERE `+strings.Join(conds, " AND ")+
		` ORDER BY doc_id LIMIT $2`, args...)
	docs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SourceDoc])
	if err != nil {
		return nil, fmt.Errorf("read documents of corpus %d: %w", corpusID, err)
	}
	return docs, nil
}

// lockCurrent share-locks the documents ids of a corpus until tx ends and returns their current
// hashes: a document cannot change or vanish while its vector is written, so a vector written for the
// hash it was embedded from is never stale.
func lockCurrent(ctx context.Context, tx pgx.Tx, corpusID int64, ids []string) (map[string]string, error) {
	rows, _ := tx.Query(ctx, `SELECT doc_id, content_hash FROM documents WHERE corpus_id = $1 AND doc_id = ANY($2)
		ORDER BY doc_id FOR SHARE`, corpusID, ids)
	cur := make(map[string]string, len(ids))
	var id string
	var h []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &h}, func() error { cur[id] = string(h); return nil }); err != nil {
		return nil, fmt.Errorf("lock documents of corpus %d: %w", corpusID, err)
	}
	return cur, nil
}

// CommitFillBatch writes a filled batch with COPY and advances the shard's checkpoint to the batch's
// last document, in tx. Documents changed or deleted since they were read, and documents a write's sync
// job has already put in the table, are left out: their own sync jobs keep them current. It returns how
// many vectors it wrote. A unique violation means a sync job wrote one of the documents meanwhile; the
// caller retries the transaction.
//
// The documents are not locked. A write that commits between this check and tx's commit can leave
// the index, which nobody searches while it fills, with a stale vector or one of a deleted document
// (its sync job ran before tx committed and saw nothing to do); verification's catch-up (OutOfSync)
// mends exactly those before it counts, and no fill batch commits after it. Locking instead cost a
// row lock, a dirtied page and a WAL record per document on every fill.
func (s *CorpusStore) CommitFillBatch(ctx context.Context, tx pgx.Tx, ix *corpus.Index, sh *Shard, docs []SourceDoc, vecs [][]float32) (int64, error) {
	// docs are a keyset batch, in doc_id order: one range scan of each table covers them, where a
	// lookup per id would descend the btree hundreds of times per batch.
	first, last := docs[0].ID, docs[len(docs)-1].ID
	rows, _ := tx.Query(ctx, `SELECT doc_id, content_hash FROM documents WHERE corpus_id = $1 AND doc_id BETWEEN $2 AND $3`,
		ix.CorpusID, first, last)
	cur := make(map[string]string, len(docs))
	var id string
	var h []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &h}, func() error { cur[id] = string(h); return nil }); err != nil {
		return 0, fmt.Errorf("read documents of corpus %d: %w", ix.CorpusID, err)
	}
	rows, _ = tx.Query(ctx, fmt.Sprintf(`SELECT doc_id FROM %s WHERE doc_id BETWEEN $1 AND $2`, pgx.Identifier{ix.Table}.Sanitize()), first, last)
	present, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("read vectors of index %d: %w", ix.ID, err)
	}
	skip := make(map[string]bool, len(present))
	for _, id := range present {
		skip[id] = true
	}
	keep := func(d SourceDoc) bool {
		h, ok := cur[d.ID]
		return ok && h == string(d.Hash) && !skip[d.ID]
	}
	var n int64
	if corpus.Half(ix.Dimension) {
		i := -1
		n, err = tx.CopyFrom(ctx, pgx.Identifier{ix.Table}, []string{"doc_id", "content_hash", "embedding"},
			pgx.CopyFromFunc(func() ([]any, error) {
				for i++; i < len(docs); i++ {
					if keep(docs[i]) {
						return []any{docs[i].ID, docs[i].Hash, vectorValue(vecs[i], true)}, nil
					}
				}
				return nil, nil
			}))
	} else {
		n, err = copyVectors(ctx, tx, ix.Table, docs, vecs, keep)
	}
	if err != nil {
		return 0, fmt.Errorf("copy vectors into %s: %w", ix.Table, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE reembed_shards SET cursor = $3, embedded = embedded + $4 WHERE index_id = $1 AND shard = $2`,
		sh.IndexID, sh.Shard, last, len(docs)); err != nil {
		return 0, fmt.Errorf("advance shard %d of index %d: %w", sh.Shard, sh.IndexID, err)
	}
	sh.Cursor = &last
	sh.Embedded += int64(len(docs))
	return n, nil
}

// copyHeader starts a binary COPY stream: the signature, no flags, no header extension.
const copyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// copyVectors writes the docs that keep accepts, with their vectors, into table (doc_id, content_hash,
// embedding vector) with one binary COPY whose stream it encodes itself: pgx's CopyFrom encodes each
// value through its type map, which costs more in the worker than the rest of writing a fill batch.
func copyVectors(ctx context.Context, tx pgx.Tx, table string, docs []SourceDoc, vecs [][]float32, keep func(SourceDoc) bool) (int64, error) {
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, newVectorRows(docs, vecs, keep),
		"COPY "+pgx.Identifier{table}.Sanitize()+" (doc_id, content_hash, embedding) FROM STDIN (FORMAT binary)")
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// vectorRows is a binary COPY stream of documents and their vectors, encoded a row at a time as COPY
// reads it: a batch is never held twice, as vectors and as their encoding.
type vectorRows struct {
	docs    []SourceDoc
	vecs    [][]float32
	keep    func(SourceDoc) bool
	next    int    // the next document to consider
	buf     []byte // encoded and not yet read
	scratch []byte // where rows are encoded, reused
	ended   bool   // the trailer has been encoded
	err     error
}

// newVectorRows is the stream of the docs that keep accepts, from COPY's header to its trailer.
func newVectorRows(docs []SourceDoc, vecs [][]float32, keep func(SourceDoc) bool) *vectorRows {
	return &vectorRows{docs: docs, vecs: vecs, keep: keep, buf: []byte(copyHeader)}
}

func (r *vectorRows) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && (len(r.buf) > 0 || r.encodeNext()) {
		k := copy(p[n:], r.buf)
		r.buf, n = r.buf[k:], n+k
	}
	if n > 0 {
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

// encodeNext encodes the next kept row into buf, or the trailer after the last one; false at the end.
func (r *vectorRows) encodeNext() bool {
	b := r.scratch[:0]
	for ; r.next < len(r.docs); r.next++ {
		d, v := r.docs[r.next], r.vecs[r.next]
		if !r.keep(d) {
			continue
		}
		if len(v) > corpus.MaxVectorDims {
			r.err = fmt.Errorf("a vector of %d dimensions is not a vector column's", len(v))
			return false
		}
		b = binary.BigEndian.AppendUint16(b, 3) // fields
		b = binary.BigEndian.AppendUint32(b, uint32(len(d.ID)))
		b = append(b, d.ID...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(d.Hash)))
		b = append(b, d.Hash...)
		// pgvector's binary vector: dimensions (int16), unused (int16), float4s.
		b = binary.BigEndian.AppendUint32(b, uint32(4+4*len(v)))
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = binary.BigEndian.AppendUint16(b, 0)
		for _, x := range v {
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(x))
		}
		r.next++
		r.scratch, r.buf = b, b
		return true
	}
	if r.ended {
		return false
	}
	r.ended = true
	r.scratch, r.buf = b, binary.BigEndian.AppendUint16(b, 0xffff) // the trailer: -1 fields
	return true
}

// IsUniqueViolation reports whether err is Postgres's unique violation.
func IsUniqueViolation(err error) bool { return isUniqueViolation(err) }

// IsUndefinedTable reports whether err says a table does not exist (an index dropped meanwhile).
func IsUndefinedTable(err error) bool { return isUndefinedTable(err) }

// SyncPlan compares documents ids of ix's corpus with ix's table: the documents whose vector is missing
// or stale (to embed), and the ids with a vector but no document (to delete).
func (s *CorpusStore) SyncPlan(ctx context.Context, ix *corpus.Index, ids []string) (embed []SourceDoc, gone []string, err error) {
	rows, _ := s.Pool.Query(ctx, fmt.Sprintf(`SELECT u.id, d.text, d.content_hash, v.content_hash
		FROM unnest($1::text[]) AS u(id)
		LEFT JOIN documents d ON d.corpus_id = $2 AND d.doc_id = u.id
		LEFT JOIN %s v ON v.doc_id = u.id`, pgx.Identifier{ix.Table}.Sanitize()), ids, ix.CorpusID)
	var id string
	var text *string
	var dh, vh []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &text, &dh, &vh}, func() error {
		switch {
		case text == nil && vh != nil:
			gone = append(gone, id)
		case text != nil && string(dh) != string(vh):
			embed = append(embed, SourceDoc{ID: id, Text: *text, Hash: append([]byte(nil), dh...)})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("compare documents with index %d: %w", ix.ID, err)
	}
	return embed, gone, nil
}

// ApplySync writes the vectors of docs (those still at the hash they were embedded from) and deletes
// the vectors of gone ids that still have no document, in tx.
func (s *CorpusStore) ApplySync(ctx context.Context, tx pgx.Tx, ix *corpus.Index, docs []SourceDoc, vecs [][]float32, gone []string) error {
	table := pgx.Identifier{ix.Table}.Sanitize()
	if len(docs) > 0 {
		ids := make([]string, len(docs))
		for i, d := range docs {
			ids[i] = d.ID
		}
		cur, err := lockCurrent(ctx, tx, ix.CorpusID, ids)
		if err != nil {
			return err
		}
		half := corpus.Half(ix.Dimension)
		b := &pgx.Batch{}
		for i, d := range docs {
			if h, ok := cur[d.ID]; !ok || h != string(d.Hash) {
				continue // changed or deleted since: its own sync job follows
			}
			b.Queue(fmt.Sprintf(`INSERT INTO %s (doc_id, content_hash, embedding) VALUES ($1, $2, $3)
				ON CONFLICT (doc_id) DO UPDATE SET content_hash = excluded.content_hash, embedding = excluded.embedding`, table),
				d.ID, d.Hash, vectorValue(vecs[i], half))
		}
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return fmt.Errorf("write vectors into %s: %w", ix.Table, err)
			}
		}
	}
	if len(gone) > 0 {
		// Lock the vectors first, then delete in a statement of its own: its snapshot then sees any
		// document re-created (and re-embedded) meanwhile, and keeps that vector.
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT 1 FROM %s WHERE doc_id = ANY($1) FOR UPDATE`, table), gone); err != nil {
			return fmt.Errorf("lock vectors in %s: %w", ix.Table, err)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s v WHERE v.doc_id = ANY($1) AND NOT EXISTS
			(SELECT 1 FROM documents d WHERE d.corpus_id = $2 AND d.doc_id = v.doc_id)`, table), gone, ix.CorpusID); err != nil {
			return fmt.Errorf("delete vectors from %s: %w", ix.Table, err)
		}
	}
	return nil
}

// OutOfSync lists up to limit ids whose vector in ix is missing, stale, or left from a deleted document.
func (s *CorpusStore) OutOfSync(ctx context.Context, ix *corpus.Index, limit int) ([]string, error) {
	t := pgx.Identifier{ix.Table}.Sanitize()
	rows, _ := s.Pool.Query(ctx, fmt.Sprintf(`(SELECT d.doc_id FROM documents d LEFT JOIN %s v ON v.doc_id = d.doc_id
			WHERE d.corpus_id = $1 AND (v.doc_id IS NULL OR v.content_hash <> d.content_hash) LIMIT $2)
		UNION ALL
		(SELECT v.doc_id FROM %s v WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.corpus_id = $1 AND d.doc_id = v.doc_id) LIMIT $2)`,
		t, t), ix.CorpusID, limit)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("compare index %d with its documents: %w", ix.ID, err)
	}
	return ids, nil
}

// BuildHNSW builds ix's HNSW index with memMB of maintenance memory and up to workers parallel
// maintenance workers (pgvector builds in parallel from 0.6), in a transaction begun on db (the pool,
// or the one connection a caller holds a lock on).
func (s *CorpusStore) BuildHNSW(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, ix *corpus.Index, memMB, workers int) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if memMB > 0 {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL maintenance_work_mem = '%dMB'`, memMB)); err != nil {
				return fmt.Errorf("set maintenance_work_mem: %w", err)
			}
		}
		if workers >= 0 {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL max_parallel_maintenance_workers = %d`, workers)); err != nil {
				return fmt.Errorf("set max_parallel_maintenance_workers: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, hnswDDL(ix)); err != nil {
			return fmt.Errorf("build HNSW index on %s: %w", ix.Table, err)
		}
		return nil
	})
}

// CountIndex counts what verification checks in ix: documents, vectors, documents without a current
// vector, duplicate vectors, vectors of the wrong dimension.
func (s *CorpusStore) CountIndex(ctx context.Context, ix *corpus.Index) (corpus.Verification, error) {
	var v corpus.Verification
	t := pgx.Identifier{ix.Table}.Sanitize()
	err := s.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT
			(SELECT count(*) FROM documents WHERE corpus_id = $1),
			(SELECT count(*) FROM %[1]s),
			(SELECT count(*) FROM documents d WHERE d.corpus_id = $1 AND NOT EXISTS
				(SELECT 1 FROM %[1]s v WHERE v.doc_id = d.doc_id AND v.content_hash = d.content_hash)),
			(SELECT count(*) - count(DISTINCT doc_id) FROM %[1]s),
			(SELECT count(*) FROM %[1]s WHERE vector_dims(embedding) <> $2)`, t), ix.CorpusID, ix.Dimension).
		Scan(&v.Documents, &v.Vectors, &v.Missing, &v.Duplicates, &v.WrongDimension)
	if err != nil {
		return v, fmt.Errorf("count index %d: %w", ix.ID, err)
	}
	return v, nil
}

// SampleDocuments picks up to n documents of a corpus at random.
func (s *CorpusStore) SampleDocuments(ctx context.Context, corpusID int64, n int) ([]SourceDoc, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT doc_id, text, content_hash FROM documents WHERE corpus_id = $1 ORDER BY random() LIMIT $2`, corpusID, n)
	docs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SourceDoc])
	if err != nil {
		return nil, fmt.Errorf("sample documents of corpus %d: %w", corpusID, err)
	}
	return docs, nil
}

// SelfFound counts the documents whose own query vector finds them among the top k of ix.
func (s *CorpusStore) SelfFound(ctx context.Context, ix *corpus.Index, docs []SourceDoc, vecs [][]float32, k int) (int64, error) {
	var found int64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		// Verification walks the graph with the beam searches use (efSearch), so its self-recall is
		// what developers will get from the new index, not pgvector's default trade-off (ef_search 40).
		if _, err := tx.Exec(ctx, `SELECT set_config('hnsw.ef_search', $1, true)`, strconv.Itoa(efSearch(k))); err != nil {
			return fmt.Errorf("set ef_search: %w", err)
		}
		b := &pgx.Batch{}
		sql := fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM (SELECT doc_id FROM %s ORDER BY embedding <=> %s LIMIT $2) top WHERE doc_id = $3)`,
			pgx.Identifier{ix.Table}.Sanitize(), queryParam(ix))
		for i, d := range docs {
			b.Queue(sql, vectorValue(vecs[i], false), k, d.ID).QueryRow(func(row pgx.Row) error {
				var ok bool
				if err := row.Scan(&ok); err != nil {
					return err
				}
				if ok {
					found++
				}
				return nil
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("self-retrieval in index %d: %w", ix.ID, err)
	}
	return found, nil
}

// Cutover moves the run's alias to its target and makes each of its verified indexes active, the
// previous active ones standby until standbyUntil and the previous standby ones retired, in tx, only if
// the alias still points where the run expected and the target is still an enabled model (the rule
// is catalog.CheckAliasMove, MoveByCutover). It returns the retired indexes (whose tables the caller
// drops) and the new standby ones (which the caller schedules for retirement). When the rule refuses
// the move it returns the *catalog.MoveError, having changed nothing: the caller ends the run.
func (s *CorpusStore) Cutover(ctx context.Context, tx pgx.Tx, runID int64, standbyUntil time.Time) (retired, standby []int64, err error) {
	var alias, target, expected string
	var state corpus.RunState
	if err := tx.QueryRow(ctx, `SELECT r.alias, r.state, t.name, f.name FROM reembed_runs r
		JOIN models t ON t.id = r.target_model_id JOIN models f ON f.id = r.expected_from_model_id
		WHERE r.id = $1 FOR UPDATE OF r`, runID).Scan(&alias, &state, &target, &expected); err != nil {
		return nil, nil, fmt.Errorf("lock run %d: %w", runID, err)
	}
	if state != corpus.RunCuttingOver {
		return nil, nil, fmt.Errorf("run %d is %s, not cutting_over", runID, state)
	}
	if err := moveAlias(ctx, tx, aliasMove{way: catalog.MoveByCutover, alias: alias, to: target, expectedFrom: expected,
		actor: fmt.Sprintf("reembed run %d", runID), reason: "re-embedded and verified"}); err != nil {
		return nil, nil, err
	}
	rows, _ := tx.Query(ctx, `SELECT id, corpus_id FROM corpus_indexes WHERE run_id = $1 AND state = 'verifying' ORDER BY corpus_id`, runID)
	type pair struct{ id, corpus int64 }
	var fresh []pair
	var p pair
	if _, err := pgx.ForEachRow(rows, []any{&p.id, &p.corpus}, func() error { fresh = append(fresh, p); return nil }); err != nil {
		return nil, nil, fmt.Errorf("read indexes of run %d: %w", runID, err)
	}
	for _, f := range fresh {
		r, sb, err := swapActive(ctx, tx, f.corpus, f.id, standbyUntil)
		if err != nil {
			return nil, nil, err
		}
		retired = append(retired, r...)
		standby = append(standby, sb...)
	}
	if _, err := tx.Exec(ctx, `UPDATE reembed_runs SET state = 'succeeded', finished_at = now() WHERE id = $1`, runID); err != nil {
		return nil, nil, fmt.Errorf("finish run %d: %w", runID, err)
	}
	return retired, standby, nil
}

// swapActive makes index next the active one of a corpus: the active one becomes standby until until,
// the standby one (other than next) retired.
func swapActive(ctx context.Context, tx pgx.Tx, corpusID, next int64, until time.Time) (retired, standby []int64, err error) {
	rows, _ := tx.Query(ctx, `UPDATE corpus_indexes SET state = 'retired', retired_at = now()
		WHERE corpus_id = $1 AND state = 'standby' AND id <> $2 RETURNING id`, corpusID, next)
	if retired, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return nil, nil, fmt.Errorf("retire the standby index of corpus %d: %w", corpusID, err)
	}
	rows, _ = tx.Query(ctx, `UPDATE corpus_indexes SET state = 'standby', standby_until = $2
		WHERE corpus_id = $1 AND state = 'active' RETURNING id`, corpusID, until)
	if standby, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return nil, nil, fmt.Errorf("put the active index of corpus %d on standby: %w", corpusID, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE corpus_indexes SET state = 'active', activated_at = now(), standby_until = NULL WHERE id = $1`, next); err != nil {
		return nil, nil, fmt.Errorf("activate index %d: %w", next, err)
	}
	return retired, standby, nil
}

// RollbackCorpus swaps every corpus following name's alias back to its standby index and the alias back
// to the standby indexes' model, in tx. It is refused with 409 while a run is in progress, or when a
// corpus following the alias has no standby index on that model, or when catalog.CheckAliasMove
// (MoveByCorpusRollback) refuses the move, e.g. because that model was disabled since. It returns the
// new standby indexes.
func (s *CorpusStore) RollbackCorpus(ctx context.Context, tx pgx.Tx, name, actor string, standbyUntil time.Time) ([]int64, error) {
	var alias string
	var corpusID int64
	if err := tx.QueryRow(ctx, `SELECT id, alias FROM corpora WHERE name = $1`, name).Scan(&corpusID, &alias); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, corpus.ErrNotFound
		}
		return nil, fmt.Errorf("read corpus %s: %w", name, err)
	}
	// Lock the alias before the corpora, as a run's start does.
	if _, err := lockAlias(ctx, tx, alias); err != nil {
		return nil, err
	}
	var running bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reembed_runs WHERE alias = $1 AND state = ANY($2))`, alias, nonTerminal).Scan(&running); err != nil {
		return nil, fmt.Errorf("look up runs of alias %s: %w", alias, err)
	}
	if running {
		return nil, &catalog.ConflictError{Code: apierror.CodeRunInProgress, What: catalog.EntityAlias, Name: alias,
			Message: fmt.Sprintf("a re-embed run of alias %q is in progress; cancel it or wait for it to end before rolling back", alias)}
	}
	var backID int64
	var backName string
	err := tx.QueryRow(ctx, `SELECT i.model_id, m.name FROM corpus_indexes i JOIN models m ON m.id = i.model_id
		WHERE i.corpus_id = $1 AND i.state = 'standby'`, corpusID).Scan(&backID, &backName)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &catalog.ConflictError{Code: apierror.CodeNoStandbyIndex, What: catalog.EntityCorpus, Name: name,
			Message: fmt.Sprintf("corpus %q has no standby index to roll back to (none was kept, or its retention ended)", name)}
	}
	if err != nil {
		return nil, fmt.Errorf("read the standby index of corpus %s: %w", name, err)
	}
	rows, _ := tx.Query(ctx, `SELECT c.name, (SELECT i.id FROM corpus_indexes i WHERE i.corpus_id = c.id AND i.state = 'standby' AND i.model_id = $2)
		FROM corpora c WHERE c.alias = $1 ORDER BY c.id FOR UPDATE OF c`, alias, backID)
	type follower struct {
		name    string
		standby *int64
	}
	var fs []follower
	var f follower
	if _, err := pgx.ForEachRow(rows, []any{&f.name, &f.standby}, func() error { fs = append(fs, f); return nil }); err != nil {
		return nil, fmt.Errorf("read corpora of alias %s: %w", alias, err)
	}
	var standby []int64
	for _, f := range fs {
		if f.standby == nil {
			return nil, &catalog.ConflictError{Code: apierror.CodeNoStandbyIndex, What: catalog.EntityCorpus, Name: f.name,
				Message: fmt.Sprintf("corpus %q also follows alias %q and has no standby index on %q; the alias cannot move back", f.name, alias, backName)}
		}
	}
	if err := moveAlias(ctx, tx, aliasMove{way: catalog.MoveByCorpusRollback, alias: alias, to: backName,
		actor: actor, reason: "corpus rollback of " + name}); err != nil {
		return nil, err
	}
	for _, f := range fs {
		var cid int64
		if err := tx.QueryRow(ctx, `SELECT corpus_id FROM corpus_indexes WHERE id = $1`, *f.standby).Scan(&cid); err != nil {
			return nil, fmt.Errorf("read index %d: %w", *f.standby, err)
		}
		_, sb, err := swapActive(ctx, tx, cid, *f.standby, standbyUntil)
		if err != nil {
			return nil, err
		}
		standby = append(standby, sb...)
	}
	return standby, nil
}

// RetireIndex drops an index's table when it is done with: a standby index past its standby_until
// (then retired), or a failed or retired one. It returns how long to wait when the index is standby
// and its time has not come yet.
func (s *CorpusStore) RetireIndex(ctx context.Context, tx pgx.Tx, id int64, now time.Time) (time.Duration, error) {
	var state corpus.IndexState
	var until *time.Time
	var table string
	err := tx.QueryRow(ctx, `SELECT state, standby_until, table_name FROM corpus_indexes WHERE id = $1 FOR UPDATE`, id).Scan(&state, &until, &table)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("lock index %d: %w", id, err)
	}
	switch state {
	case corpus.IndexStandby:
		if until != nil && until.After(now) {
			return until.Sub(now), nil
		}
		if _, err := tx.Exec(ctx, `UPDATE corpus_indexes SET state = 'retired', retired_at = $2 WHERE id = $1`, id, now); err != nil {
			return 0, fmt.Errorf("retire index %d: %w", id, err)
		}
	case corpus.IndexFailed, corpus.IndexRetired:
	default:
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{table}.Sanitize()); err != nil {
		return 0, fmt.Errorf("drop %s: %w", table, err)
	}
	return 0, nil
}
