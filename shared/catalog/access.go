package catalog

import (
	"strconv"
	"unicode/utf8"
)

// Allows reports whether the key's own allow-list admits name (a model or alias name, spelled as
// the caller spells it). An empty list admits every name the key's team may use.
func (k *Key) Allows(name string) bool { return len(k.Models) == 0 || contains(k.Models, name) }

// KeyRevoked is Recheck's outcome for a key that is no longer in the snapshot (revoked or deleted).
const KeyRevoked Outcome = "key_revoked"

// Recheck is Resolve for a call already under way: key is looked up again in s by its hash, so a
// revocation or a change of its allow-list since the call began counts. It allocates nothing.
func (s *Snapshot) Recheck(key *Key, name string) Outcome {
	cur := s.Keys[key.Hash]
	if cur == nil {
		return KeyRevoked
	}
	_, _, o := s.Resolve(cur, name)
	return o
}

// Quote is s for an error message or a log line: at most max bytes of it, cut at a character
// boundary, marked with "…" and the full length when cut. Names a caller sends may be megabytes
// long; what Switchyard repeats of them is not.
func Quote(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// QuoteLimit is how much of a caller's name or id Switchyard repeats in messages and the request log.
const QuoteLimit = 160
