package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// MaxBodyBytes bounds every admin request body, the corpus routes' included (a CA bundle is the
// largest field). Document batches are written on the developer side (package corpusapi), which has
// its own bound.
const MaxBodyBytes = 1 << 20

// decodeBody reads r's JSON body strictly into v: unknown fields, wrong types, trailing data and
// bodies over MaxBodyBytes are refused with 400 invalid_request naming the field. An empty body is
// refused unless optional.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return apierror.Invalid("", "the request body is larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return apierror.Invalid("", "could not read the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return apierror.Invalid("", "the request body is empty; send a JSON object")
	}
	return decodeJSON(body, v)
}

func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(body, v, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apierror.Invalid("", "the request body holds more than one JSON value; send exactly one object")
	}
	return nil
}

func jsonError(body []byte, v any, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apierror.Invalid("", "the request body is not valid JSON: %v (at byte %d)", syn, syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apierror.Invalid("", "the request body ends in the middle of its JSON")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return apierror.Invalid("", "the request body must be a JSON object, not %s", typ.Value)
		}
		return apierror.Invalid(typ.Field, "%s must be %s, not %s", typ.Field, jsonKind(typ.Type), typ.Value)
	}
	// encoding/json has no typed error for an unknown field (DisallowUnknownFields); rather than
	// read its message, find the field by comparing the body with v's type.
	if field := unknownPath(body, reflect.TypeOf(v)); field != "" {
		field = catalog.Quote(field, catalog.QuoteLimit) // a megabyte key is not repeated whole
		return apierror.Invalid(field, "unknown field %s; see GET /admin/openapi.json for the fields this route takes", field)
	}
	return apierror.Invalid("", "the request body does not decode: %v", err)
}

// jsonKind names a Go type the way a JSON author thinks of it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// unknownPath finds the dotted path of the first field in data that t does not declare
// (encoding/json names only the leaf). Keys are visited in sorted order, so the answer is stable.
func unknownPath(data []byte, t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return ""
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := jsonField(t, k)
			if !ok {
				return k
			}
			if p := unknownPath(m[k], ft); p != "" {
				if strings.HasPrefix(p, "[") {
					return k + p
				}
				return k + "." + p
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "" // json.RawMessage and []byte take anything
		}
		var items []json.RawMessage
		if json.Unmarshal(data, &items) != nil {
			return ""
		}
		for i, it := range items {
			if p := unknownPath(it, t.Elem()); p != "" {
				if strings.HasPrefix(p, "[") {
					return fmt.Sprintf("[%d]%s", i, p)
				}
				return fmt.Sprintf("[%d].%s", i, p)
			}
		}
	}
	return ""
}

// jsonField finds the field encoding/json would fill from key: exact tag match first, then
// case-insensitive, as encoding/json does.
func jsonField(t reflect.Type, key string) (reflect.Type, bool) {
	var fold reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f.Type, true
		}
		if fold == nil && strings.EqualFold(name, key) {
			fold = f.Type
		}
	}
	return fold, fold != nil
}
