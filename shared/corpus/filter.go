package corpus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Limits of a search filter.
const (
	MaxFilterFields = 16  // conditions in one filter
	MaxFilterValues = 100 // values in one "in" list
)

// Filter narrows a search to the documents whose metadata satisfies every one of its conditions.
type Filter []Condition

// Condition holds when a document's metadata has Field equal to one of Values. Values are JSON
// scalars (string, number, boolean or null), kept as their JSON text.
type Condition struct {
	Field  string
	Values []json.RawMessage
}

// Containments is the condition as JSON objects {"field": value}, one per value: a document's
// metadata satisfies it when it contains (jsonb @>) any of them.
func (c Condition) Containments() []string {
	out := make([]string, len(c.Values))
	for i, v := range c.Values {
		name, _ := json.Marshal(c.Field)
		out[i] = "{" + string(name) + ":" + string(v) + "}"
	}
	return out
}

// ParseFilter reads a search's "filter": a JSON object whose members are conditions, all of which
// must hold. A member's value is a JSON scalar (the field equals it) or {"in": [scalars]} (the field
// equals one of them). Anything else — arrays, other operators, nested objects, a field given twice —
// is a *FieldError naming "filter" or "filter.<field>". An absent or null filter is nil.
func ParseFilter(raw json.RawMessage) (Filter, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, &FieldError{Param: "filter", Message: `filter must be an object such as {"lang": "en", "year": {"in": [2023, 2024]}}`}
	}
	var f Filter
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &FieldError{Param: "filter", Message: fmt.Sprintf("filter is not valid JSON: %v", err)}
		}
		field := tok.(string)
		param := "filter." + quote(field)
		if field == "" {
			return nil, &FieldError{Param: "filter", Message: "a filter field name is empty"}
		}
		if len(field) > MaxIDLength {
			return nil, &FieldError{Param: "filter", Message: fmt.Sprintf("a filter field name is %d bytes long; at most %d", len(field), MaxIDLength)}
		}
		if seen[field] {
			return nil, &FieldError{Param: param, Message: fmt.Sprintf("filter names %q twice", quote(field))}
		}
		seen[field] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, &FieldError{Param: param, Message: fmt.Sprintf("filter is not valid JSON: %v", err)}
		}
		values, msg := conditionValues(v)
		if msg != "" {
			return nil, &FieldError{Param: param, Message: fmt.Sprintf("filter.%s %s", quote(field), msg)}
		}
		f = append(f, Condition{Field: field, Values: values})
		if len(f) > MaxFilterFields {
			return nil, &FieldError{Param: "filter", Message: fmt.Sprintf("filter has more than %d fields", MaxFilterFields)}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, &FieldError{Param: "filter", Message: fmt.Sprintf("filter is not valid JSON: %v", err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &FieldError{Param: "filter", Message: "filter holds more than one JSON value"}
	}
	return f, nil
}

// conditionValues reads one condition's value: a scalar, or {"in": [scalars]}. msg says what is
// wrong, to follow the field's name.
func conditionValues(v json.RawMessage) ([]json.RawMessage, string) {
	v = bytes.TrimSpace(v)
	switch v[0] {
	case '[':
		return nil, `is an array; give one value, or several as {"in": [...]}`
	case '{':
	default:
		return []json.RawMessage{v}, ""
	}
	var op map[string]json.RawMessage
	if err := json.Unmarshal(v, &op); err != nil || len(op) != 1 || op["in"] == nil {
		return nil, `must be a value or {"in": [values]}; no other operator is supported`
	}
	var list []json.RawMessage
	if err := json.Unmarshal(op["in"], &list); err != nil {
		return nil, `.in must be an array of values`
	}
	if len(list) == 0 || len(list) > MaxFilterValues {
		return nil, fmt.Sprintf(".in has %d values; give 1 to %d", len(list), MaxFilterValues)
	}
	for _, item := range list {
		if c := bytes.TrimSpace(item)[0]; c == '[' || c == '{' {
			return nil, ".in holds an array or object; its values must be strings, numbers, booleans or null"
		}
	}
	return list, ""
}

// quote bounds a caller's field name before it reaches a message.
func quote(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
