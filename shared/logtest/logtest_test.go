package logtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Lines written by many goroutines at once all arrive whole, and String may be read meanwhile.
func TestBufferTakesConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			for j := range 50 {
				fmt.Fprintf(&b, "writer %d line %d\n", i, j)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	got := b.String()
	for i := range 20 {
		for j := range 50 {
			if !strings.Contains(got, fmt.Sprintf("writer %d line %d\n", i, j)) {
				t.Fatalf("writer %d's line %d is missing or torn", i, j)
			}
		}
	}
}
