package fakeupstream

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
}

// maxBody bounds request bodies, as real servers do.
const maxBody = 8 << 20

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		WriteError(w, http.StatusRequestEntityTooLarge, ShapeOpenAI, "request body too large or unreadable", "invalid_request_error", "")
		return nil, false
	}
	return b, true
}

// text reads a message's content: a string, or OpenAI's list of parts.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

func (s *Server) knownChat(model string) bool {
	return !s.cfg.StrictModels || slices.Contains(s.cfg.ChatModels, model)
}

// decodeRequest reads and decodes a JSON request into req, takes the faults a "model@faults" name
// asks for from *model, and runs the checks every route makes (delay, auth, random failure). ok is
// false when it has already answered.
func (s *Server) decodeRequest(w http.ResponseWriter, r *http.Request, f Faults, req any, model *string) (string, Faults, bool) {
	body, ok := readBody(w, r)
	if !ok {
		return "", f, false
	}
	if err := json.Unmarshal(body, req); err != nil {
		WriteError(w, http.StatusBadRequest, f.shape(), "We could not parse the JSON body of your request: "+err.Error(), "invalid_request_error", "")
		return "", f, false
	}
	name, f := splitModel(*model, f)
	if !s.pre(w, r, f) {
		return "", f, false
	}
	return name, f, true
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, f Faults) {
	var req chatRequest
	model, f, ok := s.decodeRequest(w, r, f, &req, &req.Model)
	if !ok {
		return
	}
	if f.ModelNotFound || !s.knownChat(model) {
		s.modelNotFound(w, f, model)
		return
	}
	if len(req.Messages) == 0 {
		WriteError(w, http.StatusBadRequest, f.shape(), "'messages' is a required property", "invalid_request_error", "messages")
		return
	}
	if req.Stream && f.NoStreaming {
		WriteError(w, http.StatusBadRequest, f.shape(), "streaming is not supported by this model", "unsupported", "stream")
		return
	}
	if len(req.Tools) > 0 && f.NoTools {
		WriteError(w, http.StatusBadRequest, f.shape(), "this model does not support tools", "unsupported", "tools")
		return
	}

	var last string
	promptTokens := 0
	for _, m := range req.Messages {
		t := text(m.Content)
		promptTokens += countWords(t) + 1
		if m.Role == "user" {
			last = t
		}
	}
	words := append([]string{"You", "said:"}, strings.Fields(last)...)
	finish := "stop"
	limit := 0
	if req.MaxTokens != nil {
		limit = *req.MaxTokens
	} else if req.MaxCompletionTokens != nil {
		limit = *req.MaxCompletionTokens
	}
	if limit > 0 && len(words) > limit {
		words, finish = words[:limit], "length"
	}
	var tool string
	if len(req.Tools) > 0 && string(req.ToolChoice) != `"none"` {
		tool = req.Tools[0].Function.Name
		finish = "tool_calls"
	}
	completion := len(words)
	if tool != "" {
		completion = 3
	}
	usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, promptTokens, completion, promptTokens+completion)
	id := "chatcmpl-fake-" + strconv.FormatInt(s.seq.Add(1), 10)
	mj, _ := json.Marshal(model)
	head := fmt.Sprintf(`"id":%q,"created":%d,"model":%s`, id, s.cfg.Created, mj)

	if !req.Stream {
		var msg string
		if tool != "" {
			msg = fmt.Sprintf(`{"role":"assistant","content":null,"tool_calls":[{"id":"call_fake_1","type":"function","function":{"name":%s,"arguments":"{}"}}]}`, jsonString(tool))
		} else {
			msg = fmt.Sprintf(`{"role":"assistant","content":%s}`, jsonString(strings.Join(words, " ")))
		}
		out := []byte(fmt.Sprintf(`{%s,"object":"chat.completion","choices":[{"index":0,"message":%s,"finish_reason":%q}],"usage":%s}`, head, msg, finish, usage))
		writeAnswer(w, out, f)
		return
	}

	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	usageNull := ""
	if includeUsage {
		usageNull = `,"usage":null` // as OpenAI does on every chunk once usage is asked for
	}
	chunk := func(delta, finishReason string) string {
		fr := "null"
		if finishReason != "" {
			fr = strconv.Quote(finishReason)
		}
		return fmt.Sprintf(`{%s,"object":"chat.completion.chunk","choices":[{"index":0,"delta":%s,"finish_reason":%s}]%s}`, head, delta, fr, usageNull)
	}
	events := []string{chunk(`{"role":"assistant","content":""}`, "")}
	if tool != "" {
		events = append(events,
			chunk(fmt.Sprintf(`{"tool_calls":[{"index":0,"id":"call_fake_1","type":"function","function":{"name":%s,"arguments":""}}]}`, jsonString(tool)), ""),
			chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}`, ""))
	} else {
		for i, wd := range words {
			if i > 0 {
				wd = " " + wd
			}
			events = append(events, chunk(`{"content":`+jsonString(wd)+`}`, ""))
		}
	}
	events = append(events, chunk(`{}`, finish))
	if includeUsage {
		events = append(events, fmt.Sprintf(`{%s,"object":"chat.completion.chunk","choices":[],"usage":%s}`, head, usage))
	}
	if f.StreamError != "" {
		// As vLLM does when generation fails once the stream has begun.
		events = append(events[:1], fmt.Sprintf(`{"error":{"message":%s,"type":"server_error","param":null,"code":500}}`,
			jsonString(s.ExpandEcho(f.StreamError, r))))
	}
	events = append(events, "[DONE]")

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if f.BreakAfterHeaders {
		fl.Flush()
		resetConn(w)
		return
	}
	for i, ev := range events {
		if i > 0 && f.StreamStall > 0 && !sleep(r, f.StreamStall) {
			return
		}
		if f.BreakAfter > 0 && i == f.BreakAfter {
			resetConn(w)
			return
		}
		io.WriteString(w, "data: "+ev+"\n\n")
		if fl != nil {
			fl.Flush()
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
}

// seeds turns an embeddings input (a string, strings, a token list or token lists) into one
// vector seed per item, and counts its tokens.
func seeds(raw json.RawMessage) (out []uint64, tokens int, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, 0, fmt.Errorf("'input' is a required property")
	}
	// The first bytes say which of the four shapes to decode: one pass over a large batch, not one per
	// shape tried.
	shape := raw[0]
	if shape == '[' {
		if rest := bytes.TrimLeft(raw[1:], " \t\r\n"); len(rest) > 0 {
			shape = rest[0]
		}
	}
	switch {
	case raw[0] == '"':
		var one string
		if json.Unmarshal(raw, &one) == nil {
			return []uint64{hashText([]byte(one))}, countWords(one) + 1, nil
		}
	case shape == '"':
		var many []string
		if json.Unmarshal(raw, &many) == nil {
			for _, t := range many {
				out = append(out, hashText([]byte(t)))
				tokens += countWords(t) + 1
			}
			return out, tokens, nonEmpty(out)
		}
	case shape == '[':
		var lists [][]int64
		if json.Unmarshal(raw, &lists) == nil {
			for _, l := range lists {
				out = append(out, hashTokens(l))
				tokens += len(l)
			}
			return out, tokens, nonEmpty(out)
		}
	default: // a list of tokens, or an empty list
		var toks []int64
		if json.Unmarshal(raw, &toks) == nil {
			return []uint64{hashTokens(toks)}, len(toks), nonEmpty(toks)
		}
	}
	return nil, 0, fmt.Errorf("'input' must be a string, a list of strings, a list of tokens or a list of token lists")
}

// writeAnswer writes a whole JSON answer with its length; with BreakAfter set, half of it and then a
// reset connection, as an upstream that dies mid-answer.
func writeAnswer(w http.ResponseWriter, out []byte, f Faults) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	if f.BreakAfter > 0 {
		w.WriteHeader(http.StatusOK)
		w.Write(out[:len(out)/2])
		w.(http.Flusher).Flush()
		resetConn(w)
		return
	}
	w.Write(out)
}

// countWords is len(strings.Fields(s)) for ASCII whitespace, without making the fields: the fake's
// token counts, on every input of every request.
func countWords(s string) int {
	n, in := 0, false
	for i := 0; i < len(s); i++ {
		space := s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\v' || s[i] == '\f'
		if !space && !in {
			n++
		}
		in = !space
	}
	return n
}

func nonEmpty[T any](s []T) error {
	if len(s) == 0 {
		return fmt.Errorf("'input' must not be empty")
	}
	return nil
}

func hashTokens(toks []int64) uint64 {
	h := fnv.New64a()
	var b [8]byte
	h.Write([]byte("tokens:"))
	for _, t := range toks {
		binary.LittleEndian.PutUint64(b[:], uint64(t))
		h.Write(b[:])
	}
	return h.Sum64()
}

// Dimension is the vector length the fake gives model (without faults).
func (s *Server) Dimension(model string) int {
	if d, ok := s.cfg.Dimensions[model]; ok {
		return d
	}
	return s.cfg.DefaultDimension
}

// Vector is the unit vector the fake answers for text under model, for tests to compare with.
func (s *Server) Vector(model, text string) []float32 {
	return unitVector(hashText([]byte(text)), s.Dimension(model))
}

// Prime encodes the base64 answers of texts under model ahead of the requests that will ask for them,
// beyond the cache's usual bound, so that serving them costs next to nothing: a benchmark's stand-in
// for an upstream on other machines, whose work does not take the measured machine's CPU.
func (s *Server) Prime(model string, texts []string) {
	dim := s.Dimension(model)
	for _, t := range texts {
		seed := hashText([]byte(t))
		s.vecCache.Store(vecKey{seed, dim, true}, s.appendVector(nil, seed, dim, true))
	}
}

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request, f Faults) {
	var req embeddingRequest
	model, f, ok := s.decodeRequest(w, r, f, &req, &req.Model)
	if !ok {
		return
	}
	_, known := s.cfg.Dimensions[model]
	if f.ModelNotFound || (s.cfg.StrictModels && !known) {
		s.modelNotFound(w, f, model)
		return
	}
	b64 := false
	switch req.EncodingFormat {
	case "", "float":
	case "base64":
		b64 = true
	default:
		WriteError(w, http.StatusBadRequest, f.shape(), "encoding_format must be float or base64", "invalid_request_error", "encoding_format")
		return
	}
	items, tokens, err := seeds(req.Input)
	if err != nil {
		WriteError(w, http.StatusBadRequest, f.shape(), err.Error(), "invalid_request_error", "input")
		return
	}
	dim := s.Dimension(model)
	if f.Dimension > 0 {
		dim = f.Dimension
	}

	// Size the answer up front: a batch of large vectors is megabytes, and growing it by appends
	// costs more than making it.
	per := 64 + 12*dim
	if b64 {
		per = 64 + base64.StdEncoding.EncodedLen(4*dim)
	}
	bp := s.bufs.Get().(*[]byte)
	out := *bp
	if need := 256 + per*len(items); cap(out) < need {
		out = make([]byte, 0, need)
	}
	out = append(out[:0], `{"object":"list","data":[`...)
	for i, seed := range items {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"object":"embedding","index":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `,"embedding":`...)
		if noise := s.cfg.Noisy[model]; noise > 0 {
			out = appendEncoded(out, s.noisyVector(seed, dim, noise), b64)
		} else {
			out = s.appendVector(out, seed, dim, b64)
		}
		out = append(out, '}')
	}
	out = append(out, `],"model":`...)
	out = strconv.AppendQuote(out, model)
	out = append(out, `,"usage":{"prompt_tokens":`...)
	out = strconv.AppendInt(out, int64(tokens), 10)
	out = append(out, `,"total_tokens":`...)
	out = strconv.AppendInt(out, int64(tokens), 10)
	out = append(out, `}}`...)
	writeAnswer(w, out, f)
	if cap(out) <= 16<<20 { // do not pin huge buffers in the pool
		*bp = out
		s.bufs.Put(bp)
	}
}
