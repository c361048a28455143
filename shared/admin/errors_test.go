package admin_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// The catalogue's domain errors reach the user as they did when the store built API errors itself:
// same status, code, param, and the route that helps them on.
func TestAPIErrorMapsDomainErrors(t *testing.T) {
	for _, c := range []struct {
		err                  error
		status               int
		code, param, message string
	}{
		{&catalog.NotFoundError{What: catalog.EntityProvider, Name: "p1", Param: "identifier"},
			404, apierror.CodeNotFound, "identifier", "no provider named p1; GET /admin/providers lists them"},
		{&catalog.NotFoundError{What: catalog.EntityKey, Name: "key_1", Param: "id"},
			404, apierror.CodeNotFound, "id", "no key with id key_1; GET /admin/keys lists them"},
		{&catalog.NotFoundError{What: catalog.EntityModelOrAlias, Name: "m", Param: "name"},
			404, apierror.CodeNotFound, "name", "no model or alias named m; GET /admin/models and GET /admin/aliases list them"},
		{&catalog.NotFoundError{What: catalog.EntityRoute, Name: "chat", Param: "name"},
			404, apierror.CodeNotFound, "name", "no alias named chat, so no route; every alias is a route (GET /admin/aliases lists them)"},
		{&catalog.NotFoundError{What: catalog.EntityTeam, Name: "t", Param: "teams[1]", Ref: true},
			400, apierror.CodeInvalidRequest, "teams[1]", "no team named t; create it first with POST /admin/teams"},
		{&catalog.NotFoundError{What: catalog.EntityProvider, Name: "p", Param: "provider", Ref: true},
			400, apierror.CodeInvalidRequest, "provider", "no provider named p; create it first with POST /admin/providers"},
		{&catalog.NotFoundError{What: catalog.EntityModelOrAlias, Name: "x", Param: "models[0]", Ref: true},
			400, apierror.CodeInvalidRequest, "models[0]", "no model or alias named x; GET /admin/models and GET /admin/aliases list them"},
		{&catalog.ConflictError{Code: apierror.CodeAlreadyExists, Param: "identifier", What: catalog.EntityProvider, Name: "p", Message: "a provider named p already exists"},
			409, apierror.CodeAlreadyExists, "identifier", "a provider named p already exists; pick another identifier or PATCH /admin/providers/p"},
		{&catalog.ConflictError{Code: apierror.CodeAliasExists, Param: "name", What: catalog.EntityAlias, Name: "a", Message: "the alias a already exists"},
			409, apierror.CodeAliasExists, "name", "the alias a already exists; move it with POST /admin/aliases/a/move"},
		{&catalog.ConflictError{Code: apierror.CodeRouteChanged, Param: "expected_version", What: catalog.EntityRoute, Name: "r", Message: "route r is at version 2, not 1: someone changed it meanwhile; nothing changed"},
			409, apierror.CodeRouteChanged, "expected_version", "route r is at version 2, not 1: someone changed it meanwhile; nothing changed; read GET /admin/routes/r and retry"},
		{fmt.Errorf("move: %w", &catalog.MoveError{Refusal: catalog.RefusedAliasMoved, Param: "expected_from", Message: "moved"}),
			409, apierror.CodeAliasMoved, "expected_from", "moved"},
		{&catalog.MoveError{Refusal: catalog.RefusedDisabledTarget, Param: "to", Message: "disabled"},
			400, apierror.CodeInvalidRequest, "to", "disabled"},
		{catalog.Invalid("enabled", "bad %d", 1), 400, apierror.CodeInvalidRequest, "enabled", "bad 1"},
		{&catalog.NotFoundError{What: catalog.EntityCorpus, Name: "kb", Param: "name"},
			404, apierror.CodeNotFound, "name", "no corpus named kb; GET /admin/corpora lists them"},
		{&catalog.NotFoundError{What: catalog.EntityRun, Name: "9", Param: "id"},
			404, apierror.CodeNotFound, "id", "no re-embed run with id 9"},
		{&catalog.ConflictError{Code: apierror.CodeRunEnded, What: catalog.EntityRun, Name: "9", Message: "re-embed run 9 has already ended; there is nothing to cancel"},
			409, apierror.CodeRunEnded, "", "re-embed run 9 has already ended; there is nothing to cancel"},
	} {
		ae, ok := admin.APIError(c.err)
		if !ok {
			t.Errorf("%v: not mapped", c.err)
			continue
		}
		param := ""
		if ae.Param != nil {
			param = *ae.Param
		}
		if ae.Status != c.status || ae.Code != c.code || param != c.param || ae.Message != c.message {
			t.Errorf("%v: got %d %s %q %q, want %d %s %q %q", c.err, ae.Status, ae.Code, param, ae.Message, c.status, c.code, c.param, c.message)
		}
	}
	if _, ok := admin.APIError(errors.New("connection refused")); ok {
		t.Error("an internal failure was mapped to an API error")
	}
}

// Through the real store and HTTP, a refusal still tells the user where to go next.
func TestStoreRefusalsCarryHints(t *testing.T) {
	e := newEnv(t)
	e.seedCatalog()
	e.must(201, "POST", "/admin/corpora", map[string]any{"name": "kb", "embedding_model": "acme-embed"})
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		message      string
	}{
		{"GET", "/admin/providers/nope", nil, 404, "no provider named nope; GET /admin/providers lists them"},
		{"GET", "/admin/keys?team=nope", nil, 404, "no team named nope; GET /admin/teams lists them"},
		{"POST", "/admin/keys", map[string]any{"team": "nope", "name": "k"}, 400, "no team named nope; create it first with POST /admin/teams"},
		{"PUT", "/admin/audience/acme-llm", map[string]any{"teams": []string{"search", "nope"}}, 400, "no team named nope; create it first with POST /admin/teams"},
		{"POST", "/admin/models", map[string]any{"name": "m2", "provider": "nope", "upstream_name": "m", "kind": "chat", "context_window": 8192}, 400,
			"no provider named nope; create it first with POST /admin/providers"},
		// The corpus and run stores speak the domain too; the hint is added here, at the edge.
		{"POST", "/admin/corpora", map[string]any{"name": "kb2", "embedding_model": "nope"}, 400,
			"no alias named nope; create it first with PUT /admin/aliases/nope, pointing at a pinned model"},
		{"POST", "/admin/corpora", map[string]any{"name": "kb2", "embedding_model": "acme-embed", "teams": []string{"nope"}}, 400,
			"no team named nope; create it first with POST /admin/teams"},
		{"POST", "/admin/corpora", map[string]any{"name": "kb", "embedding_model": "acme-embed"}, 409, `a corpus named "kb" exists already`},
		{"POST", "/admin/corpora/kb/reembed", map[string]any{"model": "nope"}, 400, "no model named nope; register it first with POST /admin/models"},
		{"POST", "/admin/corpora/kb/rollback", nil, 409,
			`corpus "kb" has no standby index to roll back to (none was kept, or its retention ended) (GET /admin/corpora/kb lists its indexes)`},
		// So does the re-embed service.
		{"GET", "/admin/corpora/nope", nil, 404, "no corpus named nope; GET /admin/corpora lists them"},
		{"PATCH", "/admin/corpora/nope", map[string]any{"keep_queries": true}, 404, "no corpus named nope; GET /admin/corpora lists them"},
		{"POST", "/admin/corpora/nope/reembed", map[string]any{"model": "acme-embed-2026-06"}, 404, "no corpus named nope; GET /admin/corpora lists them"},
		{"POST", "/admin/corpora/nope/rollback", nil, 404, "no corpus named nope; GET /admin/corpora lists them"},
		{"POST", "/admin/corpora/nope/reembed/estimate", map[string]any{"model": "nope"}, 404, "no corpus named nope; GET /admin/corpora lists them"},
		{"POST", "/admin/corpora/nope/reembed/preview", map[string]any{"model": "nope"}, 404, "no corpus named nope; GET /admin/corpora lists them"},
		{"POST", "/admin/corpora/kb/reembed/estimate", map[string]any{"model": "nope"}, 400, "no model named nope; register it first with POST /admin/models"},
		{"POST", "/admin/corpora/kb/reembed/preview", map[string]any{"sample": 5000, "model": "nope"}, 400, "sample must be between 1 and 2000 documents (default 200)"},
		{"GET", "/admin/reembeds/999", nil, 404, "no re-embed run with id 999"},
		{"GET", "/admin/reembeds/abc", nil, 404, "no re-embed run with id abc"},
		{"POST", "/admin/reembeds/999/cancel", nil, 404, "no re-embed run with id 999"},
	} {
		r := e.do(c.method, c.path, superToken, c.body)
		if got := str(r.Body, "error", "message"); r.Status != c.status || got != c.message {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, r.Status, got, c.status, c.message)
		}
	}
}
