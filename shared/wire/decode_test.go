package wire

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

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
	slash := b64Vector(math.Float32frombits(0x3f0000fc)) // "/AAAPw=="
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
		{"escaped member", `{"model":"a\"b","data":[{"index":0,"embedding":"` + a + `"}]}`, 1, true, [][]float32{{1, -2, 0.5}}},
		// JSON may write '/' as "\/"; EmbeddingLengths counts such a vector, so it decodes too.
		{"escaped slash", `{"data":[{"index":0,"embedding":"` + strings.ReplaceAll(slash, "/", `\/`) + `"}]}`, 1, false, [][]float32{{math.Float32frombits(0x3f0000fc)}}},
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
			_, fast := decodeBase64Embeddings([]byte(tt.body), tt.n)
			if fast != tt.fast {
				t.Errorf("one-pass parser took it: %v, want %v", fast, tt.fast)
			}
			got, err := DecodeEmbeddings([]byte(tt.body), tt.n)
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
		fast, ok := decodeBase64Embeddings([]byte(body), n)
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
	r := rand.New(rand.NewPCG(1, 2))
	vector := func() []float32 {
		v := make([]float32, 768)
		for i := range v {
			v[i] = r.Float32()*2 - 1
		}
		return v
	}
	var sb strings.Builder
	sb.WriteString(`{"object":"list","data":[`)
	for i := 0; i < 256; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"object":"embedding","index":%d,"embedding":"%s"}`, i, b64Vector(vector()...))
	}
	sb.WriteString(`],"model":"m","usage":{"prompt_tokens":512,"total_tokens":512}}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeEmbeddings(body, 256); err != nil {
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
	native, ok := decodeBase64Embeddings(body, 2)
	if !ok {
		t.Fatal("the one-pass parser refused the answer")
	}
	defer func(was bool) { littleEndian = was }(littleEndian)
	littleEndian = false
	portable, ok := decodeBase64Embeddings(body, 2)
	if !ok || fmt.Sprint(portable) != fmt.Sprint(native) || fmt.Sprint(native) != "[[1 -2 0.5] [7]]" {
		t.Fatalf("portable path %v (%v), native %v", portable, ok, native)
	}
}

// BenchmarkDecodeFloats is the one base64 decoder on a 768-float vector: "native" decodes into the
// vector's memory (little-endian machines), "portable" into scratch and converts, as a big-endian
// machine does. The difference is what the unsafe path buys.
func BenchmarkDecodeFloats(b *testing.B) {
	v := make([]float32, 768)
	for i := range v {
		v[i] = float32(i)/768 - 0.5
	}
	enc := []byte(b64Vector(v...))
	for _, native := range []bool{true, false} {
		name := "portable"
		if native {
			name = "native"
		}
		b.Run(name, func(b *testing.B) {
			if !littleEndian && native {
				b.Skip("this machine does not store float32s little-endian")
			}
			defer func(was bool) { littleEndian = was }(littleEndian)
			littleEndian = native
			var scratch []byte
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				if !decodeFloats(v, enc, &scratch) {
					b.Fatal("refused")
				}
			}
		})
	}
}
