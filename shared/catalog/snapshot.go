package catalog

// Snapshot is the read-only view of the catalogue that the request path uses. It is built whole
// from Postgres at one catalogue version and never changed afterwards, so it may be shared by
// any number of goroutines.
type Snapshot struct {
	Version   int64
	Providers map[string]*Provider // by identifier, credentials unsealed
	Models    map[string]*Model    // by name
	Aliases   map[string]*Alias    // by name
	// Routes holds the routes of aliases changed through the routes API, as they apply now (see
	// Route.Base); RouteOf gives the implicit route of every other alias.
	Routes map[string]*Route
	Teams  map[string]*Team    // by name
	Keys   map[[32]byte]*Key   // by hash; revoked keys are absent
	Admins map[[32]byte]*Admin // by hash; revoked admins are absent
	// Grants maps a model or alias name to the set of team names that may call it.
	Grants map[string]map[string]bool
}

// Outcome says why a name did or did not resolve. Callers answer every failure the same way
// (model_not_found) while the request log keeps them apart.
type Outcome string

// Resolution outcomes.
const (
	Resolved       Outcome = "resolved"
	UnknownName    Outcome = "unknown_name"
	ModelDisabled  Outcome = "model_disabled"
	NotGranted     Outcome = "not_granted"      // the key's team holds no grant on the name
	NotInAllowList Outcome = "not_in_allowlist" // the key's own allow-list excludes the name
)

// Resolve finds the pinned model that key reaches under name (an alias or a pinned name). A grant
// on an alias covers calls through the alias; a pinned version is granted on its own.
func (s *Snapshot) Resolve(key *Key, name string) (*Model, *Alias, Outcome) {
	var alias *Alias
	m := s.Models[name]
	if m == nil {
		alias = s.Aliases[name]
		if alias == nil {
			return nil, nil, UnknownName
		}
		m = s.Models[alias.Target]
		if m == nil {
			return nil, alias, UnknownName
		}
	}
	if !s.Grants[name][key.Team] {
		return m, alias, NotGranted
	}
	if !key.Allows(name) {
		return m, alias, NotInAllowList
	}
	if !m.Enabled {
		return m, alias, ModelDisabled
	}
	return m, alias, Resolved
}

// Visible lists the names (models and aliases) that key may call, as /v1/models shows them.
func (s *Snapshot) Visible(key *Key) []string {
	var names []string
	for name := range s.Grants {
		if _, _, o := s.Resolve(key, name); o == Resolved {
			names = append(names, name)
		}
	}
	return names
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
