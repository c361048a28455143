package wire

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/wire/wiretest"
)

// FuzzParseRequest: the strict scanner accepts exactly what encoding/json accepts (one object); a
// body the gateway accepts reads the same, in every field the gateway reads, to every upstream
// decoder (Decoders: first or last duplicate wins, any letter case), with the model the gateway
// authorises; and the body sent upstream is valid JSON equal to the client's in every member but
// model (and stream_options when the gateway asks for usage).
// Seeds: testdata/fuzz/FuzzParseRequest. Run: go test ./shared/wire -run '^$' -fuzz '^FuzzParseRequest$' -fuzztime 30s
func FuzzParseRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, stream bool) {
		_, err := scanDocument(body, true, nil)
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		valid := json.Valid(body) && len(trimmed) > 0 && trimmed[0] == '{'
		if (err == nil) != valid && !strings.Contains(errString(err), "nested too deeply") {
			t.Fatalf("scanner says %v, encoding/json says valid=%v, for %q", err, valid, body)
		}
		for _, route := range []string{RouteChat, RouteEmbeddings} {
			req, apiErr := ParseRequest(body, route)
			if apiErr != nil {
				continue
			}
			want := stream && req.Stream
			out := req.UpstreamBody(nil, body, "up/stream \"name\"", want)
			var in, got map[string]any
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatalf("parseRequest accepted invalid JSON %q", body)
			}
			seen := wiretest.Decoders[0].Parse(body)
			for _, d := range wiretest.Decoders[1:] {
				if v := d.Parse(body); !maps.Equal(v, seen) {
					t.Fatalf("accepted %q, which decoder %s reads as %v and %s as %v", body, wiretest.Decoders[0].Name, seen, d.Name, v)
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
		req, e := ParseRequest([]byte(tt.in), RouteChat)
		if e != nil {
			t.Fatalf("%s: %v", tt.in, e)
		}
		if got := string(req.UpstreamBody(nil, []byte(tt.in), "U", req.Stream)); got != tt.want {
			t.Errorf("%s\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}
