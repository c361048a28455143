// Package fakeupstream is a fake OpenAI-compatible endpoint for tests, benchmarks and the demo
// upstream of `make dev`. It serves GET /v1/models, POST /v1/chat/completions (plain, streamed,
// with tool calls) and POST /v1/embeddings (float and base64; deterministic unit vectors of a
// per-model dimension), and fails on demand in every way a real upstream does.
//
// Faults can be set three ways: programmatically (SetFaults, safe while serving), by a request
// header (X-Fake-Fault: status=500,shape=vllm), or by a model-name suffix
// ("demo-chat@status=429,retry_after=7") so a load test that can only choose the model's
// upstream name can ask for them. The spec is a comma-separated list of key=value:
//
//	status=N            answer HTTP N with an error body (shape= openai|error_string|vllm|fastapi|fastapi_list|text|html)
//	message=TEXT        the error's message; {credential}, {authorization}, {credential_base64} and
//	                    {credential_urlencoded} stand for what the request carried, as a leaky upstream echoes it
//	location=URL        a Location header with the error (for a 3xx status)
//	stream_error=TEXT   a stream sends one chunk, then an error event with this message (placeholders as above)
//	retry_after=S       a Retry-After header with the error
//	model_not_found     404 "model does not exist"
//	unauthorized        401 whatever the credential
//	delay=DUR           wait before the first byte (e.g. 200ms)
//	stall=DUR           wait between stream events
//	break_after=N       reset the connection after N stream events (0: before answering)
//	break_after_headers a stream answers 200 and its headers, then resets before its first event
//	dim=N               embeddings of N dimensions instead of the model's
//	fail_rate=F         fail that fraction of requests with a 500
//	no_stream, no_tools reject streaming or tools with 400 "... is not supported"
//
// The fake counts the chat and embeddings requests it is serving at once and keeps the peak
// (InFlight, MaxInFlight): with delay= or stall= making each request slow, a test sees how many
// requests a gateway let through at the same time.
package fakeupstream

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Shape is the body shape of an error answer.
type Shape string

// The error body shapes real upstreams use.
const (
	ShapeOpenAI      Shape = "openai"       // {"error": {"message", "type", "param", "code"}}
	ShapeErrorString Shape = "error_string" // {"error": "text"} (TGI, Ollama)
	ShapeVLLM        Shape = "vllm"         // {"object": "error", "message", "type", "param", "code"}
	ShapeFastAPI     Shape = "fastapi"      // {"detail": "text"}
	ShapeFastAPIList Shape = "fastapi_list" // {"detail": [{"loc", "msg", "type"}]}
	ShapeText        Shape = "text"         // text/plain
	ShapeHTML        Shape = "html"         // an nginx-style HTML page
)

// Faults are failures to inject. The zero value injects none.
type Faults struct {
	Status     int    // answer this HTTP status with an error body
	Shape      Shape  // the error body's shape; default openai
	Message    string // the error's message; a default per status; placeholders: see ExpandEcho
	RetryAfter string // Retry-After sent with the error
	Location   string // Location sent with the error (a redirect's target)
	// StreamError, when set, makes a stream send one chunk and then an error event with this
	// message (placeholders: see ExpandEcho) instead of the rest.
	StreamError string
	// ModelNotFound answers 404 "The model `x` does not exist." (vLLM's wording, OpenAI's shape
	// unless Shape says otherwise).
	ModelNotFound bool
	// Unauthorized answers 401 whatever the credential.
	Unauthorized bool
	// FirstByteDelay waits before answering anything.
	FirstByteDelay time.Duration
	// StreamStall waits between two stream events.
	StreamStall time.Duration
	// BreakAfter, when > 0, resets the connection after that many stream events (and, for a
	// plain answer, after half the body). Use BreakBeforeAnswer to reset before any byte.
	BreakAfter        int
	BreakBeforeAnswer bool
	// BreakAfterHeaders answers a stream's 200 and headers, then resets the connection before
	// its first event.
	BreakAfterHeaders bool
	// Dimension, when > 0, is the length of every embedding instead of the model's.
	Dimension int
	// FailRate fails that fraction of requests with a 500 (soak tests), using Config.Rand.
	FailRate float64
	// NoStreaming and NoTools reject stream: true and tools with 400 "... is not supported".
	NoStreaming bool
	NoTools     bool
	// Routes answers these paths (e.g. "/v1/embeddings") with this status (404 or 405) and a
	// router's bare body, as a server without the route does.
	Routes map[string]int
	// Times, when > 0, applies these faults (set by SetFaults) to that many requests only; then
	// they clear, as an upstream that throttles a burst and recovers.
	Times int
}

// Config is the fake's fixed setup.
type Config struct {
	// Token, when set, is the credential every request must carry: as a bearer token, or in
	// APIKeyHeader when that is set.
	Token        string
	APIKeyHeader string
	// ChatModels are the chat models /v1/models lists; nil means ["demo-chat"].
	ChatModels []string
	// Dimensions gives each embedding model's dimension; nil means
	// {"demo-embed-small": 384, "demo-embed-large": 1024}.
	Dimensions map[string]int
	// DefaultDimension is the dimension of an embedding model not in Dimensions; 0 means 384.
	DefaultDimension int
	// StrictModels answers 404 model not found for a model not listed; otherwise any name is
	// served (a chat model, or an embedding model of DefaultDimension).
	StrictModels bool
	// Rand draws FailRate failures; nil is math/rand/v2's. It is called under a lock.
	Rand func() float64
	// Created is the "created" timestamp in answers, fixed so answers are deterministic.
	Created int64
	// Noisy gives embedding models that answer worse vectors: the text's vector plus fresh random
	// noise of this size (relative to the unit vector) on every request, so that a query never
	// embeds quite as its document did. A stand-in for a lower-quality model.
	Noisy map[string]float64
}

// Server is the fake upstream, an http.Handler. It is safe for concurrent use.
type Server struct {
	cfg    Config
	models []byte // the /v1/models answer, precomputed

	mu     sync.RWMutex
	faults Faults
	randMu sync.Mutex

	vecCache sync.Map // vecKey → *encodedVec
	cached   atomic.Int64

	requests    atomic.Int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	seq         atomic.Int64
	bufs        sync.Pool
}

// New returns a fake upstream.
func New(cfg Config) *Server {
	if cfg.ChatModels == nil {
		cfg.ChatModels = []string{"demo-chat"}
	}
	if cfg.Dimensions == nil {
		cfg.Dimensions = map[string]int{"demo-embed-small": 384, "demo-embed-large": 1024}
	}
	if cfg.DefaultDimension <= 0 {
		cfg.DefaultDimension = 384
	}
	if cfg.Created == 0 {
		cfg.Created = 1767225600 // 2026-01-01
	}
	s := &Server{cfg: cfg}
	s.bufs.New = func() any { b := make([]byte, 0, 16<<10); return &b }
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list"}
	for _, m := range cfg.ChatModels {
		list.Data = append(list.Data, model{m, "model", cfg.Created, "fakeupstream"})
	}
	for _, m := range sortedKeys(cfg.Dimensions) {
		list.Data = append(list.Data, model{m, "model", cfg.Created, "fakeupstream"})
	}
	s.models, _ = json.Marshal(list)
	return s
}

// SetFaults replaces the injected faults; Faults{} clears them.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Faults returns the faults set programmatically.
func (s *Server) Faults() Faults {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.faults
}

// takeFaults returns the faults for one request, counting it against Faults.Times.
func (s *Server) takeFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	if s.faults.Times > 0 {
		if s.faults.Times--; s.faults.Times == 0 {
			s.faults = Faults{}
		}
	}
	return f
}

// Requests is the number of requests served so far (any route, any outcome).
func (s *Server) Requests() int64 { return s.requests.Load() }

// InFlight is the number of chat and embeddings requests being served now.
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// MaxInFlight is the most chat and embeddings requests served at once since the start or the last
// ResetMaxInFlight.
func (s *Server) MaxInFlight() int64 { return s.maxInFlight.Load() }

// ResetMaxInFlight starts the peak count again from the requests in flight now.
func (s *Server) ResetMaxInFlight() { s.maxInFlight.Store(s.inFlight.Load()) }

// enter counts a request in flight until the returned function is called.
func (s *Server) enter() func() {
	n := s.inFlight.Add(1)
	for m := s.maxInFlight.Load(); n > m && !s.maxInFlight.CompareAndSwap(m, n); m = s.maxInFlight.Load() {
	}
	return func() { s.inFlight.Add(-1) }
}

// ServeHTTP serves the OpenAI-compatible routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if r.Method == http.MethodPost {
		defer s.enter()()
	}
	f := s.takeFaults()
	if h := r.Header.Get("X-Fake-Fault"); h != "" {
		f = ParseFaults(h, f)
	}
	if st, ok := f.Routes[r.URL.Path]; ok {
		routeMissing(w, st)
		return
	}
	switch r.URL.Path {
	case "/v1/models":
		if r.Method != http.MethodGet {
			routeMissing(w, http.StatusMethodNotAllowed)
			return
		}
		if !s.pre(w, r, f) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.models)
	case "/v1/chat/completions":
		if r.Method != http.MethodPost {
			routeMissing(w, http.StatusMethodNotAllowed)
			return
		}
		s.chat(w, r, f)
	case "/v1/embeddings":
		if r.Method != http.MethodPost {
			routeMissing(w, http.StatusMethodNotAllowed)
			return
		}
		s.embeddings(w, r, f)
	default:
		routeMissing(w, http.StatusNotFound)
	}
}

// pre applies the faults common to every route; false means it answered.
func (s *Server) pre(w http.ResponseWriter, r *http.Request, f Faults) bool {
	if f.FirstByteDelay > 0 && !sleep(r, f.FirstByteDelay) {
		return false
	}
	if !s.authorised(w, r, f) || s.randomFailure(w, f) {
		return false
	}
	if f.BreakBeforeAnswer {
		resetConn(w)
		return false
	}
	if f.Status != 0 {
		s.writeFault(w, r, f)
		return false
	}
	return true
}

func (s *Server) authorised(w http.ResponseWriter, r *http.Request, f Faults) bool {
	ok := true
	if f.Unauthorized {
		ok = false
	} else if s.cfg.Token != "" {
		if s.cfg.APIKeyHeader != "" {
			ok = r.Header.Get(s.cfg.APIKeyHeader) == s.cfg.Token
		} else {
			ok = r.Header.Get("Authorization") == "Bearer "+s.cfg.Token
		}
	}
	if !ok {
		sh := f.Shape
		if sh == "" {
			sh = ShapeOpenAI
		}
		WriteError(w, http.StatusUnauthorized, sh, "Incorrect API key provided.", "invalid_api_key", "")
	}
	return ok
}

func (s *Server) randomFailure(w http.ResponseWriter, f Faults) bool {
	if f.FailRate <= 0 {
		return false
	}
	s.randMu.Lock()
	var x float64
	if s.cfg.Rand != nil {
		x = s.cfg.Rand()
	} else {
		x = rand.Float64()
	}
	s.randMu.Unlock()
	if x >= f.FailRate {
		return false
	}
	WriteError(w, http.StatusInternalServerError, f.shape(), "simulated random failure", "internal_error", "")
	return true
}

func (f Faults) shape() Shape {
	if f.Shape == "" {
		return ShapeOpenAI
	}
	return f.Shape
}

// writeFault answers f.Status (or the model-not-found fault) with an error body.
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, f Faults) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Location != "" {
		w.Header().Set("Location", f.Location)
	}
	msg := f.Message
	if msg == "" {
		switch {
		case f.Status == http.StatusTooManyRequests:
			msg = "Rate limit reached; please try again later."
		case f.Status == http.StatusUnauthorized:
			msg = "Incorrect API key provided."
		case f.Status >= 500:
			msg = "The server had an error while processing your request."
		default:
			msg = http.StatusText(f.Status)
		}
	}
	WriteError(w, f.Status, f.shape(), s.ExpandEcho(msg, r), codeFor(f.Status), "")
}

// ExpandEcho replaces the placeholders of a fault's message with what r carried, as an upstream
// that echoes its input in errors does: {authorization} is the Authorization header,
// {credential} the credential (the bearer token, or the API-key header's value), and
// {credential_base64} and {credential_urlencoded} its encodings.
func (s *Server) ExpandEcho(msg string, r *http.Request) string {
	if !strings.Contains(msg, "{") {
		return msg
	}
	auth := r.Header.Get("Authorization")
	cred := strings.TrimPrefix(auth, "Bearer ")
	if s.cfg.APIKeyHeader != "" {
		cred = r.Header.Get(s.cfg.APIKeyHeader)
	}
	return strings.NewReplacer("{authorization}", auth, "{credential}", cred,
		"{credential_base64}", base64.StdEncoding.EncodeToString([]byte(cred)),
		"{credential_urlencoded}", url.QueryEscape(cred)).Replace(msg)
}

func codeFor(status int) string {
	switch status {
	case 401:
		return "invalid_api_key"
	case 404:
		return "not_found"
	case 429:
		return "rate_limit_exceeded"
	}
	if status >= 500 {
		return "server_error"
	}
	return "invalid_request_error"
}

func (s *Server) modelNotFound(w http.ResponseWriter, f Faults, model string) {
	WriteError(w, http.StatusNotFound, f.shape(), fmt.Sprintf("The model `%s` does not exist.", model), "model_not_found", "model")
}

// WriteError writes an error answer of status in shape, as the upstreams that use it do.
func WriteError(w http.ResponseWriter, status int, shape Shape, message, code, param string) {
	var body []byte
	ct := "application/json"
	switch shape {
	case ShapeErrorString:
		body, _ = json.Marshal(map[string]string{"error": message})
	case ShapeVLLM:
		body, _ = json.Marshal(map[string]any{"object": "error", "message": message, "type": vllmType(status), "param": nullable(param), "code": status})
	case ShapeFastAPI:
		body, _ = json.Marshal(map[string]string{"detail": message})
	case ShapeFastAPIList:
		loc := []string{"body"}
		if param != "" {
			loc = append(loc, param)
		}
		body, _ = json.Marshal(map[string]any{"detail": []map[string]any{{"loc": loc, "msg": message, "type": "value_error"}}})
	case ShapeText:
		ct = "text/plain; charset=utf-8"
		body = []byte(message + "\n")
	case ShapeHTML:
		ct = "text/html"
		title := fmt.Sprintf("%d %s", status, http.StatusText(status))
		body = []byte("<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
			"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
	default:
		typ := "invalid_request_error"
		if status >= 500 {
			typ = "server_error"
		}
		body, _ = json.Marshal(map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nullable(param), "code": nullable(code)}})
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func vllmType(status int) string {
	switch status {
	case 400, 422:
		return "BadRequestError"
	case 404:
		return "NotFoundError"
	case 401:
		return "AuthenticationError"
	}
	return "InternalServerError"
}

// routeMissing answers as a router does for a path or method it does not have.
func routeMissing(w http.ResponseWriter, status int) {
	if status == http.StatusMethodNotAllowed {
		WriteError(w, status, ShapeFastAPI, "Method Not Allowed", "", "")
		return
	}
	if status == 0 {
		status = http.StatusNotFound
	}
	WriteError(w, status, ShapeText, "404 page not found", "", "")
}

// sleep waits d or until the client goes away; false means it went away.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// resetConn drops the connection with a TCP reset (SO_LINGER 0) where it can, and aborts the
// answer otherwise, so the client sees a broken answer either way.
func resetConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			} else if tlsc, ok := c.(*tls.Conn); ok {
				if tc, ok := tlsc.NetConn().(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
			}
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// Running is a fake upstream listening on a loopback address.
type Running struct {
	*Server
	// URL is the base URL to register: http://127.0.0.1:port/v1.
	URL string
	// CAPEM is the certificate authority of a TLS fake (StartTLS), empty otherwise.
	CAPEM string
	srv   *httptest.Server
}

// Close stops the server and its connections.
func (r *Running) Close() { r.srv.Close() }

// Start serves a new fake upstream on 127.0.0.1 at a free port.
func Start(cfg Config) *Running {
	s := New(cfg)
	srv := httptest.NewServer(s)
	return &Running{Server: s, URL: srv.URL + "/v1", srv: srv}
}

// StartTLS serves a new fake upstream over TLS with a self-signed certificate for 127.0.0.1;
// CAPEM is what a provider's CA bundle must hold to trust it.
func StartTLS(cfg Config) *Running {
	s := New(cfg)
	srv := httptest.NewTLSServer(s)
	pem := "-----BEGIN CERTIFICATE-----\n" + wrap64(base64.StdEncoding.EncodeToString(srv.Certificate().Raw)) + "-----END CERTIFICATE-----\n"
	return &Running{Server: s, URL: srv.URL + "/v1", CAPEM: pem, srv: srv}
}

// Listen serves s on addr (e.g. 127.0.0.1:0) until the returned server is shut down; it is
// what a long-running process such as `make dev` uses.
func Listen(addr string, s *Server) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }() // returns when hs is shut down or closed
	return hs, ln, nil
}

func wrap64(s string) string {
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

// ParseFaults reads a fault spec (see the package comment) over base. Unknown keys are ignored,
// so a typo fails safe: no fault.
func ParseFaults(spec string, base Faults) Faults {
	f := base
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "status":
			f.Status, _ = strconv.Atoi(v)
		case "shape":
			f.Shape = Shape(v)
		case "message":
			f.Message = v
		case "retry_after":
			f.RetryAfter = v
		case "location":
			f.Location = v
		case "stream_error":
			f.StreamError = v
		case "model_not_found":
			f.ModelNotFound = true
		case "unauthorized":
			f.Unauthorized = true
		case "delay":
			f.FirstByteDelay = duration(v)
		case "stall":
			f.StreamStall = duration(v)
		case "break_after":
			n, _ := strconv.Atoi(v)
			f.BreakAfter = n
			f.BreakBeforeAnswer = n == 0
		case "break_after_headers":
			f.BreakAfterHeaders = true
		case "dim":
			f.Dimension, _ = strconv.Atoi(v)
		case "fail_rate":
			f.FailRate, _ = strconv.ParseFloat(v, 64)
		case "no_stream":
			f.NoStreaming = true
		case "no_tools":
			f.NoTools = true
		}
	}
	return f
}

func duration(v string) time.Duration {
	if d, err := time.ParseDuration(v); err == nil {
		return d
	}
	ms, _ := strconv.Atoi(v)
	return time.Duration(ms) * time.Millisecond
}

// splitModel separates "name@faults" into the name and the faults it asks for.
func splitModel(model string, f Faults) (string, Faults) {
	name, spec, ok := strings.Cut(model, "@")
	if !ok {
		return model, f
	}
	return name, ParseFaults(spec, f)
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// hashText is the seed of a text's vector.
func hashText(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// unitVector is a deterministic unit vector of dim float32s seeded by seed.
func unitVector(seed uint64, dim int) []float32 {
	v := make([]float32, dim)
	x := seed
	var norm float64
	for i := range v {
		// splitmix64
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		f := float64(int64(z>>11))/float64(1<<53)*2 - 1
		v[i] = float32(f)
		norm += f * f
	}
	n := math.Sqrt(norm)
	if n == 0 {
		n = 1
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}

type vecKey struct {
	seed uint64
	dim  int
	b64  bool
}

// maxCachedVectors bounds the vector cache; past it vectors are encoded per request.
const maxCachedVectors = 8192

// appendVector appends the vector of seed to out as the answer writes it: a JSON list of floats, or
// a quoted base64 string of little-endian float32s. Only the encoding asked for is made: formatting
// floats costs ten times the rest, and a large corpus asks for base64 past the cache.
func (s *Server) appendVector(out []byte, seed uint64, dim int, b64 bool) []byte {
	k := vecKey{seed, dim, b64}
	if v, ok := s.vecCache.Load(k); ok {
		return append(out, v.([]byte)...)
	}
	start := len(out)
	out = appendEncoded(out, unitVector(seed, dim), b64)
	if s.cached.Load() < maxCachedVectors {
		if _, loaded := s.vecCache.LoadOrStore(k, append([]byte(nil), out[start:]...)); !loaded {
			s.cached.Add(1)
		}
	}
	return out
}

// appendEncoded appends vec as a base64 string of little-endian float32s or a JSON list.
func appendEncoded(out []byte, vec []float32, b64 bool) []byte {
	dim := len(vec)
	if b64 {
		raw := make([]byte, 4*dim)
		for i, x := range vec {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
		}
		out = append(out, '"')
		out = base64.StdEncoding.AppendEncode(out, raw)
		out = append(out, '"')
	} else {
		out = append(out, '[')
		for i, x := range vec {
			if i > 0 {
				out = append(out, ',')
			}
			out = strconv.AppendFloat(out, float64(x), 'g', -1, 32)
		}
		out = append(out, ']')
	}
	return out
}

// noisyVector is text's unit vector plus fresh noise of relative size noise, normalised again.
func (s *Server) noisyVector(seed uint64, dim int, noise float64) []float32 {
	v := unitVector(seed, dim)
	s.randMu.Lock()
	defer s.randMu.Unlock()
	var norm float64
	scale := noise / math.Sqrt(float64(dim)) // noise of length about `noise` in all
	for i := range v {
		x := float64(v[i]) + scale*rand.NormFloat64()
		v[i] = float32(x)
		norm += x * x
	}
	n := math.Sqrt(norm)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}
