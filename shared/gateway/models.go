package gateway

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// modelObject is OpenAI's model object plus what a developer needs to pick one: kind, dimension
// (embedding models), context window, capabilities and, for an alias, the pinned version it names now.
type modelObject struct {
	ID            string               `json:"id"`
	Object        string               `json:"object"`
	Created       int64                `json:"created"`
	OwnedBy       string               `json:"owned_by"`
	Kind          catalog.Kind         `json:"kind"`
	Dimension     *int                 `json:"dimension"`
	ContextWindow *int                 `json:"context_window"`
	Capabilities  catalog.Capabilities `json:"capabilities"`
	ResolvesTo    string               `json:"resolves_to,omitempty"`
	DisplayName   string               `json:"display_name,omitempty"`
	Description   string               `json:"description,omitempty"`
}

func describe(name string, m *catalog.Model, a *catalog.Alias) modelObject {
	o := modelObject{
		ID: name, Object: "model", Created: m.CreatedAt.Unix(), OwnedBy: m.Provider, Kind: m.Kind,
		Capabilities: m.Capabilities, DisplayName: m.DisplayName, Description: m.Description,
	}
	if a != nil {
		o.Created = a.CreatedAt.Unix()
		o.ResolvesTo = m.Name
	}
	if m.Kind == catalog.KindEmbedding {
		d := m.Dimension
		o.Dimension = &d
	}
	if m.ContextWindow > 0 {
		cw := m.ContextWindow
		o.ContextWindow = &cw
	}
	return o
}

func (g *Gateway) listModels(w http.ResponseWriter, r *http.Request) {
	c := g.begin(w, r, RouteModels)
	defer c.finish()
	key, snap, ok := c.authenticate()
	if !ok {
		return
	}
	names := snap.Visible(key)
	sort.Strings(names)
	list := struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{Object: "list", Data: make([]modelObject, 0, len(names))}
	for _, name := range names {
		m, a, _ := snap.Resolve(key, name)
		list.Data = append(list.Data, describe(name, m, a))
	}
	writeJSON(w, list)
}

func (g *Gateway) getModel(w http.ResponseWriter, r *http.Request) {
	c := g.begin(w, r, RouteModels+"/{name}")
	defer c.finish()
	key, snap, ok := c.authenticate()
	if !ok {
		return
	}
	name := r.PathValue("name")
	if _, _, ok := c.resolve(snap, key, name, nil); !ok {
		return
	}
	// The model an alias names is its primary target, not one request's pick.
	m, a, _ := snap.Resolve(key, name)
	c.row.Model, c.row.Provider = m.Name, m.Provider
	writeJSON(w, describe(name, m, a))
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
