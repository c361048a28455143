package reembed

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"unsafe"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/upstream"
)

// Sender is the part of upstream.Client the embedder uses.
type Sender interface {
	Send(ctx context.Context, p *catalog.Provider, method, route string, body []byte, hdr http.Header) (*http.Response, error)
}

// UpstreamEmbedder embeds through a provider's /embeddings route, asking for base64 (decoding JSON
// floats costs more than the rest of a fill); an upstream that answers floats anyway, or refuses
// base64, is served in floats from then on.
type UpstreamEmbedder struct {
	Client Sender

	floatsOnly sync.Map // provider identifier → true once it refused base64
}

// NewUpstreamEmbedder embeds through c (an *upstream.Client).
func NewUpstreamEmbedder(c Sender) *UpstreamEmbedder { return &UpstreamEmbedder{Client: c} }

// maxEmbeddingsBody bounds an embeddings answer: 2,048 vectors of 4,000 floats as JSON.
const maxEmbeddingsBody = 256 << 20

// Embed implements Embedder.
func (e *UpstreamEmbedder) Embed(ctx context.Context, m *catalog.Model, p *catalog.Provider, texts []string) ([][]float32, error) {
	format := "base64"
	if _, no := e.floatsOnly.Load(p.Identifier); no {
		format = "float"
	}
	vecs, err := e.call(ctx, m, p, texts, format)
	if err != nil && format == "base64" {
		var ue *upstream.Error
		if errors.As(err, &ue) && (ue.Status == http.StatusBadRequest || ue.Status == http.StatusUnprocessableEntity) {
			if vecs, ferr := e.call(ctx, m, p, texts, "float"); ferr == nil {
				e.floatsOnly.Store(p.Identifier, true)
				return vecs, nil
			}
		}
	}
	return vecs, err
}

func (e *UpstreamEmbedder) call(ctx context.Context, m *catalog.Model, p *catalog.Provider, texts []string, format string) ([][]float32, error) {
	body, err := json.Marshal(map[string]any{"model": m.UpstreamName, "input": texts, "encoding_format": format})
	if err != nil {
		return nil, fmt.Errorf("encode embeddings request: %w", err)
	}
	resp, err := e.Client.Send(ctx, p, http.MethodPost, "/embeddings", body, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp, maxEmbeddingsBody)
	if err != nil {
		return nil, upstream.BadResponse(p.Identifier, "reading the embeddings answer failed: %v", err)
	}
	vecs, err := decodeEmbeddings(raw, len(texts))
	if err != nil {
		return nil, upstream.BadResponse(p.Identifier, "%v", err)
	}
	return vecs, nil
}

// decodeEmbeddings reads the n vectors of an embeddings answer, each at its item's index.
func decodeEmbeddings(raw []byte, n int) ([][]float32, error) {
	if vecs, ok := parseBase64Embeddings(raw, n); ok {
		return vecs, nil
	}
	var out struct {
		Data []struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("the embeddings answer is not JSON of the OpenAI shape: %v", err)
	}
	if len(out.Data) != n {
		return nil, fmt.Errorf("asked for %d embeddings, got %d", n, len(out.Data))
	}
	vecs := make([][]float32, n)
	for i, d := range out.Data {
		if d.Index < 0 || d.Index >= n || vecs[d.Index] != nil {
			return nil, fmt.Errorf("embedding %d has index %d", i, d.Index)
		}
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, fmt.Errorf("embedding %d: %v", i, err)
		}
		vecs[d.Index] = v
	}
	return vecs, nil
}

// decodeVector reads a base64 string of little-endian float32s, or a JSON list of numbers.
func decodeVector(raw json.RawMessage) ([]float32, error) {
	if len(raw) > 0 && raw[0] == '"' {
		b64 := raw[1 : len(raw)-1]
		buf := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
		n, err := base64.StdEncoding.Decode(buf, b64)
		if err != nil {
			return nil, fmt.Errorf("not base64: %v", err)
		}
		if n%4 != 0 {
			return nil, fmt.Errorf("base64 of %d bytes is not a list of float32s", n)
		}
		v := make([]float32, n/4)
		fromLittleEndian(v, buf)
		return v, nil
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("neither base64 nor a list of numbers: %v", err)
	}
	return v, nil
}

// readBody reads at most limit bytes of resp's body, into one buffer of the announced length when
// there is one (an embeddings answer is a megabyte per 256 vectors of 768 dimensions).
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit)
	if n := resp.ContentLength; n > 0 && n <= limit {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(r)
}

// parseBase64Embeddings reads the vectors of an embeddings answer whose embeddings are all base64, in
// one pass and without reflection: encoding/json scans every byte of a megabyte answer twice, which
// costs more than the rest of a fill batch in the worker. It checks what the fill relies on (each
// item's index, in range and not repeated; each embedding well-formed base64 of float32s; n items) and
// skips other members without validating them. ok is false for anything else (floats, escapes, an
// unexpected shape, a wrong count), and the caller decodes with encoding/json, which says what is wrong.
func parseBase64Embeddings(raw []byte, n int) (vecs [][]float32, ok bool) {
	p := &jsonWalk{b: raw}
	vecs = make([][]float32, n)
	seen := 0
	var scratch []byte
	var flat []float32
	dim := 0
	if !p.byte('{') {
		return nil, false
	}
	for first := true; ; first = false {
		if p.byte('}') {
			break
		}
		if !first && !p.byte(',') {
			return nil, false
		}
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return nil, false
		}
		if key != "data" {
			if !p.skip() {
				return nil, false
			}
			continue
		}
		if !p.byte('[') {
			return nil, false
		}
		for firstItem := true; ; firstItem = false {
			if p.byte(']') {
				break
			}
			if !firstItem && !p.byte(',') {
				return nil, false
			}
			if !p.byte('{') {
				return nil, false
			}
			index := -1
			var emb []byte
			for firstMember := true; ; firstMember = false {
				if p.byte('}') {
					break
				}
				if !firstMember && !p.byte(',') {
					return nil, false
				}
				k, ok := p.str()
				if !ok || !p.byte(':') {
					return nil, false
				}
				switch k {
				case "index":
					if index, ok = p.uint(); !ok {
						return nil, false
					}
				case "embedding":
					if emb, ok = p.rawStr(); !ok {
						return nil, false // a list of floats, or escapes: encoding/json's path
					}
				default:
					if !p.skip() {
						return nil, false
					}
				}
			}
			if index < 0 || index >= n || vecs[index] != nil || emb == nil {
				return nil, false
			}
			size := base64Size(emb)
			if size <= 0 || size%4 != 0 {
				return nil, false
			}
			// The vectors of an answer share one allocation when they have one length (the usual case).
			var v []float32
			if size/4 == dim {
				v = flat[index*dim : (index+1)*dim : (index+1)*dim]
			} else if dim == 0 {
				dim = size / 4
				flat = make([]float32, n*dim)
				v = flat[index*dim : (index+1)*dim : (index+1)*dim]
			} else {
				v = make([]float32, size/4)
			}
			if !decodeFloats(v, emb, &scratch) {
				return nil, false
			}
			vecs[index] = v
			seen++
		}
	}
	p.space()
	if p.i != len(p.b) || seen != n {
		return nil, false
	}
	return vecs, true
}

// base64Size is the exact length of what padded standard base64 b decodes to, or -1 when b's
// length is not a multiple of four.
func base64Size(b []byte) int {
	if len(b)%4 != 0 {
		return -1
	}
	size := len(b) / 4 * 3
	for i := len(b) - 1; i >= len(b)-2 && i >= 0 && b[i] == '='; i-- {
		size--
	}
	return size
}

// fromLittleEndian sets v to the len(v) little-endian float32s at the start of b.
func fromLittleEndian(v []float32, b []byte) {
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// littleEndian is whether float32s are stored little-endian in memory, as embeddings answers send them.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// decodeFloats decodes b64, padded standard base64 of exactly 4*len(v) bytes, into v as little-endian
// float32s. On little-endian machines (amd64, arm64) it decodes into v's own memory; scratch serves
// the rest.
func decodeFloats(v []float32, b64 []byte, scratch *[]byte) bool {
	if len(v) == 0 {
		return false
	}
	if !littleEndian {
		if cap(*scratch) < len(b64) {
			*scratch = make([]byte, len(b64))
		}
		m, err := base64.StdEncoding.Decode((*scratch)[:cap(*scratch)], b64)
		if err != nil || m != 4*len(v) {
			return false
		}
		fromLittleEndian(v, *scratch)
		return true
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
	// The unpadded groups decode straight into v; a padded last group goes through encoding/base64.
	body, tail := b64, []byte(nil)
	if len(b64) >= 4 && b64[len(b64)-1] == '=' {
		body, tail = b64[:len(b64)-4], b64[len(b64)-4:]
	}
	m := len(body) / 4 * 3
	if !decodeGroups(dst[:m], body) {
		return false
	}
	if tail != nil {
		var last [3]byte
		k, err := base64.StdEncoding.Decode(last[:], tail)
		if err != nil || m+k != len(dst) {
			return false
		}
		copy(dst[m:], last[:k])
		m += k
	}
	return m == len(dst)
}

const stdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// groupTables[i][c] is base64 character c's six bits placed for position i of a 4-character group,
// in a 24-bit word; a character outside the alphabet (padding included) sets bit 31.
var groupTables = func() (t [4][256]uint32) {
	for i := range t {
		for c := range t[i] {
			t[i][c] = 1 << 31
		}
	}
	for v, c := range []byte(stdAlphabet) {
		for i := range t {
			t[i][c] = uint32(v) << (18 - 6*i)
		}
	}
	return t
}()

// decodeGroups decodes src, standard base64 without padding (len(src) a multiple of 4), into dst
// (len(src)/4*3 bytes) and reports whether every character was valid. It is encoding/base64's
// decoding at about 1.6 times the speed: one table lookup per character, no per-group branches.
func decodeGroups(dst, src []byte) bool {
	t0, t1, t2, t3 := &groupTables[0], &groupTables[1], &groupTables[2], &groupTables[3]
	var bad uint32
	for len(src) >= 8 && len(dst) >= 8 { // two groups, written as one 8-byte store
		a := t0[src[0]] | t1[src[1]] | t2[src[2]] | t3[src[3]]
		b := t0[src[4]] | t1[src[5]] | t2[src[6]] | t3[src[7]]
		bad |= a | b
		binary.BigEndian.PutUint64(dst, uint64(a)<<40|uint64(b)<<16)
		src, dst = src[8:], dst[6:]
	}
	for len(src) >= 4 && len(dst) >= 3 {
		a := t0[src[0]] | t1[src[1]] | t2[src[2]] | t3[src[3]]
		bad |= a
		dst[0], dst[1], dst[2] = byte(a>>16), byte(a>>8), byte(a)
		src, dst = src[4:], dst[3:]
	}
	return bad>>31 == 0 && len(src) == 0 && len(dst) == 0
}

// jsonWalk is a cursor over JSON text for parseBase64Embeddings.
type jsonWalk struct {
	b []byte
	i int
}

func (p *jsonWalk) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c (after whitespace) if it is next.
func (p *jsonWalk) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// rawStr consumes a string without escapes and returns its bytes.
func (p *jsonWalk) rawStr() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	end := bytes.IndexByte(p.b[p.i:], '"')
	if end < 0 {
		return nil, false
	}
	s := p.b[p.i : p.i+end]
	if bytes.IndexByte(s, '\\') >= 0 {
		return nil, false
	}
	p.i += end + 1
	return s, true
}

func (p *jsonWalk) str() (string, bool) {
	s, ok := p.rawStr()
	return string(s), ok
}

// uint consumes a non-negative integer of at most 9 digits.
func (p *jsonWalk) uint() (int, bool) {
	p.space()
	start, v := p.i, 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' && p.i-start < 9 {
		v = v*10 + int(p.b[p.i]-'0')
		p.i++
	}
	return v, p.i > start
}

// skip consumes one value: a string without escapes, a number or literal, or an object or list of
// those (nested to any depth), without checking the grammar inside.
func (p *jsonWalk) skip() bool {
	p.space()
	depth := 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			if _, ok := p.rawStr(); !ok {
				return false
			}
		case '{', '[':
			depth++
			p.i++
		case '}', ']':
			if depth == 0 {
				return true // the end of the enclosing value
			}
			depth--
			p.i++
		case ',':
			if depth == 0 {
				return true
			}
			p.i++
		default:
			p.i++
		}
		if depth == 0 {
			// A scalar ends at the next delimiter; a closed object or list has ended.
			if c := p.b[p.i-1]; c == '"' || c == '}' || c == ']' {
				return true
			}
		}
	}
	return depth == 0
}
