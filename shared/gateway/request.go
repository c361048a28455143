package gateway

import (
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/switchyard-ai/switchyard/shared/apierror"
)

// buffer is a pooled byte slice: request bodies, upstream answers and rewritten bodies reuse
// memory instead of growing new slices per request.
type buffer struct{ b []byte }

var buffers = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 32<<10)} }}

// maxPooled keeps a rare huge answer from pinning its memory in the pool.
const maxPooled = 4 << 20

func getBuffer(size int) *buffer {
	buf := buffers.Get().(*buffer)
	if cap(buf.b) < size {
		buf.b = make([]byte, 0, size)
	}
	buf.b = buf.b[:0]
	return buf
}

func putBuffer(buf *buffer) {
	if buf == nil || cap(buf.b) > maxPooled {
		return
	}
	buf.b = buf.b[:0]
	buffers.Put(buf)
}

var errTooLarge = errors.New("body too large")

// readSlack is room past an announced length: one byte so that the final read sees EOF without
// growing the buffer, and room for a longer "model" spliced in place.
const readSlack = 512

// readAll reads r into buf, failing with errTooLarge past limit bytes. sizeHint is the announced
// Content-Length (or -1).
func readAll(r io.Reader, buf *buffer, sizeHint, limit int64) error {
	if sizeHint > limit {
		return errTooLarge
	}
	if sizeHint >= 0 && int64(cap(buf.b)) < sizeHint+readSlack {
		buf.b = make([]byte, 0, sizeHint+readSlack)
	}
	b := buf.b
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			buf.b = b
			return errTooLarge
		}
		if err == io.EOF {
			buf.b = b
			return nil
		}
		if err != nil {
			buf.b = b
			return err
		}
	}
}

// readRequest reads the request body whole, bounded by the configured limit. A body announced
// larger than the limit is refused without being read.
func (c *call) readRequest() (*buffer, bool) {
	buf := getBuffer(0)
	err := readAll(c.r.Body, buf, c.r.ContentLength, c.g.maxRequest)
	if err == nil {
		return buf, true
	}
	putBuffer(buf)
	if errors.Is(err, errTooLarge) {
		// The rest of the body stays unread; the connection cannot be reused.
		c.w.Header().Set("Connection", "close")
		c.fail(apierror.Invalid("", "The request body is larger than this gateway accepts (%d bytes); send fewer or shorter inputs per request.", c.g.maxRequest),
			"body over "+strconv.FormatInt(c.g.maxRequest, 10)+" bytes")
		return nil, false
	}
	if c.r.Context().Err() != nil {
		c.clientClosed("the client went away while sending the body")
		return nil, false
	}
	c.fail(apierror.Invalid("", "The request body could not be read: %v", err), "")
	return nil, false
}

// request is what the gateway needs of a developer's body; everything else passes through.
type request struct {
	model     string
	modelSpan [2]int
	end       int // index of the top-level closing brace

	// chat
	stream       bool
	tools        bool
	hasMessages  bool
	streamOpts   [2]int // the stream_options value; [0] < 0 when absent
	includeUsage [2]int // its include_usage value; [0] < 0 when absent
	askedUsage   bool   // the client asked for the usage chunk itself

	// embeddings
	hasInput       bool
	encodingFormat string
	dimensions     int64
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
)

var (
	requestFields = []string{"model", "stream", "stream_options", "tools", "functions", "messages", "input", "encoding_format", "dimensions"}
	usageFields   = []string{"include_usage"}
)

// parseRequest checks that body is one JSON object and reads the fields the gateway acts on.
// Fields the gateway reads must appear once, spelled exactly: upstreams disagree on which duplicate
// wins and on letter case, and "model" must mean one thing to both (see lookupField).
func parseRequest(body []byte, route string) (*request, *apierror.Error) {
	req := &request{streamOpts: [2]int{-1, -1}, includeUsage: [2]int{-1, -1}}
	var seen uint16
	var fieldErr *apierror.Error
	end, err := scanDocument(body, true, func(m member) bool {
		f, exact := lookupField(m.key, requestFields)
		if f < 0 {
			return true
		}
		if !exact || seen&(1<<f) != 0 {
			fieldErr = fieldTwice(requestFields[f], m.key, exact)
			return false
		}
		seen |= 1 << f
		v := body[m.valStart:m.valEnd]
		switch f {
		case fieldModel:
			s, ok := jsonString(v)
			if !ok || s == "" {
				fieldErr = apierror.Invalid("model", "`model` must be a non-empty string naming a model or an alias.")
				return false
			}
			req.model, req.modelSpan = s, [2]int{m.valStart, m.valEnd}
		case fieldStream:
			switch string(v) {
			case "true":
				req.stream = true
			case "false", "null":
			default:
				fieldErr = apierror.Invalid("stream", "`stream` must be true or false.")
				return false
			}
		case fieldStreamOptions:
			if string(v) == "null" {
				req.streamOpts = [2]int{m.valStart, m.valEnd}
				return true
			}
			if v[0] != '{' {
				fieldErr = apierror.Invalid("stream_options", "`stream_options` must be an object.")
				return false
			}
			req.streamOpts = [2]int{m.valStart, m.valEnd}
			_, _ = scanObject(body, m.valStart, true, func(o member) bool {
				k, exact := lookupField(o.key, usageFields)
				if k < 0 {
					return true
				}
				if !exact || req.includeUsage[0] >= 0 {
					fieldErr = fieldTwice("stream_options.include_usage", o.key, exact)
					return false
				}
				req.includeUsage = [2]int{o.valStart, o.valEnd}
				req.askedUsage = string(body[o.valStart:o.valEnd]) == "true"
				return true
			})
			if fieldErr != nil {
				return false
			}
		case fieldTools, fieldFunctions:
			if string(v) != "null" && !emptyArray(v) {
				req.tools = true
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
			req.encodingFormat = s
		case fieldDimensions:
			if string(v) == "null" {
				return true
			}
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n <= 0 {
				fieldErr = apierror.Invalid("dimensions", "`dimensions` must be a positive integer.")
				return false
			}
			req.dimensions = n
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
	if req.model == "" {
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

func emptyArray(v []byte) bool {
	if len(v) < 2 || v[0] != '[' {
		return false
	}
	return skipSpace(v, 1) == len(v)-1
}

// edit replaces body[start:end] with text.
type edit struct {
	start, end int
	text       []byte
}

// splice replaces b[start:end] with text in place, moving only the bytes after end, and returns
// the resized slice (grown, and so copied, only when text is longer and b has no room left).
func splice(b []byte, start, end int, text []byte) []byte {
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

// applyEdits appends src with edits (sorted, not overlapping) applied to dst.
func applyEdits(dst, src []byte, edits ...edit) []byte {
	at := 0
	for _, e := range edits {
		dst = append(dst, src[at:e.start]...)
		dst = append(dst, e.text...)
		at = e.end
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

// upstreamBody appends the body the upstream receives: "model" set to upstreamName and, for a
// streamed chat whose client did not ask for usage, stream_options.include_usage set to true.
// Every other byte is the client's.
func (req *request) upstreamBody(dst, body []byte, upstreamName string, wantUsage bool) []byte {
	var quoted [160]byte
	model := appendQuoted(quoted[:0], upstreamName)
	edits := [2]edit{{req.modelSpan[0], req.modelSpan[1], model}}
	n := 1
	if wantUsage && !req.askedUsage {
		var e edit
		switch {
		case req.includeUsage[0] >= 0: // include_usage false or null
			e = edit{req.includeUsage[0], req.includeUsage[1], jsonTrue}
		case req.streamOpts[0] < 0: // absent: add it as the last member
			e = edit{req.end, req.end, includeUsageMember}
		case body[req.streamOpts[0]] == 'n': // null
			e = edit{req.streamOpts[0], req.streamOpts[1], includeUsageObject}
		default: // an object without include_usage
			at := req.streamOpts[0] + 1
			text := includeUsageFirst
			if emptyObject(body[req.streamOpts[0]:req.streamOpts[1]]) {
				text = includeUsageOnly
			}
			e = edit{at, at, text}
		}
		if e.start < edits[0].start {
			edits[0], edits[1] = e, edits[0]
		} else {
			edits[1] = e
		}
		n = 2
	}
	return applyEdits(dst, body, edits[:n]...)
}

func emptyObject(v []byte) bool {
	return len(v) >= 2 && v[0] == '{' && skipSpace(v, 1) == len(v)-1
}
