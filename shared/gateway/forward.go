package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/upstream"
	"github.com/switchyard-ai/switchyard/shared/wire"
)

func unsupported(param, format string, args ...any) *apierror.Error {
	return apierror.New(http.StatusBadRequest, apierror.InvalidRequestError, apierror.CodeUnsupportedOperation, param, format, args...)
}

var (
	jsonHeader   = http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
	streamHeader = http.Header{"Content-Type": {"application/json"}, "Accept": {"text/event-stream"}}
)

func (g *Gateway) chat(w http.ResponseWriter, r *http.Request) {
	c := g.begin(w, r, RouteChat)
	defer c.finish()
	body, req, ts, ok := c.prepare()
	if !ok {
		return
	}
	defer putBuffer(body)
	ts, e, why := eligible(ts, func(m *catalog.Model) (*apierror.Error, string) {
		switch {
		case m.Kind != catalog.KindChat:
			return unsupported("model", "`%s` is an embedding model; call POST /v1/embeddings with it, or pick a chat model (GET /v1/models).", req.Model), "embedding model on the chat route"
		case req.Stream && !m.Capabilities.Streaming:
			return unsupported("stream", "`%s` does not support streaming; send the request without \"stream\": true.", req.Model), "streaming not declared"
		case req.Tools && !m.Capabilities.Tools:
			return unsupported("tools", "`%s` does not support tools; send the request without `tools`, or pick a model that has them (GET /v1/models shows capabilities).", req.Model), "tools not declared"
		}
		return nil, ""
	})
	if e != nil {
		c.fail(e, why)
		return
	}
	if !c.reserve(ts[0].m, len(body.b), req.MaxTokens, true) {
		return
	}
	defer c.settle()
	out := getBuffer(len(body.b) + 64)
	defer putBuffer(out)
	hdr := jsonHeader
	if req.Stream {
		hdr = streamHeader
	}
	c.forward(ts, func(ctx context.Context, t target) *failure {
		held, err := c.acquire(t.m, t.p)
		if err != nil {
			return c.failed(err, "")
		}
		defer c.release(held)
		// The body read once is sent again to each attempt, with that attempt's upstream name.
		out.b = req.UpstreamBody(out.b[:0], body.b, t.m.UpstreamName, req.Stream)
		resp, err := g.up.Send(ctx, t.p, http.MethodPost, "/chat/completions", out.b, hdr)
		if err != nil {
			return c.failed(err, "")
		}
		defer resp.Body.Close()
		if req.Stream && isEventStream(resp.Header) {
			return c.relay(resp, t.m, t.p, !req.AskedUsage)
		}
		// A plain answer (or an upstream that answered a stream request in one piece).
		return c.plain(resp, t.m, t.p, nil)
	})
}

func (g *Gateway) embeddings(w http.ResponseWriter, r *http.Request) {
	c := g.begin(w, r, RouteEmbeddings)
	defer c.finish()
	body, req, ts, ok := c.prepare()
	if !ok {
		return
	}
	defer putBuffer(body)
	ts, e, why := eligible(ts, func(m *catalog.Model) (*apierror.Error, string) {
		if m.Kind != catalog.KindEmbedding {
			return unsupported("model", "`%s` is a chat model; call POST /v1/chat/completions with it, or pick an embedding model (GET /v1/models).", req.Model), "chat model on the embeddings route"
		}
		if req.Dimensions > 0 && req.Dimensions != int64(m.Dimension) {
			return unsupported("dimensions", "`%s` returns vectors of %d dimensions; omit `dimensions` or set it to %d.", req.Model, m.Dimension, m.Dimension), "dimensions asked: " + strconv.FormatInt(req.Dimensions, 10)
		}
		return nil, ""
	})
	if e != nil {
		c.fail(e, why)
		return
	}
	if !c.reserve(ts[0].m, len(body.b), req.MaxTokens, false) {
		return
	}
	defer c.settle()
	out := getBuffer(len(body.b) + 64)
	defer putBuffer(out)
	c.forward(ts, func(ctx context.Context, t target) *failure {
		held, err := c.acquire(t.m, t.p)
		if err != nil {
			return c.failed(err, "")
		}
		defer c.release(held)
		out.b = req.UpstreamBody(out.b[:0], body.b, t.m.UpstreamName, false)
		resp, err := g.up.Send(ctx, t.p, http.MethodPost, "/embeddings", out.b, jsonHeader)
		if err != nil {
			return c.failed(err, "")
		}
		defer resp.Body.Close()
		return c.plain(resp, t.m, t.p, checkDimensions)
	})
}

// prepare is every POST's way in: the key, the body (read whole, bounded), the fields the gateway
// acts on, and the targets the name stands for, in the order to try them. When ok is false the
// answer has been written; otherwise the caller returns body to the pool.
func (c *call) prepare() (body *buffer, req *wire.Request, ts []target, ok bool) {
	key, snap, ok := c.authenticate()
	if !ok {
		return nil, nil, nil, false
	}
	body, ok = c.readRequest()
	if !ok {
		return nil, nil, nil, false
	}
	req, e := wire.ParseRequest(body.b, c.row.Route)
	if e != nil {
		putBuffer(body)
		c.fail(e, "")
		return nil, nil, nil, false
	}
	c.row.Stream = req.Stream
	if ts, ok = c.route(snap, key, req.Model, req.User); !ok {
		putBuffer(body)
		return nil, nil, nil, false
	}
	return body, req, ts, true
}

// checkDimensions is the embeddings answer's check: every vector has the model's dimension. The
// count is wire.EmbeddingLengths, a byte scan that also checks each list holds only numbers.
func checkDimensions(c *call, m *catalog.Model, p *catalog.Provider, body []byte) (*apierror.Error, string) {
	lengths, err := wire.EmbeddingLengths(body)
	if err != nil {
		return upstream.BadResponse(p.Identifier, "the embeddings answer is malformed: %v", err), "embeddings answer: " + err.Error()
	}
	for i, n := range lengths {
		if n != m.Dimension {
			e := upstream.BadResponse(p.Identifier, "vector %d has %d dimensions, but the model `%s` is recorded with %d; the catalogue entry or the served model is wrong", i, n, m.Name, m.Dimension)
			return e, "dimension: got " + strconv.Itoa(n) + ", want " + strconv.Itoa(m.Dimension)
		}
	}
	return nil, ""
}

// plain relays a non-streamed answer: read whole (pooled, bounded), checked, "model" rewritten to
// the pinned name in place, usage counted, written in one piece with its length.
// A body that breaks off before its end is a failure the request may move on from: nothing has
// been written yet.
func (c *call) plain(resp *http.Response, m *catalog.Model, p *catalog.Provider, check func(*call, *catalog.Model, *catalog.Provider, []byte) (*apierror.Error, string)) *failure {
	in := getBuffer(0)
	defer putBuffer(in)
	if err := readAll(resp.Body, in, resp.ContentLength, c.g.maxResponse); err != nil {
		if errors.Is(err, errTooLarge) {
			c.fail(upstream.BadResponse(p.Identifier, "the answer is larger than %d bytes", c.g.maxResponse), "")
			return nil
		}
		f := c.failed(err, "")
		if f.reason != "" {
			f.reason = apierror.CodeUpstreamUnavailable + ":broken" // the answer began, then broke off
		}
		return f
	}
	body := in.b
	if check != nil {
		if e, detail := check(c, m, p, body); e != nil {
			c.fail(e, detail)
			return nil
		}
	}
	modelSpan, usageSpan := [2]int{-1, -1}, [2]int{-1, -1}
	err := wire.ScanAnswer(body, func(mb wire.Member) bool {
		switch string(mb.Key) {
		case "model":
			if body[mb.ValStart] == '"' {
				modelSpan = [2]int{mb.ValStart, mb.ValEnd}
			}
		case "usage":
			if body[mb.ValStart] == '{' {
				usageSpan = [2]int{mb.ValStart, mb.ValEnd}
			}
		}
		return true
	})
	if err != nil {
		c.fail(upstream.BadResponse(p.Identifier, "the answer is not a JSON object: %v", err), "")
		return nil
	}
	if usageSpan[0] >= 0 {
		c.row.PromptTokens, c.row.CompletionTokens, c.row.TotalTokens = wire.TokenCounts(body[usageSpan[0]:usageSpan[1]])
	}
	if modelSpan[0] >= 0 {
		// In place: servers put "model" near the end or near the start, so this moves a few
		// bytes, or at worst what a copy would have.
		var quoted [160]byte
		in.b = wire.Splice(in.b, modelSpan[0], modelSpan[1], wire.AppendQuoted(quoted[:0], m.Name))
		body = in.b
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(http.StatusOK)
	if _, err := c.w.Write(body); err != nil && c.r.Context().Err() != nil {
		c.clientClosed("the client went away during the answer")
	}
	return nil
}

func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	return len(ct) >= 17 && ct[:17] == "text/event-stream"
}
