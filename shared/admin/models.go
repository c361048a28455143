package admin

import (
	"context"
	"encoding/json"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/health"
)

// ModelInput is the body of POST /admin/models. Creating a model does not call the upstream: the
// probe runs on demand.
type ModelInput struct {
	Name          string                `json:"name"`
	Provider      string                `json:"provider"`
	UpstreamName  string                `json:"upstream_name"` // the model's name when empty
	Kind          string                `json:"kind"`          // chat or embedding
	ContextWindow int                   `json:"context_window"`
	Dimension     int                   `json:"dimension"` // embedding models only, 1 to 4,000
	Capabilities  *catalog.Capabilities `json:"capabilities"`
	Enabled       bool                  `json:"enabled"`
	DisplayName   string                `json:"display_name"`
	Description   string                `json:"description"`
}

// ModelPatch is the body of PATCH /admin/models/{name}. Name, provider, upstream name, kind and
// dimension never change (a new version is a new model): sending them is refused.
type ModelPatch struct {
	Name          json.RawMessage    `json:"name"`
	Provider      json.RawMessage    `json:"provider"`
	UpstreamName  json.RawMessage    `json:"upstream_name"`
	Kind          json.RawMessage    `json:"kind"`
	Dimension     json.RawMessage    `json:"dimension"`
	Enabled       *bool              `json:"enabled"`
	ContextWindow *int               `json:"context_window"`
	DisplayName   *string            `json:"display_name"`
	Description   *string            `json:"description"`
	Capabilities  *CapabilitiesPatch `json:"capabilities"`
	// PricePerMillionTokens is a decimal (a JSON number or string, e.g. "0.02"), or null to clear it.
	PricePerMillionTokens json.RawMessage `json:"price_per_million_tokens"`
}

// CapabilitiesPatch changes declared capabilities; absent ones stay.
type CapabilitiesPatch struct {
	Streaming *bool `json:"streaming"`
	Tools     *bool `json:"tools"`
}

// ModelView is a model as the admin API shows it; probe is what the endpoint really did, shown
// beside the declared capabilities.
type ModelView struct {
	Name          string               `json:"name"`
	Provider      string               `json:"provider"`
	UpstreamName  string               `json:"upstream_name"`
	Kind          catalog.Kind         `json:"kind"`
	ContextWindow int                  `json:"context_window"`
	Dimension     *int                 `json:"dimension"` // null for chat models
	Capabilities  catalog.Capabilities `json:"capabilities"`
	Enabled       bool                 `json:"enabled"`
	DisplayName   string               `json:"display_name"`
	Description   string               `json:"description"`
	Probe         *catalog.Probe       `json:"probe"`
	// Health is the model's shared failure record: whether requests skip it (cooling_down, with
	// cooldown_until and cooldown_reason) and its recent failures. GET /admin/models/{name} only.
	Health *health.Record `json:"health,omitempty"`
	// PricePerMillionTokens is the price of a million input tokens as a decimal string; null when
	// none is recorded.
	PricePerMillionTokens *string   `json:"price_per_million_tokens"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
}

// maxContextWindow bounds a declared context window (tokens).
const maxContextWindow = 100_000_000

func modelView(m *catalog.Model) *ModelView {
	v := &ModelView{Name: m.Name, Provider: m.Provider, UpstreamName: m.UpstreamName, Kind: m.Kind,
		ContextWindow: m.ContextWindow, Capabilities: m.Capabilities, Enabled: m.Enabled,
		DisplayName: m.DisplayName, Description: m.Description, Probe: m.Probe, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if m.Kind == catalog.KindEmbedding {
		d := m.Dimension
		v.Dimension = &d
	}
	if m.PricePerMillionTokens != "" {
		price := m.PricePerMillionTokens
		v.PricePerMillionTokens = &price
	}
	if v.Probe != nil && v.Probe.Diagnostics == nil {
		c := *v.Probe
		c.Diagnostics = []catalog.Diagnostic{}
		v.Probe = &c
	}
	return v
}

// CreateModel registers a pinned model of a provider.
func (s *Service) CreateModel(ctx context.Context, by *catalog.Admin, in ModelInput) (*ModelView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	if err := checkName("name", in.Name); err != nil {
		return nil, err
	}
	if in.Provider == "" {
		return nil, apierror.Invalid("provider", "provider is required: the identifier of the provider that serves the model")
	}
	if in.UpstreamName == "" {
		in.UpstreamName = in.Name
	}
	if err := checkText("upstream_name", in.UpstreamName, true, false); err != nil {
		return nil, err
	}
	m := &catalog.Model{Name: in.Name, Provider: in.Provider, UpstreamName: in.UpstreamName, Kind: catalog.Kind(in.Kind),
		ContextWindow: in.ContextWindow, Dimension: in.Dimension, Enabled: in.Enabled,
		DisplayName: in.DisplayName, Description: in.Description}
	if in.Capabilities != nil {
		m.Capabilities = *in.Capabilities
	}
	switch m.Kind {
	case catalog.KindChat:
		if m.Dimension != 0 {
			return nil, apierror.Invalid("dimension", "dimension is only for embedding models; leave it out for a chat model")
		}
	case catalog.KindEmbedding:
		if m.Dimension < 1 || m.Dimension > catalog.MaxDimension {
			return nil, apierror.Invalid("dimension", "an embedding model needs its dimension, between 1 and %d (the length of its vectors)", catalog.MaxDimension)
		}
		if m.Capabilities.Streaming {
			return nil, apierror.Invalid("capabilities.streaming", "embedding models do not stream; leave capabilities.streaming false")
		}
		if m.Capabilities.Tools {
			return nil, apierror.Invalid("capabilities.tools", "embedding models do not call tools; leave capabilities.tools false")
		}
	case "":
		return nil, apierror.Invalid("kind", "kind is required: chat or embedding")
	default:
		return nil, apierror.Invalid("kind", "kind %q is not one of chat, embedding", in.Kind)
	}
	if err := checkContextWindow(m.ContextWindow); err != nil {
		return nil, err
	}
	if err := checkText("display_name", m.DisplayName, false, false); err != nil {
		return nil, err
	}
	if err := checkText("description", m.Description, false, true); err != nil {
		return nil, err
	}
	return shown(modelView)(s.Store.CreateModel(ctx, m, s.entry(ctx, by, audit.ModelCreate, m.Name)))
}

func checkContextWindow(n int) error {
	if n < 0 || n > maxContextWindow {
		return apierror.Invalid("context_window", "context_window must be between 0 (unknown) and %d tokens", maxContextWindow)
	}
	return nil
}

// UpdateModel changes what may change of a model: enabled, context window, display metadata and
// declared capabilities.
func (s *Service) UpdateModel(ctx context.Context, by *catalog.Admin, name string, in ModelPatch) (*ModelView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		param string
		raw   json.RawMessage
	}{{"name", in.Name}, {"provider", in.Provider}, {"upstream_name", in.UpstreamName}, {"kind", in.Kind}, {"dimension", in.Dimension}} {
		if len(f.raw) > 0 {
			return nil, apierror.Invalid(f.param, "a model's %s never changes after creation: a new version is a new model (POST /admin/models), and an alias can move to it", f.param)
		}
	}
	u := catalog.ModelUpdate{Enabled: in.Enabled, ContextWindow: in.ContextWindow, DisplayName: in.DisplayName, Description: in.Description}
	if len(in.PricePerMillionTokens) > 0 {
		price, err := parsePrice(in.PricePerMillionTokens)
		if err != nil {
			return nil, err
		}
		u.Price = &price
	}
	if in.ContextWindow != nil {
		if err := checkContextWindow(*in.ContextWindow); err != nil {
			return nil, err
		}
	}
	if in.DisplayName != nil {
		if err := checkText("display_name", *in.DisplayName, false, false); err != nil {
			return nil, err
		}
	}
	if in.Description != nil {
		if err := checkText("description", *in.Description, false, true); err != nil {
			return nil, err
		}
	}
	if c := in.Capabilities; c != nil {
		u.Streaming, u.Tools = c.Streaming, c.Tools
		if (c.Streaming != nil && *c.Streaming) || (c.Tools != nil && *c.Tools) {
			cur, err := s.Store.Model(ctx, name)
			if err != nil {
				return nil, err
			}
			if cur.Kind == catalog.KindEmbedding {
				return nil, apierror.Invalid("capabilities", "embedding models neither stream nor call tools")
			}
		}
	}
	return shown(modelView)(s.Store.UpdateModel(ctx, name, u, s.entry(ctx, by, audit.ModelUpdate, name)))
}

// ProbeModel asks the endpoint what it really supports (for chat a plain, a streamed and a tools
// call; for embeddings one call whose vector length is compared with the recorded dimension) and
// records the result beside the declared capabilities.
func (s *Service) ProbeModel(ctx context.Context, by *catalog.Admin, name string) (*ModelView, error) {
	if err := Authorize(by, catalog.AreaCatalog, true); err != nil {
		return nil, err
	}
	m, err := s.Store.Model(ctx, name)
	if err != nil {
		return nil, err
	}
	if s.Prober == nil {
		return modelView(m), nil
	}
	p, err := s.Store.Provider(ctx, m.Provider, true)
	if err != nil {
		return nil, err
	}
	// A chat probe makes three calls; give each its bound.
	pctx, cancel := context.WithTimeout(ctx, 3*s.callBound(p))
	defer cancel()
	res := s.Prober.Probe(pctx, p, m)
	return shown(modelView)(s.Store.SetProbe(ctx, name, res, s.entry(ctx, by, audit.ModelProbe, name)))
}

// GetModel reads one model.
func (s *Service) GetModel(ctx context.Context, by *catalog.Admin, name string) (*ModelView, error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	m, err := s.Store.Model(ctx, name)
	if err != nil {
		return nil, err
	}
	v := modelView(m)
	if s.Health != nil {
		if v.Health, err = s.Health.Model(ctx, name); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// ListModels lists every model by name.
func (s *Service) ListModels(ctx context.Context, by *catalog.Admin) (*List[*ModelView], error) {
	if err := Authorize(by, catalog.AreaCatalog, false); err != nil {
		return nil, err
	}
	return listed(modelView)(s.Store.Models(ctx))
}
