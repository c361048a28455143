package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseRequest: the strict scanner accepts exactly what encoding/json accepts (one object); a
// body the gateway accepts reads the same, in every field the gateway reads, to every upstream
// decoder (Decoders: first or last duplicate wins, any letter case), with the model the gateway
// authorises; and the body sent upstream is valid JSON equal to the client's in every member but
// model (and stream_options when the gateway asks for usage).
// Seeds: testdata/fuzz/FuzzParseRequest. Run: go test ./shared/gateway -run '^$' -fuzz '^FuzzParseRequest$' -fuzztime 30s
func FuzzParseRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, stream bool) {
		_, err := scanDocument(body, true, nil)
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		valid := json.Valid(body) && len(trimmed) > 0 && trimmed[0] == '{'
		if (err == nil) != valid && !strings.Contains(errString(err), "nested too deeply") {
			t.Fatalf("scanner says %v, encoding/json says valid=%v, for %q", err, valid, body)
		}
		for _, route := range []string{RouteChat, RouteEmbeddings} {
			req, apiErr := parseRequest(body, route)
			if apiErr != nil {
				continue
			}
			want := stream && req.stream
			out := req.upstreamBody(nil, body, "up/stream \"name\"", want)
			var in, got map[string]any
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatalf("parseRequest accepted invalid JSON %q", body)
			}
			seen := Decoders[0].Parse(body)
			for _, d := range Decoders[1:] {
				if v := d.Parse(body); !maps.Equal(v, seen) {
					t.Fatalf("accepted %q, which decoder %s reads as %v and %s as %v", body, Decoders[0].Name, seen, d.Name, v)
				}
			}
			if authorised := string(body[req.modelSpan[0]:req.modelSpan[1]]); seen["model"] != authorised {
				t.Fatalf("accepted %q: the gateway authorises %s, upstreams read %s", body, authorised, seen["model"])
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("upstream body is not JSON: %q → %q: %v", body, out, err)
			}
			if got["model"] != "up/stream \"name\"" {
				t.Fatalf("upstream model = %v in %q", got["model"], out)
			}
			if want {
				so, _ := got["stream_options"].(map[string]any)
				if so == nil || so["include_usage"] != true {
					t.Fatalf("include_usage not set in %q", out)
				}
				delete(got, "stream_options")
				delete(in, "stream_options")
			}
			delete(got, "model")
			delete(in, "model")
			if !reflect.DeepEqual(in, got) {
				t.Fatalf("members changed: %q → %q", body, out)
			}
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzSSERelay feeds arbitrary upstream streams (malformed, truncated, oversized events) through
// the relay: it must not panic, must honour the event size bound, must pass through untouched a
// stream it has nothing to change in, and every JSON chunk it emits names the pinned model.
// Seeds: testdata/fuzz/FuzzSSERelay. Run: go test ./shared/gateway -run '^$' -fuzz '^FuzzSSERelay$' -fuzztime 30s
func FuzzSSERelay(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte, strip bool) {
		s := &sseRelay{model: []byte(`"pinned-v1"`), stripUsage: strip, maxEvent: 512}
		var out bytes.Buffer
		err := s.run(bytes.NewReader(stream), &out, func() {})
		if errors.Is(err, errEventTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("relay failed on a readable stream: %v", err)
		}
		if !strip && !bytes.Contains(stream, []byte("model")) && !bytes.Equal(out.Bytes(), stream) {
			t.Fatalf("changed a stream with nothing to change:\n%q\n%q", stream, out.Bytes())
		}
		// An event cut off by the end of the stream passes through as it came (SSE drops it).
		complete := out.String()
		if i := strings.LastIndex(complete, "\n\n"); i >= 0 {
			complete = complete[:i]
		} else {
			complete = ""
		}
		// Events with one data line are rewritten; several data lines pass as they came.
		for _, ev := range strings.Split(complete, "\n\n") {
			var data string
			n := 0
			for _, line := range strings.Split(ev, "\n") {
				if d, ok := strings.CutPrefix(line, "data:"); ok {
					data, n = strings.TrimPrefix(d, " "), n+1
				}
			}
			if n != 1 {
				continue
			}
			var chunk map[string]json.RawMessage
			if json.Unmarshal([]byte(strings.TrimSuffix(data, "\r")), &chunk) != nil {
				continue
			}
			if m, ok := chunk["model"]; ok && m[0] == '"' && string(m) != `"pinned-v1"` && !strings.Contains(string(m), `\`) {
				t.Fatalf("chunk kept model %s: %q from %q", m, data, stream)
			}
			if u, ok := chunk["usage"]; ok && (u[0] == '{' || string(u) == "null") && strip && bytes.Count(stream, []byte(`"usage"`)) == 1 {
				t.Fatalf("usage kept though stripped: %q from %q", data, stream)
			}
		}
	})
}

// TestSSERelayLongLines: a line longer than the reader's buffer is one line, not two.
func TestSSERelayLongLines(t *testing.T) {
	long := strings.Repeat("x", 40<<10)
	in := "data: {\"model\":\"up\",\"choices\":[{\"delta\":{\"content\":\"" + long + "\"}}]}\n\ndata: [DONE]\n\n"
	s := &sseRelay{model: []byte(`"pinned"`), maxEvent: 1 << 20}
	var out bytes.Buffer
	if err := s.run(strings.NewReader(in), &out, func() {}); err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(in, `"up"`, `"pinned"`, 1); out.String() != want {
		t.Fatalf("long event mangled (%d bytes out, %d expected)", out.Len(), len(want))
	}
	s.maxEvent = 1 << 10
	if err := s.run(strings.NewReader(in), io.Discard, func() {}); !errors.Is(err, errEventTooLarge) {
		t.Fatalf("an event over the limit gave %v", err)
	}
}

func TestSSERelayUsage(t *testing.T) {
	in := "data: {\"id\":\"1\",\"model\":\"up\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n" +
		": keep-alive comment\n\n" +
		"data: {\"usage\":null,\"id\":\"2\",\"model\":\"up\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
		"data: {\"id\":\"3\",\"model\":\"up\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n" +
		"data: [DONE]\n\n"
	stripped := "data: {\"id\":\"1\",\"model\":\"pinned\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n" +
		": keep-alive comment\n\n" +
		"data: {\"id\":\"2\",\"model\":\"pinned\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
		"data: [DONE]\n\n"
	for _, strip := range []bool{true, false} {
		s := &sseRelay{model: []byte(`"pinned"`), stripUsage: strip, maxEvent: 1 << 20}
		var out bytes.Buffer
		if err := s.run(strings.NewReader(in), &out, func() {}); err != nil {
			t.Fatal(err)
		}
		want := strings.ReplaceAll(in, `"up"`, `"pinned"`)
		if strip {
			want = stripped
		}
		if out.String() != want {
			t.Errorf("strip=%v:\n got %q\nwant %q", strip, out.String(), want)
		}
		if s.prompt != 5 || s.completion != 2 || s.total != 7 {
			t.Errorf("strip=%v: tokens %d/%d/%d", strip, s.prompt, s.completion, s.total)
		}
	}
}

func TestUpstreamBodyAddsIncludeUsage(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"model":"a","messages":[],"stream":true}`, `{"model":"U","messages":[],"stream":true,"stream_options":{"include_usage":true}}`},
		{`{"model":"a","stream":true,"messages":[],"stream_options":null}`, `{"model":"U","stream":true,"messages":[],"stream_options":{"include_usage":true}}`},
		{`{"stream_options":{},"model":"a","stream":true,"messages":[]}`, `{"stream_options":{"include_usage":true},"model":"U","stream":true,"messages":[]}`},
		{`{"stream_options":{"x":1},"model":"a","stream":true,"messages":[]}`, `{"stream_options":{"include_usage":true,"x":1},"model":"U","stream":true,"messages":[]}`},
		{`{"stream_options":{"include_usage":false},"model":"a","stream":true,"messages":[]}`, `{"stream_options":{"include_usage":true},"model":"U","stream":true,"messages":[]}`},
		{`{"model":"a","stream":true,"messages":[],"stream_options":{"include_usage":true}}`, `{"model":"U","stream":true,"messages":[],"stream_options":{"include_usage":true}}`},
		{` { "model" : "a" , "messages":[], "vendor": {"x": [1, 2.5e3]} } `, ` { "model" : "U" , "messages":[], "vendor": {"x": [1, 2.5e3]} } `},
	}
	for _, tt := range tests {
		req, e := parseRequest([]byte(tt.in), RouteChat)
		if e != nil {
			t.Fatalf("%s: %v", tt.in, e)
		}
		if got := string(req.upstreamBody(nil, []byte(tt.in), "U", req.stream)); got != tt.want {
			t.Errorf("%s\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}
