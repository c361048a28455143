package wire

import (
	"slices"
	"strconv"

	"github.com/switchyard-ai/switchyard/shared/apierror"
)

// Request is what the gateway reads of a developer's chat or embeddings body; everything else
// passes through.
type Request struct {
	Model string // the model or alias named, decoded

	EncodingFormat string // embeddings: "float", "base64" or "" when absent
	Dimensions     int64  // embeddings: 0 when absent

	Stream     bool // chat: "stream": true
	Tools      bool // chat: non-empty "tools" or "functions"
	AskedUsage bool // chat: the client asked for the usage chunk itself

	// User is the "user" string (routing rules may match on it); "" when absent.
	User string
	// MaxTokens is the larger of "max_tokens" and "max_completion_tokens" (quotas reserve it up
	// front); -1 when neither is given.
	MaxTokens int64

	hasMessages  bool
	hasInput     bool
	modelSpan    [2]int
	end          int    // index of the top-level closing brace
	streamOpts   [2]int // the stream_options value; [0] < 0 when absent
	includeUsage [2]int // its include_usage value; [0] < 0 when absent
}

// The fields the gateway reads at the top level of a chat or embeddings body.
const (
	fieldModel = iota
	fieldStream
	fieldStreamOptions
	fieldTools
	fieldFunctions
	fieldMessages
	fieldInput
	fieldEncodingFormat
	fieldDimensions
	fieldUser
	fieldMaxTokens
	fieldMaxCompletionTokens
)

var (
	requestFields = []string{"model", "stream", "stream_options", "tools", "functions", "messages", "input", "encoding_format", "dimensions",
		"user", "max_tokens", "max_completion_tokens"}
	usageFields = []string{"include_usage"}
)

// The routes ParseRequest knows: a chat body must hold "messages", an embeddings body "input".
const (
	RouteChat       = "/v1/chat/completions"
	RouteEmbeddings = "/v1/embeddings"
)

// ParseRequest checks that body is one JSON object (exactly what encoding/json accepts) and reads
// the fields the gateway acts on; a refusal is SPEC's 400 invalid_request_error naming the field.
// Fields the gateway reads must appear once, spelled exactly: upstreams disagree on which duplicate
// wins and on letter case, and "model" must mean one thing to both (see lookupField).
func ParseRequest(body []byte, route string) (*Request, *apierror.Error) {
	req := &Request{MaxTokens: -1, streamOpts: [2]int{-1, -1}, includeUsage: [2]int{-1, -1}}
	var seen uint16
	var fieldErr *apierror.Error
	end, err := scanDocument(body, true, func(m Member) bool {
		f, exact := lookupField(m.Key, requestFields)
		if f < 0 {
			return true
		}
		if !exact || seen&(1<<f) != 0 {
			fieldErr = fieldTwice(requestFields[f], m.Key, exact)
			return false
		}
		seen |= 1 << f
		v := body[m.ValStart:m.ValEnd]
		switch f {
		case fieldModel:
			s, ok := jsonString(v)
			if !ok || s == "" {
				fieldErr = apierror.Invalid("model", "`model` must be a non-empty string naming a model or an alias.")
				return false
			}
			req.Model, req.modelSpan = s, [2]int{m.ValStart, m.ValEnd}
		case fieldStream:
			switch string(v) {
			case "true":
				req.Stream = true
			case "false", "null":
			default:
				fieldErr = apierror.Invalid("stream", "`stream` must be true or false.")
				return false
			}
		case fieldStreamOptions:
			if string(v) == "null" {
				req.streamOpts = [2]int{m.ValStart, m.ValEnd}
				return true
			}
			if v[0] != '{' {
				fieldErr = apierror.Invalid("stream_options", "`stream_options` must be an object.")
				return false
			}
			req.streamOpts = [2]int{m.ValStart, m.ValEnd}
			_, _ = scanObject(body, m.ValStart, true, func(o Member) bool {
				k, exact := lookupField(o.Key, usageFields)
				if k < 0 {
					return true
				}
				if !exact || req.includeUsage[0] >= 0 {
					fieldErr = fieldTwice("stream_options.include_usage", o.Key, exact)
					return false
				}
				req.includeUsage = [2]int{o.ValStart, o.ValEnd}
				req.AskedUsage = string(body[o.ValStart:o.ValEnd]) == "true"
				return true
			})
			if fieldErr != nil {
				return false
			}
		case fieldTools, fieldFunctions:
			if string(v) != "null" && !EmptyArray(v) {
				req.Tools = true
			}
		case fieldMessages:
			if v[0] != '[' {
				fieldErr = apierror.Invalid("messages", "`messages` must be an array of messages.")
				return false
			}
			req.hasMessages = true
		case fieldInput:
			if v[0] != '"' && v[0] != '[' {
				fieldErr = apierror.Invalid("input", "`input` must be a string, an array of strings, or an array of token arrays.")
				return false
			}
			req.hasInput = true
		case fieldEncodingFormat:
			s, ok := jsonString(v)
			if string(v) == "null" {
				return true
			}
			if !ok || (s != "float" && s != "base64") {
				fieldErr = apierror.Invalid("encoding_format", "`encoding_format` must be \"float\" or \"base64\".")
				return false
			}
			req.EncodingFormat = s
		case fieldDimensions:
			if string(v) == "null" {
				return true
			}
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n <= 0 {
				fieldErr = apierror.Invalid("dimensions", "`dimensions` must be a positive integer.")
				return false
			}
			req.Dimensions = n
		case fieldUser:
			if string(v) == "null" {
				return true
			}
			s, ok := jsonString(v)
			if !ok {
				fieldErr = apierror.Invalid("user", "`user` must be a string.")
				return false
			}
			req.User = s
		case fieldMaxTokens, fieldMaxCompletionTokens:
			if string(v) == "null" {
				return true
			}
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 {
				fieldErr = apierror.Invalid(requestFields[f], "`%s` must be a whole number of tokens, 0 or more.", requestFields[f])
				return false
			}
			req.MaxTokens = max(req.MaxTokens, n)
		}
		return true
	})
	if fieldErr != nil {
		return nil, fieldErr
	}
	if err != nil {
		return nil, apierror.Invalid("", "The request body is not valid JSON (%v); send one JSON object.", err)
	}
	req.end = end
	if req.Model == "" {
		return nil, apierror.Invalid("model", "`model` is required: name a model or an alias (GET /v1/models lists them).")
	}
	switch route {
	case RouteChat:
		if !req.hasMessages {
			return nil, apierror.Invalid("messages", "`messages` is required: an array of chat messages.")
		}
	case RouteEmbeddings:
		if !req.hasInput {
			return nil, apierror.Invalid("input", "`input` is required: a string, an array of strings, or an array of token arrays.")
		}
	}
	return req, nil
}

// EmptyArray reports whether v is a JSON list with no element.
func EmptyArray(v []byte) bool {
	if len(v) < 2 || v[0] != '[' {
		return false
	}
	return SkipSpace(v, 1) == len(v)-1
}

// Edit replaces body[Start:End] with Text.
type Edit struct {
	Start, End int
	Text       []byte
}

// Splice replaces b[start:end] with text in place, moving only the bytes after end, and returns
// the resized slice (grown, and so copied, only when text is longer and b has no room left).
func Splice(b []byte, start, end int, text []byte) []byte {
	oldLen := len(b)
	newLen := oldLen + len(text) - (end - start)
	if newLen > oldLen {
		b = slices.Grow(b, newLen-oldLen)
	}
	b = b[:max(oldLen, newLen)]
	copy(b[start+len(text):], b[end:oldLen])
	copy(b[start:], text)
	return b[:newLen]
}

// ApplyEdits appends src with edits (sorted, not overlapping) applied to dst.
func ApplyEdits(dst, src []byte, edits ...Edit) []byte {
	at := 0
	for _, e := range edits {
		dst = append(dst, src[at:e.Start]...)
		dst = append(dst, e.Text...)
		at = e.End
	}
	return append(dst, src[at:]...)
}

var (
	includeUsageMember = []byte(`,"stream_options":{"include_usage":true}`)
	includeUsageObject = []byte(`{"include_usage":true}`)
	includeUsageFirst  = []byte(`"include_usage":true,`)
	includeUsageOnly   = []byte(`"include_usage":true`)
	jsonTrue           = []byte(`true`)
)

// UpstreamBody appends the body the upstream receives: "model" set to upstreamName and, for a
// streamed chat whose client did not ask for usage, stream_options.include_usage set to true.
// Every other byte is the client's.
func (req *Request) UpstreamBody(dst, body []byte, upstreamName string, wantUsage bool) []byte {
	var quoted [160]byte
	model := AppendQuoted(quoted[:0], upstreamName)
	edits := [2]Edit{{req.modelSpan[0], req.modelSpan[1], model}}
	n := 1
	if wantUsage && !req.AskedUsage {
		var e Edit
		switch {
		case req.includeUsage[0] >= 0: // include_usage false or null
			e = Edit{req.includeUsage[0], req.includeUsage[1], jsonTrue}
		case req.streamOpts[0] < 0: // absent: add it as the last member
			e = Edit{req.end, req.end, includeUsageMember}
		case body[req.streamOpts[0]] == 'n': // null
			e = Edit{req.streamOpts[0], req.streamOpts[1], includeUsageObject}
		default: // an object without include_usage
			at := req.streamOpts[0] + 1
			text := includeUsageFirst
			if emptyObject(body[req.streamOpts[0]:req.streamOpts[1]]) {
				text = includeUsageOnly
			}
			e = Edit{at, at, text}
		}
		if e.Start < edits[0].Start {
			edits[0], edits[1] = e, edits[0]
		} else {
			edits[1] = e
		}
		n = 2
	}
	return ApplyEdits(dst, body, edits[:n]...)
}

func emptyObject(v []byte) bool {
	return len(v) >= 2 && v[0] == '{' && SkipSpace(v, 1) == len(v)-1
}
