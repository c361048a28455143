package main

// The cold-start part of `make bench` (issue 17; docs/benchmarks.md, "Cold start"). In one run it
// builds a hello-world Go function (infra/bench/hello: aws-lambda-go answering an API Gateway event)
// and the gateway and admin functions, all with the Lambda build flags, then starts each under AWS's
// Runtime Interface Emulator again and again, the targets taking turns, and times from starting the
// emulator to the first answer. The emulator starts the bootstrap at the first event, as Lambda does,
// so the time holds the emulator's own start (the same for every target), the process's start and
// package init, the function's setup and its first request.
//
// The gateway answers GET /v1/models with a real key from a migrated database of the run's own (the
// catalogue snapshot read from Postgres on a new connection, the request-log row written before the
// answer), and GET /healthz (a ping on a new connection). Its provider has no credentials, so no KMS
// call is made. Separate starts of each bootstrap alone with GODEBUG=inittrace=1 give its package-init
// time.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/switchyard-ai/switchyard/shared/lambda/lambdatest"
)

// coldTarget is one function and the event its first answer is timed on.
type coldTarget struct {
	name   string // as printed: function and route
	bin    *coldBinary
	event  events.APIGatewayProxyRequest
	check  func(*lambdatest.Response) error
	first  []time.Duration // emulator start to the first answer
	invoke []time.Duration // the first event sent to its answer
}

// coldBinary is one bootstrap built for the run.
type coldBinary struct {
	name string // as printed
	root string // the module it is built from
	pkg  string
	path string
}

// coldstartBench runs the cold-start part: n timed starts per target, traces inittrace starts per
// binary. compare, when set, is another checkout of Switchyard (an older commit, say) whose gateway
// and admin functions are built and timed beside this one's.
func coldstartBench(ctx context.Context, base string, n, traces int, compare string) error {
	if base == "" {
		return fmt.Errorf("DATABASE_URL is not set: run `make bench`, which starts a local Postgres")
	}
	root, err := lambdatest.FindModuleRoot()
	if err != nil {
		return err
	}
	rie, err := lambdatest.ToolIn(root, "aws-lambda-rie")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "switchyard-coldstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	host, _ := os.Hostname()
	fmt.Printf("# Switchyard cold-start benchmark — %s, %s, %d CPUs, load average %s\n\n", time.Now().Format(time.RFC3339), host, numCPU(), loadAvg())

	bins := []*coldBinary{
		{name: "hello", root: root, pkg: "./infra/bench/hello"},
		{name: "gateway", root: root, pkg: "./functions/gateway"},
		{name: "admin", root: root, pkg: "./functions/admin"},
	}
	if compare != "" {
		bins = append(bins,
			&coldBinary{name: "gateway [" + filepath.Base(compare) + "]", root: compare, pkg: "./functions/gateway"},
			&coldBinary{name: "admin [" + filepath.Base(compare) + "]", root: compare, pkg: "./functions/admin"})
	}
	for i, b := range bins {
		dir := filepath.Join(tmp, strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		t0 := time.Now()
		if b.path, err = lambdatest.BuildIn(b.root, dir, b.pkg); err != nil {
			return err
		}
		info, err := os.Stat(b.path)
		if err != nil {
			return err
		}
		fmt.Printf("built %s (%s): %.1f MB in %v\n", b.name, b.pkg, float64(info.Size())/1e6, time.Since(t0).Round(100*time.Millisecond))
	}

	pool, dbName, err := newDatabase(ctx, base)
	if err != nil {
		return err
	}
	defer dropDatabase(base, dbName)
	key, err := insertFixtures(ctx, pool, "http://127.0.0.1:9/v1")
	pool.Close()
	if err != nil {
		return err
	}
	// A deployed function's environment (template.yaml), with dummy AWS credentials: nothing here
	// calls AWS, but the functions load the AWS configuration and build their clients as in Lambda.
	env := []string{
		"DATABASE_URL=" + databaseURL(base, dbName),
		"SWITCHYARD_KMS_KEY_ID=arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000",
		"SWITCHYARD_ALLOW_LOOPBACK=false",
		"SWITCHYARD_WORKER_FUNCTION=switchyard-worker",
		"AWS_REGION=eu-west-1",
		"AWS_ACCESS_KEY_ID=bench",
		"AWS_SECRET_ACCESS_KEY=bench",
		"AWS_SESSION_TOKEN=bench",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60",
	}

	var targets []*coldTarget
	for _, b := range bins {
		switch {
		case b.name == "hello":
			targets = append(targets, &coldTarget{name: "hello world", bin: b, event: lambdatest.APIEvent("GET", "/hello", "", nil), check: wantPlain})
		case strings.HasPrefix(b.name, "gateway"):
			targets = append(targets,
				&coldTarget{name: b.name + " GET /v1/models", bin: b, event: lambdatest.APIEvent("GET", "/v1/models", "", map[string]string{"Authorization": "Bearer " + key}), check: wantStream(200, `"chat-v1"`)},
				&coldTarget{name: b.name + " GET /healthz", bin: b, event: lambdatest.APIEvent("GET", "/healthz", "", nil), check: wantStream(200, `"database":"ok"`)},
				// No route: answered by the mux before any database work.
				&coldTarget{name: b.name + " GET /none (404, no database)", bin: b, event: lambdatest.APIEvent("GET", "/none", "", nil), check: wantStream(404, "not found")})
		default:
			targets = append(targets, &coldTarget{name: b.name + " GET /healthz", bin: b, event: lambdatest.APIEvent("GET", "/healthz", "", nil), check: wantStream(200, `"database":"ok"`)})
		}
	}
	run := func(t *coldTarget, extraEnv ...string) (first, invoke time.Duration, logs string, err error) {
		t0 := time.Now()
		e, err := lambdatest.StartWith(rie, t.bin.path, append(env, extraEnv...)...)
		if err != nil {
			return 0, 0, "", err
		}
		defer e.Stop()
		t1 := time.Now()
		r, err := e.Invoke(ctx, t.event)
		t2 := time.Now()
		if err == nil {
			err = t.check(r)
		}
		if err != nil {
			return 0, 0, "", fmt.Errorf("%s: %w\n%s", t.name, err, e.Logs())
		}
		return t2.Sub(t0), t2.Sub(t1), e.Logs(), nil
	}

	// One untimed round first, so every binary is in the page cache; then n rounds, the targets
	// taking turns in an order that rotates each round.
	start := time.Now()
	for i := -1; i < n; i++ {
		for j := range targets {
			t := targets[(max(i, 0)+j)%len(targets)]
			first, invoke, _, err := run(t)
			if err != nil {
				return err
			}
			if i >= 0 {
				t.first = append(t.first, first)
				t.invoke = append(t.invoke, invoke)
			}
		}
	}
	fmt.Printf("\n%d rounds in %v; times in ms (emulator start to first answer, and first event to its answer)\n\n", n, time.Since(start).Round(100*time.Millisecond))
	fmt.Println("| function | first answer best | median | max | ÷ hello world (median) | ÷ hello world (best) | event to answer median |")
	fmt.Println("|---|---|---|---|---|---|---|")
	hello := targets[0]
	for _, t := range targets {
		fmt.Printf("| %s | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f |\n", t.name, ms(slices.Min(t.first)), ms(median(t.first)), ms(slices.Max(t.first)),
			ms(median(t.first))/ms(median(hello.first)), ms(slices.Min(t.first))/ms(slices.Min(hello.first)), ms(median(t.invoke)))
	}

	// Package init, from GODEBUG=inittrace=1. The bootstrap runs alone (the emulator's own init would
	// be traced too), with a runtime API that refuses connections, so it exits after its setup.
	if traces <= 0 {
		return nil
	}
	fmt.Printf("\npackage init (GODEBUG=inittrace=1, median of %d starts), ms of clock\n\n", traces)
	fmt.Println("| binary | init total | of it aws-sdk-go-v2 | largest packages |")
	fmt.Println("|---|---|---|---|")
	for _, b := range bins {
		var totals, sdk []float64
		perPkg := map[string][]float64{}
		for range traces {
			pkgs, err := inittrace(ctx, b.path, env)
			if err != nil {
				return err
			}
			var tot, aws float64
			for p, c := range pkgs {
				tot += c
				if strings.HasPrefix(p, "github.com/aws/aws-sdk-go-v2") {
					aws += c
				}
				perPkg[p] = append(perPkg[p], c)
			}
			totals, sdk = append(totals, tot), append(sdk, aws)
		}
		type pc struct {
			pkg string
			ms  float64
		}
		var top []pc
		for p, cs := range perPkg {
			top = append(top, pc{p, median(cs)})
		}
		slices.SortFunc(top, func(a, b pc) int { return cmp.Or(cmp.Compare(b.ms, a.ms), strings.Compare(a.pkg, b.pkg)) })
		var names []string
		for _, p := range top[:min(5, len(top))] {
			names = append(names, fmt.Sprintf("%s %.2f", p.pkg, p.ms))
		}
		fmt.Printf("| %s | %.2f | %.2f | %s |\n", b.name, median(totals), median(sdk), strings.Join(names, ", "))
	}
	return nil
}

// inittrace runs bootstrap once with GODEBUG=inittrace=1 and returns each package's init clock time
// in ms.
func inittrace(ctx context.Context, bootstrap string, env []string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bootstrap)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "GODEBUG=inittrace=1", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1")
	out, _ := cmd.CombinedOutput() // it fails by design: no runtime API
	pkgs := parseInittrace(string(out))
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%s printed no inittrace lines:\n%s", bootstrap, out)
	}
	return pkgs, nil
}

// wantPlain checks a buffered API Gateway answer of 200.
func wantPlain(r *lambdatest.Response) error {
	var resp events.APIGatewayProxyResponse
	if r.Status != 200 || json.Unmarshal(r.Body, &resp) != nil || resp.StatusCode != 200 {
		return fmt.Errorf("answer %d %s; want a 200 response", r.Status, r.Body)
	}
	return nil
}

// wantStream checks a streamed answer's status and that its body holds want.
func wantStream(status int, want string) func(*lambdatest.Response) error {
	return func(r *lambdatest.Response) error {
		if r.Status != 200 {
			return fmt.Errorf("invocation failed: %d %s", r.Status, r.Body)
		}
		s, err := lambdatest.ParseStream(r.Body)
		if err != nil {
			return err
		}
		if s.StatusCode != status || !strings.Contains(string(s.Body), want) {
			return fmt.Errorf("answer %d %s; want %d with %s", s.StatusCode, s.Body, status, want)
		}
		return nil
	}
}

// inittraceLine is one line of GODEBUG=inittrace=1: "init PACKAGE @T ms, CLOCK ms clock, ...".
var inittraceLine = regexp.MustCompile(`(?m)^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock`)

// parseInittrace returns each package's init clock time in ms.
func parseInittrace(logs string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range inittraceLine.FindAllStringSubmatch(logs, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err == nil {
			out[m[1]] += v
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median is the middle value of v (the mean of the two middle ones for an even count; 0 for none).
func median[T ~int64 | ~float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
