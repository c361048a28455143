package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/upstream"
	"github.com/switchyard-ai/switchyard/shared/wire"
)

// sseRelay rewrites a chat completion stream event by event: each chunk's "model" names the pinned
// version, token usage is taken from the usage chunk, and when the gateway asked for that chunk on
// the client's behalf, it is removed (with the "usage": null the upstream then adds to every other
// chunk), so the client receives what it would have without Switchyard. Anything that is not a
// JSON chunk (comments, ids, event names, [DONE], garbage) passes through byte for byte.
type sseRelay struct {
	model      []byte // the pinned name as a JSON string
	stripUsage bool
	maxEvent   int

	prompt, completion, total int64
	sawUsage                  bool
	// sawDone and sawFinish say the stream reached its end: [DONE], or a choice's finish_reason.
	sawDone, sawFinish bool
	upstreamErr        []byte // the data of an error event, if the upstream sent one
	provider           string // names the upstream in the error event sent in its place
	events             int
}

// streamError is what the client is told in place of an upstream's error event.
func (s *sseRelay) streamError() *apierror.Error {
	up := "the upstream"
	if s.provider != "" {
		up += " " + s.provider
	}
	return apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamUnavailable, "",
		"%s sent an error in the middle of the stream; the answer is incomplete", up)
}

var errEventTooLarge = errors.New("a stream event is larger than the limit")

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// run copies src's events to w as they arrive, calling flush when no further complete event is
// already buffered, so bursts cost one flush and a lone event is never held back.
func (s *sseRelay) run(src io.Reader, w io.Writer, flush func()) error {
	br := readers.Get().(*bufio.Reader)
	br.Reset(src)
	defer func() { br.Reset(nil); readers.Put(br) }()
	ev := getBuffer(0)
	defer putBuffer(ev)
	out := getBuffer(0)
	defer putBuffer(out)
	partial := false // the last read ended mid-line (a line longer than the reader's buffer)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if len(ev.b)+len(line) > s.maxEvent {
				return errEventTooLarge
			}
			ev.b = append(ev.b, line...)
		}
		continued := partial
		partial = err == bufio.ErrBufferFull
		if partial {
			continue
		}
		if err != nil {
			if err == io.EOF {
				// An event without its blank line at the end of the stream is incomplete; SSE
				// discards it, and so would the client, so it passes through as it came.
				if len(ev.b) > 0 {
					if _, werr := w.Write(ev.b); werr != nil {
						return writeError{werr}
					}
					flush()
				}
				return nil
			}
			return err
		}
		if continued || !blankLine(line) {
			continue
		}
		out.b = s.event(out.b[:0], ev.b)
		ev.b = ev.b[:0]
		if len(out.b) > 0 {
			if _, err := w.Write(out.b); err != nil {
				return writeError{err}
			}
		}
		if !bytes.Contains(peekBuffered(br), []byte("\n\n")) {
			flush()
		}
	}
}

// writeError is a failure to write to the client, told apart from the upstream's failures.
type writeError struct{ err error }

func (e writeError) Error() string { return "write to the client: " + e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

func peekBuffered(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

func blankLine(l []byte) bool {
	return len(l) == 1 || (len(l) == 2 && l[0] == '\r')
}

// event appends to dst what the client receives for ev, one whole event with its blank line; it
// may append nothing (the usage chunk the client did not ask for).
func (s *sseRelay) event(dst, ev []byte) []byte {
	s.events++
	if s.upstreamErr != nil {
		// The error event ended the answer; what follows ([DONE] above all) would tell the
		// client it was complete.
		return dst
	}
	// Find the one data line; events with several (rare, and never from a chat server) pass as is.
	dataStart, dataEnd := -1, -1
	for i := 0; i < len(ev); {
		j := bytes.IndexByte(ev[i:], '\n')
		end := i + j
		if j < 0 {
			end = len(ev)
		}
		line := ev[i:end]
		if bytes.HasPrefix(line, []byte("data:")) {
			if dataStart >= 0 {
				return append(dst, ev...)
			}
			dataStart = i + 5
			if dataStart < end && ev[dataStart] == ' ' {
				dataStart++
			}
			dataEnd = end
			if dataEnd > dataStart && ev[dataEnd-1] == '\r' {
				dataEnd--
			}
		}
		i = end + 1
	}
	if dataStart < 0 || dataStart >= dataEnd || ev[dataStart] != '{' {
		if dataStart >= 0 && string(ev[dataStart:dataEnd]) == "[DONE]" {
			s.sawDone = true
		}
		return append(dst, ev...)
	}
	data := ev[dataStart:dataEnd]
	var members [12]wire.Member
	ms := members[:0]
	err := wire.ScanAnswer(data, func(m wire.Member) bool {
		switch string(m.Key) {
		case "model", "usage", "choices", "error":
			ms = append(ms, m)
		}
		return true
	})
	if err != nil {
		return append(dst, ev...)
	}
	var edits [2]wire.Edit
	es := edits[:0]
	for k, m := range ms {
		v := data[m.ValStart:m.ValEnd]
		switch string(m.Key) {
		case "error":
			// The upstream's words (which may quote its credential or its hosts) are for the
			// log; the client gets Switchyard's error event in their place.
			s.upstreamErr = append(s.upstreamErr[:0], data...)
			return appendErrorEvent(dst, s.streamError())
		case "model":
			if v[0] == '"' {
				es = append(es, wire.Edit{Start: dataStart + m.ValStart, End: dataStart + m.ValEnd, Text: s.model})
			}
		case "choices":
			if !s.sawFinish && finished(v) {
				s.sawFinish = true
			}
		case "usage":
			if v[0] == '{' {
				s.sawUsage = true
				s.prompt, s.completion, s.total = wire.TokenCounts(v)
			}
			if !s.stripUsage {
				continue
			}
			if v[0] == '{' && onlyEmptyChoices(data, ms) {
				return dst // the usage chunk the gateway asked for
			}
			if v[0] == '{' || v[0] == 'n' {
				start, end := memberExtent(data, ms, k)
				es = append(es, wire.Edit{Start: dataStart + start, End: dataStart + end})
			}
		}
	}
	if len(es) == 0 {
		return append(dst, ev...)
	}
	if len(es) == 2 && es[1].Start < es[0].Start {
		es[0], es[1] = es[1], es[0]
	}
	return wire.ApplyEdits(dst, ev, es...)
}

// finished reports whether a chunk's choices carry a finish_reason that is a string (not null).
func finished(choices []byte) bool {
	const key = `"finish_reason"`
	for {
		i := bytes.Index(choices, []byte(key))
		if i < 0 {
			return false
		}
		choices = choices[i+len(key):]
		j := wire.SkipSpace(choices, 0)
		if j < len(choices) && choices[j] == ':' {
			if k := wire.SkipSpace(choices, j+1); k < len(choices) && choices[k] == '"' {
				return true
			}
		}
	}
}

// complete reports whether the stream reached its end, rather than breaking off.
func (s *sseRelay) complete() bool { return s.sawDone || s.sawFinish }

// onlyEmptyChoices reports whether the chunk's choices are an empty list (or absent): the usage
// chunk carries nothing else.
func onlyEmptyChoices(data []byte, ms []wire.Member) bool {
	for _, m := range ms {
		if string(m.Key) == "choices" {
			return wire.EmptyArray(data[m.ValStart:m.ValEnd]) || string(data[m.ValStart:m.ValEnd]) == "null"
		}
	}
	return true
}

// memberExtent is the span to cut to remove member k (its key, value and one adjoining comma).
func memberExtent(data []byte, ms []wire.Member, k int) (int, int) {
	m := ms[k]
	// Cut from the comma before the key, when there is one; else through the comma after the value.
	i := m.KeyStart - 1
	for i >= 0 && wire.IsSpace(data[i]) {
		i--
	}
	if i >= 0 && data[i] == ',' {
		return i, m.ValEnd
	}
	j := wire.SkipSpace(data, m.ValEnd)
	if j < len(data) && data[j] == ',' {
		return m.KeyStart, wire.SkipSpace(data, j+1)
	}
	return m.KeyStart, m.ValEnd
}

// relay streams the upstream's events to the client; see sseRelay. Nothing is written before the
// first event is complete: a stream that breaks off, ends or sends an error before it returns the
// failure, having written nothing, so the request may move on to another model. After it, a
// failure ends the stream with an error event and no [DONE].
func (c *call) relay(resp *http.Response, m *catalog.Model, p *catalog.Provider, stripUsage bool) *failure {
	s := &sseRelay{model: wire.AppendQuoted(nil, m.Name), stripUsage: stripUsage, maxEvent: c.g.maxEvent, provider: p.Identifier}
	start := &streamStart{c: c, s: s, contentType: resp.Header.Get("Content-Type")}
	flusher, _ := c.w.(http.Flusher)
	flush := func() {
		if start.begun && flusher != nil {
			flusher.Flush()
		}
	}
	// The headers go out with the first event (run flushes as soon as one is complete), in one
	// write rather than two.
	err := s.run(resp.Body, start, flush)
	c.row.PromptTokens, c.row.CompletionTokens, c.row.TotalTokens = s.prompt, s.completion, s.total
	if !start.begun {
		return c.beforeFirstEvent(s, p, err)
	}
	var we writeError
	withdrawn, why := c.withdrawn()
	switch {
	case err == nil && s.upstreamErr != nil:
		c.record(s.streamError(), upstream.ForOperator("error event in the stream: "+string(s.upstreamErr), p.Credential))
		c.row.Status = http.StatusOK
		return nil
	case err == nil && s.complete():
		return nil
	case err == nil:
		// The upstream closed the stream cleanly but before its end: the client must not read
		// a truncated answer as a whole one.
		err = errStreamCut
	case s.sawDone && withdrawn == nil && (errors.As(err, &we) || c.r.Context().Err() != nil):
		// The client had the whole answer and hung up before the upstream closed: a success.
		resp.Body.Close()
		return nil
	case errors.As(err, &we) || c.r.Context().Err() != nil:
		resp.Body.Close() // the client is gone: stop the upstream
		c.clientClosed("the client went away during the stream")
		return nil
	}
	var e *apierror.Error
	detail := ""
	switch {
	case withdrawn != nil:
		e, detail = withdrawn, why
	case errors.Is(err, errEventTooLarge):
		e = upstream.BadResponse(m.Provider, "a stream event is larger than %d bytes", c.g.maxEvent)
	case errors.Is(err, errStreamCut):
		e = apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamUnavailable, "",
			"the upstream %s ended the stream before its end; the answer is incomplete", p.Identifier)
		detail = err.Error()
	default:
		e = upstream.APIError(err)
		detail = upstream.Detail(err)
	}
	c.record(e, detail)
	c.row.Status = http.StatusOK // the status went out before the failure
	// Tell the client in the stream itself; the OpenAI SDKs raise an event with "error" as an error.
	_, _ = c.w.Write(appendErrorEvent(nil, e))
	flush()
	return nil
}

var (
	errStreamCut    = errors.New("the upstream closed the stream without [DONE] or a finish_reason")
	errStreamEmpty  = errors.New("the upstream closed the stream before its first event")
	errErrorFirst   = errors.New("the upstream's first event was an error")
	reasonStreamCut = apierror.CodeUpstreamUnavailable + ":stream_broken"
)

// beforeFirstEvent is the failure of a stream that ended before anything reached the client.
func (c *call) beforeFirstEvent(s *sseRelay, p *catalog.Provider, err error) *failure {
	switch {
	case s.upstreamErr != nil:
		e := s.streamError()
		e.Message = "the upstream " + p.Identifier + " answered the stream with an error"
		return &failure{api: e, detail: upstream.ForOperator("error event before any content: "+string(s.upstreamErr), p.Credential),
			reason: apierror.CodeUpstreamUnavailable + ":stream_error"}
	case errors.Is(err, errEventTooLarge):
		return &failure{api: upstream.BadResponse(p.Identifier, "a stream event is larger than %d bytes", c.g.maxEvent)}
	case err == nil:
		err = errStreamEmpty
		f := c.failed(err, reasonStreamCut)
		f.api = apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamUnavailable, "",
			"the upstream %s closed the stream before sending anything", p.Identifier)
		f.detail = err.Error()
		return f
	}
	return c.failed(err, reasonStreamCut)
}

// streamStart is the client's side of a stream: the status and headers go out with the first
// event, and not at all when that event is the upstream's error (the request may then move on).
type streamStart struct {
	c           *call
	s           *sseRelay
	contentType string
	begun       bool
}

func (w *streamStart) Write(b []byte) (int, error) {
	if !w.begun {
		if w.s.upstreamErr != nil {
			return 0, errErrorFirst
		}
		w.begun = true
		h := w.c.w.Header()
		h.Set("Content-Type", w.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.c.w.WriteHeader(http.StatusOK)
	}
	return w.c.w.Write(b)
}

// appendErrorEvent appends e as an SSE error event, as the OpenAI SDKs read one.
func appendErrorEvent(dst []byte, e *apierror.Error) []byte {
	dst = append(dst, `data: {"error":{"message":`...)
	dst = wire.AppendQuoted(dst, e.Message)
	dst = append(dst, `,"type":`...)
	dst = wire.AppendQuoted(dst, string(e.Type))
	dst = append(dst, `,"code":`...)
	dst = wire.AppendQuoted(dst, e.Code)
	return append(dst, ",\"param\":null}}\n\n"...)
}

func (c *call) clientClosed(msg string) {
	c.record(apierror.New(StatusClientClosed, apierror.InvalidRequestError, OutcomeClientClosed, "", "%s", msg), "")
}
