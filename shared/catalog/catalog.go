// Package catalog holds Switchyard's domain: providers, models, aliases, teams, keys, audience grants and
// admins, with the rules SPEC fixes for them. It depends on nothing outside the standard library.
package catalog

import (
	"crypto/sha256"
	"time"
)

// AuthMethod is how a provider's endpoint expects its credential.
type AuthMethod string

// The auth methods SPEC allows.
const (
	AuthBearer AuthMethod = "bearer"  // Authorization: Bearer <credential>
	AuthAPIKey AuthMethod = "api_key" // <Header>: <credential>
	AuthNone   AuthMethod = "none"
)

// Timeouts bound every upstream call of a provider. Zero fields take DefaultTimeouts' values.
type Timeouts struct {
	Connect   time.Duration // TCP and TLS handshake
	FirstByte time.Duration // request sent → response headers
	Idle      time.Duration // longest gap between two reads of the body (stream events)
	Total     time.Duration // whole call, body included
}

// DefaultTimeouts suit a self-hosted model: quick to connect, slow to think.
var DefaultTimeouts = Timeouts{
	Connect:   5 * time.Second,
	FirstByte: 60 * time.Second,
	Idle:      30 * time.Second,
	Total:     10 * time.Minute,
}

// WithDefaults fills zero fields from DefaultTimeouts.
func (t Timeouts) WithDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = DefaultTimeouts.Connect
	}
	if t.FirstByte <= 0 {
		t.FirstByte = DefaultTimeouts.FirstByte
	}
	if t.Idle <= 0 {
		t.Idle = DefaultTimeouts.Idle
	}
	if t.Total <= 0 {
		t.Total = DefaultTimeouts.Total
	}
	return t
}

// Diagnostic is one finding of a provider verification or a model probe.
type Diagnostic struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Verification statuses.
const (
	Verified = "verified"
	Failed   = "failed"
)

// Verification is what the last check of a provider's endpoint found. It is advice: requests are
// routed whatever it says.
type Verification struct {
	Status         string       `json:"status"`
	CheckedAt      time.Time    `json:"checked_at"`
	Diagnostics    []Diagnostic `json:"diagnostics"`
	UpstreamModels []string     `json:"upstream_models"`
}

// Provider is an OpenAI-compatible endpoint and how to reach it.
type Provider struct {
	ID          int64
	Identifier  string
	DisplayName string
	// BaseURL is the API root (e.g. https://host/v1); routes such as /chat/completions are appended.
	BaseURL    string
	AuthMethod AuthMethod
	AuthHeader string // for AuthAPIKey
	// Credential is the plaintext credential. It exists only in memory, after unsealing; it is
	// never serialised, returned or logged.
	Credential     string
	CredentialHint string // the credential's last 4 characters
	CABundle       string // PEM, for endpoints behind a private certificate authority
	Timeouts       Timeouts
	Verification   *Verification
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Kind tells chat models from embedding models.
type Kind string

// The model kinds.
const (
	KindChat      Kind = "chat"
	KindEmbedding Kind = "embedding"
)

// MaxDimension is the largest embedding dimension Switchyard stores (halfvec's HNSW limit).
const MaxDimension = 4000

// Capabilities a chat model declares; the gateway enforces them.
type Capabilities struct {
	Streaming bool `json:"streaming"`
	Tools     bool `json:"tools"`
}

// Probe is what the last probe of a model found the endpoint really does. Nil fields were not
// checked (streaming and tools for an embedding model, dimension for a chat model).
type Probe struct {
	CheckedAt   time.Time    `json:"checked_at"`
	Streaming   *bool        `json:"streaming"`
	Tools       *bool        `json:"tools"`
	Dimension   *int         `json:"dimension"`
	Diagnostics []Diagnostic `json:"diagnostics"`
}

// Model is a pinned version of a model served by a provider. Name, Provider, UpstreamName, Kind
// and Dimension never change after creation: a new version is a new model.
type Model struct {
	ID            int64
	Name          string // what developers call, e.g. acme-embed-2026-06
	Provider      string // the provider's identifier
	UpstreamName  string // what the endpoint expects in the body's "model"
	Kind          Kind
	ContextWindow int
	Dimension     int // embedding models only
	Capabilities  Capabilities
	Enabled       bool
	DisplayName   string
	Description   string
	Probe         *Probe
	// PricePerMillionTokens is the price of a million input tokens as a decimal ("0.02"); empty
	// when none is recorded.
	PricePerMillionTokens string
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// ModelUpdate holds the fields of a model that may change; nil fields stay as they are.
type ModelUpdate struct {
	Enabled       *bool
	ContextWindow *int
	DisplayName   *string
	Description   *string
	Streaming     *bool
	Tools         *bool
	// Price, when set, is the new price per million input tokens as a decimal; "" clears it.
	Price *string
}

// Alias is a stable name pointing at one enabled model of the same kind.
type Alias struct {
	Name      string
	Kind      Kind
	Target    string // the pinned model's name
	CreatedAt time.Time
	UpdatedAt time.Time
	History   []AliasMove // newest first; filled only where asked for
}

// AliasMove is one entry of an alias's history.
type AliasMove struct {
	From   string    `json:"from"` // empty for the creation
	To     string    `json:"to"`
	Actor  string    `json:"who"`
	Reason string    `json:"why"`
	At     time.Time `json:"when"`
}

// Team owns keys and holds audience grants.
type Team struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// TeamInfo is a team with what it holds.
type TeamInfo struct {
	Team
	Keys   int      // active keys
	Grants []string // names the team may call
}

// Audience is the teams that may call a model or an alias, as the audit log records it.
type Audience struct {
	Name  string
	Teams []string
}

// Key is a developer API key. Only its hash is stored.
type Key struct {
	ID        string
	Team      string
	Name      string
	Models    []string // optional allow-list of model and alias names; empty means all the team may use
	Prefix    string   // the first characters of the key, to recognise it in lists
	Hash      [32]byte
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Role is an admin's role.
type Role string

// The roles SPEC defines.
const (
	RoleSuperAdmin    Role = "super_admin"    // everything
	RoleProviderAdmin Role = "provider_admin" // providers, models, aliases, audience, corpora, re-embeds
	RoleViewer        Role = "viewer"         // read only, usage included
)

// Admin is a holder of an admin token. Only the token's hash is stored.
type Admin struct {
	ID        string
	Name      string
	Role      Role
	Hash      [32]byte
	CreatedAt time.Time
	RevokedAt *time.Time
}

// HashSecret is how keys and admin tokens are stored and looked up. The secrets are long random
// strings, so a fast unsalted hash is enough and keeps the hot path cheap.
func HashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }
