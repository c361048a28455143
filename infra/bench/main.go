// Command bench measures what Switchyard's gateway adds to a request, in one run and as ratios,
// since these machines are shared and noisy (`make bench`; docs/benchmarks.md has the method and
// the figures). It starts, all on loopback in this process:
//
//   - the fake upstream (shared/upstream/fakeupstream) on a real listener;
//   - the floor: the standard library's httputil.ReverseProxy in front of it, reading the request
//     body before forwarding and doing nothing else;
//   - Switchyard: app.App's handler (catalogue snapshot, usage logging to a real Postgres) on a real
//     listener, with a provider, models and a key set up in a database of its own;
//
// then sends the same requests directly, through the floor and through the gateway, interleaved
// in rounds, and prints latency added over the direct call (p50, p99), CPU per request (getrusage
// over the window, minus the direct call's), throughput and, for streams, time to first byte.
//
// With -soak DURATION it instead runs the gateway alone at concurrency 32 with 1% of upstream
// calls failing, then checks that every request has exactly one request-log row and that the heap
// stayed flat (`make soak`).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/seal"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

func main() {
	var (
		requests = flag.Int("n", 3000, "requests per target and case at concurrency 32 (a third at concurrency 1)")
		maxCase  = flag.Duration("max-case", 20*time.Second, "time bound per target and case")
		rounds   = flag.Int("rounds", 3, "interleaved rounds per case (direct, floor, gateway take turns)")
		only     = flag.String("only", "", "run only cases whose name contains this (e.g. embeddings)")
		soak     = flag.Duration("soak", 0, "run the soak test for this long instead of the benchmark")
		soakConc = flag.Int("soak-concurrency", 32, "soak: concurrent clients")
		failRate = flag.Float64("soak-fail-rate", 0.01, "soak: fraction of upstream calls that fail")
		cpuProf  = flag.String("cpuprofile", "", "write a CPU profile of the whole run (client, upstream, floor and gateway) to this file")
		rb       reembedOptions
		sb       searchOptions
		worker   = flag.String("reembed-worker", "", "internal: run only the re-embed worker on this database URL (the memory figures' child process)")
		coldN    = flag.Int("coldstart-n", 20, "cold start: timed cold starts per function")
		coldInit = flag.Int("coldstart-inittrace", 5, "cold start: GODEBUG=inittrace=1 starts per binary (0: none)")
		coldCmp  = flag.String("coldstart-compare", "", "cold start: also build and time the gateway and admin functions of the Switchyard checkout in this folder (say, an older commit)")
	)
	flag.IntVar(&rb.docs, "reembed-docs", 100_000, "re-embed: documents of the throughput and HNSW run")
	flag.IntVar(&rb.dim, "reembed-dim", 768, "re-embed: the target model's dimension")
	flag.StringVar(&rb.memDocs, "reembed-mem-docs", "20000,200000", "re-embed: corpus sizes of the worker's peak-memory runs (empty: none)")
	// At 768 the HNSW build of 200,000 documents takes ~4 minutes on 2 cores (make bench ~10 in all);
	// a smaller one (256) gives the worker's memory figures in a fraction of that.
	flag.BoolVar(&rb.fillOnly, "reembed-fill-only", false, "re-embed: measure the raw COPY and the fill alone (no HNSW build, verification or memory runs)")
	flag.IntVar(&rb.memDim, "reembed-mem-dim", 768, "re-embed: the target dimension of the peak-memory runs")
	flag.DurationVar(&rb.maxRun, "reembed-max-run", 10*time.Minute, "re-embed: time bound of each run")
	flag.BoolVar(&rb.upstreamComputes, "reembed-upstream-computes", false, "re-embed: the fake upstream computes and encodes each vector when asked, on the measured machine's cores, instead of serving answers primed beforehand")
	flag.StringVar(&rb.workerProfile, "reembed-worker-cpuprofile", "", "re-embed: write a CPU profile of the worker process of the throughput run to this file")
	flag.StringVar(&sb.sizes, "search-docs", "20000,100000", "search: corpus sizes of the recall and latency runs")
	flag.IntVar(&sb.dim, "search-dim", 768, "search: the embedding dimension")
	flag.IntVar(&sb.queries, "search-queries", 200, "search: queries per corpus size")
	flag.StringVar(&sb.builds, "search-build", "m=16,ef_construction=64;m=32,ef_construction=128", `search: HNSW build settings to compare, ";" between them (each built, timed and measured in turn)`)
	flag.Parse()
	if *worker != "" {
		if err := reembedWorker(*worker, os.Getenv("BENCH_WORKER_CPUPROFILE")); err != nil {
			fmt.Fprintln(os.Stderr, "bench worker:", err)
			os.Exit(1)
		}
		return
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// -only reembed, -only coldstart and -only search run that part alone; any other -only runs the matching
	// gateway cases.
	gatewayPart := *only != "reembed" && *only != "coldstart" && *only != "search"
	coldPart := *soak == 0 && (*only == "" || *only == "coldstart")
	reembedPart := *soak == 0 && (*only == "" || *only == "reembed")
	searchPart := *soak == 0 && (*only == "" || *only == "search")
	if gatewayPart {
		if err := gatewayBench(ctx, *soak, *soakConc, *failRate, *requests, *maxCase, *rounds, *only); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if coldPart {
		if gatewayPart {
			fmt.Println()
		}
		if err := coldstartBench(ctx, os.Getenv("DATABASE_URL"), *coldN, *coldInit, *coldCmp); err != nil {
			fmt.Fprintln(os.Stderr, "bench: cold start:", err)
			os.Exit(1)
		}
	}
	if reembedPart {
		if gatewayPart || coldPart {
			fmt.Println()
		}
		if err := reembedBench(ctx, os.Getenv("DATABASE_URL"), rb); err != nil {
			fmt.Fprintln(os.Stderr, "bench: re-embed:", err)
			os.Exit(1)
		}
	}
	if searchPart {
		if gatewayPart || coldPart || reembedPart {
			fmt.Println()
		}
		if err := searchBench(ctx, os.Getenv("DATABASE_URL"), sb); err != nil {
			fmt.Fprintln(os.Stderr, "bench: search:", err)
			os.Exit(1)
		}
	}
}

// gatewayBench runs the gateway benchmark, or the soak test when soak > 0.
func gatewayBench(ctx context.Context, soak time.Duration, soakConc int, failRate float64, requests int, maxCase time.Duration, rounds int, only string) error {
	h, err := setup(ctx)
	if err != nil {
		if h != nil {
			h.close()
		}
		return err
	}
	defer h.close()
	if soak > 0 {
		return h.soak(ctx, soak, soakConc, failRate)
	}
	if err := h.bench(ctx, requests, maxCase, rounds, only); err != nil {
		return err
	}
	return h.capacityBench(ctx, requests, maxCase, rounds, only)
}

// harness is the three targets and what they run on.
type harness struct {
	base     string // DATABASE_URL
	dbName   string
	pool     *pgxpool.Pool
	app      *app.App
	fake     *fakeupstream.Server
	servers  []*http.Server
	direct   string // base URLs, ending in /v1
	floor    string
	gateway  string
	key      string
	client   *http.Client
	closeOne sync.Once
}

func setup(ctx context.Context) (*harness, error) {
	h := &harness{base: os.Getenv("DATABASE_URL")}
	if h.base == "" {
		return nil, fmt.Errorf("DATABASE_URL is not set: run `make bench`, which starts a local Postgres")
	}
	if err := h.database(ctx); err != nil {
		return nil, err
	}
	h.fake = fakeupstream.New(fakeupstream.Config{Dimensions: map[string]int{"bench-embed-768": 768}})
	fakeSrv, fakeLn, err := fakeupstream.Listen("127.0.0.1:0", h.fake)
	if err != nil {
		return nil, err
	}
	h.servers = append(h.servers, fakeSrv)
	upstreamURL := "http://" + fakeLn.Addr().String()
	h.direct = upstreamURL + "/v1"

	// The floor: read the body, then hand the request to ReverseProxy (streaming an inbound body
	// into the upstream request races net/http under keep-alive).
	target, _ := url.Parse(upstreamURL)
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = target.Host },
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true},
	}
	floor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		rp.ServeHTTP(w, r)
	})
	if h.floor, err = h.serve(floor); err != nil {
		return nil, err
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	sealer, err := seal.LocalFromFile(filepath.Join(os.TempDir(), "switchyard-bench-seal.key"))
	if err != nil {
		return nil, err
	}
	if h.app, err = app.New(app.Config{Local: true, AllowLoopback: true}, log, h.pool, sealer); err != nil {
		return nil, err
	}
	if h.gateway, err = h.serve(h.app.Handler()); err != nil {
		return nil, err
	}
	if err := h.fixtures(ctx, h.direct); err != nil {
		return nil, err
	}
	h.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0, DisableCompression: true}}
	return h, nil
}

func (h *harness) serve(handler http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	h.servers = append(h.servers, srv)
	return "http://" + ln.Addr().String() + "/v1", nil
}

// database creates a database of the run's own, migrated, dropped by close.
func (h *harness) database(ctx context.Context) error {
	var err error
	h.pool, h.dbName, err = newDatabase(ctx, h.base)
	return err
}

// newDatabase creates a fresh, migrated database on the server of base and opens a pool on it;
// dropDatabase removes it.
func newDatabase(ctx context.Context, base string) (*pgxpool.Pool, string, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "switchyard_bench_" + hex.EncodeToString(b)
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, "", fmt.Errorf("connect: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, "", fmt.Errorf("create the bench database: %w", err)
	}
	// Migrate on a pool of its own: connections opened before the migrations create the vector
	// extension have no vector types registered.
	pool, err := postgres.Open(ctx, databaseURL(base, name), postgres.PoolConfig{MaxConns: 2})
	if err == nil {
		err = postgres.Migrate(ctx, pool, nil)
		pool.Close()
	}
	if err == nil {
		pool, err = postgres.Open(ctx, databaseURL(base, name), postgres.PoolConfig{})
	}
	if err != nil {
		dropDatabase(base, name)
		return nil, "", err
	}
	return pool, name, nil
}

func databaseURL(base, name string) string {
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

func dropDatabase(base, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c, err := pgx.Connect(ctx, base); err == nil {
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		c.Close(ctx)
	}
}

func (h *harness) fixtures(ctx context.Context, upstreamBase string) error {
	var err error
	if h.key, err = insertFixtures(ctx, h.pool, upstreamBase); err != nil {
		return err
	}
	return h.app.Catalog.Refresh(ctx)
}

// insertFixtures adds a provider at upstreamBase (no credentials), models chat-v1 and embed-v1 with
// aliases chat and embed, an alias chat-split routed to chat-v1, chat-v2 and chat-v3 at 50/30/20 (one
// tier, the same upstream behind each), a team granted all three, and an API key of that team, which
// it returns.
func insertFixtures(ctx context.Context, pool *pgxpool.Pool, upstreamBase string) (string, error) {
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	key := "sk-" + hex.EncodeToString(secret)
	hash := catalog.HashSecret(key)
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO providers (identifier, base_url, auth_method) VALUES ('fake', $1, 'none')`, []any{upstreamBase}},
		{`INSERT INTO catalog_names (name, what) VALUES ('chat-v1', 'model'), ('chat-v2', 'model'), ('chat-v3', 'model'), ('embed-v1', 'model'),
			('chat', 'alias'), ('embed', 'alias'), ('chat-split', 'alias')`, nil},
		{`INSERT INTO models (name, provider_id, upstream_name, kind, dimension, cap_streaming, enabled)
			SELECT v, id, 'demo-chat', 'chat', 0, true, true FROM providers, unnest(ARRAY['chat-v1', 'chat-v2', 'chat-v3']) v`, nil},
		{`INSERT INTO models (name, provider_id, upstream_name, kind, dimension, enabled)
			SELECT 'embed-v1', id, 'bench-embed-768', 'embedding', 768, true FROM providers`, nil},
		{`INSERT INTO aliases (name, kind, model_id) SELECT 'chat', 'chat', id FROM models WHERE name = 'chat-v1'`, nil},
		{`INSERT INTO aliases (name, kind, model_id) SELECT 'embed', 'embedding', id FROM models WHERE name = 'embed-v1'`, nil},
		{`INSERT INTO aliases (name, kind, model_id) SELECT 'chat-split', 'chat', id FROM models WHERE name = 'chat-v1'`, nil},
		{`INSERT INTO routes (alias, version, plan, base_model_id, updated_by)
			SELECT 'chat-split', 1, '{"tiers": [{"targets": [{"model": "chat-v1", "weight": 50}, {"model": "chat-v2", "weight": 30}, {"model": "chat-v3", "weight": 20}]}]}', id, 'bench'
			FROM models WHERE name = 'chat-v1'`, nil},
		{`INSERT INTO teams (name) VALUES ('bench')`, nil},
		{`INSERT INTO grants (name, team_id) SELECT n, t.id FROM teams t, unnest(ARRAY['chat', 'embed', 'chat-split']) n`, nil},
		{`INSERT INTO api_keys (id, team_id, key_hash, prefix) SELECT 'key_bench', id, $1, 'sk-' FROM teams`, []any{hash[:]}},
	}
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s.sql, s.args...); err != nil {
			return "", fmt.Errorf("fixture %q: %w", s.sql, err)
		}
	}
	return key, nil
}

func (h *harness) close() {
	h.closeOne.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, s := range h.servers {
			_ = s.Shutdown(ctx)
		}
		if h.app != nil {
			_ = h.app.Close(ctx)
		}
		if h.pool != nil {
			h.pool.Close()
		}
		if h.dbName != "" {
			dropDatabase(h.base, h.dbName)
		}
	})
}

// workload is one kind of request, with the model name each target is called with.
type workload struct {
	name   string
	route  string
	body   func(model string) []byte
	stream bool
	models map[string]string // target → model
}

func workloads() []workload {
	var inputs []string
	for i := 0; i < 16; i++ {
		inputs = append(inputs, fmt.Sprintf(`"document %d: the quick brown fox jumps over the lazy dog while the gateway counts vectors"`, i))
	}
	embed := `{"model":%q,"input":[` + strings.Join(inputs, ",") + `]}`
	chat := `{"model":%q,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"one two three four five six seven eight nine ten eleven twelve thirteen fourteen"}],"max_tokens":16%s}`
	return []workload{
		{name: "embeddings 16×768", route: "/embeddings", body: func(m string) []byte { return fmt.Appendf(nil, embed, m) },
			models: map[string]string{"direct": "bench-embed-768", "floor": "bench-embed-768", "gateway": "embed"}},
		{name: "chat", route: "/chat/completions", body: func(m string) []byte { return fmt.Appendf(nil, chat, m, "") },
			models: map[string]string{"direct": "demo-chat", "floor": "demo-chat", "gateway": "chat", "routed": "chat-split"}},
		{name: "chat streamed", route: "/chat/completions", stream: true, body: func(m string) []byte { return fmt.Appendf(nil, chat, m, `,"stream":true`) },
			models: map[string]string{"direct": "demo-chat", "floor": "demo-chat", "gateway": "chat", "routed": "chat-split"}},
	}
}

// sample is what one measured window found.
type sample struct {
	lat, ttfb []time.Duration
	errors    int
	firstErr  string
	elapsed   time.Duration
	cpu       time.Duration
}

func (s *sample) add(o sample) {
	s.lat = append(s.lat, o.lat...)
	s.ttfb = append(s.ttfb, o.ttfb...)
	s.errors += o.errors
	if s.firstErr == "" {
		s.firstErr = o.firstErr
	}
	s.elapsed += o.elapsed
	s.cpu += o.cpu
}

// errorsCell is the errors column: how many, and the first one's reason.
func (s *sample) errorsCell() string {
	if s.errors == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", s.errors, s.firstErr)
}

// measure runs one case: it warms every target (connections, pools, caches) with 100 requests, then
// sends each its share of n requests (a third of n at conc 1) over rounds rounds of at most maxCase
// in all, rotating which target goes first, and returns each target's sample by name. run sends n
// requests to t within maxDur.
func measure[T any](targets []T, name func(T) string, n, conc, rounds int, maxCase time.Duration, run func(t T, n int, maxDur time.Duration) sample) map[string]*sample {
	if conc == 1 {
		n /= 3
	}
	per := max(1, n/rounds)
	for _, t := range targets {
		run(t, 100, 10*time.Second)
	}
	res := map[string]*sample{}
	for r := 0; r < rounds; r++ {
		for k := range targets {
			t := targets[(k+r)%len(targets)]
			s := run(t, per, maxCase/time.Duration(rounds))
			if res[name(t)] == nil {
				res[name(t)] = &sample{}
			}
			res[name(t)].add(s)
		}
	}
	return res
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run sends n requests (at most for maxDur) with conc workers, and measures them.
func (h *harness) run(ctx context.Context, base, key string, wl workload, model string, conc, n int, maxDur time.Duration, hdr func(i int) string) sample {
	body := wl.body(model)
	lat := make([]time.Duration, n)
	ttfb := make([]time.Duration, n)
	ok := make([]bool, n)
	var next atomic.Int64
	var errs atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(maxDur)
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil || time.Now().After(deadline) {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+wl.route, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				if hdr != nil {
					req.Header.Set("X-Request-Id", hdr(i))
				}
				t0 := time.Now()
				resp, err := h.client.Do(req)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				first := time.Duration(0)
				for {
					m, rerr := resp.Body.Read(buf)
					if m > 0 && first == 0 {
						first = time.Since(t0)
					}
					if rerr != nil {
						if rerr != io.EOF {
							err = rerr
						}
						break
					}
				}
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("HTTP %d %v", resp.StatusCode, err))
					continue
				}
				lat[i], ttfb[i], ok[i] = time.Since(t0), first, true
			}
		}()
	}
	wg.Wait()
	s := sample{elapsed: time.Since(start), cpu: cpuTime() - cpu0, errors: int(errs.Load())}
	if v := firstErr.Load(); v != nil {
		s.firstErr = v.(string)
	}
	for i := range lat {
		if ok[i] {
			s.lat = append(s.lat, lat[i])
			s.ttfb = append(s.ttfb, ttfb[i])
		}
	}
	return s
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (h *harness) bench(ctx context.Context, n int, maxCase time.Duration, rounds int, only string) error {
	// "routed" is the gateway called with an alias routed to three weighted targets (chat workloads).
	type target struct{ name, base, key string }
	all := []target{{"direct", h.direct, ""}, {"floor", h.floor, ""}, {"gateway", h.gateway, h.key}, {"routed", h.gateway, h.key}}
	host, _ := os.Hostname()
	fmt.Printf("# Switchyard gateway benchmark — %s, %s, %d CPUs, GOMAXPROCS %d\n\n", time.Now().Format(time.RFC3339), host, numCPU(), gomaxprocs())
	fmt.Println("| case | c | target | reqs | p50 µs | p99 µs | added p50 µs | added p99 µs | CPU µs/req | added CPU µs/req | req/s | TTFB p50 µs | added TTFB p50 µs | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	type key struct{ c, t string }
	var summary []string
	for _, wl := range workloads() {
		if only != "" && !strings.Contains(wl.name, only) {
			continue
		}
		targets := all[:0:0]
		for _, t := range all {
			if wl.models[t.name] != "" {
				targets = append(targets, t)
			}
		}
		for _, conc := range []int{1, 32} {
			res := measure(targets, func(t target) string { return t.name }, n, conc, rounds, maxCase, func(t target, n int, maxDur time.Duration) sample {
				return h.run(ctx, t.base, t.key, wl, wl.models[t.name], conc, n, maxDur, nil)
			})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d := res["direct"]
			added := map[string][3]float64{}
			for _, t := range targets {
				s := res[t.name]
				reqs := len(s.lat)
				cpu := us(s.cpu) / float64(max(1, reqs+s.errors))
				dcpu := us(d.cpu) / float64(max(1, len(d.lat)+d.errors))
				a := [3]float64{us(pct(s.lat, .5) - pct(d.lat, .5)), us(pct(s.lat, .99) - pct(d.lat, .99)), cpu - dcpu}
				added[t.name] = a
				ttfb, addedTTFB := "", ""
				if wl.stream {
					ttfb = fmt.Sprintf("%.0f", us(pct(s.ttfb, .5)))
					addedTTFB = fmt.Sprintf("%.0f", us(pct(s.ttfb, .5)-pct(d.ttfb, .5)))
				}
				addedCols := "–\t–\t–"
				if t.name != "direct" {
					addedCols = fmt.Sprintf("%.0f\t%.0f\t%.0f", a[0], a[1], a[2])
				}
				ac := strings.Split(addedCols, "\t")
				fmt.Printf("| %s | %d | %s | %d | %.0f | %.0f | %s | %s | %.0f | %s | %.0f | %s | %s | %s |\n",
					wl.name, conc, t.name, reqs, us(pct(s.lat, .5)), us(pct(s.lat, .99)), ac[0], ac[1], cpu, ac[2],
					float64(reqs)/s.elapsed.Seconds(), ttfb, addedTTFB, s.errorsCell())
			}
			// One summary line for the gateway, and one for the routed alias where the workload has one.
			versusFloor := func(name, label string) string {
				g, f := added[name], added["floor"]
				thr := (float64(len(res[name].lat)) / res[name].elapsed.Seconds()) / (float64(len(res["floor"].lat)) / res["floor"].elapsed.Seconds())
				line := fmt.Sprintf("| %s | %d | %s | %s | %s | %.2f |", label, conc, ratio(g[0], f[0]), ratio(g[1], f[1]), ratio(g[2], f[2]), thr)
				if wl.stream {
					return line + fmt.Sprintf(" %.0f µs |", us(pct(res[name].ttfb, .5)-pct(res["direct"].ttfb, .5)))
				}
				return line + " |"
			}
			summary = append(summary, versusFloor("gateway", wl.name))
			if _, ok := added["routed"]; ok {
				summary = append(summary, versusFloor("routed", wl.name+", routed 50/30/20"))
			}
		}
	}
	fmt.Println("\nGateway ÷ floor (goal: added p50, p99 and CPU ≤ 1.2; throughput at c=32 ≥ 0.9; streaming adds ≤ 1 ms to the first byte):")
	fmt.Println()
	fmt.Println("| case | c | added p50 | added p99 | added CPU | throughput | gateway TTFB added |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, l := range summary {
		fmt.Println(l)
	}
	if err := h.app.Usage.Flush(ctx); err != nil {
		return err
	}
	var rows int64
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM requests`).Scan(&rows); err != nil {
		return err
	}
	fmt.Printf("\nrequest-log rows written during the run: %d (dropped: %d)\n", rows, h.app.Usage.Dropped())
	return nil
}

func ratio(a, b float64) string {
	if b <= 0 {
		return fmt.Sprintf("n/a (%.0f vs %.0f µs)", a, b)
	}
	return fmt.Sprintf("%.2f", a/b)
}
