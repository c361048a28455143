package catalog

import (
	"errors"
	"fmt"
)

// The kinds of catalogue entity a NotFoundError or ConflictError names.
const (
	EntityProvider     = "provider"
	EntityModel        = "model"
	EntityAlias        = "alias"
	EntityRoute        = "route" // an alias seen as a route: every alias is one
	EntityTeam         = "team"
	EntityKey          = "key"
	EntityAdmin        = "admin"
	EntityModelOrAlias = "model or alias" // a name in the namespace models and aliases share
	EntityCorpus       = "corpus"
	EntityDocument     = "document"     // a document of a corpus, by its id
	EntityRun          = "re-embed run" // by its id
)

// NotFoundError says a catalogue entity does not exist. It says what was missing and under which
// request field; it says nothing about routes or HTTP: the API edge adds how to find or create one.
type NotFoundError struct {
	What  string // one of the Entity constants
	Name  string // the name or id that was looked up
	Param string // the request field that named it
	// Ref is true when the entity was named inside the input as something the change refers to
	// (a key's team, a model's provider): the input is then invalid, rather than aimed at nothing.
	Ref bool
}

func (e *NotFoundError) Error() string {
	switch e.What {
	case EntityKey, EntityAdmin, EntityDocument, EntityRun:
		return fmt.Sprintf("no %s with id %s", e.What, e.Name)
	case EntityRoute:
		return fmt.Sprintf("no alias named %s, so no route; every alias is a route", e.Name)
	}
	return fmt.Sprintf("no %s named %s", e.What, e.Name)
}

// ConflictError says a change conflicts with the catalogue as it is (a name taken, a model in use,
// the last super admin). Code is the contract's error code; What and Name, when set, name the
// entity in the way.
type ConflictError struct {
	Code    string
	Param   string
	What    string
	Name    string
	Message string
}

func (e *ConflictError) Error() string { return e.Message }

// InvalidError says the input breaks a catalogue rule; Param names the field at fault ("" for none).
type InvalidError struct {
	Param   string
	Message string
}

func (e *InvalidError) Error() string { return e.Message }

// Invalid returns an *InvalidError with a formatted message.
func Invalid(param, format string, args ...any) *InvalidError {
	return &InvalidError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// InvalidInput reports whether err says the input is invalid, and if so the field at fault and
// what is wrong: an *InvalidError, a *NotFoundError met as a reference (Ref), or a *MoveError whose
// refusal is about the input rather than a conflict with the catalogue's state.
func InvalidInput(err error) (param, message string, ok bool) {
	var ie *InvalidError
	var nf *NotFoundError
	var me *MoveError
	switch {
	case errors.As(err, &ie):
		return ie.Param, ie.Message, true
	case errors.As(err, &nf) && nf.Ref:
		return nf.Param, nf.Error(), true
	case errors.As(err, &me) && me.Refusal != RefusedAliasMoved && me.Refusal != RefusedReembedRequired:
		return me.Param, me.Message, true
	}
	return "", "", false
}
