package fakeupstream

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/wire"
)

func post(t *testing.T, url, token, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// vectors decodes an embeddings answer of n items with the gateway's own codec, so the fake is held
// to what the gateway reads.
func vectors(t *testing.T, b []byte, n int) [][]float32 {
	t.Helper()
	v, err := wire.DecodeEmbeddings(b, n)
	if err != nil {
		t.Fatalf("answer %.200s: %v", b, err)
	}
	return v
}

func TestEmbeddings(t *testing.T) {
	up := Start(Config{Token: "secret"})
	defer up.Close()
	url := up.URL + "/embeddings"

	_, b := post(t, url, "secret", `{"model":"demo-embed-small","input":["hello world","other","hello world"]}`)
	v := vectors(t, b, 3)
	a, o, a2 := v[0], v[1], v[2]
	if len(a) != 384 || len(o) != 384 {
		t.Fatalf("dimension %d, want 384", len(a))
	}
	var norm, same, dot float64
	for i := range a {
		norm += float64(a[i]) * float64(a[i])
		same += math.Abs(float64(a[i] - a2[i]))
		dot += float64(a[i]) * float64(o[i])
	}
	if math.Abs(norm-1) > 1e-4 {
		t.Errorf("vector norm² %v, want 1", norm)
	}
	if same != 0 {
		t.Error("identical texts got different vectors")
	}
	if dot > 0.5 {
		t.Errorf("different texts are too alike (cos %v)", dot)
	}

	// base64 decodes to the same floats; the large model has its own dimension; token input works.
	_, b = post(t, url, "secret", `{"model":"demo-embed-small","input":"hello world","encoding_format":"base64"}`)
	if got := vectors(t, b, 1)[0]; len(got) != 384 || got[7] != a[7] {
		t.Errorf("base64 vector differs from the float one")
	}
	_, b = post(t, url, "secret", `{"model":"demo-embed-large","input":[[1,2,3],[4,5]]}`)
	var u struct {
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	_ = json.Unmarshal(b, &u)
	if len(vectors(t, b, 2)[1]) != 1024 || u.Usage.PromptTokens != 5 {
		t.Errorf("token input: %s", b[:min(len(b), 200)])
	}
	if resp, _ := post(t, url, "wrong", `{"model":"demo-embed-small","input":"x"}`); resp.StatusCode != 401 {
		t.Errorf("wrong token: %d, want 401", resp.StatusCode)
	}
	if resp, b := post(t, url, "secret", `{"model":"demo-embed-small","input":[]}`); resp.StatusCode != 400 {
		t.Errorf("empty input: %d %s, want 400", resp.StatusCode, b)
	}
	// Faults by model-name convention and by header.
	_, b = post(t, url, "secret", `{"model":"demo-embed-small@dim=100","input":"x"}`)
	if len(vectors(t, b, 1)[0]) != 100 {
		t.Errorf("dim fault not applied: %s", b[:min(len(b), 100)])
	}
	resp, b := post(t, url, "secret", `{"model":"demo-embed-small","input":"x"}`, "X-Fake-Fault", "status=429,retry_after=3,shape=vllm")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" || !strings.Contains(string(b), `"object":"error"`) {
		t.Errorf("header fault: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
}

func TestChatStreamUsageOnlyWhenAsked(t *testing.T) {
	up := Start(Config{})
	defer up.Close()
	for _, include := range []bool{false, true} {
		body := `{"model":"demo-chat","stream":true,"messages":[{"role":"user","content":"one two three"}]}`
		if include {
			body = `{"model":"demo-chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two three"}]}`
		}
		resp, b := post(t, up.URL+"/chat/completions", "", body)
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		var events []string
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events = append(events, d)
			}
		}
		if len(events) < 5 || events[len(events)-1] != "[DONE]" {
			t.Fatalf("events %q", events)
		}
		var text strings.Builder
		usageChunks := 0
		for _, e := range events[:len(events)-1] {
			var c struct {
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
				Usage *struct{ TotalTokens int } `json:"usage"`
			}
			if err := json.Unmarshal([]byte(e), &c); err != nil {
				t.Fatalf("event %q: %v", e, err)
			}
			if c.Usage != nil {
				usageChunks++
				if len(c.Choices) != 0 {
					t.Error("the usage chunk must have no choices")
				}
			}
			for _, ch := range c.Choices {
				text.WriteString(ch.Delta.Content)
			}
		}
		if text.String() != "You said: one two three" {
			t.Errorf("streamed text %q", text.String())
		}
		if want := map[bool]int{false: 0, true: 1}[include]; usageChunks != want {
			t.Errorf("include_usage=%v: %d usage chunks, want %d", include, usageChunks, want)
		}
	}
}

func TestChatToolsAndRefusals(t *testing.T) {
	up := Start(Config{StrictModels: true})
	defer up.Close()
	url := up.URL + "/chat/completions"
	tools := `"tools":[{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]`
	_, b := post(t, url, "", `{"model":"demo-chat","messages":[{"role":"user","content":"time?"}],`+tools+`}`)
	if !strings.Contains(string(b), `"tool_calls":[{"id":"call_fake_1","type":"function","function":{"name":"get_time"`) || !strings.Contains(string(b), `"finish_reason":"tool_calls"`) {
		t.Errorf("tool call answer: %s", b)
	}
	up.SetFaults(Faults{NoTools: true, NoStreaming: true})
	if resp, b := post(t, url, "", `{"model":"demo-chat","messages":[{"role":"user","content":"x"}],`+tools+`}`); resp.StatusCode != 400 || !strings.Contains(string(b), "does not support tools") {
		t.Errorf("no_tools: %d %s", resp.StatusCode, b)
	}
	if resp, b := post(t, url, "", `{"model":"demo-chat","stream":true,"messages":[{"role":"user","content":"x"}]}`); resp.StatusCode != 400 || !strings.Contains(string(b), "streaming is not supported") {
		t.Errorf("no_stream: %d %s", resp.StatusCode, b)
	}
	up.SetFaults(Faults{})
	if resp, b := post(t, url, "", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`); resp.StatusCode != 404 || !strings.Contains(string(b), "does not exist") {
		t.Errorf("strict unknown model: %d %s", resp.StatusCode, b)
	}
	if resp, _ := post(t, url, "", `{"model":"demo-chat","max_tokens":2,"messages":[{"role":"user","content":"a b c d"}]}`); resp.StatusCode != 200 {
		t.Errorf("max_tokens: %d", resp.StatusCode)
	}
}

func TestFaultsBreakAndStall(t *testing.T) {
	up := Start(Config{})
	defer up.Close()
	// break_after: the stream is cut after 2 events.
	resp, err := http.Post(up.URL+"/chat/completions", "application/json",
		strings.NewReader(`{"model":"demo-chat@break_after=2","stream":true,"messages":[{"role":"user","content":"a b c d e"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || strings.Count(string(b), "data: ") != 2 {
		t.Errorf("broken stream: %d events, err %v", strings.Count(string(b), "data: "), err)
	}
	// stall: events are spaced out.
	start := time.Now()
	resp, err = http.Post(up.URL+"/chat/completions", "application/json",
		strings.NewReader(`{"model":"demo-chat@stall=30ms","stream":true,"messages":[{"role":"user","content":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("stalled stream took only %v", d)
	}
	// fail_rate with an injected source: every draw below the rate fails.
	draws := []float64{0.5, 0.001, 0.9}
	i := 0
	up2 := Start(Config{Rand: func() float64 { x := draws[i%len(draws)]; i++; return x }})
	defer up2.Close()
	up2.SetFaults(Faults{FailRate: 0.01})
	var codes []int
	for range 3 {
		resp, _ := post(t, up2.URL+"/chat/completions", "", `{"model":"demo-chat","messages":[{"role":"user","content":"x"}]}`)
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 200 || codes[1] != 500 || codes[2] != 200 {
		t.Errorf("fail_rate codes %v, want [200 500 200]", codes)
	}
	// a disabled route answers like a router without it.
	up2.SetFaults(Faults{Routes: map[string]int{"/v1/embeddings": 404}})
	if resp, b := post(t, up2.URL+"/embeddings", "", `{"model":"m","input":"x"}`); resp.StatusCode != 404 || !strings.Contains(string(b), "404 page not found") {
		t.Errorf("disabled route: %d %s", resp.StatusCode, b)
	}
}

func TestErrorShapes(t *testing.T) {
	up := Start(Config{})
	defer up.Close()
	for shape, want := range map[Shape]string{
		ShapeOpenAI:      `{"error":{"code":"server_error","message":"boom"`,
		ShapeErrorString: `{"error":"boom"}`,
		ShapeVLLM:        `"object":"error"`,
		ShapeFastAPI:     `{"detail":"boom"}`,
		ShapeFastAPIList: `{"detail":[{"loc":["body"],"msg":"boom"`,
		ShapeText:        "boom\n",
		ShapeHTML:        "<title>500 Internal Server Error</title>",
	} {
		up.SetFaults(Faults{Status: 500, Shape: shape, Message: "boom"})
		resp, b := post(t, up.URL+"/chat/completions", "", `{"model":"demo-chat","messages":[{"role":"user","content":"x"}]}`)
		if resp.StatusCode != 500 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s", shape, resp.StatusCode, b)
		}
	}
}

func BenchmarkEmbeddings16(b *testing.B) {
	s := New(Config{})
	body := `{"model":"demo-embed-small","input":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p"]}`
	for b.Loop() {
		w := &discard{h: http.Header{}}
		req, _ := http.NewRequest(http.MethodPost, "/v1/embeddings", strings.NewReader(body))
		s.ServeHTTP(w, req)
		if w.status != 0 && w.status != 200 {
			b.Fatal(w.status)
		}
	}
}

type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(s int)           { d.status = s }

func TestListenServesModels(t *testing.T) {
	s := New(Config{Dimensions: map[string]int{"e": 8}})
	hs, ln, err := Listen("127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"id":"demo-chat"`) || !strings.Contains(string(b), `"id":"e"`) {
		t.Fatalf("models %s", b)
	}
}

func TestCountWordsIsFieldsForASCII(t *testing.T) {
	for _, s := range []string{"", " ", "one", " one  two\tthree\nfour ", "a\r\nb\v\fc", "x  ", "  x"} {
		if got, want := countWords(s), len(strings.Fields(s)); got != want {
			t.Errorf("countWords(%q) = %d, want %d", s, got, want)
		}
	}
}
