package postgres_test

import (
	"context"
	"math"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/postgres/pgtest"
)

// The fill's own binary COPY stores exactly the ids, hashes and float32s it is given, for the rows it
// keeps, as a text COPY of the same values would.
func TestCopyVectorsStoresExactValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE ix (doc_id text PRIMARY KEY, content_hash bytea NOT NULL, embedding vector(3) NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	docs := []postgres.SourceDoc{
		{ID: "a", Hash: []byte{0, 1, 2}},
		{ID: "skipped", Hash: []byte{9}},
		{ID: "naïve/日本語 id", Hash: []byte{}},
		{ID: "", Hash: []byte{0xff}},
	}
	vecs := [][]float32{
		{1, -2.5, float32(math.SmallestNonzeroFloat32)},
		{7, 7, 7},
		{math.MaxFloat32, -0.0, 1e-20},
		{0.1, 0.2, 0.3},
	}
	var n int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		n, err = postgres.CopyVectors(ctx, tx, "ix", docs, vecs, func(d postgres.SourceDoc) bool { return d.ID != "skipped" })
		return err
	})
	if err != nil || n != 3 {
		t.Fatalf("copied %d rows: %v", n, err)
	}
	for i, d := range docs {
		var hash []byte
		var v pgvector.Vector
		err := pool.QueryRow(ctx, `SELECT content_hash, embedding FROM ix WHERE doc_id = $1`, d.ID).Scan(&hash, &v)
		if d.ID == "skipped" {
			if err != pgx.ErrNoRows {
				t.Errorf("a row left out was stored: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", d.ID, err)
		}
		if string(hash) != string(d.Hash) {
			t.Errorf("%q: hash %x, want %x", d.ID, hash, d.Hash)
		}
		got := v.Slice()
		for j := range vecs[i] {
			if math.Float32bits(got[j]) != math.Float32bits(vecs[i][j]) {
				t.Errorf("%q: component %d is %g, want %g", d.ID, j, got[j], vecs[i][j])
			}
		}
	}

	// A vector of the wrong length fails the COPY with Postgres's own error; nothing is stored.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := postgres.CopyVectors(ctx, tx, "ix", []postgres.SourceDoc{{ID: "b", Hash: []byte{1}}}, [][]float32{{1, 2}},
			func(postgres.SourceDoc) bool { return true })
		return err
	})
	var count int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM ix`).Scan(&count)
	if err == nil || count != 3 {
		t.Fatalf("a 2-dimension vector into vector(3): %v, %d rows", err, count)
	}
}
