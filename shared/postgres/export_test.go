package postgres

// CopyVectors is copyVectors, for the external tests.
var CopyVectors = copyVectors
