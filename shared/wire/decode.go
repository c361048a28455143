package wire

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"unsafe"
)

// DecodeEmbeddings reads the n vectors of an embeddings answer, each at its item's "index": base64
// strings of little-endian float32s (as encoding_format "base64" asks) or lists of numbers. An answer
// with a vector missing, an index out of range or given twice, or a string that is not base64 of
// whole float32s is an error saying what is wrong. Vectors of one length share one allocation.
func DecodeEmbeddings(raw []byte, n int) ([][]float32, error) {
	if vecs, ok := decodeBase64Embeddings(raw, n); ok {
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
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("not a JSON string: %v", err)
		}
		size := base64Size([]byte(s))
		if size < 0 {
			return nil, fmt.Errorf("not base64: %d characters is not a whole number of groups", len(s))
		}
		if size%4 != 0 {
			return nil, fmt.Errorf("base64 of %d bytes is not a list of float32s", size)
		}
		v := make([]float32, size/4)
		var scratch []byte
		if size > 0 && !decodeFloats(v, []byte(s), &scratch) {
			return nil, fmt.Errorf("not base64: %.40q", s)
		}
		return v, nil
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("neither base64 nor a list of numbers: %v", err)
	}
	return v, nil
}

// decodeBase64Embeddings reads the vectors of an embeddings answer whose embeddings are all base64,
// in one pass and without reflection: encoding/json scans every byte of a megabyte answer twice,
// which costs more than the rest of a fill batch in the worker. It checks what the fill relies on
// (each item's index, in range and not repeated; each embedding well-formed base64 of float32s; n
// items) and skips other members as the lenient scan does. ok is false for anything else (floats,
// an escaped embedding, an unexpected shape, a wrong count), and DecodeEmbeddings decodes with
// encoding/json, which says what is wrong.
func decodeBase64Embeddings(raw []byte, n int) (vecs [][]float32, ok bool) {
	i := SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, false
	}
	vecs = make([][]float32, n)
	seen := 0
	var scratch []byte
	var flat []float32
	dim := 0
	// item reads one item of "data" at raw[at] into vecs.
	item := func(at int) (int, bool) {
		if at >= len(raw) || raw[at] != '{' {
			return 0, false
		}
		index := -1
		var emb []byte
		end, err := eachMember(raw, at, false, 2, true, func(key []byte, _, vs int) (int, error) {
			switch string(key) {
			case "index":
				end, err := skipValue(raw, vs, false, 3)
				if err == nil {
					index = smallUint(raw[vs:end])
				}
				return end, err
			case "embedding":
				if vs >= len(raw) || raw[vs] != '"' {
					return 0, errSyntax // a list of floats: encoding/json's path
				}
				end, escaped, err := skipString(raw, vs, false)
				if err != nil || escaped {
					return 0, errSyntax // escapes: encoding/json's path
				}
				emb = raw[vs+1 : end-1]
				return end, nil
			}
			return skipValue(raw, vs, false, 3)
		})
		if err != nil || index < 0 || index >= n || vecs[index] != nil || emb == nil {
			return 0, false
		}
		size := base64Size(emb)
		if size <= 0 || size%4 != 0 {
			return 0, false
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
			return 0, false
		}
		vecs[index] = v
		seen++
		return end, true
	}
	end, err := eachMember(raw, i, false, 0, true, func(key []byte, _, at int) (int, error) {
		if string(key) != "data" {
			return skipValue(raw, at, false, 1)
		}
		if at >= len(raw) || raw[at] != '[' {
			return 0, errSyntax
		}
		at = SkipSpace(raw, at+1)
		if at < len(raw) && raw[at] == ']' {
			return at + 1, nil
		}
		for {
			end, ok := item(at)
			if !ok {
				return 0, errSyntax
			}
			at = SkipSpace(raw, end)
			if at < len(raw) && raw[at] == ',' {
				at = SkipSpace(raw, at+1)
				continue
			}
			if at < len(raw) && raw[at] == ']' {
				return at + 1, nil
			}
			return 0, errSyntax
		}
	})
	if err != nil || SkipSpace(raw, end) != len(raw) || seen != n {
		return nil, false
	}
	return vecs, true
}

// smallUint reads v as a non-negative integer of at most 9 digits; -1 when it is anything else.
func smallUint(v []byte) int {
	if len(v) == 0 || len(v) > 9 {
		return -1
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
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

// decodeFloats decodes b64, padded standard base64 of exactly 4*len(v) bytes, into v as
// little-endian float32s, and reports whether b64 was exactly that. It is the one base64 decoder of
// embeddings. On little-endian machines (amd64, arm64) it decodes into v's own memory, which is
// safe there because a float32's bytes are stored in the order base64 sends them; elsewhere it
// decodes into scratch and converts.
func decodeFloats(v []float32, b64 []byte, scratch *[]byte) bool {
	if len(v) == 0 || len(b64)%4 != 0 {
		return false
	}
	var dst []byte
	if littleEndian {
		dst = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
	} else {
		if cap(*scratch) < 4*len(v) {
			*scratch = make([]byte, 4*len(v))
		}
		dst = (*scratch)[:4*len(v)]
	}
	// The unpadded groups decode straight into dst; a padded last group through a copy.
	body, tail := b64, []byte(nil)
	if len(b64) >= 4 && b64[len(b64)-1] == '=' {
		body, tail = b64[:len(b64)-4], b64[len(b64)-4:]
	}
	m := len(body) / 4 * 3
	if m > len(dst) || !decodeGroups(dst[:m], body) {
		return false
	}
	if tail != nil {
		// '=' decodes as 'A' would (zero bits), and the padding says how many bytes count.
		group := [4]byte(tail)
		pad := 1
		if group[2] == '=' {
			pad, group[2] = 2, 'A'
		}
		group[3] = 'A'
		var last [3]byte
		if !decodeGroups(last[:], group[:]) || m+3-pad != len(dst) {
			return false
		}
		copy(dst[m:], last[:3-pad])
		m += 3 - pad
	}
	if m != len(dst) {
		return false
	}
	if !littleEndian {
		fromLittleEndian(v, dst)
	}
	return true
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
