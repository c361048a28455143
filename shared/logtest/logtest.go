// Package logtest captures, for tests, output that several goroutines write at once: a logger
// shared by a client's goroutines, a child process's stdout and stderr.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer that any number of goroutines may write to while another reads it: every
// Write is whole, and String returns everything written so far. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
