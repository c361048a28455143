package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/wire"
)

// maxEmbeddingsBody bounds an embeddings answer: 2,048 vectors of 4,000 floats as JSON.
const maxEmbeddingsBody = 256 << 20

// Embed asks p's /embeddings route for the vectors of texts under model (the upstream's name for
// it) and returns one vector per text, in the order of texts. It asks for base64 (decoding JSON
// floats costs more than the rest of a re-embed fill); a provider that answers floats anyway is read
// as well, and one that refuses base64 (400 or 422) is asked in floats, then and from then on. A
// failed call is Send's error; an answer that is not an embeddings list of len(texts) vectors is
// upstream_bad_response (BadResponse).
func (c *Client) Embed(ctx context.Context, p *catalog.Provider, model string, texts []string) ([][]float32, error) {
	vecs, _, err := c.embedAs(ctx, p, model, texts, false)
	return vecs, err
}

// EmbedUsage is Embed that also answers the input tokens the upstream reported for the call
// (usage.prompt_tokens; -1 when the answer carries no usage).
func (c *Client) EmbedUsage(ctx context.Context, p *catalog.Provider, model string, texts []string) ([][]float32, int64, error) {
	return c.embedAs(ctx, p, model, texts, true)
}

func (c *Client) embedAs(ctx context.Context, p *catalog.Provider, model string, texts []string, usage bool) ([][]float32, int64, error) {
	format := "base64"
	if _, no := c.floatsOnly.Load(p.Identifier); no {
		format = "float"
	}
	vecs, tokens, err := c.embed(ctx, p, model, texts, format, usage)
	if err != nil && format == "base64" {
		var ue *Error
		if errors.As(err, &ue) && (ue.Status == http.StatusBadRequest || ue.Status == http.StatusUnprocessableEntity) {
			if vecs, tokens, ferr := c.embed(ctx, p, model, texts, "float", usage); ferr == nil {
				c.floatsOnly.Store(p.Identifier, true)
				return vecs, tokens, nil
			}
		}
	}
	return vecs, tokens, err
}

func (c *Client) embed(ctx context.Context, p *catalog.Provider, model string, texts []string, format string, usage bool) ([][]float32, int64, error) {
	body, err := json.Marshal(map[string]any{"model": model, "input": texts, "encoding_format": format})
	if err != nil {
		return nil, 0, fmt.Errorf("encode embeddings request: %w", err)
	}
	resp, err := c.Send(ctx, p, http.MethodPost, "/embeddings", body, nil)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp, maxEmbeddingsBody)
	if err != nil {
		return nil, 0, BadResponse(p.Identifier, "reading the embeddings answer failed: %v", err)
	}
	vecs, err := wire.DecodeEmbeddings(raw, len(texts))
	if err != nil {
		return nil, 0, BadResponse(p.Identifier, "%v", err)
	}
	tokens := int64(-1)
	if usage { // a second pass over the answer: only the estimate asks for it, never the fill
		var u struct {
			Usage *struct {
				PromptTokens *int64 `json:"prompt_tokens"`
			} `json:"usage"`
		}
		if json.Unmarshal(raw, &u) == nil && u.Usage != nil && u.Usage.PromptTokens != nil && *u.Usage.PromptTokens >= 0 {
			tokens = *u.Usage.PromptTokens
		}
	}
	return vecs, tokens, nil
}

// readBody reads at most limit bytes of resp's body, into one buffer of the announced length when
// there is one (an embeddings answer is a megabyte per 256 vectors of 768 dimensions).
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit)
	if n := resp.ContentLength; n > 0 && n <= limit {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(r)
}
