// Command echo is a tiny function for the Runtime Interface Emulator tests: it serves a handler through
// shared/lambda exactly as the real mains do.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchyard-ai/switchyard/shared/lambda"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("/echo/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{
			"method":     r.Method,
			"path":       r.URL.Path,
			"query":      r.URL.Query(),
			"body":       string(body),
			"request_id": r.Header.Get(lambda.HeaderRequestID),
			"remote":     r.RemoteAddr,
		})
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "data: {\"n\":%d}\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})

	mux.HandleFunc("GET /hang", func(w http.ResponseWriter, r *http.Request) { waitForever() })

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := os.Getenv("ECHO_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	if err := lambda.RunLocalOrLambda(ctx, mux, os.Getenv("AWS_LAMBDA_RUNTIME_API") != "", addr, nil); err != nil {
		slog.Error("echo stopped", "err", err)
		os.Exit(1)
	}
}

// waitForever stands for a function stuck before it answers (a lock, a look-up with no timeout): the
// emulator tests expect its name in the goroutine dump of a timed-out invocation.
func waitForever() { select {} }
