package console_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
)

// standInGateway serves just enough of /v1 for the playground's tests until the gateway branch is
// merged: it authenticates the key against the snapshot, lists what the key may use, forwards chat
// and embeddings to the provider with the model's upstream name, and writes one request-log row per
// request. The gateway's own tests own the real behaviour.
type standInGateway struct {
	src  *catalog.Source
	pool *pgxpool.Pool
}

func (g *standInGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := reqlog.NewID()
	w.Header().Set(reqlog.Header, id)
	snap, err := g.src.Get(r.Context())
	if err != nil {
		apierror.Write(w, apierror.Internal(id))
		return
	}
	key := snap.Keys[catalog.HashSecret(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))]
	if key == nil {
		apierror.Write(w, apierror.New(401, apierror.AuthenticationError, apierror.CodeInvalidAPIKey, "", "unknown key"))
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v1/models" {
		type entry struct {
			ID        string               `json:"id"`
			Object    string               `json:"object"`
			Kind      catalog.Kind         `json:"kind"`
			Dimension int                  `json:"dimension,omitempty"`
			Caps      catalog.Capabilities `json:"capabilities"`
		}
		var data []entry
		for _, n := range snap.Visible(key) {
			m, _, _ := snap.Resolve(key, n)
			data = append(data, entry{n, "model", m.Kind, m.Dimension, m.Capabilities})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	_ = json.Unmarshal(body, &req)
	name, _ := req["model"].(string)
	stream, _ := req["stream"].(bool)
	row := func(outcome, detail, model, provider string, status int) {
		_, _ = g.pool.Exec(r.Context(), `INSERT INTO requests (request_id, at, route, key_id, team, requested, model, provider, outcome, detail, status, stream, total_tokens)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, id, time.Now(), r.URL.Path, key.ID, key.Team, name, model, provider, outcome, detail, status, stream, 12)
	}
	m, _, outcome := snap.Resolve(key, name)
	if outcome != catalog.Resolved {
		row(apierror.CodeModelNotFound, string(outcome), "", "", 404)
		apierror.Write(w, apierror.New(404, apierror.NotFoundError, apierror.CodeModelNotFound, "model", "The model %q does not exist or you do not have access to it.", name))
		return
	}
	p := snap.Providers[m.Provider]
	req["model"] = m.UpstreamName
	out, _ := json.Marshal(req)
	up, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, p.BaseURL+strings.TrimPrefix(r.URL.Path, "/v1"), bytes.NewReader(out))
	up.Header.Set("Authorization", "Bearer "+p.Credential)
	up.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(up)
	if err != nil {
		row(apierror.CodeUpstreamUnavailable, "", m.Name, p.Identifier, 502)
		apierror.Write(w, apierror.New(502, apierror.UpstreamError, apierror.CodeUpstreamUnavailable, "", "%v", err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		row(apierror.CodeUpstreamAuthError, "", m.Name, p.Identifier, 502)
		apierror.Write(w, apierror.New(502, apierror.UpstreamError, apierror.CodeUpstreamAuthError, "", "the upstream refused the provider's credential"))
		return
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
			w.(http.Flusher).Flush()
		}
		if err != nil {
			break
		}
	}
	row("ok", "", m.Name, p.Identifier, resp.StatusCode)

}
