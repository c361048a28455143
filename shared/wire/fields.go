package wire

import (
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// A field Switchyard reads must mean one thing to it and to whoever reads the body after it. JSON
// decoders disagree on a name given twice (the first wins in some, the last in others) and on letter
// case (Go's encoding/json, Jackson and System.Text.Json set a field from "Model", "MODEL" or
// "ſtream"), so a body in which a field Switchyard reads appears twice, or in another spelling that
// some decoder takes for it, is refused: otherwise a key granted one model could name another.

// lookupField finds key among fields (lowercase ASCII names): the index and whether key is spelled
// exactly so, or -1 when no decoder would take key for any of them.
func lookupField(key []byte, fields []string) (int, bool) {
	for i, f := range fields {
		if string(key) == f {
			return i, true
		}
	}
	for i, f := range fields {
		if foldsTo(key, f) {
			return i, false
		}
	}
	return -1, false
}

// foldsTo reports whether some decoder may take key for name (lowercase ASCII): equal in any letter
// case, by simple Unicode folding (the Kelvin sign for k, ſ for s) as bytes.EqualFold, or by
// upper- or lowercasing (ı and İ for i) as encoding/json and Java do; a key cut short by a NUL, as a
// C decoder reads it, counts too. Most keys differ in their first byte, where this returns.
func foldsTo(key []byte, name string) bool {
	i := 0
	for j := 0; j < len(name); j++ {
		if i >= len(key) {
			return false
		}
		want := name[j]
		if c := key[i]; c < utf8.RuneSelf {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != want {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(key[i:])
		if unicode.ToLower(r) != rune(want) && unicode.ToUpper(r) != unicode.ToUpper(rune(want)) {
			return false
		}
		i += n
	}
	return i == len(key) || key[i] == 0
}

// fieldTwice is the answer for a field given twice or respelled; param names it.
func fieldTwice(param string, key []byte, exact bool) *apierror.Error {
	if exact {
		return apierror.Invalid(param, "`%s` appears more than once in the body; send it once.", param)
	}
	return apierror.Invalid(param, "%q is taken for `%s` by some JSON decoders; send `%s` once, spelled exactly so.",
		catalog.Quote(string(key), 32), param, param)
}

// Field is a member a handler reads from a JSON body; Inside lists the members it reads in the
// member's value (an object, or each object of an array).
type Field struct {
	Name   string
	Inside []Field
}

// CheckFields refuses (400 invalid_request, param naming the field, as "documents[3].id") a body in
// which one of fields appears twice or in a spelling some decoder takes for it, at the top level or
// inside. A body that is not JSON passes: the decoder that follows says what is wrong with it.
func CheckFields(body []byte, fields []Field) *apierror.Error {
	e, _ := checkObject(body, 0, "", fields, fieldNames(fields))
	return e
}

func fieldNames(fields []Field) []string {
	names := make([]string, len(fields))
	for k, f := range fields {
		names[k] = f.Name
	}
	return names
}

// checkObject checks the object at body[i] (names are the fields' names); it returns the index past
// it (-1 when it stopped).
func checkObject(body []byte, i int, prefix string, fields []Field, names []string) (*apierror.Error, int) {
	var seen uint64
	var fail *apierror.Error
	end, err := scanObject(body, i, false, func(m Member) bool {
		k, exact := lookupField(m.Key, names)
		if k < 0 {
			return true
		}
		if !exact || seen&(1<<k) != 0 {
			fail = fieldTwice(prefix+names[k], m.Key, exact)
			return false
		}
		seen |= 1 << k
		if inside := fields[k].Inside; inside != nil {
			fail = checkInside(body, m.ValStart, prefix+names[k], inside)
		}
		return fail == nil
	})
	if fail != nil || err != nil {
		return fail, -1
	}
	return nil, end
}

// checkInside checks the object at body[i], or each object of the array there.
func checkInside(body []byte, i int, param string, fields []Field) *apierror.Error {
	names := fieldNames(fields)
	switch body[i] {
	case '{':
		e, _ := checkObject(body, i, param+".", fields, names)
		return e
	case '[':
	default:
		return nil
	}
	i = SkipSpace(body, i+1)
	for n := 0; i < len(body) && body[i] != ']'; n++ {
		var next int
		if body[i] == '{' {
			var e *apierror.Error
			if e, next = checkObject(body, i, param+"["+strconv.Itoa(n)+"].", fields, names); e != nil || next < 0 {
				return e
			}
		} else {
			var err error
			if next, err = skipValue(body, i, false, 1); err != nil {
				return nil
			}
		}
		i = SkipSpace(body, next)
		if i < len(body) && body[i] == ',' {
			i = SkipSpace(body, i+1)
		}
	}
	return nil
}
