package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// An upstream that refuses encoding_format base64 is asked in floats at once, and only in floats
// from then on; its float vectors come back in the order of the texts.
func TestEmbedFallsBackToFloats(t *testing.T) {
	var mu sync.Mutex
	var formats []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Input          []string `json:"input"`
			EncodingFormat string   `json:"encoding_format"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		formats = append(formats, req.EncodingFormat)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if req.EncodingFormat != "float" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"encoding_format must be float","type":"invalid_request_error"}}`)
			return
		}
		// Out of order, as servers may answer.
		fmt.Fprint(w, `{"object":"list","data":[`)
		for i := len(req.Input) - 1; i >= 0; i-- {
			fmt.Fprintf(w, `{"object":"embedding","index":%d,"embedding":[%d,0.5]}`, i, i)
			if i > 0 {
				fmt.Fprint(w, ",")
			}
		}
		fmt.Fprint(w, `],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}`)
	}))
	defer srv.Close()
	c := New(Options{AllowLoopback: true})
	defer c.Close()
	p := &catalog.Provider{ID: 1, Identifier: "floats-only", BaseURL: srv.URL, AuthMethod: catalog.AuthNone}

	for range 2 {
		vecs, err := c.Embed(context.Background(), p, "m", []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(vecs) != "[[0 0.5] [1 0.5]]" {
			t.Fatalf("vectors %v", vecs)
		}
	}
	if !slices.Equal(formats, []string{"base64", "float", "float"}) {
		t.Fatalf("asked in %v, want base64 once, then floats", formats)
	}
}

// An answer with fewer vectors than texts is the upstream's fault: upstream_bad_response.
func TestEmbedRefusesShortAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"data":[{"index":0,"embedding":"AACAPw=="}]}`)
	}))
	defer srv.Close()
	c := New(Options{AllowLoopback: true})
	defer c.Close()
	p := &catalog.Provider{ID: 1, Identifier: "short", BaseURL: srv.URL, AuthMethod: catalog.AuthNone}
	_, err := c.Embed(context.Background(), p, "m", []string{"a", "b"})
	if e, ok := apierror.As(err); !ok || e.Code != apierror.CodeUpstreamBadResponse {
		t.Fatalf("short answer: %v", err)
	}
}
