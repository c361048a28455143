package wire

import (
	"strings"
	"testing"
)

func TestSplice(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		start, end int
		text       string
		room       int // spare capacity past len(in)
		want       string
	}{
		{name: "shorter, in the middle", in: `{"model":"upstream-name","x":1}`, start: 9, end: 24, text: `"m"`, want: `{"model":"m","x":1}`},
		{name: "longer, with room", in: `{"model":"u","x":1}`, start: 9, end: 12, text: `"pinned-v1"`, room: 64, want: `{"model":"pinned-v1","x":1}`},
		{name: "longer, without room", in: `{"model":"u","x":1}`, start: 9, end: 12, text: `"pinned-v1"`, want: `{"model":"pinned-v1","x":1}`},
		{name: "same length", in: `{"model":"abc"}`, start: 9, end: 14, text: `"xyz"`, want: `{"model":"xyz"}`},
		{name: "at the end", in: `abcdef`, start: 4, end: 6, text: `XYZ`, room: 8, want: `abcdXYZ`},
		{name: "at the start", in: `abcdef`, start: 0, end: 2, text: `Z`, want: `Zcdef`},
		{name: "removing", in: `abcdef`, start: 1, end: 5, text: ``, want: `af`},
	}
	for _, tt := range tests {
		b := append(make([]byte, 0, len(tt.in)+tt.room), tt.in...)
		if got := string(Splice(b, tt.start, tt.end, []byte(tt.text))); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

// BenchmarkParseRequest is the hot path's scan of a typical chat body (a dozen top-level members,
// most of them not read) and of a 16-input embeddings body.
func BenchmarkParseRequest(b *testing.B) {
	chat := []byte(`{"model":"chat","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"` +
		strings.Repeat("lorem ipsum ", 200) + `"}],"temperature":0.2,"top_p":1,"max_tokens":512,"n":1,"user":"u-1",` +
		`"presence_penalty":0,"frequency_penalty":0,"seed":7,"stream":true,"stream_options":{"include_usage":true}}`)
	embed := []byte(`{"model":"embed","encoding_format":"base64","input":[` +
		strings.TrimSuffix(strings.Repeat(`"`+strings.Repeat("text ", 100)+`",`, 16), ",") + `]}`)
	for _, bc := range []struct {
		name, route string
		body        []byte
	}{{"chat", RouteChat, chat}, {"embeddings", RouteEmbeddings, embed}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, e := ParseRequest(bc.body, bc.route); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}

// Routing rules read "user" and quotas read max_tokens, so they are fields the gateway reads: read
// once, spelled exactly, and refused twice.
func TestParseRequestReadsUserAndMaxTokens(t *testing.T) {
	req, e := ParseRequest([]byte(`{"model": "m", "messages": [], "user": "pilot-7", "max_tokens": 64, "max_completion_tokens": 128}`), RouteChat)
	if e != nil {
		t.Fatal(e)
	}
	if req.User != "pilot-7" || req.MaxTokens != 128 {
		t.Errorf("user %q, max tokens %d; want pilot-7 and the larger, 128", req.User, req.MaxTokens)
	}
	if req, _ := ParseRequest([]byte(`{"model": "m", "messages": []}`), RouteChat); req.MaxTokens != -1 || req.User != "" {
		t.Errorf("absent fields read as user %q, max tokens %d; want \"\" and -1", req.User, req.MaxTokens)
	}
	for body, param := range map[string]string{
		`{"model": "m", "messages": [], "user": "a", "User": "b"}`:         "user",
		`{"model": "m", "messages": [], "max_tokens": 1, "MAX_TOKENS": 9}`: "max_tokens",
		`{"model": "m", "messages": [], "max_tokens": -1}`:                 "max_tokens",
		`{"model": "m", "messages": [], "user": 7}`:                        "user",
	} {
		if _, e := ParseRequest([]byte(body), RouteChat); e == nil || e.Param == nil || *e.Param != param {
			t.Errorf("%s: got %v; want a refusal naming %s", body, e, param)
		}
	}
}
