package reembed

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/upstream"
)

// Sender is the part of upstream.Client the embedder uses.
type Sender interface {
	Send(ctx context.Context, p *catalog.Provider, method, route string, body []byte, hdr http.Header) (*http.Response, error)
}

// UpstreamEmbedder embeds through a provider's /embeddings route, asking for base64 (decoding JSON
// floats costs more than the rest of a fill); an upstream that answers floats anyway, or refuses
// base64, is served in floats from then on.
type UpstreamEmbedder struct {
	Client Sender

	floatsOnly sync.Map // provider identifier → true once it refused base64
}

// NewUpstreamEmbedder embeds through c (an *upstream.Client).
func NewUpstreamEmbedder(c Sender) *UpstreamEmbedder { return &UpstreamEmbedder{Client: c} }

// maxEmbeddingsBody bounds an embeddings answer: 2,048 vectors of 4,000 floats as JSON.
const maxEmbeddingsBody = 256 << 20

// Embed implements Embedder.
func (e *UpstreamEmbedder) Embed(ctx context.Context, m *catalog.Model, p *catalog.Provider, texts []string) ([][]float32, error) {
	format := "base64"
	if _, no := e.floatsOnly.Load(p.Identifier); no {
		format = "float"
	}
	vecs, err := e.call(ctx, m, p, texts, format)
	if err != nil && format == "base64" {
		var ue *upstream.Error
		if errors.As(err, &ue) && (ue.Status == http.StatusBadRequest || ue.Status == http.StatusUnprocessableEntity) {
			if vecs, ferr := e.call(ctx, m, p, texts, "float"); ferr == nil {
				e.floatsOnly.Store(p.Identifier, true)
				return vecs, nil
			}
		}
	}
	return vecs, err
}

func (e *UpstreamEmbedder) call(ctx context.Context, m *catalog.Model, p *catalog.Provider, texts []string, format string) ([][]float32, error) {
	body, err := json.Marshal(map[string]any{"model": m.UpstreamName, "input": texts, "encoding_format": format})
	if err != nil {
		return nil, fmt.Errorf("encode embeddings request: %w", err)
	}
	resp, err := e.Client.Send(ctx, p, http.MethodPost, "/embeddings", body, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxEmbeddingsBody))
	if err != nil {
		return nil, upstream.BadResponse(p.Identifier, "reading the embeddings answer failed: %v", err)
	}
	var out struct {
		Data []struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, upstream.BadResponse(p.Identifier, "the embeddings answer is not JSON of the OpenAI shape: %v", err)
	}
	if len(out.Data) != len(texts) {
		return nil, upstream.BadResponse(p.Identifier, "asked for %d embeddings, got %d", len(texts), len(out.Data))
	}
	vecs := make([][]float32, len(texts))
	for i, d := range out.Data {
		if d.Index < 0 || d.Index >= len(texts) || vecs[d.Index] != nil {
			return nil, upstream.BadResponse(p.Identifier, "embedding %d has index %d", i, d.Index)
		}
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, upstream.BadResponse(p.Identifier, "embedding %d: %v", i, err)
		}
		vecs[d.Index] = v
	}
	return vecs, nil
}

// decodeVector reads a base64 string of little-endian float32s, or a JSON list of numbers.
func decodeVector(raw json.RawMessage) ([]float32, error) {
	if len(raw) > 0 && raw[0] == '"' {
		b64 := raw[1 : len(raw)-1]
		buf := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
		n, err := base64.StdEncoding.Decode(buf, b64)
		if err != nil {
			return nil, fmt.Errorf("not base64: %v", err)
		}
		if n%4 != 0 {
			return nil, fmt.Errorf("base64 of %d bytes is not a list of float32s", n)
		}
		v := make([]float32, n/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		return v, nil
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("neither base64 nor a list of numbers: %v", err)
	}
	return v, nil
}
