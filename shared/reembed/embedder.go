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
