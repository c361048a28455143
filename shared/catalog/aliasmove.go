package catalog

import (
	"fmt"
	"strings"
)

// MoveWay is how an alias is pointed at a model. Every way obeys CheckAliasMove; the ways differ
// only in whether corpora following an embedding alias may move with it, and in how a refusal is
// worded.
type MoveWay int

// The ways an alias gets a target.
const (
	// CreateByAdmin is PUT /admin/aliases/{name}: the alias's first target, which gives it its kind.
	CreateByAdmin MoveWay = iota + 1
	// MoveByAdmin is POST /admin/aliases/{name}/move.
	MoveByAdmin
	// RollbackByAdmin is POST /admin/aliases/{name}/rollback: back to where the last move came from.
	RollbackByAdmin
	// MoveByCutover is a re-embed run's cut-over: the alias moves to the model the run embedded with,
	// together with the active index of every corpus following it.
	MoveByCutover
	// MoveByCorpusRollback is POST /admin/corpora/{name}/rollback: the alias moves back to the model of
	// the standby indexes, together with every corpus following it.
	MoveByCorpusRollback
)

// movesCorpora reports whether the way moves the corpora following the alias along with it (so
// they may follow it).
func (w MoveWay) movesCorpora() bool { return w == MoveByCutover || w == MoveByCorpusRollback }

// AliasMoveCheck is what CheckAliasMove judges: one alias, the model asked for, and what the
// caller knows of the alias's state. The caller reads it inside the transaction that makes the
// move, with the alias row and the target row locked, so that the verdict still holds at commit.
type AliasMoveCheck struct {
	Way MoveWay
	// Alias is the alias as locked: Name, Kind and Target (the model it points at now). For
	// CreateByAdmin, Name alone: the alias takes its first target's kind.
	Alias Alias
	// ToName is the model the move asks for.
	ToName string
	// To is the model named ToName, nil when there is none.
	To *Model
	// ToIsAlias reports that ToName is an alias's name (To is then nil): aliases never chain.
	ToIsAlias bool
	// ExpectedFrom is where the caller believes the alias points; "" skips the check.
	ExpectedFrom string
	// Followers names the corpora following the alias (embedding aliases only).
	Followers []string
}

// MoveRefusal names the precondition of CheckAliasMove a move failed.
type MoveRefusal string

// The refusals of CheckAliasMove.
const (
	RefusedUnknownTarget   MoveRefusal = "unknown_target"   // no model has the name
	RefusedAliasTarget     MoveRefusal = "alias_target"     // the name is another alias's
	RefusedDisabledTarget  MoveRefusal = "disabled_target"  // the model is disabled
	RefusedWrongKind       MoveRefusal = "wrong_kind"       // a chat model for an embedding alias, or the reverse
	RefusedBadDimension    MoveRefusal = "bad_dimension"    // an embedding model without a storable dimension
	RefusedAliasMoved      MoveRefusal = "alias_moved"      // the alias no longer points at ExpectedFrom
	RefusedReembedRequired MoveRefusal = "reembed_required" // corpora follow the alias and this way leaves them behind
)

// MoveError is CheckAliasMove's refusal: which precondition failed, the request field at fault
// ("" for none) and a message a person can act on.
type MoveError struct {
	Refusal MoveRefusal
	Param   string
	Message string
}

func (e *MoveError) Error() string { return e.Message }

// CheckAliasMove is the one rule every alias move obeys, whichever way it comes (MoveWay). It
// does no I/O. A nil error means the move may be made; a move to where the alias already points
// is allowed and changes nothing. Otherwise it returns a *MoveError, checking in this order:
//
//   - the alias still points at ExpectedFrom, when one is given (RefusedAliasMoved);
//   - the target is a model (RefusedUnknownTarget; RefusedAliasTarget for an alias's name), is
//     enabled (RefusedDisabledTarget) and has the alias's kind (RefusedWrongKind); an embedding
//     target has a dimension between 1 and MaxDimension (RefusedBadDimension), and any such
//     dimension will do: it need not match the current target's, since every corpus following the
//     alias moves only through a re-embed onto the new model;
//   - no corpus follows an embedding alias, unless the way moves those corpora with it
//     (MoveByCutover, MoveByCorpusRollback); otherwise RefusedReembedRequired, naming them.
func CheckAliasMove(c AliasMoveCheck) error {
	a := c.Alias
	if c.ExpectedFrom != "" && c.ExpectedFrom != a.Target {
		return &MoveError{Refusal: RefusedAliasMoved, Param: "expected_from", Message: c.movedMessage()}
	}
	if c.Way != CreateByAdmin && c.ToName == a.Target {
		return nil
	}
	if err := c.checkTarget(); err != nil {
		return err
	}
	if a.Kind == KindEmbedding && len(c.Followers) > 0 && !c.Way.movesCorpora() {
		return &MoveError{Refusal: RefusedReembedRequired, Param: "name", Message: fmt.Sprintf(
			"embedding alias %s is followed by corpora (%s) whose vectors come from %s; start a re-embed (POST /admin/corpora/{name}/reembed) or a corpus rollback, which moves the alias once the new index is verified",
			a.Name, strings.Join(c.Followers, ", "), a.Target)}
	}
	return nil
}

// checkTarget checks that the model asked for is one the alias may point at.
func (c AliasMoveCheck) checkTarget() error {
	to, name := c.To, c.ToName
	var r MoveRefusal
	var why string
	switch {
	case to == nil && c.ToIsAlias:
		r, why = RefusedAliasTarget, fmt.Sprintf("%s is an alias; an alias points at a pinned model, not at another alias", name)
	case to == nil:
		r, why = RefusedUnknownTarget, fmt.Sprintf("no model named %s; GET /admin/models lists them", name)
	case !to.Enabled:
		r, why = RefusedDisabledTarget, c.disabledMessage()
	case c.Alias.Kind != "" && to.Kind != c.Alias.Kind:
		r, why = RefusedWrongKind, fmt.Sprintf("model %s is a %s model and the alias is a %s alias; an alias keeps its kind", name, to.Kind, c.Alias.Kind)
	case to.Kind == KindEmbedding && (to.Dimension < 1 || to.Dimension > MaxDimension):
		r, why = RefusedBadDimension, fmt.Sprintf("model %s has dimension %d; an embedding model has between 1 and %d", name, to.Dimension, MaxDimension)
	default:
		return nil
	}
	switch c.Way {
	case CreateByAdmin:
		return &MoveError{Refusal: r, Param: "target", Message: why}
	case MoveByAdmin:
		return &MoveError{Refusal: r, Param: "to", Message: why}
	case MoveByCutover:
		if r == RefusedDisabledTarget {
			return &MoveError{Refusal: r, Message: why}
		}
		return &MoveError{Refusal: r, Message: fmt.Sprintf("the run did not cut over alias %s to %s: %s", c.Alias.Name, name, why)}
	}
	return &MoveError{Refusal: r, Message: fmt.Sprintf("alias %s cannot roll back to %s: %s", c.Alias.Name, name, why)}
}

func (c AliasMoveCheck) disabledMessage() string {
	name := c.ToName
	enable := fmt.Sprintf("PATCH /admin/models/%s with {\"enabled\": true}", name)
	if c.Way == MoveByCutover {
		return fmt.Sprintf("model %s was disabled while the run re-embedded onto it; the run did not cut over and alias %s still points at %s, whose indexes keep serving: enable the model (%s) and start a new run",
			name, c.Alias.Name, c.Alias.Target, enable)
	}
	return fmt.Sprintf("model %s is disabled; enable it first (%s)", name, enable)
}

func (c AliasMoveCheck) movedMessage() string {
	a := c.Alias
	if c.Way == MoveByCutover {
		return fmt.Sprintf("alias %q was moved to %q while the run re-embedded for a move from %q; the run did not cut over: start a new run",
			a.Name, a.Target, c.ExpectedFrom)
	}
	return fmt.Sprintf("alias %s points at %s, not %s: someone moved it meanwhile; nothing changed; check GET /admin/aliases/%s and retry",
		a.Name, a.Target, c.ExpectedFrom, a.Name)
}
