package postgres_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

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
		{math.MaxFloat32, float32(math.Copysign(0, -1)), 1e-20},
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

// The stream is the same however COPY reads it: rows encoded as they are read span any read size.
func TestVectorRowsAreTheSameInAnyReadSize(t *testing.T) {
	docs := make([]postgres.SourceDoc, 40)
	vecs := make([][]float32, len(docs))
	for i := range docs {
		docs[i] = postgres.SourceDoc{ID: strings.Repeat("d", i), Hash: []byte{byte(i)}}
		vecs[i] = make([]float32, 300)
		for j := range vecs[i] {
			vecs[i][j] = float32(i*1000 + j)
		}
	}
	keep := func(d postgres.SourceDoc) bool { return len(d.ID)%3 != 0 }
	whole, err := io.ReadAll(postgres.VectorRows(docs, vecs, keep))
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) < 26*(2+4+4+1+4+4+1200) {
		t.Fatalf("the stream is %d bytes; want at least the 26 kept rows", len(whole))
	}
	for _, r := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader} {
		got, err := io.ReadAll(r(postgres.VectorRows(docs, vecs, keep)))
		if err != nil || !bytes.Equal(got, whole) {
			t.Fatalf("read in other sizes: %d bytes (%v), want the same %d", len(got), err, len(whole))
		}
	}
	if !bytes.HasSuffix(whole, []byte{0xff, 0xff}) || !bytes.HasPrefix(whole, []byte("PGCOPY\n\xff\r\n\x00")) {
		t.Fatal("the stream lacks COPY's header or trailer")
	}
}
