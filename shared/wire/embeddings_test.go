package wire

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// embeddingsBody builds an OpenAI embeddings answer of n vectors of dim values.
func embeddingsBody(n, dim int, b64 bool) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	var items []item
	for i := range n {
		v := make([]float32, dim)
		for j := range v {
			v[j] = r.Float32()*2 - 1
		}
		var e any = v
		if b64 {
			raw := make([]byte, 4*dim)
			for j, x := range v {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(x))
			}
			e = base64.StdEncoding.EncodeToString(raw)
		}
		items = append(items, item{"embedding", i, e})
	}
	b, _ := json.Marshal(map[string]any{"object": "list", "data": items, "model": "m", "usage": map[string]int{"prompt_tokens": 5, "total_tokens": 5}})
	return b
}

func TestEmbeddingLengths(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []int
		bad  bool
	}{
		{name: "floats", body: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2,3e-5]}],"model":"m"}`, want: []int{3}},
		{name: "two vectors, spaces and newlines", body: "{\n \"data\": [\n  {\"embedding\": [ 1 , 2 ,\n 3, 4 ] , \"index\": 0},\n  {\"index\":1,\"embedding\":[5,6,7,8]}\n ]\n}", want: []int{4, 4}},
		{name: "usage before data, nested values skipped", body: `{"usage":{"prompt_tokens":1,"x":[1,{"a":"]"}]},"model":"a\"b","data":[{"meta":{"embedding":[1]},"embedding":[1,2]}]}`, want: []int{2}},
		{name: "empty vector", body: `{"data":[{"embedding":[]}]}`, want: []int{0}},
		{name: "empty data", body: `{"data":[]}`, want: []int{}},
		{name: "base64, 3 floats", body: `{"data":[{"embedding":"` + base64.StdEncoding.EncodeToString(make([]byte, 12)) + `"}]}`, want: []int{3}},
		{name: "base64 with padding, 4 floats", body: `{"data":[{"embedding":"` + base64.StdEncoding.EncodeToString(make([]byte, 16)) + `"}]}`, want: []int{4}},
		{name: "base64 with escaped slash", body: `{"data":[{"embedding":"AAAA\/w=="}]}`, want: []int{1}},
		{name: "mixed formats", body: `{"data":[{"embedding":[1,2]},{"embedding":"AAAAAAAAAAA="}]}`, want: []int{2, 2}},
		{name: "no data", body: `{"object":"list"}`, bad: true},
		{name: "not an object", body: `[1,2]`, bad: true},
		{name: "an error body", body: `{"error":{"message":"boom"}}`, bad: true},
		{name: "item without embedding", body: `{"data":[{"index":0}]}`, bad: true},
		{name: "truncated inside a vector", body: `{"data":[{"embedding":[1,2,3`, bad: true},
		{name: "truncated after data", body: `{"data":[{"embedding":[1,2,3]}],"usage":{"prompt`, bad: true},
		{name: "nested array in a vector", body: `{"data":[{"embedding":[[1,2],[3]]}]}`, bad: true},
		{name: "string in a vector", body: `{"data":[{"embedding":[1,"2"]}]}`, bad: true},
		{name: "empty element", body: `{"data":[{"embedding":[1,,2]}]}`, bad: true},
		{name: "trailing comma", body: `{"data":[{"embedding":[1,2,]}]}`, bad: true},
		{name: "null embedding", body: `{"data":[{"embedding":null}]}`, bad: true},
		{name: "base64 not a whole float", body: `{"data":[{"embedding":"AAAAAAA="}]}`, bad: true}, // 5 bytes,
		{name: "base64 with junk", body: `{"data":[{"embedding":"AAA*AAAA"}]}`, bad: true},
		{name: "trailing garbage", body: `{"data":[]} x`, bad: true},
		{name: "HTML", body: `<html><title>502</title></html>`, bad: true},
		// Cases the gateway's own counter used to cover, now that it calls EmbeddingLengths.
		{name: "exponents and signs", body: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-2e-3,3]},{"index":1,"embedding":[1,2,3]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}`, want: []int{3, 3}},
		{name: "base64 unpadded, 7 floats", body: `{"data":[{"embedding":"` + strings.TrimRight(base64.StdEncoding.EncodeToString(make([]byte, 28)), "=") + `"}]}`, want: []int{7}},
		{name: "object in a vector", body: `{"data":[{"embedding":[1,{"a":2}]}]}`, bad: true},
		{name: "truncated after an item", body: `{"data":[{"embedding":[1,2]}`, bad: true},
		{name: "pretty-printed, as OpenAI writes it", body: "{\n  \"data\": [\n    {\n      \"embedding\": [\n        -0.006929283,\n        -0.005336422,\n        1.2e-05\n      ]\n    }\n  ]\n}", want: []int{3}},
		{name: "slash in a vector", body: `{"data":[{"embedding":[1.0/2.0,0.5]}]}`, bad: true},
		{name: "letter in a vector", body: `{"data":[{"embedding":[0.12345678,0.1234x678,1]}]}`, bad: true},
		{name: "non-ASCII in a vector", body: "{\"data\":[{\"embedding\":[0.12345678,0.1234\u00e9678,1]}]}", bad: true},
		{name: "leading comma", body: `{"data":[{"embedding":[,0.12345678,0.12345678]}]}`, bad: true},
		{name: "only a comma", body: `{"data":[{"embedding":[ , ]}]}`, bad: true},
		{name: "comma and space", body: `{"data":[{"embedding":[0.1, ,0.2]}]}`, bad: true},
		{name: "unterminated long list", body: `{"data":[{"embedding":[0.12345678,0.12345678,0.12345678,0.12345678`, bad: true},
	}
	for _, tt := range tests {
		got, err := EmbeddingLengths([]byte(tt.body))
		if tt.bad {
			if err == nil {
				t.Errorf("%s: got %v, want an error", tt.name, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

// TestEmbeddingListsWordBoundaries moves a mistake across every offset of a long compact list,
// so that it falls at each lane of the eight- and sixteen-byte words the scan reads at once and
// on the boundaries between them.
func TestEmbeddingListsWordBoundaries(t *testing.T) {
	const n = 40
	nums := make([]string, n)
	for i := range nums {
		nums[i] = fmt.Sprintf("%.*f", 1+i%7, float64(i)/7-2) // numbers of varied length
	}
	body := func(list string) []byte { return []byte(`{"data":[{"embedding":[` + list + `]}]}`) }
	if got, err := EmbeddingLengths(body(strings.Join(nums, ","))); err != nil || !slices.Equal(got, []int{n}) {
		t.Fatalf("clean list: got %v, %v", got, err)
	}
	list := strings.Join(nums, ",")
	for at := 0; at <= len(list); at++ {
		for _, bad := range []string{",", "x", "\"", "]", "[", "/", "\x80"} {
			mutated := list[:at] + bad + list[at:]
			if bad == "," && at > 0 && at < len(list) && list[at-1] != ',' && list[at] != ',' {
				// A comma inside a number splits it in two: still a list of numbers, one longer.
				got, err := EmbeddingLengths(body(mutated))
				if err != nil || !slices.Equal(got, []int{n + 1}) {
					t.Errorf("comma at %d: got %v, %v; want [%d]", at, got, err, n+1)
				}
				continue
			}
			if got, err := EmbeddingLengths(body(mutated)); err == nil {
				t.Errorf("%q at %d: got %v, want an error", bad, at, got)
			}
		}
		// Whitespace anywhere between the brackets is allowed and changes nothing, except inside
		// a number, where it splits the number and leaves two without a comma between them; the
		// scan checks characters, not number grammar, so only the count is asserted where a
		// space falls next to a comma or a bracket.
		if at == 0 || at == len(list) || list[at-1] == ',' || list[at] == ',' {
			got, err := EmbeddingLengths(body(list[:at] + " \n\t\r" + list[at:]))
			if err != nil || !slices.Equal(got, []int{n}) {
				t.Errorf("whitespace at %d: got %v, %v; want [%d]", at, got, err, n)
			}
		}
	}
}

func TestEmbeddingLengthsRealSizes(t *testing.T) {
	for _, dim := range []int{1, 384, 768, 1024, 3072} {
		for _, b64 := range []bool{false, true} {
			got, err := EmbeddingLengths(embeddingsBody(16, dim, b64))
			if err != nil {
				t.Fatalf("dim %d base64 %v: %v", dim, b64, err)
			}
			if len(got) != 16 || got[0] != dim || got[15] != dim {
				t.Fatalf("dim %d base64 %v: got %v", dim, b64, got)
			}
		}
	}
}

// The gateway checks every embeddings answer on the hot path; these compare the scan with
// what decoding would cost (ARCHITECTURE: about 2 ms for 16×768 floats).
func BenchmarkEmbeddingLengths16x768Floats(b *testing.B) { benchEmbeddingLengths(b, false) }

func BenchmarkEmbeddingLengths16x768Base64(b *testing.B) { benchEmbeddingLengths(b, true) }

// benchEmbeddingLengths scans an answer of 16 vectors of 768, in base64 or as floats.
func benchEmbeddingLengths(b *testing.B, b64 bool) {
	body := embeddingsBody(16, 768, b64)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := EmbeddingLengths(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONDecodeBaseline16x768Floats(b *testing.B) {
	body := embeddingsBody(16, 768, false)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var r struct {
			Data []struct {
				Embedding []float32 `json:"embedding"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzEmbeddingLengths checks that the scanner never panics and, whenever encoding/json can
// read the body as an embeddings answer, counts what it decodes.
func FuzzEmbeddingLengths(f *testing.F) {
	f.Add([]byte(`{"data":[{"embedding":[1,2,3]}]}`))
	f.Add([]byte(`{"data":[{"embedding":"AAAAAAAAAAA="}]}`))
	f.Add(embeddingsBody(2, 5, false))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := EmbeddingLengths(body)
		want, ok := decodeLengths(body)
		if !ok || err != nil {
			return // the scanner is a counter, not a validator: it may accept more, or refuse oddities
		}
		if !slices.Equal(got, want) {
			t.Fatalf("scanner %v, decoder %v for %s", got, want, body)
		}
	})
}

// decodeLengths is the slow, obviously right count: exact keys, last duplicate wins.
func decodeLengths(body []byte) ([]int, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || top["data"] == nil {
		return nil, false
	}
	var items []map[string]json.RawMessage
	if json.Unmarshal(top["data"], &items) != nil {
		return nil, false
	}
	out := []int{}
	for _, it := range items {
		raw, ok := it["embedding"]
		if !ok {
			return nil, false
		}
		var fs []float64
		var s string
		switch {
		case json.Unmarshal(raw, &fs) == nil && fs != nil:
			out = append(out, len(fs))
		case json.Unmarshal(raw, &s) == nil:
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(b)%4 != 0 {
				return nil, false
			}
			out = append(out, len(b)/4)
		default:
			return nil, false
		}
	}
	return out, true
}

func TestDecodeLengthsAgreesOnSeeds(t *testing.T) {
	for _, body := range []string{`{"data":[{"embedding":[1,2,3]},{"embedding":"AAAAAAAAAAA="}]}`, `{"data":[]}`} {
		a, err := EmbeddingLengths([]byte(body))
		b, ok := decodeLengths([]byte(body))
		if err != nil || !ok || fmt.Sprint(a) != fmt.Sprint(b) || strings.Contains(fmt.Sprint(a), "-") {
			t.Errorf("%s: scanner %v %v, decoder %v %v", body, a, err, b, ok)
		}
	}
}
