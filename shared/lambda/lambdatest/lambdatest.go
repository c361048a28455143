// Package lambdatest runs a function's bootstrap under AWS's Runtime Interface Emulator
// (aws-lambda-rie, a tool in go.mod) so tests exercise the real Lambda runtime protocol.
//
// Build compiles a main package the way the Makefile's build-<LogicalId> targets do for Lambda, but
// for this machine's architecture; Start runs it under the emulator on free loopback ports; Invoke
// and InvokeStream send events. The emulator serves one invocation at a time: invoke sequentially, or
// start one emulator per test. It also gathers a streamed response before answering, so InvokeStream
// proves the wire format (JSON prelude, eight NUL bytes, body), not event-by-event timing.
package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/switchyard-ai/switchyard/shared/logtest"
)

// BuildFlags are the go build flags of a Lambda bootstrap: lambda.norpc drops aws-lambda-go's legacy
// RPC mode (provided.al2023 speaks the runtime API only), -trimpath and -s -w keep binaries small and
// reproducible.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// Build compiles the main package pkg (an import path, or a path relative to the module root such as
// "./functions/gateway") with BuildFlags and CGO_ENABLED=0 for this machine, into a temporary
// folder, and returns the binary's path, named bootstrap as Lambda wants it.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	out, err := BuildIn(ModuleRoot(t), t.TempDir(), pkg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// BuildIn is Build outside a test: it builds pkg of the module at root into dir/bootstrap.
func BuildIn(root, dir, pkg string) (string, error) {
	out := filepath.Join(dir, "bootstrap")
	return out, goBuild(root, out, pkg)
}

// goBuild runs go build with BuildFlags for this machine in the module at root; out is the binary, or
// a folder (ending in a separator) for several packages.
func goBuild(root, out string, pkgs ...string) error {
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", out)
	args = append(args, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w after %v\n%s", strings.Join(pkgs, " "), err, time.Since(start).Round(time.Second), b)
	}
	return nil
}

// BuildMains compiles the main packages pkgs in one go build, so the dependencies they share are
// compiled once rather than once per package (several go builds at once each compile them again), and
// returns each package's binary: dir/<last element of pkg>/bootstrap. It takes no testing.TB so that a
// TestMain can build before any test's clock starts: a cold build on a loaded 2-core machine takes
// minutes, which must not eat an invocation's deadline.
func BuildMains(dir string, pkgs ...string) (map[string]string, error) {
	root, err := FindModuleRoot()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "out") + string(filepath.Separator)
	if err := goBuild(root, out, pkgs...); err != nil {
		return nil, err
	}
	bins := make(map[string]string, len(pkgs))
	for _, pkg := range pkgs {
		name := filepath.Base(pkg)
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return nil, err
		}
		bin := filepath.Join(dir, name, "bootstrap")
		if err := os.Rename(filepath.Join(out, name), bin); err != nil {
			return nil, fmt.Errorf("go build %s wrote no %s: %w", pkg, name, err)
		}
		bins[pkg] = bin
	}
	return bins, nil
}

// ModuleRoot returns the folder of the main module's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	root, err := FindModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// FindModuleRoot is ModuleRoot outside a test.
func FindModuleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// Tool returns the path of a tool declared in go.mod, building it into Go's build cache when needed.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := ToolIn(ModuleRoot(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ToolIn is Tool outside a test, for the module at root.
func ToolIn(root, name string) (string, error) {
	cmd := exec.Command("go", "tool", "-n", name)
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go tool -n %s: %w\n%s", name, err, ee.Stderr)
		}
		return "", fmt.Errorf("go tool -n %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// DefaultInvokeTimeout bounds one invocation unless Emulator.InvokeTimeout says otherwise: a cold
// bootstrap answers its first event in well under a second here, so half a minute means it is stuck,
// not slow.
const DefaultInvokeTimeout = 30 * time.Second

// Emulator is one aws-lambda-rie process running one bootstrap.
type Emulator struct {
	// URL is the emulator's invoke endpoint.
	URL string
	// InvokeTimeout bounds each Invoke (DefaultInvokeTimeout when zero), whatever the caller's context
	// allows. When it passes, the bootstrap is made to print its goroutines (SIGQUIT) and the error
	// carries them, so a failure says what the function was doing.
	InvokeTimeout time.Duration
	cmd           *exec.Cmd
	logs          *logtest.Buffer
	client        *http.Client
}

// Start runs bootstrap under aws-lambda-rie on free loopback ports. env ("KEY=value") is added to
// this process's environment; the emulator passes it on to the function. The emulator starts the
// bootstrap at the first invocation, as Lambda does on a cold start. Both processes are stopped when
// the test ends.
func Start(t testing.TB, bootstrap string, env ...string) *Emulator {
	t.Helper()
	e, err := StartWith(Tool(t, "aws-lambda-rie"), bootstrap, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("aws-lambda-rie output:\n%s", e.Logs())
		}
	})
	return e
}

// StartWith is Start outside a test, with the emulator's binary at rie (see ToolIn). It returns once
// the emulator listens; Stop stops it.
func StartWith(rie, bootstrap string, env ...string) (*Emulator, error) {
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", apiAddr,
		"--runtime-api-address", runtimeAddr,
		"--log-level", "info",
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	// GOTRACEBACK=all: the goroutine dump of a stuck invocation shows every goroutine.
	cmd.Env = append(append(os.Environ(), "GOTRACEBACK=all"), env...)
	logs := &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// A process group of its own, so stopping it stops the bootstrap the emulator started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting aws-lambda-rie: %w", err)
	}
	e := &Emulator{
		URL:    "http://" + apiAddr + "/2015-03-31/functions/function/invocations",
		cmd:    cmd,
		logs:   logs,
		client: &http.Client{Timeout: 5 * time.Minute},
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", apiAddr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return e, nil
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("aws-lambda-rie did not listen on %s within 15s:\n%s", apiAddr, e.Logs())
		}
		// Short, since the cold-start benchmark times from the emulator's start.
		time.Sleep(time.Millisecond)
	}
}

// Stop stops the emulator and the bootstrap it started, and waits for them to exit.
func (e *Emulator) Stop() {
	pgid := -e.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-done
	}
}

// dumpFunction makes the bootstrap (the emulator's child) print every
// goroutine's stack and exit, and returns what the emulator and the function printed. The emulator
// cannot serve another invocation after it.
func (e *Emulator) dumpFunction() string {
	pids := descendants(e.cmd.Process.Pid)
	if len(pids) == 0 {
		return e.Logs() + "\n(no bootstrap process was running: the emulator never started it, or it exited)"
	}
	before := len(e.Logs())
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGQUIT)
	}
	// The runtime writes the dump before it exits; wait until the output stops growing.
	deadline := time.Now().Add(5 * time.Second)
	for last := -1; time.Now().Before(deadline); {
		n := len(e.Logs())
		if n == last && n > before {
			break
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
	return e.Logs()
}

// descendants lists the processes descended from pid (the emulator puts the bootstrap in a process
// group of its own, so the group cannot be used), read from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, ent := range entries {
		p, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// Logs returns what the emulator and the function printed so far.
func (e *Emulator) Logs() string { return e.logs.String() }

// APIEvent is an API Gateway REST API proxy event for method and path, as API Gateway sends it on
// stage "prod" from 198.51.100.4, with a JSON content type, the headers given, and a request id
// made from the path ("apigw--healthz" for /healthz).
func APIEvent(method, path, body string, headers map[string]string) events.APIGatewayProxyRequest {
	h := map[string][]string{"Host": {"abc.execute-api.eu-west-1.amazonaws.com"}, "Content-Type": {"application/json"}}
	for k, v := range headers {
		h[k] = []string{v}
	}
	return events.APIGatewayProxyRequest{
		HTTPMethod:        method,
		Path:              path,
		Body:              body,
		MultiValueHeaders: h,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "apigw-" + strings.ReplaceAll(path, "/", "-"),
			Stage:     "prod",
			Path:      "/prod" + path,
			Identity:  events.APIGatewayRequestIdentity{SourceIP: "198.51.100.4"},
		},
	}
}

// Response is an invocation's answer as the emulator gave it.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Invoke sends event (marshalled to JSON unless it is []byte or json.RawMessage) and returns the
// emulator's answer. A function error comes back as a Response, not as an error.
func (e *Emulator) Invoke(ctx context.Context, event any) (*Response, error) {
	var payload []byte
	switch v := event.(type) {
	case []byte:
		payload = v
	case json.RawMessage:
		payload = v
	default:
		b, err := json.Marshal(event)
		if err != nil {
			return nil, fmt.Errorf("marshalling the event: %w", err)
		}
		payload = b
	}
	timeout := e.InvokeTimeout
	if timeout <= 0 {
		timeout = DefaultInvokeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("building the invoke request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("invoking through aws-lambda-rie: no answer after %v (%w); what the function was doing:\n%s",
				time.Since(start).Round(time.Millisecond), err, e.dumpFunction())
		}
		return nil, fmt.Errorf("invoking through aws-lambda-rie: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the invoke response: %w", err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// StreamResponse is a streamed HTTP integration response: the prelude's status and headers, and the
// body that followed the eight NUL bytes.
type StreamResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
	Body              []byte              `json:"-"`
}

// Header returns a response header from either header map, multi-value ones joined by ", ".
func (s *StreamResponse) Header(name string) string {
	name = http.CanonicalHeaderKey(name)
	if v, ok := s.Headers[name]; ok {
		return v
	}
	return strings.Join(s.MultiValueHeaders[name], ", ")
}

// ContentTypeStreaming is the content type a function gives a streamed HTTP integration response.
const ContentTypeStreaming = "application/vnd.awslambda.http-integration-response"

// InvokeStream invokes like Invoke and parses the answer as a streamed HTTP integration response. It
// fails when the invocation failed or the answer is not a prelude, eight NUL bytes and a body.
func (e *Emulator) InvokeStream(ctx context.Context, event any) (*StreamResponse, error) {
	r, err := e.Invoke(ctx, event)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, fmt.Errorf("invocation failed: emulator answered %d: %s", r.Status, r.Body)
	}
	return ParseStream(r.Body)
}

// ParseStream splits a streamed HTTP integration response into its prelude and body.
func ParseStream(b []byte) (*StreamResponse, error) {
	sep := bytes.Index(b, make([]byte, 8))
	if sep < 0 {
		return nil, fmt.Errorf("no eight-NUL separator after the prelude in %q", truncate(b))
	}
	var s StreamResponse
	if err := json.Unmarshal(b[:sep], &s); err != nil {
		return nil, fmt.Errorf("parsing the prelude %q: %w", truncate(b[:sep]), err)
	}
	s.Body = b[sep+8:]
	return &s, nil
}

func truncate(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
