// Package apierror is SPEC's error shape, written once: every error Switchyard answers is
// {"error": {"message", "type", "code", "param"}} with a type and code from the contract.
package apierror

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Type is the error's OpenAI type.
type Type string

// The types SPEC allows.
const (
	InvalidRequestError Type = "invalid_request_error"
	AuthenticationError Type = "authentication_error"
	PermissionError     Type = "permission_error"
	NotFoundError       Type = "not_found_error"
	ConflictError       Type = "conflict_error"
	RateLimitError      Type = "rate_limit_error"
	UpstreamError       Type = "upstream_error"
)

// Codes of the developer API (SPEC "Errors").
const (
	CodeInvalidAPIKey         = "invalid_api_key"
	CodeModelNotFound         = "model_not_found"
	CodeUnsupportedOperation  = "unsupported_operation"
	CodeUpstreamModelNotFound = "upstream_model_not_found"
	CodeUpstreamAuthError     = "upstream_auth_error"
	CodeUpstreamUnavailable   = "upstream_unavailable"
	CodeUpstreamBadResponse   = "upstream_bad_response"
	CodeInvalidRequest        = "invalid_request"
	CodeRateLimited           = "rate_limited"
	CodeCorpusNotFound        = "corpus_not_found"
	CodeInvalidAdminToken     = "invalid_admin_token"
	CodeForbidden             = "forbidden"
	CodeNotFound              = "not_found"
	CodeAliasExists           = "alias_exists"
	CodeAliasMoved            = "alias_moved"
	CodeReembedRequired       = "reembed_required"
	CodeProviderInUse         = "provider_in_use"
	CodeRunInProgress         = "run_in_progress"
	CodeDoubledRoute          = "doubled_route"
	CodeBlockedAddress        = "blocked_address"
	CodeInternal              = "internal_error"
)

// Codes of the admin API beyond SPEC's fixed list (SPEC allows more), carried by the stores'
// conflicts (catalog.ConflictError.Code).
const (
	CodeAlreadyExists  = "already_exists"   // a create whose name is taken
	CodeModelInUse     = "model_in_use"     // disabling a model an alias points at
	CodeLastSuperAdmin = "last_super_admin" // revoking the last active super admin
	// CodeRouteChanged is a route change whose expected_version is not the route's version:
	// someone changed it meanwhile.
	CodeRouteChanged   = "route_changed"
	CodeCorpusExists   = "corpus_exists"    // a corpus of that name exists
	CodeNoStandbyIndex = "no_standby_index" // a rollback with no standby index to go back to
	CodeRunEnded       = "run_ended"        // cancelling a re-embed run that has ended
)

// Error is an error a handler answers with. It satisfies error, so services can return it and
// handlers can write it unchanged.
type Error struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    Type    `json:"type"`
	Code    string  `json:"code"`
	Param   *string `json:"param"`
	// RetryAfter, when set, is sent as the Retry-After header (rate limits passed through).
	RetryAfter string `json:"-"`
}

func (e *Error) Error() string {
	if e.Param != nil {
		return fmt.Sprintf("%s (%s): %s", e.Code, *e.Param, e.Message)
	}
	return e.Code + ": " + e.Message
}

// WithParam returns a copy of e naming the field at fault.
func (e *Error) WithParam(param string) *Error {
	c := *e
	c.Param = &param
	return &c
}

// New builds an error; param may be empty.
func New(status int, typ Type, code, param, format string, args ...any) *Error {
	e := &Error{Status: status, Type: typ, Code: code, Message: fmt.Sprintf(format, args...)}
	if param != "" {
		e.Param = &param
	}
	return e
}

// Invalid is a 400 invalid_request naming param.
func Invalid(param, format string, args ...any) *Error {
	return New(http.StatusBadRequest, InvalidRequestError, CodeInvalidRequest, param, format, args...)
}

// NotFound is the admin API's 404.
func NotFound(param, format string, args ...any) *Error {
	return New(http.StatusNotFound, NotFoundError, CodeNotFound, param, format, args...)
}

// Conflict is a 409 with one of SPEC's conflict codes.
func Conflict(code, param, format string, args ...any) *Error {
	return New(http.StatusConflict, ConflictError, code, param, format, args...)
}

// Internal is a 500 whose message hides the cause; log the cause where it happens.
func Internal(requestID string) *Error {
	msg := "internal error"
	if requestID != "" {
		msg += "; quote request id " + requestID + " when reporting it"
	}
	return New(http.StatusInternalServerError, UpstreamError, CodeInternal, "", "%s", msg)
}

type envelope struct {
	Error *Error `json:"error"`
}

// Write sends e as JSON with its status.
func Write(w http.ResponseWriter, e *Error) {
	body, _ := json.Marshal(envelope{Error: e})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if e.RetryAfter != "" {
		h.Set("Retry-After", e.RetryAfter)
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// As finds an *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}
