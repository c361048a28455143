// Package apptest runs a Switchyard server in a child process of the test binary, so that a test can
// show what two instances share through Postgres and nothing else: no memory, no catalogue snapshot,
// no in-process state.
//
// The test package's TestMain is Main, which in the child builds its App and calls Serve; the test
// itself calls Start with the child's environment.
package apptest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// Main is a TestMain for a package whose tests start children. In a child (env, the variable the test
// passes to Start, names its database) it opens a pool of maxConns connections there and runs child
// with a context that ends at SIGTERM or an interrupt, and exits 1 when child fails, with the error
// on stderr. Otherwise it runs the package's tests.
func Main(m *testing.M, env string, maxConns int32, child func(ctx context.Context, pool *pgxpool.Pool) error) {
	url := os.Getenv(env)
	if url == "" {
		os.Exit(m.Run())
	}
	os.Exit(runChild(url, maxConns, child))
}

func runChild(url string, maxConns int32, child func(ctx context.Context, pool *pgxpool.Pool) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool, err := postgres.Open(ctx, url, postgres.PoolConfig{MaxConns: maxConns})
	if err == nil {
		err = child(ctx, pool)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Child is a server running in a child process.
type Child struct {
	// Base is the child's base URL, http://127.0.0.1:port.
	Base string
	// Cmd is the child's process, for a test that kills it (Cmd.Process.Kill is SIGKILL).
	Cmd *exec.Cmd
}

// Start runs the test binary again with env ("KEY=value") added, running no test
// (-test.run=^$), and waits for the address its Serve prints. The child gets SIGTERM when the test
// ends, unless it has already exited.
func Start(t testing.TB, env ...string) *Child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the child server printed no address: %v", err)
	}
	return &Child{Base: "http://" + strings.TrimSpace(line), Cmd: cmd}
}

// Serve is the child's side: it serves h on a free loopback port, prints the address as the first
// line of stdout (what Start waits for), and returns when ctx ends (SIGTERM, for a child).
func Serve(ctx context.Context, h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	fmt.Println(ln.Addr().String())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// ServeApp is the usual child: it builds an app (app.New, passed in so that apptest does not import
// app, whose packages' own tests use apptest), serves the handler that handler picks from it (e.g.
// (*app.App).Handler) with Serve, and shuts the app down once ctx ends.
func ServeApp[A interface{ Shutdown() }](ctx context.Context, build func() (A, error), handler func(A) http.Handler) error {
	a, err := build()
	if err != nil {
		return err
	}
	defer a.Shutdown()
	return Serve(ctx, handler(a))
}
