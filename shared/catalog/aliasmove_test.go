package catalog

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckAliasMove(t *testing.T) {
	t.Parallel()
	embed := Alias{Name: "acme-embed", Kind: KindEmbedding, Target: "embed-v1"}
	chat := Alias{Name: "acme-llm", Kind: KindChat, Target: "llm-v1"}
	v1 := &Model{Name: "embed-v1", Kind: KindEmbedding, Dimension: 384, Enabled: true}
	v2 := &Model{Name: "embed-v2", Kind: KindEmbedding, Dimension: 1024, Enabled: true} // another dimension is fine
	off := &Model{Name: "embed-off", Kind: KindEmbedding, Dimension: 384}
	llm2 := &Model{Name: "llm-v2", Kind: KindChat, Enabled: true}
	noDim := &Model{Name: "embed-bad", Kind: KindEmbedding, Dimension: MaxDimension + 1, Enabled: true}
	followers := []string{"handbook", "wiki"}
	to := func(c AliasMoveCheck, m *Model) AliasMoveCheck { c.To, c.ToName = m, m.Name; return c }

	for _, tc := range []struct {
		name  string
		check AliasMoveCheck
		want  MoveRefusal // "" for allowed
		param string
		says  []string // words the message must hold
	}{
		{name: "move to an enabled model of the kind", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: embed}, v2)},
		{name: "expected_from matches", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: embed, ExpectedFrom: "embed-v1"}, v2)},
		{name: "stale expected_from", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: embed, ExpectedFrom: "embed-v0"}, v2),
			want: RefusedAliasMoved, param: "expected_from", says: []string{"points at embed-v1, not embed-v0"}},
		{name: "stale expected_from before anything else", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: embed, ExpectedFrom: "embed-v0", Followers: followers}, off),
			want: RefusedAliasMoved, param: "expected_from"},
		{name: "no such model", check: AliasMoveCheck{Way: MoveByAdmin, Alias: embed, ToName: "nope"},
			want: RefusedUnknownTarget, param: "to", says: []string{"no model named nope"}},
		{name: "an alias is no target", check: AliasMoveCheck{Way: MoveByAdmin, Alias: embed, ToName: "acme-llm", ToIsAlias: true},
			want: RefusedAliasTarget, param: "to", says: []string{"acme-llm is an alias"}},
		{name: "disabled target", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: embed}, off),
			want: RefusedDisabledTarget, param: "to", says: []string{"embed-off is disabled", "PATCH /admin/models/embed-off"}},
		{name: "other kind", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: embed}, llm2),
			want: RefusedWrongKind, param: "to", says: []string{"chat model", "embedding alias"}},
		{name: "chat alias to chat model", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: chat}, llm2)},
		{name: "chat alias to embedding model", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: chat}, v2), want: RefusedWrongKind, param: "to"},
		{name: "embedding dimension out of range", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: embed}, noDim),
			want: RefusedBadDimension, param: "to", says: []string{"dimension 4001"}},
		{name: "followed alias by hand", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: embed, Followers: followers}, v2),
			want: RefusedReembedRequired, param: "name", says: []string{"handbook, wiki", "re-embed"}},
		{name: "followed alias rolled back by hand", check: to(AliasMoveCheck{Way: RollbackByAdmin, Alias: embed, Followers: followers}, v2),
			want: RefusedReembedRequired, param: "name"},
		{name: "followed alias at cut-over", check: to(AliasMoveCheck{Way: MoveByCutover, Alias: embed, ExpectedFrom: "embed-v1", Followers: followers}, v2)},
		{name: "followed alias by corpus rollback", check: to(AliasMoveCheck{Way: MoveByCorpusRollback, Alias: embed, Followers: followers}, v2)},
		{name: "followers do not matter to a chat alias", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: chat, Followers: followers}, llm2)},
		{name: "to where it points: no move, followers or not", check: to(AliasMoveCheck{Way: MoveByAdmin, Alias: embed, Followers: followers}, v1)},
		{name: "cut-over onto a model disabled during the run", check: to(AliasMoveCheck{Way: MoveByCutover, Alias: embed, ExpectedFrom: "embed-v1", Followers: followers}, off),
			want: RefusedDisabledTarget, says: []string{"embed-off was disabled", "did not cut over", "still points at embed-v1", "start a new run"}},
		{name: "cut-over after the alias moved", check: to(AliasMoveCheck{Way: MoveByCutover, Alias: embed, ExpectedFrom: "embed-v0", Followers: followers}, v2),
			want: RefusedAliasMoved, param: "expected_from", says: []string{"was moved", "did not cut over"}},
		{name: "rollback to a model disabled since", check: to(AliasMoveCheck{Way: RollbackByAdmin, Alias: chat}, &Model{Name: "llm-v0", Kind: KindChat}),
			want: RefusedDisabledTarget, says: []string{"acme-llm cannot roll back to llm-v0", "disabled"}},
		{name: "corpus rollback to a model disabled since", check: to(AliasMoveCheck{Way: MoveByCorpusRollback, Alias: embed, Followers: followers}, off),
			want: RefusedDisabledTarget, says: []string{"cannot roll back to embed-off"}},
		{name: "create takes the target's kind", check: to(AliasMoveCheck{Way: CreateByAdmin, Alias: Alias{Name: "new"}}, llm2)},
		{name: "create onto a disabled model", check: to(AliasMoveCheck{Way: CreateByAdmin, Alias: Alias{Name: "new"}}, off),
			want: RefusedDisabledTarget, param: "target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAliasMove(tc.check)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var me *MoveError
			if !errors.As(err, &me) {
				t.Fatalf("CheckAliasMove = %v; want a *MoveError %s", err, tc.want)
			}
			if me.Refusal != tc.want || me.Param != tc.param {
				t.Errorf("refusal %s (param %q); want %s (param %q): %s", me.Refusal, me.Param, tc.want, tc.param, me.Message)
			}
			for _, w := range tc.says {
				if !strings.Contains(me.Message, w) {
					t.Errorf("message %q does not say %q", me.Message, w)
				}
			}
		})
	}
}
