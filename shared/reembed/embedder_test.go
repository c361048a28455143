package reembed

import (
	"context"
	"errors"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
	"github.com/switchyard-ai/switchyard/shared/upstream"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

func TestUpstreamEmbedderAgainstFakeUpstream(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Config{Dimensions: map[string]int{"small": 384, "large": 1024}})
	defer fake.Close()
	p := &catalog.Provider{ID: 1, Identifier: "fake", BaseURL: fake.URL, AuthMethod: catalog.AuthNone}
	client := upstream.New(upstream.Options{AllowLoopback: true})
	defer client.Close()
	svc := &Service{emb: NewUpstreamEmbedder(client), cfg: Config{}}
	svc.cfg.defaults()
	svc.cfg.RetryBase = 1

	for _, m := range []*catalog.Model{{Name: "s", UpstreamName: "small", Dimension: 384}, {Name: "l", UpstreamName: "large", Dimension: 1024}} {
		vecs, err := svc.embed(context.Background(), m, p, []string{"a", "b", "a"})
		if err != nil {
			t.Fatal(err)
		}
		if len(vecs) != 3 || len(vecs[0]) != m.Dimension || vecs[0][0] != vecs[2][0] || vecs[0][0] == vecs[1][0] {
			t.Fatalf("%s: %d vectors of %d dimensions", m.Name, len(vecs), len(vecs[0]))
		}
	}

	fake.SetFaults(fakeupstream.Faults{Dimension: 768})
	_, err := svc.embed(context.Background(), &catalog.Model{Name: "s", UpstreamName: "small", Dimension: 384}, p, []string{"a"})
	var de *corpus.DimensionError
	if !errors.As(err, &de) || de.Got != 768 || de.Want != 384 || !permanent(err) {
		t.Fatalf("wrong dimension: %v", err)
	}

	fake.SetFaults(fakeupstream.Faults{Status: 429, RetryAfter: "0"})
	_, err = svc.embed(context.Background(), &catalog.Model{Name: "s", UpstreamName: "small", Dimension: 384}, p, []string{"a"})
	if ae, ok := apierror.As(err); !ok || ae.Code != apierror.CodeRateLimited {
		t.Fatalf("429: %v", err)
	}
	if got := fake.Requests(); got < int64(2+1+svc.cfg.EmbedRetries) {
		t.Fatalf("429 was not retried: %d requests", got)
	}
}
