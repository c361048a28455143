package reembed

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/upstream"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

func TestUpstreamEmbedderAgainstFakeUpstream(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Config{Dimensions: map[string]int{"small": 384, "large": 1024}})
	defer fake.Close()
	p := &catalog.Provider{ID: 1, Identifier: "fake", BaseURL: fake.URL, AuthMethod: catalog.AuthNone}
	client := upstream.New(upstream.Options{AllowLoopback: true})
	defer client.Close()
	svc := &Service{emb: NewUpstreamEmbedder(client), cfg: Config{}}
	svc.cfg.defaults()
	svc.cfg.RetryBase = 1

	for _, m := range []*catalog.Model{{Name: "s", UpstreamName: "small", Dimension: 384}, {Name: "l", UpstreamName: "large", Dimension: 1024}} {
		vecs, err := svc.embed(context.Background(), m, p, []string{"a", "b", "a"})
		if err != nil {
			t.Fatal(err)
		}
		if len(vecs) != 3 || len(vecs[0]) != m.Dimension || vecs[0][0] != vecs[2][0] || vecs[0][0] == vecs[1][0] {
			t.Fatalf("%s: %d vectors of %d dimensions", m.Name, len(vecs), len(vecs[0]))
		}
	}

	fake.SetFaults(fakeupstream.Faults{Dimension: 768})
	_, err := svc.embed(context.Background(), &catalog.Model{Name: "s", UpstreamName: "small", Dimension: 384}, p, []string{"a"})
	var de *corpus.DimensionError
	if !errors.As(err, &de) || de.Got != 768 || de.Want != 384 || !permanent(err) {
		t.Fatalf("wrong dimension: %v", err)
	}

	fake.SetFaults(fakeupstream.Faults{Status: 429, RetryAfter: "0"})
	_, err = svc.embed(context.Background(), &catalog.Model{Name: "s", UpstreamName: "small", Dimension: 384}, p, []string{"a"})
	if ae, ok := apierror.As(err); !ok || ae.Code != apierror.CodeRateLimited {
		t.Fatalf("429: %v", err)
	}
	if got := fake.Requests(); got < int64(2+1+svc.cfg.EmbedRetries) {
		t.Fatalf("429 was not retried: %d requests", got)
	}
}

// b64Vector is v as an embeddings answer's base64 string (without quotes).
func b64Vector(v ...float32) string {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func TestDecodeEmbeddings(t *testing.T) {
	a, b := b64Vector(1, -2, 0.5), b64Vector(3, 4, -0.25)
	tests := []struct {
		name string
		body string
		n    int
		fast bool        // the one-pass parser takes it
		want [][]float32 // nil: an error
	}{
		{"openai shape", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":"` + a + `"},{"object":"embedding","index":1,"embedding":"` + b + `"}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}`,
			2, true, [][]float32{{1, -2, 0.5}, {3, 4, -0.25}}},
		{"out of order, spaced, extra members", "{ \"data\" : [ {\"embedding\" : \"" + b + "\", \"index\" : 1, \"x\": [1, {\"y\": null}]} ,\n{\"index\":0,\"embedding\":\"" + a + "\",\"z\":true} ] , \"usage\": {\"a\": [1,2]} }\n",
			2, true, [][]float32{{1, -2, 0.5}, {3, 4, -0.25}}},
		{"padded, one and two floats", `{"data":[{"index":1,"embedding":"` + b64Vector(7) + `"},{"index":0,"embedding":"` + b64Vector(-1, 2.5) + `"}]}`,
			2, true, [][]float32{{-1, 2.5}, {7}}},
		{"lengths differ (the fill's dimension check reports it)", `{"data":[{"index":0,"embedding":"` + a + `"},{"index":1,"embedding":"` + b64Vector(5, 6) + `"},{"index":2,"embedding":"` + b + `"}]}`,
			3, true, [][]float32{{1, -2, 0.5}, {5, 6}, {3, 4, -0.25}}},
		{"floats", `{"data":[{"index":0,"embedding":[1,-2,0.5]}]}`, 1, false, [][]float32{{1, -2, 0.5}}},
		{"escaped member", `{"model":"a\"b","data":[{"index":0,"embedding":"` + a + `"}]}`, 1, false, [][]float32{{1, -2, 0.5}}},
		{"repeated index", `{"data":[{"index":0,"embedding":"` + a + `"},{"index":0,"embedding":"` + b + `"}]}`, 2, false, nil},
		{"index out of range", `{"data":[{"index":0,"embedding":"` + a + `"},{"index":2,"embedding":"` + b + `"}]}`, 2, false, nil},
		{"too few", `{"data":[{"index":0,"embedding":"` + a + `"}]}`, 2, false, nil},
		{"not base64", `{"data":[{"index":0,"embedding":"%%%%"}]}`, 1, false, nil},
		{"not float32s", `{"data":[{"index":0,"embedding":"AAA="}]}`, 1, false, nil},
		{"truncated", `{"data":[{"index":0,"embedding":"` + a + `"}`, 1, false, nil},
		{"trailing garbage", `{"data":[{"index":0,"embedding":"` + a + `"}]} x`, 1, false, nil},
		{"not an object", `[]`, 1, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fast := parseBase64Embeddings([]byte(tt.body), tt.n)
			if fast != tt.fast {
				t.Errorf("one-pass parser took it: %v, want %v", fast, tt.fast)
			}
			got, err := decodeEmbeddings([]byte(tt.body), tt.n)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("decoded %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("decoded %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzDecodeEmbeddings checks that whatever the one-pass parser accepts, encoding/json reads the same.
func FuzzDecodeEmbeddings(f *testing.F) {
	f.Add(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":"`+b64Vector(1, 2)+`"}],"usage":{"total_tokens":1}}`, 1)
	f.Add(`{"data":[{"index":1,"embedding":"`+b64Vector(1)+`"},{"embedding":"`+b64Vector(2)+`","index":0}]}`, 2)
	f.Fuzz(func(t *testing.T, body string, n int) {
		if n < 0 || n > 64 {
			return
		}
		fast, ok := parseBase64Embeddings([]byte(body), n)
		if !ok {
			return
		}
		var out struct {
			Data []struct {
				Index     int    `json:"index"`
				Embedding string `json:"embedding"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			return // the parser does not validate members it skips
		}
		if len(out.Data) != n {
			t.Fatalf("parser read %d items, encoding/json %d", n, len(out.Data))
		}
		for _, d := range out.Data {
			slow, err := decodeVector(json.RawMessage(strconv.Quote(d.Embedding)))
			if err != nil || fmt.Sprint(slow) != fmt.Sprint(fast[d.Index]) {
				t.Fatalf("item %d: parser %v, encoding/json %v (%v)", d.Index, fast[d.Index], slow, err)
			}
		}
	})
}

func BenchmarkDecodeEmbeddings(b *testing.B) {
	fake := fakeupstream.New(fakeupstream.Config{Dimensions: map[string]int{"m": 768}})
	var sb strings.Builder
	sb.WriteString(`{"object":"list","data":[`)
	for i := 0; i < 256; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"object":"embedding","index":%d,"embedding":"%s"}`, i, b64Vector(fake.Vector("m", fmt.Sprint(i))...))
	}
	sb.WriteString(`],"model":"m","usage":{"prompt_tokens":512,"total_tokens":512}}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeEmbeddings(body, 256); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeGroups(t *testing.T) {
	raw := make([]byte, 3*341)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	enc := []byte(base64.StdEncoding.EncodeToString(raw))
	for _, n := range []int{0, 1, 2, 3, 5, 100, 341} { // groups: a tail of single groups, and pairs
		dst := make([]byte, 3*n)
		if !decodeGroups(dst, enc[:4*n]) || string(dst) != string(raw[:3*n]) {
			t.Fatalf("%d groups decoded wrong", n)
		}
	}
	for _, bad := range []string{"AAA=", "AA-A", "AAAAAAA_", "AAAA AAA", "AAAAAAAAAAA\x00"} {
		if decodeGroups(make([]byte, len(bad)/4*3), []byte(bad)) {
			t.Errorf("%q decoded", bad)
		}
	}
}

// The path for machines that do not store float32s little-endian decodes the same vectors (it runs
// here by pretending; not in parallel, since it flips a package variable).
func TestDecodeEmbeddingsWithoutLittleEndianMemory(t *testing.T) {
	body := []byte(`{"data":[{"index":1,"embedding":"` + b64Vector(7) + `"},{"index":0,"embedding":"` + b64Vector(1, -2, 0.5) + `"}]}`)
	native, ok := parseBase64Embeddings(body, 2)
	if !ok {
		t.Fatal("the one-pass parser refused the answer")
	}
	defer func(was bool) { littleEndian = was }(littleEndian)
	littleEndian = false
	portable, ok := parseBase64Embeddings(body, 2)
	if !ok || fmt.Sprint(portable) != fmt.Sprint(native) || fmt.Sprint(native) != "[[1 -2 0.5] [7]]" {
		t.Fatalf("portable path %v (%v), native %v", portable, ok, native)
	}
}
