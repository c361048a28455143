package gateway_test

// Attacks on the developer API by a caller holding a developer key, each as the security review found
// it (`go test -run TestAttack ./shared/gateway` lists and runs them). docs/security.md says what each
// one proves.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/wire/wiretest"
)

// recorder is an upstream that reads bodies with one parser, counts them, and answers as a model server.
type recorder struct {
	parse func([]byte) wiretest.View
	hits  atomic.Int64
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.hits.Add(1)
	model := rc.parse(b)["model"]
	w.Header().Set("Content-Type", "application/json")
	if strings.HasSuffix(r.URL.Path, "/embeddings") {
		vec := strings.TrimSuffix(strings.Repeat("0.5,", 768), ",")
		fmt.Fprintf(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[%s]}],"model":%s,"usage":{"prompt_tokens":1,"total_tokens":1}}`, vec, model)
		return
	}
	fmt.Fprintf(w, `{"id":"c","object":"chat.completion","created":1,"model":%s,"choices":[{"index":0,"message":{"role":"assistant","content":"served %s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`,
		model, strings.Trim(model, `"`))
}

// TestAttackDuplicateFieldsNeverReachAnUpstream: a field the gateway reads, given twice or in another
// letter case (or escaped), is refused with 400 invalid_request naming it, and the body reaches no
// upstream, whichever way the upstream's decoder picks among duplicates. Before the fix the gateway
// authorised "model" by its exact key while a Go upstream served "Model", and "Stream", "Tools" or a
// second include_usage slipped past the capability checks and the usage count.
func TestAttackDuplicateFieldsNeverReachAnUpstream(t *testing.T) {
	e := newEnv(t)
	recs := map[string]*recorder{}
	for _, p := range wiretest.Decoders {
		rc := &recorder{parse: p.Parse}
		up := httptest.NewServer(rc)
		t.Cleanup(up.Close)
		recs[p.Name] = rc
		e.provider("up-"+p.Name, up.URL+"/v1", 0)
		e.model("g-"+p.Name, "up-"+p.Name, "granted", catalog.KindChat, 0, false, false, true) // no streaming, no tools
		e.model("s-"+p.Name, "up-"+p.Name, "granted", catalog.KindChat, 0, true, false, true)  // streaming
		e.model("x-"+p.Name, "up-"+p.Name, "secret", catalog.KindChat, 0, true, true, true)    // another team's
		e.model("e-"+p.Name, "up-"+p.Name, "embed", catalog.KindEmbedding, 768, false, false, true)
		for _, m := range []string{"g-", "s-", "e-"} {
			e.grant(m+p.Name, "search")
		}
		e.grant("x-"+p.Name, "other")
	}
	e.refresh()

	// {G}: a chat model without streaming or tools; {S}: a streaming one; {E}: an embedding model.
	attacks := []struct{ route, body, param string }{
		{"chat/completions", `{"model":"{G}","Model":"secret","messages":[]}`, "model"},
		{"chat/completions", `{"Model":"secret","model":"{G}","messages":[]}`, "model"},
		{"chat/completions", `{"model":"{G}","MODEL":"secret","messages":[]}`, "model"},
		{"chat/completions", `{"model":"{G}","mod\u0065l":"secret","messages":[]}`, "model"},
		{"chat/completions", `{"model":"{G}","Mod\u0065l":"secret","messages":[]}`, "model"},
		{"chat/completions", `{"model":"{G}","messages":[],"Stream":true}`, "stream"},
		{"chat/completions", `{"model":"{G}","messages":[],"ſtream":true}`, "stream"},
		{"chat/completions", `{"model":"{G}","messages":[],"\u017ftream":true}`, "stream"},
		{"chat/completions", `{"model":"{G}","messages":[],"stream":false,"STREAM":true}`, "stream"},
		{"chat/completions", `{"model":"{G}","messages":[],"Tools":[{"type":"function","function":{"name":"f"}}]}`, "tools"},
		{"chat/completions", `{"model":"{G}","messages":[],"tools":[],"tools":[{"type":"function","function":{"name":"f"}}]}`, "tools"},
		{"chat/completions", `{"model":"{G}","messages":[],"Functions":[{"name":"f"}]}`, "functions"},
		{"chat/completions", `{"model":"{G}","messages":[],"Messages":[{"role":"user","content":"x"}]}`, "messages"},
		{"chat/completions", `{"model":"{S}","messages":[],"stream":true,"stream_options":{"include_usage":true,"Include_Usage":false}}`, "stream_options.include_usage"},
		{"chat/completions", `{"model":"{S}","messages":[],"stream":true,"stream_options":{"include_usage":true},"Stream_Options":{"include_usage":false}}`, "stream_options"},
		{"chat/completions", `{"model":"{S}","messages":[],"stream":true,"stream_optıons":{"include_usage":false}}`, "stream_options"},
		{"embeddings", `{"model":"{E}","input":"x","Input":["a","b"]}`, "input"},
		{"embeddings", `{"model":"{E}","ınput":["a","b"],"input":"x"}`, "input"},
		{"embeddings", `{"model":"{E}","Model":"secret","input":"x"}`, "model"},
		{"embeddings", `{"model":"{E}","input":"x","encoding_format":"float","Encoding_Format":"base64"}`, "encoding_format"},
		{"embeddings", `{"model":"{E}","input":"x","dimensions":768,"Dimensions":3}`, "dimensions"},
	}
	for _, p := range wiretest.Decoders {
		fill := strings.NewReplacer("{G}", "g-"+p.Name, "{S}", "s-"+p.Name, "{E}", "e-"+p.Name)
		for _, a := range attacks {
			body := fill.Replace(a.body)
			// The premise: upstream decoders disagree on what this body asks for.
			same := true
			for _, q := range wiretest.Decoders[1:] {
				same = same && maps.Equal(wiretest.Decoders[0].Parse([]byte(body)), q.Parse([]byte(body)))
			}
			if same {
				t.Fatalf("not an attack: every decoder reads %s the same way", body)
			}
			resp := e.post("/v1/"+a.route, e.key, body)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, param := errorOf(t, b)
			if resp.StatusCode != 400 || code != "invalid_request" || param != a.param {
				t.Errorf("%s → %d %s param %q (want 400 invalid_request param %q): %s", body, resp.StatusCode, code, param, a.param, b)
			}
		}
	}
	for name, rc := range recs {
		if n := rc.hits.Load(); n != 0 {
			t.Errorf("%d attack bodies reached the %s upstream", n, name)
		}
	}
	// The same upstreams serve honest bodies, so the silence above is the gateway's refusal.
	for _, p := range wiretest.Decoders {
		for route, body := range map[string]string{
			"chat/completions": `{"model":"g-` + p.Name + `","messages":[{"role":"user","content":"hi"}]}`,
			"embeddings":       `{"model":"e-` + p.Name + `","input":"hi"}`,
		} {
			resp := e.post("/v1/"+route, e.key, body)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("honest %s: %d %s", body, resp.StatusCode, b)
			}
		}
		if n := recs[p.Name].hits.Load(); n != 2 {
			t.Errorf("the %s upstream received %d honest bodies, want 2", p.Name, n)
		}
	}
}

// TestAttackDuplicateFieldsInCorpusBodies: the corpus routes refuse the same shapes in their bodies.
func TestAttackDuplicateFieldsInCorpusBodies(t *testing.T) {
	e := newEnv(t)
	e.corpus("handbook", "embed")
	tests := []struct{ method, path, body, param string }{
		{"POST", "/v1/corpora/handbook/search", `{"query":"leave","Query":"anything"}`, "query"},
		{"POST", "/v1/corpora/handbook/search", `{"query":"leave","k":1,"\u212a":100}`, "k"},
		{"POST", "/v1/corpora/handbook/search", `{"query":"leave","qu\u0065ry":"anything"}`, "query"},
		{"PUT", "/v1/corpora/handbook/documents", `{"documents":[{"id":"a","text":"t"}],"Documents":[{"id":"b","text":"u"}]}`, "documents"},
		{"PUT", "/v1/corpora/handbook/documents", `{"documents":[{"id":"a","text":"t"},{"id":"b","text":"u","ID":"c"}]}`, "documents[1].id"},
		{"PUT", "/v1/corpora/handbook/documents", `{"documents":[{"id":"a","text":"t","Text":"u"}]}`, "documents[0].text"},
	}
	for _, tt := range tests {
		status, b := e.do(tt.method, tt.path, e.key, tt.body)
		if code, param := errorOf(t, b); status != 400 || code != "invalid_request" || param != tt.param {
			t.Errorf("%s %s → %d %s param %q, want 400 invalid_request param %q", tt.path, tt.body, status, code, param, tt.param)
		}
	}
}

// TestAttackHugeNamesAreRefusedSmall: megabyte names, ids, queries and metadata are refused with a
// small 400 naming the field, and the request log keeps a bounded prefix of what was sent.
func TestAttackHugeNamesAreRefusedSmall(t *testing.T) {
	e := newEnv(t)
	e.corpus("handbook", "embed")
	huge := strings.Repeat("a", 1<<20)
	long := strings.Repeat("b", 512<<10) // a path must stay under the server's 1 MB header limit
	tests := []struct{ method, path, body, param string }{
		{"POST", "/v1/chat/completions", `{"model":"` + huge + `","messages":[]}`, "model"},
		{"POST", "/v1/embeddings", `{"model":"` + huge + `","input":"x"}`, "model"},
		{"GET", "/v1/models/" + long, ``, "model"},
		{"PUT", "/v1/corpora/handbook/documents", `{"documents":[{"id":"` + huge + `","text":"t"}]}`, "documents[0].id"},
		{"PUT", "/v1/corpora/handbook/documents", `{"documents":[{"id":"a","text":"t","metadata":{"m":"` + huge + `"}}]}`, "documents[0].metadata"},
		{"DELETE", "/v1/corpora/handbook/documents/" + long, ``, "id"},
		{"POST", "/v1/corpora/" + long + "/search", `{"query":"x"}`, "corpus"},
		{"POST", "/v1/corpora/handbook/search", `{"query":"` + huge + `"}`, "query"},
		{"POST", "/v1/corpora/handbook/search", `{"query":"x","` + huge + `":1}`, ""},
		{"POST", "/v1/corpora/handbook/search", `{"query":"x","k":` + strings.Repeat("9", 1<<20) + `}`, "k"},
	}
	for i, tt := range tests {
		status, b := e.do(tt.method, tt.path, e.key, tt.body)
		code, param := errorOf(t, b)
		if status != 400 || code != "invalid_request" || (tt.param != "" && param != tt.param) || len(b) > 1024 {
			t.Errorf("%s %.60s…: %d %s param %q, %d bytes (want a 400 invalid_request naming %q under 1 KiB): %.300s",
				tt.method, tt.path, status, code, param, len(b), tt.param, b)
		}
		r := e.lastRow(i + 1)
		for field, v := range map[string]string{"route": r.Route, "requested": r.Requested, "message": r.Message, "detail": r.Detail} {
			if len(v) > 1024 {
				t.Errorf("%s %.60s…: the request log's %s holds %d bytes", tt.method, tt.path, field, len(v))
			}
		}
	}
	// An unknown route quotes its path boundedly too.
	status, b := e.do("GET", "/v1/"+long, e.key, "")
	if status != 404 || len(b) > 1024 {
		t.Errorf("unknown long route: %d, %d bytes", status, len(b))
	}
	if r := e.lastRow(len(tests) + 1); len(r.Route) > 1024 || len(r.Message) > 1024 {
		t.Errorf("unknown long route logged %d bytes of route, %d of message", len(r.Route), len(r.Message))
	}
}

// TestAttackAllowListCoversCorpora: a key restricted to some names cannot reach a corpus through an
// embedding alias outside them; it reads exactly as an unknown corpus.
func TestAttackAllowListCoversCorpora(t *testing.T) {
	e := newEnv(t)
	e.corpus("handbook", "embed")
	chatOnly := e.newKey("search", "chat")
	pinnedOnly := e.newKey("search", "embed-v1")
	embedOnly := e.newKey("search", "embed")
	e.refresh()

	_, unknown := e.do("POST", "/v1/corpora/nowhere/search", chatOnly, `{"query":"x"}`)
	for _, key := range []string{chatOnly, pinnedOnly} {
		for _, req := range [][3]string{
			{"POST", "/v1/corpora/handbook/search", `{"query":"x"}`},
			{"PUT", "/v1/corpora/handbook/documents", `{"documents":[{"id":"a","text":"t"}]}`},
			{"DELETE", "/v1/corpora/handbook/documents/a", ``},
		} {
			status, b := e.do(req[0], req[1], key, req[2])
			code, _ := errorOf(t, b)
			if status != 404 || code != "corpus_not_found" || strings.ReplaceAll(string(b), "handbook", "nowhere") != string(unknown) {
				t.Errorf("%s %s with a key outside the alias: %d %s (an unknown corpus answers %s)", req[0], req[1], status, b, unknown)
			}
		}
	}
	for _, key := range []string{embedOnly, e.key} {
		if status, b := e.do("POST", "/v1/corpora/handbook/search", key, `{"query":"x"}`); status != 200 {
			t.Errorf("a key allowed the alias (or unrestricted) searching: %d %s", status, b)
		}
	}
}

// TestAttackRevokedKeyCannotKeepAStreamOpen: a stream started before its key was revoked ends within
// two seconds of the revocation with an error event (no [DONE]), and the upstream call is cancelled.
func TestAttackRevokedKeyCannotKeepAStreamOpen(t *testing.T) {
	e := newEnv(t)
	// 100ms between events over 300 words: half a minute of stream.
	wt := e.slowStream("slow-v1", "100ms")
	key := e.newKey("search")
	e.refresh()

	body := `{"model":"slow-v1","stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("word ", 300) + `"}]}`
	resp := e.post("/v1/chat/completions", key, body)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "data: {") {
		t.Fatalf("no first event: %q %v", lines.Text(), lines.Err())
	}
	h := catalog.HashSecret(key)
	e.exec(`UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1`, h[:])
	revoked := time.Now()
	var last string
	events := 0
	for lines.Scan() {
		if l := lines.Text(); strings.HasPrefix(l, "data:") {
			last = l
			events++
		}
	}
	took := time.Since(revoked)
	if took > 2*time.Second {
		t.Errorf("the stream went on for %v after the key was revoked (%d more events); the bound is two seconds", took, events)
	}
	if !strings.HasPrefix(last, `data: {"error":`) || !strings.Contains(last, `"code":"invalid_api_key"`) {
		t.Errorf("the stream's last event is %q, want an invalid_api_key error event", last)
	}
	select {
	case <-wt.cancelled:
	case <-time.After(2 * time.Second):
		t.Error("the upstream call went on after the stream ended")
	}
	if r := e.lastRow(1); r.Outcome != "invalid_api_key" || r.Status != 200 || r.Detail != "key revoked during the call" {
		t.Errorf("row %+v", r)
	}
}

// corpus creates a corpus following alias, used by the teams granted it.
func (e *env) corpus(name, alias string) {
	e.t.Helper()
	if _, err := e.app.Corpora.CreateCorpus(e.ctx, name, alias, nil, nil); err != nil {
		e.t.Fatal(err)
	}
}

// do sends a raw request and returns the status and body.
func (e *env) do(method, path, key, body string) (int, []byte) {
	e.t.Helper()
	resp := e.send(method, e.srv.URL+path, key, body)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// errorOf reads SPEC's error shape.
func errorOf(t *testing.T, b []byte) (code, param string) {
	t.Helper()
	var out struct {
		Error struct {
			Code  string  `json:"code"`
			Param *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return "", ""
	}
	if out.Error.Param != nil {
		param = *out.Error.Param
	}
	return out.Error.Code, param
}
