// Package wiretest holds how upstream servers' JSON decoders read the fields the gateway reads: the
// gateway's attack tests run upstreams that decode so, and wire's FuzzParseRequest checks that every
// body wire.ParseRequest accepts reads the same to all of them. It is for tests only.
package wiretest

import (
	"bytes"
	"encoding/json"
	"unicode"
)

// View is what a JSON decoder takes for each field Switchyard reads: the raw value, "" when absent.
type View map[string]string

// viewFields are the fields a view holds; "stream_options.include_usage" is read inside stream_options.
var viewFields = []string{"model", "stream", "tools", "functions", "messages", "input", "encoding_format", "dimensions", "stream_options"}

// goView decodes as a Go upstream does (encoding/json into a struct): a name matches in any letter
// case, by Go's folding, and the last match wins.
func goView(body []byte) View {
	var v struct {
		Model, Stream, Tools, Functions, Messages, Input, Dimensions json.RawMessage
		EncodingFormat                                               json.RawMessage `json:"encoding_format"`
		StreamOptions                                                json.RawMessage `json:"stream_options"`
	}
	_ = json.Unmarshal(body, &v)
	var so struct {
		IncludeUsage json.RawMessage `json:"include_usage"`
	}
	_ = json.Unmarshal(v.StreamOptions, &so)
	return View{"model": string(v.Model), "stream": string(v.Stream), "tools": string(v.Tools), "functions": string(v.Functions),
		"messages": string(v.Messages), "input": string(v.Input), "encoding_format": string(v.EncodingFormat),
		"dimensions": string(v.Dimensions), "stream_options": string(v.StreamOptions), "stream_options.include_usage": string(so.IncludeUsage)}
}

// members lists an object's members in order, keys decoded.
func members(raw []byte) [][2]string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var out [][2]string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return out
		}
		out = append(out, [2]string{tok.(string), string(v)})
	}
	return out
}

// orderedView decodes as a case-sensitive upstream does, the first match winning (gjson, many
// streaming parsers) or the last (Python's json, JavaScript's JSON.parse), or as one that matches in
// any letter case as Java's String.equalsIgnoreCase does and takes the first.
func orderedView(last, anyCase bool) func([]byte) View {
	pick := func(ms [][2]string, name string) string {
		val := ""
		for _, m := range ms {
			if m[0] == name || (anyCase && javaEqualsIgnoreCase(m[0], name)) {
				val = m[1]
				if !last {
					break
				}
			}
		}
		return val
	}
	return func(body []byte) View {
		ms := members(body)
		v := View{}
		for _, f := range viewFields {
			v[f] = pick(ms, f)
		}
		v["stream_options.include_usage"] = pick(members([]byte(v["stream_options"])), "include_usage")
		return v
	}
}

// javaEqualsIgnoreCase is Java's String.equalsIgnoreCase: characters match when their upper cases
// do, or the lower cases of those (so ı matches i, which Go's folding does not).
func javaEqualsIgnoreCase(a, b string) bool {
	ra, rb := []rune(a), []rune(b)
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		ua, ub := unicode.ToUpper(ra[i]), unicode.ToUpper(rb[i])
		if ra[i] != rb[i] && ua != ub && unicode.ToLower(ua) != unicode.ToLower(ub) {
			return false
		}
	}
	return true
}

// Decoders are the upstream decoders the attack tests and FuzzParseRequest hold the gateway to.
var Decoders = []struct {
	Name  string
	Parse func([]byte) View
}{
	{"go", goView},
	{"first", orderedView(false, false)},
	{"last", orderedView(true, false)},
	{"anycase", orderedView(false, true)},
}
