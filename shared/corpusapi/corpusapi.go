// Package corpusapi is the developer's HTTP face of corpora: documents and search, under /v1/corpora.
// Authentication is injected, so the gateway brings its own key check. The operator's corpus routes
// (corpora, re-embed runs, rollback) are the admin API's (package admin, Corpora).
package corpusapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/reembed"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
	"github.com/switchyard-ai/switchyard/shared/usage"
	"github.com/switchyard-ai/switchyard/shared/wire"
)

// KeyAuth authenticates a developer request: the key and the snapshot it was found in, or the error
// to answer (401 invalid_api_key).
type KeyAuth func(*http.Request) (*catalog.Key, *catalog.Snapshot, *apierror.Error)

// Handlers serves the developer's corpus routes.
type Handlers struct {
	Service *reembed.Service
	Log     *slog.Logger
	Now     func() time.Time
	// Usage, when set, gets one request-log row per developer request, as the gateway writes them.
	Usage RequestLog
	// Kick, when set, is told that jobs were queued (documents written), so that a
	// worker that is not always running (Lambda) starts at once instead of at its next schedule.
	Kick func(ctx context.Context, reason string)
}

// RequestLog records developer requests (usage.Logger does).
type RequestLog interface {
	Log(usage.Row)
}

type rowKey struct{}

// logRow is the request's log row, for handlers that know more (the model that answered a search).
func logRow(ctx context.Context) *usage.Row {
	if row, ok := ctx.Value(rowKey{}).(*usage.Row); ok {
		return row
	}
	return &usage.Row{}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (h *Handlers) kick(ctx context.Context, reason string) {
	if h.Kick != nil {
		h.Kick(ctx, reason)
	}
}

// MaxBody bounds a request body: a full batch of 1,000 documents of a few kilobytes each.
const MaxBody = 16 << 20

// RegisterDeveloper mounts PUT /v1/corpora/{corpus}/documents, DELETE
// /v1/corpora/{corpus}/documents/{id} and POST /v1/corpora/{corpus}/search on mux.
func (h *Handlers) RegisterDeveloper(mux *http.ServeMux, auth KeyAuth) {
	mux.HandleFunc("PUT /v1/corpora/{corpus}/documents", h.withKey(auth, h.putDocuments))
	mux.HandleFunc("DELETE /v1/corpora/{corpus}/documents/{id}", h.withKey(auth, h.deleteDocument))
	mux.HandleFunc("POST /v1/corpora/{corpus}/search", h.withKey(auth, h.search))
}

type keyHandler func(w http.ResponseWriter, r *http.Request, may reembed.Access) error

// withKey authenticates the developer key and writes one request-log row per request, whatever
// its outcome, as the gateway does for its routes.
func (h *Handlers) withKey(auth KeyAuth, next keyHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := h.now()
		id := reqlog.ID(r.Context())
		if id == "" {
			id = reqlog.NewID()
		}
		_, route, _ := strings.Cut(r.Pattern, " ")
		name := r.PathValue("corpus")
		row := &usage.Row{RequestID: id, At: start, Route: route, Requested: catalog.Quote(name, catalog.QuoteLimit), Outcome: usage.OutcomeOK}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if h.Usage == nil {
				return
			}
			row.Status = sw.status
			row.Latency = h.now().Sub(start)
			h.Usage.Log(*row)
		}()
		key, snap, aerr := auth(r)
		if aerr != nil {
			row.Outcome, row.Message = aerr.Code, aerr.Message
			apierror.Write(sw, aerr)
			return
		}
		row.KeyID, row.Team = key.ID, key.Team
		r = r.WithContext(context.WithValue(r.Context(), rowKey{}, row))
		defer func() {
			if m := snap.Models[row.Model]; m != nil {
				row.Provider = m.Provider
			}
		}()
		err := corpusName(name)
		if err == nil {
			err = next(sw, r, keyAccess(key, snap))
		}
		if err != nil {
			row.Outcome, row.Message = "internal_error", "internal error"
			if ae := h.finish(sw, r, err); ae != nil {
				row.Outcome, row.Message = ae.Code, ae.Message
			}
		}
	}
}

// keyAccess is what a developer key may use: the corpora of its team (reembed.KeyAccess) whose
// embedding alias its own allow-list admits, as the gateway admits a call through that alias. A
// corpus outside it answers corpus_not_found, exactly as an unknown one.
func keyAccess(key *catalog.Key, snap *catalog.Snapshot) reembed.Access {
	team := reembed.KeyAccess(key, snap)
	return func(c *corpus.Corpus) bool { return key.Allows(c.Alias) && team(c) }
}

// corpusName refuses a corpus name longer than any corpus's before it reaches a query or a message.
func corpusName(name string) error {
	if len(name) > catalog.MaxNameLength {
		return apierror.Invalid("corpus", "the corpus name is %d bytes long; corpus names have at most %d characters", len(name), catalog.MaxNameLength)
	}
	return nil
}

// finish answers err in SPEC's shape and returns what it answered (apiError); an error apiError
// does not know is logged and hidden behind a 500, and finish returns nil.
func (h *Handlers) finish(w http.ResponseWriter, r *http.Request, err error) *apierror.Error {
	if ae, ok := apiError(r, err); ok {
		apierror.Write(w, ae)
		return ae
	}
	log := reqlog.Logger(r.Context(), h.log())
	log.ErrorContext(r.Context(), "corpus request failed", "path", r.URL.Path, "err", err)
	apierror.Write(w, apierror.Internal(reqlog.ID(r.Context())))
	return nil
}

// apiError is the one place the developer's corpus routes turn the re-embed service's domain
// errors into this API's words. An unknown corpus and one the key may not use (the service does not
// tell them apart) are both 404 corpus_not_found naming param corpus, with one message that says
// neither; a missing document is 404 not_found naming id; an embedding of the wrong size from the
// upstream is 502 upstream_bad_response. An *apierror.Error passes unchanged; anything else is an
// internal failure: ok is false.
func apiError(r *http.Request, err error) (*apierror.Error, bool) {
	if ae, ok := apierror.As(err); ok {
		return ae, true
	}
	var nf *catalog.NotFoundError
	if errors.As(err, &nf) {
		switch nf.What {
		case catalog.EntityCorpus:
			return apierror.New(http.StatusNotFound, apierror.NotFoundError, apierror.CodeCorpusNotFound, "corpus",
				"there is no corpus %q that this key may use", nf.Name), true
		case catalog.EntityDocument:
			return apierror.NotFound(nf.Param, "corpus %q has no document %q", r.PathValue("corpus"), nf.Name), true
		}
	}
	var de *corpus.DimensionError
	if errors.As(err, &de) {
		return apierror.New(http.StatusBadGateway, apierror.UpstreamError, apierror.CodeUpstreamBadResponse, "", "%v", de), true
	}
	return nil, false
}

func (h *Handlers) log() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}

func (h *Handlers) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

// decode reads a JSON body strictly: unknown fields and trailing data are refused, naming the field,
// and so is a field given twice or in another letter case (encoding/json would take "Query" for
// query, and the last of two), as the gateway refuses them. Messages quote at most a bounded prefix
// of what the caller sent.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return apierror.Invalid("", "the body is larger than %d bytes; send fewer documents at a time", MaxBody)
	case err != nil:
		return apierror.Invalid("", "the body could not be read: %v", err)
	}
	if e := wire.CheckFields(body, fieldsOf(reflect.TypeOf(v))); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute):
			return apierror.Invalid(ute.Field, "%s must be %s, not %s", ute.Field, jsonType(ute.Type.Kind().String()), catalog.Quote(ute.Value, 64))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := catalog.Quote(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), 64)
			return apierror.Invalid(f, "unknown field %q", f)
		case errors.Is(err, io.EOF):
			return apierror.Invalid("", "the body is empty; send a JSON object")
		}
		return apierror.Invalid("", "the body is not valid JSON: %v", err)
	}
	if dec.More() {
		return apierror.Invalid("", "the body holds more than one JSON value")
	}
	return nil
}

// fieldsOf lists the JSON members a struct type (behind pointers) reads, with those read inside
// members that are structs or slices of structs.
func fieldsOf(t reflect.Type) []wire.Field {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var fields []wire.Field
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields = append(fields, wire.Field{Name: strings.ToLower(name), Inside: fieldsOf(f.Type)})
	}
	return fields
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int64", "float64":
		return "a number"
	}
	return "a " + kind
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// --- developer routes ---

func (h *Handlers) putDocuments(w http.ResponseWriter, r *http.Request, may reembed.Access) error {
	var body struct {
		Documents []corpus.Document `json:"documents"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if err := corpus.ValidateDocuments(body.Documents); err != nil {
		var fe *corpus.FieldError
		if errors.As(err, &fe) {
			return apierror.Invalid(fe.Param, "%s", fe.Message)
		}
		return err
	}
	n, err := h.Service.PutDocuments(r.Context(), r.PathValue("corpus"), may, body.Documents)
	if err != nil {
		return err
	}
	h.kick(r.Context(), "documents written to "+r.PathValue("corpus"))
	return writeJSON(w, http.StatusAccepted, map[string]int{"accepted": n})
}

func (h *Handlers) deleteDocument(w http.ResponseWriter, r *http.Request, may reembed.Access) error {
	id := r.PathValue("id")
	if err := corpus.ValidateDocumentID(id); err != nil {
		return apierror.Invalid("id", "%v", err)
	}
	if err := h.Service.DeleteDocument(r.Context(), r.PathValue("corpus"), may, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// MaxK bounds a search's k.
const MaxK = 100

func (h *Handlers) search(w http.ResponseWriter, r *http.Request, may reembed.Access) error {
	var body struct {
		Query  *string         `json:"query"`
		K      *int            `json:"k"`
		Mode   *string         `json:"mode"`
		Filter json.RawMessage `json:"filter"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Query == nil || strings.TrimSpace(*body.Query) == "" {
		return apierror.Invalid("query", "give the text to search for in query")
	}
	if len(*body.Query) > corpus.MaxQueryBytes {
		return apierror.Invalid("query", "query of %d bytes; at most %d", len(*body.Query), corpus.MaxQueryBytes)
	}
	k := 10
	if body.K != nil {
		k = *body.K
	}
	if k < 1 || k > MaxK {
		return apierror.Invalid("k", "k is %d; ask for 1 to %d results", k, MaxK)
	}
	opts := corpus.SearchOptions{Mode: corpus.ModeVector}
	if body.Mode != nil {
		opts.Mode = *body.Mode
	}
	switch opts.Mode {
	case corpus.ModeVector, corpus.ModeKeyword, corpus.ModeHybrid:
	default:
		return apierror.Invalid("mode", "mode is %q; use vector (the default), keyword or hybrid", catalog.Quote(opts.Mode, 64))
	}
	filter, err := corpus.ParseFilter(body.Filter)
	if err != nil {
		var fe *corpus.FieldError
		if errors.As(err, &fe) {
			return apierror.Invalid(fe.Param, "%s", fe.Message)
		}
		return err
	}
	opts.Filter = filter
	res, err := h.Service.SearchWith(r.Context(), r.PathValue("corpus"), may, *body.Query, k, opts)
	if err != nil {
		return err
	}
	h.recordQuery(r.Context(), res.Corpus, *body.Query, opts.Mode)
	row := logRow(r.Context())
	row.Model = res.Index.Model
	data := res.Hits
	if data == nil {
		data = []corpus.Hit{}
	}
	for i := range data {
		if data[i].Metadata == nil {
			data[i].Metadata = map[string]any{}
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   data,
		"index":  strconv.FormatInt(res.Index.ID, 10),
		"model":  res.Index.Model,
	})
}

// recordQuery keeps a search's query when the operator opted corpus c in (nothing otherwise: no
// database call). It never fails the search: an error is logged and the answer goes out.
func (h *Handlers) recordQuery(ctx context.Context, c *corpus.Corpus, query, mode string) {
	if err := h.Service.RecordQuery(ctx, c, query, mode); err != nil {
		reqlog.Logger(ctx, h.log()).WarnContext(ctx, "keeping a search query failed; the search is answered", "corpus", c.Name, "err", err)
	}
}
