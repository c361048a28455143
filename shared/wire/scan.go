package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The scanner never decodes a whole body: it walks the members of a JSON object and hands over the
// byte spans of the few a caller needs (model, stream, usage...), so that everything else passes
// through byte for byte and a 16×768 embedding costs a scan, not a decode.
//
// Requests are scanned strictly (the result is valid JSON exactly when encoding/json says so, which
// FuzzParseRequest checks); upstream answers leniently, skipping arrays of numbers with a few
// vectorised searches instead of a byte-by-byte walk.

// maxDepth bounds nesting, so hostile input cannot make the scanner recurse without limit.
const maxDepth = 256

var errSyntax = errors.New("malformed JSON")

// syntaxError says where a body stops being JSON.
func syntaxError(at int, what string) error {
	return fmt.Errorf("%w at byte %d: %s", errSyntax, at, what)
}

// Member is one member of an object: its (decoded) key and where its key and value sit.
type Member struct {
	Key      []byte // the key without quotes; decoded when it held escapes
	KeyStart int    // the key's opening quote
	ValStart int    // the value's first byte
	ValEnd   int    // just past the value
}

// IsSpace reports whether c is JSON whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// SkipSpace returns the index of the first byte at or after b[i] that is not JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && IsSpace(b[i]) {
		i++
	}
	return i
}

// scanObject walks the object starting at b[i] (after optional whitespace), calling fn for each
// member in order. It returns the index just past the closing brace. fn may stop the walk early by
// returning false, in which case scanObject returns -1 and no error.
func scanObject(b []byte, i int, strict bool, fn func(m Member) bool) (int, error) {
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return 0, syntaxError(i, "expected an object")
	}
	return walkObject(b, i, strict, 0, fn)
}

// walkObject walks the object whose brace is b[i]; nested values count depth.
func walkObject(b []byte, i int, strict bool, depth int, fn func(m Member) bool) (int, error) {
	return eachMember(b, i, strict, depth, fn != nil, func(key []byte, ks, vs int) (int, error) {
		end, err := skipValue(b, vs, strict, depth+1)
		if err != nil || fn == nil || fn(Member{Key: key, KeyStart: ks, ValStart: vs, ValEnd: end}) {
			return end, err
		}
		return -1, nil
	})
}

// eachMember walks the object whose brace is b[i], handing read each member's key (without
// quotes; decoded when it held escapes, if decode is set), the index of the key's opening quote and
// the index of its value. read consumes the value as it needs and returns the index just past it,
// or -1 to stop the walk, which eachMember then returns. Otherwise it returns the index just past
// the closing brace.
func eachMember(b []byte, i int, strict bool, depth int, decode bool, read func(key []byte, keyStart, valStart int) (int, error)) (int, error) {
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, syntaxError(i, "expected a member name")
		}
		ks := i
		end, escaped, err := skipString(b, i, strict)
		if err != nil {
			return 0, err
		}
		i = SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, syntaxError(i, "expected ':'")
		}
		key := b[ks+1 : end-1]
		if escaped && decode {
			// A key spelled with escapes ("mod\u0065l") means the same to the upstream's
			// decoder, so it must mean the same here.
			s, ok := jsonString(b[ks:end])
			if !ok {
				return 0, syntaxError(ks, "invalid member name")
			}
			key = []byte(s)
		}
		if i, err = read(key, ks, SkipSpace(b, i+1)); err != nil || i < 0 {
			return i, err
		}
		var done bool
		if i, done, err = afterItem(b, i, '}'); err != nil || done {
			return i, err
		}
	}
}

// afterItem reads what follows an object's member or an array's element, whose value ends at b[i]:
// a comma, after which it returns the index of the next item, or the closing bracket, after which it
// returns the index just past it and done.
func afterItem(b []byte, i int, closing byte) (next int, done bool, err error) {
	i = SkipSpace(b, i)
	if i >= len(b) {
		if closing == '}' {
			return 0, false, syntaxError(i, "unterminated object")
		}
		return 0, false, syntaxError(i, "unterminated array")
	}
	switch b[i] {
	case ',':
		return SkipSpace(b, i+1), false, nil
	case closing:
		return i + 1, true, nil
	}
	return 0, false, syntaxError(i, "expected ',' or '"+string(closing)+"'")
}

// ScanAnswer walks the members of an upstream's answer or stream chunk, which must be exactly one
// object (with optional whitespace around it), in order, calling fn for each; fn may stop the walk
// by returning false. The scan is lenient: an answer is not checked against JSON's grammar beyond
// what finding its members needs (a list of numbers is skipped, not parsed), and a key spelled with
// escapes is decoded before fn sees it.
func ScanAnswer(b []byte, fn func(m Member) bool) error {
	_, err := scanDocument(b, false, fn)
	return err
}

// scanDocument checks that b is exactly one object (with optional whitespace around it) and walks
// its members. It returns the index of the object's closing brace.
func scanDocument(b []byte, strict bool, fn func(m Member) bool) (int, error) {
	end, err := scanObject(b, 0, strict, fn)
	if err != nil || end < 0 {
		return end, err
	}
	if rest := SkipSpace(b, end); rest != len(b) {
		return 0, syntaxError(rest, "data after the object")
	}
	return end - 1, nil
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int, strict bool, depth int) (int, error) {
	if i >= len(b) {
		return 0, syntaxError(i, "expected a value")
	}
	if depth > maxDepth {
		return 0, syntaxError(i, "nested too deeply")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := skipString(b, i, strict)
		return end, err
	case c == '{':
		return walkObject(b, i, strict, depth, nil)
	case c == '[':
		return skipArray(b, i, strict, depth)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		if strict {
			return skipNumber(b, i)
		}
		j := i + 1
		for j < len(b) && isNumberByte(b[j]) {
			j++
		}
		return j, nil
	}
	return 0, syntaxError(i, "expected a value")
}

func skipArray(b []byte, i int, strict bool, depth int) (int, error) {
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	if !strict && i < len(b) && (b[i] == '-' || (b[i] >= '0' && b[i] <= '9')) {
		// An embedding: numbers up to the closing bracket. Three vectorised searches prove that
		// nothing in between opens a string or a container.
		if j := bytes.IndexByte(b[i:], ']'); j >= 0 {
			seg := b[i : i+j]
			if bytes.IndexByte(seg, '"') < 0 && bytes.IndexByte(seg, '[') < 0 && bytes.IndexByte(seg, '{') < 0 {
				return i + j + 1, nil
			}
		}
	}
	for {
		var err error
		i, err = skipValue(b, i, strict, depth+1)
		if err != nil {
			return 0, err
		}
		var done bool
		if i, done, err = afterItem(b, i, ']'); err != nil || done {
			return i, err
		}
	}
}

// skipString returns the index just past the string starting at b[i] (a quote), and whether it
// holds escapes. Strictly, control characters and malformed escapes are errors.
func skipString(b []byte, i int, strict bool) (end int, escaped bool, err error) {
	j := i + 1
	if !strict {
		for {
			k := bytes.IndexByte(b[j:], '"')
			if k < 0 {
				return 0, false, syntaxError(i, "unterminated string")
			}
			q := j + k
			// A quote preceded by an odd number of backslashes is escaped.
			n := 0
			for p := q - 1; p > i && b[p] == '\\'; p-- {
				n++
			}
			if n > 0 {
				escaped = true
			}
			if n%2 == 0 {
				if !escaped && bytes.IndexByte(b[i+1:q], '\\') >= 0 {
					escaped = true
				}
				return q + 1, escaped, nil
			}
			j = q + 1
		}
	}
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			if j+1 >= len(b) {
				return 0, false, syntaxError(j, "unterminated escape")
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) || !isHex(b[j+5]) {
					return 0, false, syntaxError(j, "invalid \\u escape")
				}
				j += 6
			default:
				return 0, false, syntaxError(j, "invalid escape")
			}
		case c < 0x20:
			return 0, false, syntaxError(j, "control character in a string")
		default:
			j++
		}
	}
	return 0, false, syntaxError(i, "unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, syntaxError(i, "invalid literal")
	}
	return i + len(lit), nil
}

// skipNumber follows JSON's number grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func skipNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return 0, syntaxError(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return 0, syntaxError(start, "invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, syntaxError(start, "invalid number")
		}
	}
	return i, nil
}

// jsonString decodes the string value b (with its quotes); ok is false when b is not a string.
func jsonString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		return "", false
	}
	return s, true
}

// AppendQuoted appends s as a JSON string.
func AppendQuoted(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
