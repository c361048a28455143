package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// EmbeddingLengths returns the length of each vector of an OpenAI embeddings response
// ({"data": [{"embedding": ...}, ...]}), in the order of data, without decoding a float.
// A float array is counted by its commas; a base64 string (encoding_format base64, float32
// little-endian) by its decoded byte length / 4. The whole body is walked, so a truncated or
// malformed answer is an error; the numbers themselves are checked only for their characters,
// which is what the gateway needs: the dimension, in microseconds.
func EmbeddingLengths(body []byte) ([]int, error) {
	i := SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, failAt(i, "the body is not a JSON object")
	}
	var lengths []int
	seenData := false
	end, err := eachMember(body, i, false, 0, true, func(key []byte, _, at int) (int, error) {
		if string(key) != "data" {
			return skipValue(body, at, false, 1)
		}
		seenData = true
		var end int
		var err error
		lengths, end, err = vectorLengths(body, at, lengths[:0])
		return end, err
	})
	if err != nil {
		return nil, err
	}
	if end = SkipSpace(body, end); end != len(body) {
		return nil, failAt(end, "trailing data after the JSON object")
	}
	if !seenData {
		return nil, errors.New(`the body has no "data" list`)
	}
	return lengths, nil
}

// failAt says what is wrong with an embeddings answer and where.
func failAt(at int, what string) error {
	return fmt.Errorf("%s (at byte %d)", what, at)
}

// vectorLengths reads the "data" list at b[i], appending each item's vector length; it returns the
// index just past the list.
func vectorLengths(b []byte, i int, lengths []int) ([]int, int, error) {
	if i >= len(b) || b[i] != '[' {
		return nil, 0, failAt(i, `"data" is not a list`)
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return lengths, i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '{' {
			return nil, 0, failAt(i, `an item of "data" is not an object`)
		}
		n := -1
		end, err := eachMember(b, i, false, 2, true, func(key []byte, _, at int) (int, error) {
			if string(key) != "embedding" {
				return skipValue(b, at, false, 3)
			}
			var end int
			var err error
			n, end, err = vectorLength(b, at)
			return end, err
		})
		if err != nil {
			return nil, 0, err
		}
		if n < 0 {
			return nil, 0, fmt.Errorf(`item %d of "data" has no "embedding"`, len(lengths))
		}
		lengths = append(lengths, n)
		i = SkipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = SkipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			return lengths, i + 1, nil
		}
		return nil, 0, failAt(i, `expected ',' or ']' in "data"`)
	}
}

// vectorLength counts the embedding at b[i], a list of numbers or a base64 string, and returns
// the index just past it.
func vectorLength(b []byte, i int) (int, int, error) {
	if i >= len(b) {
		return 0, 0, failAt(i, "unexpected end of the body")
	}
	switch b[i] {
	case '"':
		end, _, err := skipString(b, i, false)
		if err != nil {
			return 0, 0, err
		}
		n, err := base64Floats(b[i+1 : end-1])
		return n, end, err
	case '[':
		n, end, err := countNumbers(b, i+1)
		if err != nil {
			return 0, 0, failAt(end, err.Error())
		}
		return n, end + 1, nil
	}
	return 0, 0, failAt(i, "an embedding is neither a list of numbers nor a base64 string")
}

// Byte classes for the fast checks: OR-ing the classes of all bytes of a base64 string tells in
// one branch-free pass whether it holds anything unusual, so the common case never runs the
// byte-by-byte check.
const (
	clsPlain   = 0 // a base64 letter
	clsSpecial = 4 // '=' or '\\'
	clsInvalid = 8
)

var base64Class = func() (t [256]uint8) {
	for i := range t {
		t[i] = clsInvalid
	}
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_") {
		t[c] = clsPlain
	}
	t['='] = clsSpecial
	t['\\'] = clsSpecial
	return
}()

// classes ORs the classes of b's bytes, eight at a time.
func classes(b []byte, table *[256]uint8) uint8 {
	var a0, a1, a2, a3 uint8
	for len(b) >= 8 {
		a0 |= table[b[0]] | table[b[4]]
		a1 |= table[b[1]] | table[b[5]]
		a2 |= table[b[2]] | table[b[6]]
		a3 |= table[b[3]] | table[b[7]]
		b = b[8:]
	}
	for _, c := range b {
		a0 |= table[c]
	}
	return a0 | a1 | a2 | a3
}

// SWAR (SIMD within a register) constants: one 64-bit word holds eight bytes of the body.
const (
	lanes01 = 0x0101010101010101
	lanes7f = 0x7f7f7f7f7f7f7f7f
	lanes80 = 0x8080808080808080
	lanesF0 = 0xf0f0f0f0f0f0f0f0
)

// plainWord reports whether all eight bytes of w lie in 0x2b..0x3a: '+', ',', '-', '.', '/',
// the digits and ':'. Adding 0x55 maps exactly that range to 0x80..0x8f. A byte above it
// carries into the next lane, but its own lane then falls below 0x80 and fails the word.
func plainWord(w uint64) bool {
	return (w+lanes01*0x55)&lanesF0 == lanes80
}

// countNumbers counts the numbers of the list whose first element starts at b[i] (just after
// '['), and returns the index of its closing ']'. It checks that the list holds only number
// characters, commas and whitespace, with a number between every two commas.
//
// A compact list (as most servers write it) is read eight bytes a word: three operations check
// the characters (with '/' and ':' ruled out by two vectorised searches of the whole list), a
// few more find two commas side by side; a word with an exponent is checked byte by byte.
// Anything else (whitespace, a mistake) goes to the byte-by-byte scan, which says what is wrong.
func countNumbers(b []byte, i int) (n, end int, err error) {
	j := bytes.IndexByte(b[i:], ']')
	if j < 0 {
		return slowCountNumbers(b, i)
	}
	list := b[i : i+j]
	if len(list) == 0 {
		return 0, i + j, nil
	}
	// bad collects the lanes of two commas side by side; prev carries the comma flag of a
	// word's last lane into the next word's first (the virtual comma before the list makes a
	// leading comma an empty element). Lanes are only compared once a word is known to be ASCII.
	ok, bad, prev := true, uint64(0), uint64(0x80)
	rest := list
	for ; len(rest) >= 8; rest = rest[8:] {
		w := binary.LittleEndian.Uint64(rest)
		if !plainWord(w) && !exponentWord(rest[:8]) {
			ok = false
			break
		}
		comma := ^((w ^ lanes01*',') + lanes7f) & lanes80
		bad |= comma & (comma<<8 | prev)
		prev = comma >> 56
	}
	last := prev != 0
	for _, c := range rest {
		comma := c == ','
		if !numberByte[c] && !comma || comma && last {
			ok = false
		}
		last = comma
	}
	if ok && bad == 0 && !last && bytes.IndexByte(list, '/') < 0 && bytes.IndexByte(list, ':') < 0 {
		return bytes.Count(list, []byte{','}) + 1, i + j, nil
	}
	return slowCountNumbers(b, i)
}

// exponentWord reports whether every byte of w is a number byte or a comma (the rare word of a
// compact list holding an 'e' or 'E').
func exponentWord(w []byte) bool {
	for _, c := range w {
		if !numberByte[c] && c != ',' {
			return false
		}
	}
	return true
}

// numberByte holds what the byte-by-byte path accepts inside a number.
var numberByte = func() (t [256]bool) {
	for _, c := range []byte("0123456789+-.eE") {
		t[c] = true
	}
	return
}()

// slowCountNumbers is countNumbers byte by byte.
func slowCountNumbers(b []byte, i int) (n, end int, err error) {
	commas := 0
	lastComma := true // a virtual comma before the first element
	seen := false
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == ',':
			if lastComma {
				return 0, i, errors.New("an embedding list has an empty element")
			}
			commas++
			lastComma = true
		case numberByte[c]:
			lastComma, seen = false, true
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
		case c == ']':
			if !seen {
				return 0, i, nil // only whitespace: a comma would have been an empty element
			}
			if lastComma {
				return 0, i, errors.New("an embedding list ends with a comma")
			}
			return commas + 1, i, nil
		default:
			return 0, i, fmt.Errorf("an embedding list holds %q, not only numbers", c)
		}
	}
	return 0, i, errors.New("unterminated embedding list")
}

// base64Floats is the number of float32 values a standard base64 string (padded or not)
// decodes to. JSON may escape '/' as "\/", so escapes are accounted for.
func base64Floats(raw []byte) (int, error) {
	body := raw
	pad := 0
	for pad < 2 && len(body) > 0 && body[len(body)-1] == '=' {
		body, pad = body[:len(body)-1], pad+1
	}
	if cls := classes(body, &base64Class); cls == clsPlain {
		return base64Count(len(body), pad)
	}
	return base64Slow(raw)
}

func base64Slow(raw []byte) (int, error) {
	n := 0
	pad := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\\' {
			if i+1 < len(raw) && raw[i+1] == '/' {
				i++
				n++
				continue
			}
			return 0, errors.New("an embedding string holds an escape that base64 never needs")
		}
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '-', c == '_':
			if pad > 0 {
				return 0, errors.New("an embedding string has base64 data after its padding")
			}
			n++
		case c == '=':
			pad++
		default:
			return 0, fmt.Errorf("an embedding string holds %q, which is not base64", c)
		}
	}
	return base64Count(n, pad)
}

// base64Count is the number of float32 values in n base64 characters followed by pad '='.
func base64Count(n, pad int) (int, error) {
	if pad > 2 || (pad > 0 && (n+pad)%4 != 0) || n%4 == 1 {
		return 0, errors.New("an embedding string is not valid base64 (bad length or padding)")
	}
	bytesLen := n / 4 * 3
	switch n % 4 {
	case 2:
		bytesLen++
	case 3:
		bytesLen += 2
	}
	if bytesLen%4 != 0 {
		return 0, fmt.Errorf("an embedding string decodes to %d bytes, not a whole number of float32 values", bytesLen)
	}
	return bytesLen / 4, nil
}
