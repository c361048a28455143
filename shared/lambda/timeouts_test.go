package lambda

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func serveTimeouts(t *testing.T, h http.Handler, to Timeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h, to)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// cutWithin sends head at once, then what a slow client sends, slow a byte every 20 ms for up to
// limit, and reports whether the server closed the connection before the client was done.
func cutWithin(t *testing.T, addr, head, slow string, limit time.Duration) bool {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes the connection
		close(closed)
	}()
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(limit)
	for i := 0; time.Now().Before(deadline); i = (i + 1) % len(slow) {
		select {
		case <-closed:
			return true
		case <-time.After(20 * time.Millisecond):
		}
		if _, err := conn.Write([]byte{slow[i]}); err != nil {
			return true
		}
	}
	return false
}

// A slowloris client, sending its headers (or its body) a byte at a time, is cut off at the read
// timeouts, however steadily it sends; a stream that lasts far longer than both is not.
func TestAttackSlowClientIsCutButLongStreamsAreNot(t *testing.T) {
	t.Parallel()
	to := Timeouts{ReadHeader: 300 * time.Millisecond, Read: 300 * time.Millisecond, Idle: time.Second}
	addr := serveTimeouts(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		for i := range 12 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			http.NewResponseController(w).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}), to)

	if !cutWithin(t, addr, "", "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", 10000), 3*time.Second) {
		t.Error("a client sending its headers a byte at a time was not cut off within 3 s (read-header timeout 300 ms)")
	}
	if !cutWithin(t, addr, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", strings.Repeat("{", 100000), 3*time.Second) {
		t.Error("a client sending its body a byte at a time was not cut off within 3 s (read timeout 300 ms)")
	}

	// 1.2 s of events after a body sent at once: four times each read timeout.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("reading the stream: %v (after %q)", err, body)
	}
	if !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Errorf("a 1.2 s stream was cut: %q", body)
	}
}
