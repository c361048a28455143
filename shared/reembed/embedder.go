package reembed

import (
	"context"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// EmbeddingClient is the part of upstream.Client the embedder uses: it encodes the request and
// decodes the vectors.
type EmbeddingClient interface {
	Embed(ctx context.Context, p *catalog.Provider, model string, texts []string) ([][]float32, error)
}

// UpstreamEmbedder embeds through a provider's /embeddings route (upstream.Client.Embed).
type UpstreamEmbedder struct {
	Client EmbeddingClient
}

// NewUpstreamEmbedder embeds through c (an *upstream.Client).
func NewUpstreamEmbedder(c EmbeddingClient) *UpstreamEmbedder { return &UpstreamEmbedder{Client: c} }

// Embed implements Embedder.
func (e *UpstreamEmbedder) Embed(ctx context.Context, m *catalog.Model, p *catalog.Provider, texts []string) ([][]float32, error) {
	return e.Client.Embed(ctx, p, m.UpstreamName, texts)
}

// UsageEmbedder is an Embedder that also answers the input tokens the upstream counted for a call
// (-1 when it did not say). The re-embed estimate measures tokens through it.
type UsageEmbedder interface {
	EmbedUsage(ctx context.Context, model *catalog.Model, provider *catalog.Provider, texts []string) ([][]float32, int64, error)
}

// EmbedUsage implements UsageEmbedder when the client reports usage (upstream.Client does); otherwise
// it embeds and answers -1 tokens.
func (e *UpstreamEmbedder) EmbedUsage(ctx context.Context, m *catalog.Model, p *catalog.Provider, texts []string) ([][]float32, int64, error) {
	if c, ok := e.Client.(interface {
		EmbedUsage(ctx context.Context, p *catalog.Provider, model string, texts []string) ([][]float32, int64, error)
	}); ok {
		return c.EmbedUsage(ctx, p, m.UpstreamName, texts)
	}
	vecs, err := e.Client.Embed(ctx, p, m.UpstreamName, texts)
	return vecs, -1, err
}
