package postgres

import "io"

// CopyVectors is copyVectors, for the external tests.
var CopyVectors = copyVectors

// VectorRows is the COPY stream copyVectors sends, for the external tests.
func VectorRows(docs []SourceDoc, vecs [][]float32, keep func(SourceDoc) bool) io.Reader {
	return newVectorRows(docs, vecs, keep)
}
