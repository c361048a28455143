package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// The demo catalogue `make dev` registers. The upstream names are the ones the demo upstream
// (fakeupstream) serves by default; the pinned names follow the guide's versioning pattern.
const (
	DemoProvider        = "demo-upstream"
	DemoProviderDisplay = "Demo upstream (in-process, for trying Switchyard)"
	DemoChatModel       = "demo-chat-2026-01"
	DemoEmbedSmall      = "demo-embed-small-v1" // 384 dimensions
	DemoEmbedLarge      = "demo-embed-large-v2" // 1024 dimensions
	DemoChatAlias       = "demo-chat"
	DemoEmbedAlias      = "demo-embed"
	DemoTeam            = "demo"
)

// DemoConfig says where the demo upstream is and where the demo key is kept.
type DemoConfig struct {
	UpstreamURL string // the demo upstream's API root, e.g. http://127.0.0.1:PORT/v1
	Credential  string // the demo upstream's token; empty means auth none
	// KeyFile keeps the demo developer key between restarts (mode 0600); empty makes a new key on
	// every call.
	KeyFile string
}

// demoSeeder is the actor the demo catalogue's history names.
var demoSeeder = &catalog.Admin{ID: "demo-seed", Name: "make dev (demo seed)", Role: catalog.RoleSuperAdmin}

// SeedDemo registers, through the services, the demo provider, a chat model and two embedding
// models of different dimensions, the aliases demo-chat and demo-embed, and the team demo granted
// all five names, and returns a developer key of that team. It is idempotent: what exists is kept
// (an alias an operator moved stays moved), the provider follows UpstreamURL when it changed, and
// the key in KeyFile is returned again while it is valid.
func SeedDemo(ctx context.Context, svc *Service, cfg DemoConfig) (string, error) {
	by := demoSeeder
	auth := AuthInput{Method: string(catalog.AuthNone)}
	if cfg.Credential != "" {
		auth = AuthInput{Method: string(catalog.AuthBearer), Credential: cfg.Credential}
	}
	p, err := svc.GetProvider(ctx, by, DemoProvider)
	switch {
	case isNotFound(err):
		_, err = svc.CreateProvider(ctx, by, ProviderInput{Identifier: DemoProvider, DisplayName: DemoProviderDisplay, BaseURL: cfg.UpstreamURL, Auth: auth})
	case err == nil && (p.BaseURL != strings.TrimRight(cfg.UpstreamURL, "/") || p.Auth.Method != auth.Method || cfg.Credential != ""):
		_, err = svc.UpdateProvider(ctx, by, DemoProvider, ProviderPatch{BaseURL: &cfg.UpstreamURL,
			Auth: &AuthPatch{Method: &auth.Method, Credential: &auth.Credential}})
	}
	if err != nil {
		return "", fmt.Errorf("demo provider: %w", err)
	}
	yes := true
	for _, m := range []ModelInput{
		{Name: DemoChatModel, UpstreamName: "demo-chat", Kind: string(catalog.KindChat), ContextWindow: 8192,
			Capabilities: &catalog.Capabilities{Streaming: true, Tools: true}, DisplayName: "Demo chat (January 2026)"},
		{Name: DemoEmbedSmall, UpstreamName: "demo-embed-small", Kind: string(catalog.KindEmbedding), Dimension: 384, ContextWindow: 512, DisplayName: "Demo embeddings, small (v1)"},
		{Name: DemoEmbedLarge, UpstreamName: "demo-embed-large", Kind: string(catalog.KindEmbedding), Dimension: 1024, ContextWindow: 512, DisplayName: "Demo embeddings, large (v2)"},
	} {
		m.Provider, m.Enabled = DemoProvider, yes
		if _, err := svc.GetModel(ctx, by, m.Name); isNotFound(err) {
			_, err = svc.CreateModel(ctx, by, m)
			if err != nil {
				return "", fmt.Errorf("demo model %s: %w", m.Name, err)
			}
		} else if err != nil {
			return "", fmt.Errorf("demo model %s: %w", m.Name, err)
		}
	}
	for alias, target := range map[string]string{DemoChatAlias: DemoChatModel, DemoEmbedAlias: DemoEmbedSmall} {
		if _, err := svc.GetAlias(ctx, by, alias); isNotFound(err) {
			_, err = svc.CreateAlias(ctx, by, alias, AliasInput{Target: target, Reason: "demo catalogue"})
			if err != nil {
				return "", fmt.Errorf("demo alias %s: %w", alias, err)
			}
		} else if err != nil {
			return "", fmt.Errorf("demo alias %s: %w", alias, err)
		}
	}
	if _, err := svc.GetTeam(ctx, by, DemoTeam); isNotFound(err) {
		if _, err := svc.CreateTeam(ctx, by, TeamInput{Name: DemoTeam}); err != nil {
			return "", fmt.Errorf("demo team: %w", err)
		}
	} else if err != nil {
		return "", fmt.Errorf("demo team: %w", err)
	}
	for _, name := range []string{DemoChatAlias, DemoEmbedAlias, DemoChatModel, DemoEmbedSmall, DemoEmbedLarge} {
		a, err := svc.GetAudience(ctx, by, name)
		if err != nil {
			return "", fmt.Errorf("demo audience of %s: %w", name, err)
		}
		if !slices.Contains(a.Teams, DemoTeam) {
			if _, err := svc.SetAudience(ctx, by, name, AudienceInput{Teams: append(a.Teams, DemoTeam)}); err != nil {
				return "", fmt.Errorf("demo audience of %s: %w", name, err)
			}
		}
	}
	return demoKey(ctx, svc, cfg.KeyFile)
}

// demoKey returns the key kept in path while it is an active key of the demo team, else a new one.
func demoKey(ctx context.Context, svc *Service, path string) (string, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("read the demo key: %w", err)
		}
		if key := strings.TrimSpace(string(b)); key != "" {
			k, err := svc.Store.ActiveKeyByHash(ctx, catalog.HashSecret(key))
			if err != nil {
				return "", err
			}
			if k != nil && k.Team == DemoTeam {
				return key, nil
			}
		}
	}
	k, err := svc.CreateKey(ctx, demoSeeder, KeyInput{Team: DemoTeam, Name: "demo key (make dev)"})
	if err != nil {
		return "", fmt.Errorf("demo key: %w", err)
	}
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("keep the demo key: %w", err)
		}
		if err := os.WriteFile(path, []byte(k.Key+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("keep the demo key: %w", err)
		}
	}
	return k.Key, nil
}

func isNotFound(err error) bool {
	var nf *catalog.NotFoundError
	return errors.As(err, &nf)
}
