package admin

import (
	"errors"
	"fmt"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// APIError is the one place a service or store error becomes the admin API's error (SPEC's JSON
// error shape): the catalogue's domain errors (catalog.NotFoundError, ConflictError, InvalidError,
// MoveError), the stores' and the re-embed service's alike, get their status, code and param here,
// and their message the route that helps a person on (where to list, create or re-read the thing).
// An *apierror.Error passes unchanged.
// Any other error is an internal failure: ok is false.
//
// To change what a user reads when the catalogue refuses something, change the store's message
// (the fact) or the hints below (where to go next).
func APIError(err error) (*apierror.Error, bool) {
	if err == nil {
		return nil, false
	}
	if e, ok := apierror.As(err); ok {
		return e, true
	}
	var nf *catalog.NotFoundError
	if errors.As(err, &nf) {
		if nf.Ref {
			return apierror.Invalid(nf.Param, "%s", withHint(nf.Error(), refHint(nf))), true
		}
		return apierror.NotFound(nf.Param, "%s", withHint(nf.Error(), listHint(nf.What))), true
	}
	var ce *catalog.ConflictError
	if errors.As(err, &ce) {
		return apierror.Conflict(ce.Code, ce.Param, "%s", withHint(ce.Message, conflictHint(ce))), true
	}
	var me *catalog.MoveError
	if errors.As(err, &me) {
		switch me.Refusal {
		case catalog.RefusedAliasMoved:
			return apierror.Conflict(apierror.CodeAliasMoved, me.Param, "%s", me.Message), true
		case catalog.RefusedReembedRequired:
			return apierror.Conflict(apierror.CodeReembedRequired, me.Param, "%s", me.Message), true
		}
		return apierror.Invalid(me.Param, "%s", me.Message), true
	}
	var ie *catalog.InvalidError
	if errors.As(err, &ie) {
		return apierror.Invalid(ie.Param, "%s", ie.Message), true
	}
	return nil, false
}

func withHint(msg, hint string) string {
	switch {
	case hint == "":
		return msg
	case hint[0] == '(':
		return msg + " " + hint
	}
	return msg + "; " + hint
}

// listHint says where the things of one kind are listed.
func listHint(what string) string {
	switch what {
	case catalog.EntityModelOrAlias:
		return "GET /admin/models and GET /admin/aliases list them"
	case catalog.EntityRoute:
		return "(GET /admin/aliases lists them)"
	case catalog.EntityProvider, catalog.EntityModel, catalog.EntityAlias, catalog.EntityTeam, catalog.EntityKey, catalog.EntityAdmin:
		return "GET /admin/" + what + "s lists them"
	case catalog.EntityCorpus:
		return "GET /admin/corpora lists them"
	}
	return ""
}

// refHint says how to make a thing the input referred to exist, or where to find one that does.
func refHint(nf *catalog.NotFoundError) string {
	switch nf.What {
	case catalog.EntityTeam, catalog.EntityProvider:
		return "create it first with POST /admin/" + nf.What + "s"
	case catalog.EntityModel:
		return "register it first with POST /admin/models"
	case catalog.EntityAlias:
		return fmt.Sprintf("create it first with PUT /admin/aliases/%s, pointing at a pinned model", nf.Name)
	}
	return listHint(nf.What)
}

// conflictHint says what to do instead of the refused change.
func conflictHint(ce *catalog.ConflictError) string {
	switch {
	case ce.Code == apierror.CodeAlreadyExists && ce.What == catalog.EntityProvider:
		return fmt.Sprintf("pick another identifier or PATCH /admin/providers/%s", ce.Name)
	case ce.Code == apierror.CodeAliasExists:
		return fmt.Sprintf("move it with POST /admin/aliases/%s/move", ce.Name)
	case ce.Code == apierror.CodeProviderInUse:
		return "(point it at a new base URL with PATCH instead)"
	case ce.Code == apierror.CodeRouteChanged:
		return fmt.Sprintf("read GET /admin/routes/%s and retry", ce.Name)
	case ce.Code == apierror.CodeRunInProgress && ce.What == catalog.EntityAlias:
		return "(GET /admin/reembeds/{id} follows a run; POST /admin/reembeds/{id}/cancel cancels it)"
	case ce.Code == apierror.CodeNoStandbyIndex:
		return "(GET /admin/corpora/" + ce.Name + " lists its indexes)"
	}
	return ""
}
