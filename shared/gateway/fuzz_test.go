package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzSSERelay feeds arbitrary upstream streams (malformed, truncated, oversized events) through
// the relay: it must not panic, must honour the event size bound, must pass through untouched a
// stream it has nothing to change in (no model to rename, no usage to strip, no upstream error to
// replace with Switchyard's), and every JSON chunk it emits names the pinned model.
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
		if !strip && !bytes.Contains(stream, []byte("model")) && !bytes.Contains(stream, []byte("error")) && !bytes.Equal(out.Bytes(), stream) {
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
